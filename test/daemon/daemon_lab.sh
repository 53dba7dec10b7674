# test/daemon/daemon_lab.sh: colo-arbiterd on the namespace lab (test/lab/lab.sh). Source it.
#
#   dl_need                     TAP skip (or fail with COLO_REQUIRE_REAL=1) without root/tools
#   dl_up [POLICY]              lab_up 3 1000, one qmp-sim, a config per node (fence_policy
#                               POLICY, default none + allow_unsafe)
#   dl_sim JSON...              one request per argument to the simulator's control socket
#   dl_pair NAME [JSON]         VM NAME: primary NAMEp on n1, secondary NAMEs on n2, paired;
#                               VM files on n1 and n2 (n3 is the witness); JSON: more vm-add
#                               fields, e.g. ',"process":true' (a listener process per
#                               simulated QEMU, so that its death is a pidfd exit)
#   dl_arb_start I / dl_arb_kill I [SIG]   start / signal node I's colo-arbiterd
#   dl_status I                 node I's status JSON (run_dir/status.json)
#   dl_jq I FILTER              jq -e FILTER on it
#   dl_wait SECS CMD...         poll CMD every 0.1 s
#   dl_check DESC CMD...        one TAP line (dl_dump on failure); TAP_BAD=1 once one failed (common/tap.sh)
#   dl_st I VM STATUS, dl_protected VM..., dl_count_cmd SIMVM CMD, dl_sim_pid SIMVM
#
# One qmp-sim serves every node: a COLO pair spans two simulated QEMUs and qmp-sim links
# peers only inside one process (CONTROL.md). Its QMP sockets live under the lab's directory
# in /tmp, which every node namespace shares (unix sockets are filesystem objects, reachable
# across network namespaces). Consequence: by default every simulated QEMU has the
# simulator's pid, so SO_PEERCRED/pidfd name the simulator and a sim `kill` of one VM is a QMP
# hang-up, never a pidfd exit. dl_pair NAME ',"process":true' gives each simulated QEMU a
# listener process of its own (qmp-sim CONTROL.md): SO_PEERCRED names it, the sim's `kill`
# kills it, and the daemon's SIGKILL of a stale side really ends that VM.
# Everything is started through lab_spawn/lab_track: lab_down kills it by PID.

. "$(dirname "${BASH_SOURCE[0]}")/../common/tap.sh"
DL_ARBD="$TOP_BUILDDIR/arbiter/colo-arbiterd"
DL_SOCKLINE="$TOP_BUILDDIR/test/daemon/sockline"
DL_NOKILL="$TOP_BUILDDIR/test/daemon/nokill.so"
DL_WRAP=${DL_WRAP:-} # e.g. "valgrind --leak-check=full --log-file=..."
declare -A DL_ARB
DL_SIM=""
DL_POLICY=none

dl_need() {
	local need="" t
	for t in corosync corosync-quorumtool nsenter unshare nft ip jq; do
		command -v "$t" >/dev/null || need="$need $t"
	done
	[ -x "$DL_ARBD" ] || need="$need colo-arbiterd(build it)"
	[ -x "$QMP_SIM" ] || need="$need qmp-sim(build it)"
	[ -x "$DL_SOCKLINE" ] || need="$need sockline(build it)"
	[ -x "$DL_CTL" ] || need="$need colo-arbiterctl(build it)"
	[ -f "$DL_NOKILL" ] || need="$need nokill.so(build it)"
	tap_need "daemon lab" "$need"
}

dl_wait() { tap_wait "$@"; } # seconds (wall clock), command...

# dl_need, plus slowdisk.so (LD_PRELOAD shim of the persistence tests): SLOWDISK is set
dl_need_slowdisk() {
	SLOWDISK="$TOP_BUILDDIR/test/daemon/slowdisk.so"
	dl_need
	if [ ! -f "$SLOWDISK" ]; then
		echo "1..0 # SKIP slowdisk.so not built"
		exit 0
	fi
}

dl_sim() { "$DL_SOCKLINE" "$LAB_DIR/sim.ctl" "$@"; }

dl_conf() { lab_arb_conf "$1" "$DL_POLICY" 3; } # node

dl_up() { # [policy]
	DL_POLICY=${1:-none}
	lab_up 3 1000 || return 1
	local i
	for i in 1 2 3; do dl_conf "$i"; done
	"$QMP_SIM" --control "$LAB_DIR/sim.ctl" --log "$LAB_DIR/sim.log" >"$LAB_DIR/sim.out" 2>&1 </dev/null &
	DL_SIM=$!
	lab_track "$DL_SIM"
	dl_wait 10 grep -qs READY "$LAB_DIR/sim.out"
}

dl_vmfile() { # node name qmp role peer
	cat >"$LAB_DIR/n$1/vm.d/$2.conf" <<EOV
name = "$2"
qmp = "$3"
role = $4
peer-node = $5
EOV
	if [ "$4" = secondary ]; then
		echo 'pre-failover = {"execute": "nbd-server-stop"}' >>"$LAB_DIR/n$1/vm.d/$2.conf"
	fi
}

