# test/lab/lab.sh: a real corosync cluster of N nodes on this one machine, in network
# namespaces (see doc in test/README.md). Source it, then:
#
#   lab_up N [TOKEN_MS]        bring up N nodes (n1..nN), wait until all are quorate
#   lab_exec I CMD...          run CMD "on node I" (its netns, mounts, /dev/shm, hostname)
#   lab_spawn I LOGFILE CMD... start CMD in the background on node I; its PID is left in
#                              LAB_LAST_PID and lab_down kills it (others: lab_track PID)
#   lab_quorate I              0 if node I reports Quorate: Yes
#   lab_wait_quorate I VOTES SECS   wait until node I is quorate with VOTES total votes
#   lab_kill_corosync I        kill -9 node I's corosync
#   lab_isolate I / lab_heal I drop all traffic on node I's own interface (nftables) / undo
#   lab_partition I / lab_unpartition I   drop node I's traffic at the bridge / undo
#   lab_down                   kill every process by PID, delete namespaces and state
#   lab_arb_conf I POLICY VOTES [EXTRA]   write node I's colo-arbiter.conf (arb.conf) for a
#                              colo-arbiterd on the lab: state, audit and VM files under
#                              $LAB_DIR/nI, debug log to stderr (LAB_ARB_LOG_LEVEL), the
#                              default SCHED_RR priority 10 (LAB_ARB_RT_PRIO); EXTRA: more lines
#
# The lab's files (configs, logs, QEMU disk images) go under $LAB_TMP (default /tmp): a
# directory the nodes see too (not /run or /dev/shm: each node mounts its own).
#
# Commands enter a node with nsenter -r -w: setns() to a mount namespace moves the caller to
# that namespace's root, which is not ours when the tests run in a chroot.
#
# Every lab has its own id (namespace and interface names, subnet), so two tests may run
# at once. lab_down is idempotent and is installed as an EXIT trap by lab_up: a test that
# fails or is interrupted still leaves nothing behind (a caller's own clean-up at exit goes
# in LAB_ON_EXIT, a command the trap runs after lab_down). Needs root, iproute2, nftables,
# corosync. Must not touch any address outside the lab's own 10.213.X.0/24.

LAB_ID=""
LAB_DIR=""
LAB_N=0
LAB_PIDS=()
LAB_LAST_PID=""
declare -A LAB_HOLDER LAB_COROSYNC

lab_log() { echo "# lab[$LAB_ID]: $*" >&2; }

lab_track() { LAB_PIDS+=("$@"); }

lab_nsenter() { # $1 = node index, rest = command
	local i=$1
	shift
	nsenter -t "${LAB_HOLDER[$i]}" -m -n -u -r -w -- "$@"
}

lab_exec() { lab_nsenter "$@"; }

# Not to be called in $(...): the PID must be tracked in this shell.
lab_spawn() { # $1 = node, $2 = log file, rest = command; sets LAB_LAST_PID
	local i=$1 logf=$2
	shift 2
	nsenter -t "${LAB_HOLDER[$i]}" -m -n -u -r -w -- "$@" >"$logf" 2>&1 </dev/null &
	LAB_LAST_PID=$!
	lab_track "$LAB_LAST_PID"
}

lab_holder_start() { # $1 = node index: a process that owns the node's mount+uts namespace
	local i=$1 st="$LAB_DIR/n$i" pid
	mkdir -p "$st"/{run,etc-corosync,lib-corosync,log-corosync,lib-pacemaker,log-pacemaker}
	ip netns exec "${LAB_ID}n$i" unshare -m -u --propagation private sh -c "
		hostname n$i &&
		mount --bind '$st/run' /run &&
		mount --bind '$st/etc-corosync' /etc/corosync &&
		mount --bind '$st/lib-corosync' /var/lib/corosync &&
		mkdir -p /var/log/corosync && mount --bind '$st/log-corosync' /var/log/corosync &&
		mount -t tmpfs -o size=64m tmpfs /dev/shm &&
		cd / && exec sleep infinity" </dev/null >"$st/holder.log" 2>&1 &
	pid=$!
	lab_track "$pid"
	LAB_HOLDER[$i]=$pid
	# The holder is ready once its /dev/shm differs from ours.
	for _ in $(seq 1 100); do
		if [ -e "/proc/$pid/ns/mnt" ] &&
			[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] &&
			nsenter -t "$pid" -m -r -- sh -c 'mount | grep -q " /dev/shm type tmpfs.*size=65536k"'; then
			return 0
		fi
		sleep 0.05
	done
	lab_log "holder for n$i did not come up: $(cat "$st/holder.log")"
	return 1
}

