#!/bin/bash
# test_daemon_config.sh: colo-arbiterd --check-config, no cluster needed. A good config with
# VM files prints the canonical config and every VM (exit 0); a broken config, a broken VM
# file and a missing file are each named as file:line (exit 1); the canonical output parses
# again to itself; a locked pidfile refuses a second daemon; without corosync the control
# socket answers, SIGHUP reloads VM files, sd_notify sends READY=1/STOPPING=1; the daemon's
# threads run SCHED_RR 10 by default, and without CAP_SYS_NICE it warns and runs; the
# blackbox is mapped at its default size (256K) and at blackbox_size, and one /dev/shm cannot
# hold is reported. TAP.
set -u
ARBD="$TOP_BUILDDIR/arbiter/colo-arbiterd"
if [ ! -x "$ARBD" ]; then echo "1..0 # SKIP colo-arbiterd not built"; exit 0; fi
W=$(mktemp -d /tmp/colo-dcfg.XXXXXX)
first= recv=
trap '[ -n "$first" ] && kill -9 "$first" 2>/dev/null; [ -n "$recv" ] && kill -9 "$recv" 2>/dev/null
	rm -rf "$W"' EXIT

n=0 bad=0
check() { # description, command...
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else bad=1; echo "not ok $n - $d"; fi
}

all_threads_rr() { # pid prio: every thread SCHED_RR at prio
	local t out
	for t in /proc/"$1"/task/*; do
		out=$(chrt -p "${t##*/}") || return 1
		grep -q "policy: SCHED_RR" <<<"$out" && grep -q "priority: $2\$" <<<"$out" || return 1
	done
	[ "$(ls /proc/"$1"/task | wc -l)" -ge 2 ] # the loop and the I/O worker
}