dl_pair() { # name [extra vm-add fields]
	local v=$1 x=${2:-}
	dl_sim "{\"cmd\":\"vm-add\",\"name\":\"${v}p\",\"qmp\":\"$LAB_DIR/${v}p.qmp\"$x}" \
		"{\"cmd\":\"vm-add\",\"name\":\"${v}s\",\"qmp\":\"$LAB_DIR/${v}s.qmp\",\"incoming\":true$x}" \
		"{\"cmd\":\"pair\",\"primary\":\"${v}p\",\"secondary\":\"${v}s\"}" >/dev/null || return 1
	dl_vmfile 1 "$v" "$LAB_DIR/${v}p.qmp" primary 2
	dl_vmfile 2 "$v" "$LAB_DIR/${v}s.qmp" secondary 1
}

dl_many_pairs() { # n: pairs m1..mN (primaries on n1, secondaries on n2), 100 a request
	local k v reqs=()
	for k in $(seq "$1"); do
		v=m$k
		reqs+=("{\"cmd\":\"vm-add\",\"name\":\"${v}p\",\"qmp\":\"$LAB_DIR/${v}p.qmp\"}"
			"{\"cmd\":\"vm-add\",\"name\":\"${v}s\",\"qmp\":\"$LAB_DIR/${v}s.qmp\",\"incoming\":true}"
			"{\"cmd\":\"pair\",\"primary\":\"${v}p\",\"secondary\":\"${v}s\"}")
		dl_vmfile 1 "$v" "$LAB_DIR/${v}p.qmp" primary 2
		dl_vmfile 2 "$v" "$LAB_DIR/${v}s.qmp" secondary 1
		if [ "${#reqs[@]}" -ge 300 ]; then dl_sim "${reqs[@]}" >/dev/null || return 1; reqs=(); fi
	done
	[ "${#reqs[@]}" = 0 ] || dl_sim "${reqs[@]}" >/dev/null
}

DL_RUN=0
dl_arb_start() { # node; each run logs to its own file, arb.log points to the last
	DL_RUN=$((DL_RUN + 1))
	lab_spawn "$1" "$LAB_DIR/n$1/arb.log.$DL_RUN" env LD_PRELOAD="$DL_NOKILL" \
		COLO_TEST_NOKILL_PID="$DL_SIM" COLO_TEST_KILL_LOG="$LAB_DIR/n$1/kills" \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
		$DL_WRAP "$DL_ARBD" -f -c "$LAB_DIR/n$1/arb.conf"
	DL_ARB[$1]=$LAB_LAST_PID
	ln -sf "arb.log.$DL_RUN" "$LAB_DIR/n$1/arb.log"
}

dl_arb_kill() { # node [signal]; returns the daemon's exit status
	kill "-${2:-KILL}" "${DL_ARB[$1]}" 2>/dev/null
	wait "${DL_ARB[$1]}" 2>/dev/null
}

DL_CTL="$TOP_BUILDDIR/arbiter/colo-arbiterctl"
# `colo-arbiterctl status --json` on node I (the daemon's own run_dir/status.json copy
# when DL_STATUS_FILE=1)
dl_status() {
	if [ "${DL_STATUS_FILE:-0}" = 1 ]; then
		cat "$LAB_DIR/n$1/run/colo-arbiter/status.json" 2>/dev/null
	else
		lab_exec "$1" "$DL_CTL" --timeout 3 status --json 2>/dev/null
	fi
}
dl_ctl() { local i=$1; shift; lab_exec "$i" "$DL_CTL" --timeout 5 "$@"; }
# jq -e FILTER on stdin; false on empty input (jq -e alone says true then: an arbiter or
# simulator that does not answer must never pass a check)
dl_jqe() {
	local in
	in=$(cat)
	[ -n "$in" ] && printf '%s\n' "$in" | jq -e "$1" >/dev/null 2>&1
}
dl_jq() { dl_status "$1" | dl_jqe "$2"; }

# Commands VM NAME of the simulator received, as a JSON array of names.
dl_sim_cmds() { # simvm
	dl_sim "{\"cmd\":\"log\",\"name\":\"$1\"}" |
		jq -ce '[.log[] | select(.dir=="in") | .msg | (.execute // ."exec-oob") ] | map(select(.))'
}
dl_sim_state() { # simvm
	dl_sim "{\"cmd\":\"state\",\"name\":\"$1\"}" | jq -ce .state
}

# ---- TAP helpers shared by the scenario files ----
TAP_DUMP=dl_dump
dl_check() { tap_check "$@"; } # description, command...
dl_dump() {
	local i
	for i in 1 2 3; do
		echo "# --- n$i status: $(dl_status "$i" | jq -c '[.cluster.gate, (.vms[] | [.name, .status, .epoch.n, .why])]' 2>/dev/null)"
		grep -E '\[(notice|warning|error|crit)' "$LAB_DIR/n$i/arb.log" 2>/dev/null | tail -15 | sed 's/^/#   /'
	done
}
dl_st() { dl_jq "$1" ".vms[] | select(.name==\"$2\") | .status==\"$3\""; } # node vm status
dl_count_cmd() { dl_sim_cmds "$1" | jq "[.[] | select(. == \"$2\")] | length"; } # simvm cmd
dl_protected() { # vm... : protected on n1 and n2
	local v i
	for v in "$@"; do for i in 1 2; do dl_st "$i" "$v" protected || return 1; done; done
}
# simulator's pid of VM SIMVM (its listener process with "process":true)
dl_sim_pid() { dl_sim "{\"cmd\":\"state\",\"name\":\"$1\"}" | jq -e .state.pid; }