lab_arb_conf() { # node policy expected_votes [extra lines]
	local d="$LAB_DIR/n$1"
	mkdir -p "$d/vm.d" "$d/state"
	cat >"$d/arb.conf" <<EOC
fence_policy = $2
allow_unsafe = $([ "$2" = none ] && echo yes || echo no)
expected_votes = $3
state_dir = "$d/state"
run_dir = "/run/colo-arbiter"
vm_dir = "$d/vm.d"
audit_log = "$d/audit.jsonl"
control_socket = "/run/colo-arbiter/control.sock"
control_group = ""
log_level = ${LAB_ARB_LOG_LEVEL:-debug}
log_stderr = yes
log_syslog = no
realtime_priority = ${LAB_ARB_RT_PRIO:-10}
${4:-}
EOC
}

lab_corosync_conf() { # $1 = N nodes, $2 = token ms or empty
	local n=$1 token=$2 i
	cat <<EOF
totem {
	version: 2
	cluster_name: $LAB_ID
	transport: knet
	crypto_cipher: aes256
	crypto_hash: sha256
	keyfile: /etc/corosync/authkey
$( [ -n "$token" ] && echo "	token: $token" )
	interface {
		linknumber: 0
		knet_transport: udp
	}
}
nodelist {
$(for i in $(seq 1 "$n"); do
	printf '\tnode {\n\t\tring0_addr: %s\n\t\tname: n%s\n\t\tnodeid: %s\n\t}\n' \
		"$LAB_NET.$i" "$i" "$i"
done)
}
quorum {
	provider: corosync_votequorum
}
logging {
	to_logfile: yes
	logfile: /var/log/corosync/corosync.log
	to_stderr: no
	to_syslog: no
	timestamp: hires
}
system {
	state_dir: /var/lib/corosync
}
EOF
}

lab_up() { # $1 = nodes (default 3), $2 = token ms (default 1000)
	local n=${1:-3} token=${2-1000} i
	[ "$(id -u)" = 0 ] || { lab_log "needs root"; return 1; }
	# Short, unique names: interface names are limited to 15 characters.
	LAB_ID="cl$(printf '%04x' $(( ($$ + RANDOM) % 65536 )))"
	LAB_NET="10.213.$(( ($$ + RANDOM) % 250 + 1 ))"
	LAB_N=$n
	LAB_DIR=$(mktemp -d "${LAB_TMP:-/tmp}/colo-lab-$LAB_ID.XXXX")
	trap 'lab_down; eval "${LAB_ON_EXIT:-}"' EXIT
	trap 'exit 130' INT TERM

	ip netns add "${LAB_ID}br" || return 1
	ip netns exec "${LAB_ID}br" sh -c "sysctl -qw net.ipv6.conf.all.disable_ipv6=1;
		ip link add br0 type bridge && ip link set br0 up && ip link set lo up" || return 1
	for i in $(seq 1 "$n"); do
		ip netns add "${LAB_ID}n$i" || return 1
		ip netns exec "${LAB_ID}br" ip link add "v$i" type veth peer name eth0 netns "${LAB_ID}n$i" ||
			return 1
		ip netns exec "${LAB_ID}br" sh -c "ip link set v$i master br0 && ip link set v$i up" ||
			return 1
		ip netns exec "${LAB_ID}n$i" sh -c "sysctl -qw net.ipv6.conf.all.disable_ipv6=1;
			ip addr add $LAB_NET.$i/24 dev eth0 && ip link set eth0 up && ip link set lo up" ||
			return 1
		lab_holder_start "$i" || return 1
	done
	corosync-keygen -l -k "$LAB_DIR/authkey" >/dev/null 2>&1 ||
		dd if=/dev/urandom of="$LAB_DIR/authkey" bs=256 count=1 status=none
	chmod 400 "$LAB_DIR/authkey"
	for i in $(seq 1 "$n"); do
		cp "$LAB_DIR/authkey" "$LAB_DIR/n$i/etc-corosync/authkey"
		lab_corosync_conf "$n" "$token" >"$LAB_DIR/n$i/etc-corosync/corosync.conf"
		lab_spawn "$i" "$LAB_DIR/n$i/corosync.out" corosync -f
		LAB_COROSYNC[$i]=$LAB_LAST_PID
	done
	for i in $(seq 1 "$n"); do
		lab_wait_quorate "$i" "$n" 60 || {
			lab_log "n$i not quorate: $(tail -5 "$LAB_DIR/n$i/log-corosync/corosync.log")"
			return 1
		}
	done
	lab_log "up: $n nodes on $LAB_NET.0/24, token ${token:-default}"
}