blackbox_kib() { # pid: KiB of the blackbox's ring mapped (libqb maps it twice, back to back)
	local range rest s=0
	while read -r range rest; do
		[[ $rest == *blackbox-data* ]] && s=$((s + (0x${range#*-} - 0x${range%-*}) / 1024))
	done <"/proc/$1/maps"
	echo "$s"
}
wait_blackbox() { # pid min max: the mapping within [min, max] KiB (it is made at start-up)
	local k
	for _ in $(seq 1 50); do
		k=$(blackbox_kib "$1")
		[ "$k" -gt 0 ] && break
		sleep 0.1
	done
	[ "$k" -ge "$2" ] && [ "$k" -le "$3" ] || { echo "# blackbox mapping $k KiB" >&2; return 1; }
}

mkdir -p "$W/vm.d"
cat >"$W/good.conf" <<EOC
fence_policy = self
expected_votes = 3
vm_dir = "$W/vm.d"
run_dir = "$W/run"
state_dir = "$W/state"
audit_log = "$W/audit.jsonl"
control_socket = "$W/ctl.sock"
control_group = ""
log_syslog = no
EOC
cat >"$W/vm.d/web1.conf" <<'EOV'
name = "web1"
qmp = "/run/colo-arbiter/web1.qmp"
role = primary
peer-node = 2
pre-failover = {"execute": "object-del", "arguments": {"id": "comp0"}}
EOV
echo "1..16"
"$ARBD" --check-config -c "$W/good.conf" >"$W/out" 2>"$W/err"
rc=$?
check "a good config with one VM file: exit 0" [ "$rc" = 0 ]
check "the output holds the canonical config and the VM file" \
	eval 'grep -q "^fence_policy = self" "$W/out" && grep -q "^# vm web1" "$W/out" &&
	      grep -q "comp0" "$W/out"'
sed -n '1,/^$/p' "$W/out" | sed '/^$/d' >"$W/canon.conf"
"$ARBD" --check-config -c "$W/canon.conf" >"$W/out2" 2>/dev/null
check "the printed config parses again to the same text" \
	eval 'diff <(sed -n "1,/^\$/p" "$W/out") <(sed -n "1,/^\$/p" "$W/out2") >/dev/null'

printf 'fence_policy = self\nexpected_votes = 3\nliveness_bound = soon\n' >"$W/broken.conf"
"$ARBD" --check-config -c "$W/broken.conf" >/dev/null 2>"$W/err"
rc=$?
check "a broken config: exit 1 and the error names broken.conf:3 and the key" \
	eval '[ "$rc" = 1 ] && grep -q "broken.conf:3: liveness_bound" "$W/err"'

printf 'name = "web2"\nqmp = "/run/x.qmp"\nrole = tertiary\npeer-node = 2\n' >"$W/vm.d/web2.conf"
"$ARBD" --check-config -c "$W/good.conf" >/dev/null 2>"$W/err"
rc=$?
check "a broken VM file: exit 1 and the error names web2.conf:3 (role)" \
	eval '[ "$rc" = 1 ] && grep -q "web2.conf:3: role" "$W/err"'
rm "$W/vm.d/web2.conf"

"$ARBD" --check-config -c "$W/missing.conf" >/dev/null 2>"$W/err"
rc=$?
check "a missing config file: exit 1, file named" \
	eval '[ "$rc" = 1 ] && grep -q "missing.conf" "$W/err"'

# pidfile lock: a first daemon (waiting for a corosync that is not there) holds it, a
# second one must refuse to start; the first is stopped by its PID.
"$ARBD" -f -c "$W/good.conf" --pidfile "$W/pid" >/dev/null 2>&1 &
first=$!
for _ in $(seq 1 50); do [ -s "$W/pid" ] && break; sleep 0.1; done
timeout 10 "$ARBD" -f -c "$W/good.conf" --pidfile "$W/pid" >/dev/null 2>"$W/err"
rc=$?
check "a locked pidfile: a second daemon exits 1 saying it is locked" \
	eval '[ "$rc" = 1 ] && grep -q "locked" "$W/err" && [ "$(cat "$W/pid")" = "$first" ]'
check "the blackbox by default: a 256 KiB ring (mapped twice)" wait_blackbox "$first" 512 560
kill -TERM "$first"
wait "$first"
rc=$?
check "the first daemon exits 0 on SIGTERM and removes its pidfile" \
	eval '[ "$rc" = 0 ] && [ ! -e "$W/pid" ]'
{ cat "$W/good.conf"; echo "blackbox_size = 128K"; } >"$W/bb.conf"
"$ARBD" -f -c "$W/bb.conf" >/dev/null 2>&1 &
first=$!
check "blackbox_size = 128K: a 128 KiB ring" wait_blackbox "$first" 256 300
kill -TERM "$first"
wait "$first"
first=
# a blackbox /dev/shm cannot hold: a warning naming it, and the daemon runs on (its
# control socket is made)
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	{ cat "$W/good.conf"; echo "blackbox_size = 256M"; } >"$W/bbig.conf"
	rm -f "$W/ctl.sock"
	unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "$@"' sh \
		"$ARBD" -f -c "$W/bbig.conf" >"$W/bbig.log" 2>&1 &
	first=$!
	bbig_ok() {
		grep -q "no blackbox: a ring of 268435456 bytes cannot be made" "$W/bbig.log" &&
			[ -S "$W/ctl.sock" ] && kill -0 "$first"
	}
	for _ in $(seq 1 50); do bbig_ok && break; sleep 0.1; done
	check "a blackbox that /dev/shm cannot hold: a warning naming its size, the daemon runs" bbig_ok
	kill -TERM "$first"
	wait "$first"
	first=
else
	n=$((n + 1)); echo "ok $n # SKIP not root or no unshare"
fi
# A running daemon without corosync: its control socket answers, SIGHUP reloads the VM
# files, and the notify protocol (NOTIFY_SOCKET) says READY=1 and STOPPING=1.
CTL="$TOP_BUILDDIR/arbiter/colo-arbiterctl"
SOCKLINE="$TOP_BUILDDIR/test/daemon/sockline"
if [ -x "$CTL" ] && [ -x "$SOCKLINE" ]; then
	"$SOCKLINE" --dgram-recv "$W/notify" 2 >"$W/notify.out" 2>&1 &
	recv=$!
	for _ in $(seq 1 50); do grep -q BOUND "$W/notify.out" && break; sleep 0.1; done
	NOTIFY_SOCKET="$W/notify" "$ARBD" -f -c "$W/good.conf" >"$W/d.log" 2>&1 &
	first=$!
	vms() { "$CTL" --socket "$W/ctl.sock" status --json 2>/dev/null | jq -c '[.vms[].name]'; }
	for _ in $(seq 1 50); do [ "$(vms)" = '["web1"]' ] && break; sleep 0.1; done
	check "control socket without corosync: status lists the VM of vm_dir" [ "$(vms)" = '["web1"]' ]
	printf 'name = "web3"\nqmp = "/run/w3.qmp"\nrole = secondary\npeer-node = 1\n' >"$W/vm.d/web3.conf"
	rm "$W/vm.d/web1.conf"
	kill -HUP "$first"
	for _ in $(seq 1 50); do [ "$(vms)" = '["web3"]' ] && break; sleep 0.1; done
	check "SIGHUP: a new VM file is added and a removed one is dropped" [ "$(vms)" = '["web3"]' ]
	# realtime_priority (default 10): the loop thread and the I/O worker both SCHED_RR 10
	if [ "$(id -u)" = 0 ]; then
		check "every thread of the daemon runs SCHED_RR at priority 10 (the default)" \
			all_threads_rr "$first" 10
	else
		n=$((n + 1)); echo "ok $n # SKIP not root: no SCHED_RR"
	fi
	kill -TERM "$first"
	wait "$first"
	rc=$?
	wait "$recv"
	check "sd_notify: READY=1 at start, STOPPING=1 on SIGTERM, then exit 0" \
		eval '[ "$rc" = 0 ] && grep -q "^READY=1" "$W/notify.out" && grep -q "^STOPPING=1" "$W/notify.out"'
	first= recv=
	# without CAP_SYS_NICE: a warning, normal scheduling, and the daemon still serves
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice \
			"$ARBD" -f -c "$W/good.conf" >"$W/d2.log" 2>&1 &
		first=$!
		for _ in $(seq 1 50); do [ "$(vms)" = '["web3"]' ] && break; sleep 0.1; done
		nocap_ok() {
			grep -q "cannot run SCHED_RR at priority 10" "$W/d2.log" &&
				chrt -p "$first" | grep -q "policy: SCHED_OTHER" && [ "$(vms)" = '["web3"]' ]
		}
		check "without CAP_SYS_NICE: a warning naming SCHED_RR, normal scheduling, status answers" \
			nocap_ok
		kill -TERM "$first"
		wait "$first"
		first=
	else
		n=$((n + 1)); echo "ok $n # SKIP not root or no setpriv"
	fi
else
	for k in 1 2 3 4 5; do n=$((n + 1)); echo "ok $n # SKIP colo-arbiterctl/sockline not built"; done
fi
exit $bad