lab_quorate() { lab_exec "$1" corosync-quorumtool -s 2>/dev/null | grep -q '^Quorate: *Yes'; }

lab_wait_quorate() { # $1 node, $2 total votes, $3 seconds
	local i=$1 votes=$2 secs=${3:-30} t=0 out
	while [ "$t" -lt $((secs * 10)) ]; do
		out=$(lab_exec "$i" corosync-quorumtool -s 2>/dev/null)
		if echo "$out" | grep -q '^Quorate: *Yes' &&
			echo "$out" | grep -Eq "^Total votes: *$votes\$"; then
			return 0
		fi
		sleep 0.1
		t=$((t + 1))
	done
	return 1
}

lab_kill_corosync() { { kill -9 "${LAB_COROSYNC[$1]}"; wait "${LAB_COROSYNC[$1]}"; } 2>/dev/null; }

lab_start_corosync() {
	lab_spawn "$1" "$LAB_DIR/n$1/corosync.out.$RANDOM" corosync -f
	LAB_COROSYNC[$1]=$LAB_LAST_PID
}

# A drop on the node's own interface: its corosync's sends fail (ENOBUFS) and it stalls,
# as on a real host whose NIC dies (DESIGN §3).
lab_isolate() {
	ip netns exec "${LAB_ID}n$1" nft -f - <<EOF
table netdev lab_drop {
	chain in { type filter hook ingress device eth0 priority 0; policy drop; }
	chain out { type filter hook egress device eth0 priority 0; policy drop; }
}
EOF
}
lab_heal() { ip netns exec "${LAB_ID}n$1" nft delete table netdev lab_drop; }

# A drop at the switch: neither node's stack is touched.
lab_partition() {
	ip netns exec "${LAB_ID}br" nft -f - <<EOF
table bridge lab_part$1 {
	chain part { type filter hook forward priority 0; policy accept;
		iifname "v$1" drop
		oifname "v$1" drop
	}
}
EOF
}
lab_unpartition() { ip netns exec "${LAB_ID}br" nft delete table bridge "lab_part$1"; }

lab_down() {
	local p i
	[ -n "$LAB_ID" ] || return 0
	{
		for p in "${LAB_PIDS[@]}"; do kill -9 "$p"; done
		for p in "${LAB_PIDS[@]}"; do wait "$p"; done
	} 2>/dev/null
	# Anything still inside a lab namespace (a child that escaped its parent) goes too.
	for i in $(seq 1 "$LAB_N") br; do
		local ns="${LAB_ID}n$i"
		[ "$i" = br ] && ns="${LAB_ID}br"
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$LAB_DIR" ] && rm -rf "$LAB_DIR"
	LAB_PIDS=()
	LAB_ID=""
}
