#!/bin/sh
# test_ctl.sh: the real colo-arbiterctl against control/fake-arbiterd (the
# real control.c with canned replies, see fake-arbiterd.c): every command,
# --json, every exit code (0-5), bad calls, what was sent on the wire.
# TAP output; every process and file it starts is removed on exit.
set -u

B=${TOP_BUILDDIR:?TOP_BUILDDIR is not set}
D=${TEST_DATA:?TEST_DATA is not set}
CTL=$B/arbiter/colo-arbiterctl
FAKE=$B/test/control/fake-arbiterd
for p in "$CTL" "$FAKE"; do
	[ -x "$p" ] || { echo "Bail out! $p not built"; exit 1; }
done

T=$(mktemp -d /tmp/ctlsh.XXXXXX) || { echo "Bail out! mktemp"; exit 1; }
chmod 0711 "$T"
SOCK=$T/control.sock
FPID=
F2PID=
WPID=

cleanup() {
	for p in $WPID $FPID $F2PID; do
		kill "$p" 2>/dev/null
	done
	for p in $WPID $FPID $F2PID; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

# wait_for FILE-TEST SECONDS: polls a shell condition, generous bound
wait_for() {
	i=0
	while ! eval "$1"; do
		i=$((i + 1))
		[ $i -gt $(($2 * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}

# start_fake SOCKET READY-FILE [fake options]: pid in $started
start_fake() {
	s=$1; r=$2; shift 2
	rm -f "$r"
	"$FAKE" --socket "$s" --ready "$r" --log "$T/log" "$@" 2>>"$T/fake.err" &
	started=$!
	wait_for "[ -s '$r' ]" 10 || { echo "Bail out! fake-arbiterd did not start"; cat "$T/fake.err" | sed 's/^/# /'; exit 1; }
}

# run CMD...: stdout, stderr in $T/out, $T/err; exit status in $rc
run() {
	"$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}

log_lines() { [ -f "$T/log" ] && wc -l <"$T/log" || echo 0; }

# expect DESC RC [out:TEXT | err:TEXT | noerr:TEXT | log:LINE | nolog]...
expect() {
	desc=$1; want=$2; shift 2
	pass=1
	if [ "$rc" != "$want" ]; then pass=0; echo "# exit status $rc, expected $want"; fi
	for c in "$@"; do
		case $c in
		out:*) grep -qF -- "${c#out:}" "$T/out" || { pass=0; echo "# stdout lacks: ${c#out:}"; } ;;
		err:*) grep -qF -- "${c#err:}" "$T/err" || { pass=0; echo "# stderr lacks: ${c#err:}"; } ;;
		noerr:*) grep -qF -- "${c#noerr:}" "$T/err" && { pass=0; echo "# stderr has: ${c#noerr:}"; } ;;
		log:*) tail -n 1 "$T/log" 2>/dev/null | grep -qxF -- "${c#log:}" || { pass=0; echo "# last request was not: ${c#log:}"; tail -n 1 "$T/log" | sed 's/^/#   got: /'; } ;;
		nolog) [ "$(log_lines)" = "$before" ] || { pass=0; echo "# the daemon was contacted"; } ;;
		esac
	done
	if [ $pass = 1 ]; then ok "$desc"; else
		notok "$desc"
		sed 's/^/#   out: /' "$T/out" | head -20
		sed 's/^/#   err: /' "$T/err" | head -20
	fi
}

start_fake "$SOCK" "$T/ready" --status "$D/status/mixed.json"
FPID=$started
C="$CTL --socket $SOCK"

# ---- status
run $C status
expect "status: human summary" 0 "out:VM db1: SOLO" "out:Gate: open" \
	"out:the only current copy is on node 3" "log:status {}"
run $C status --json
expect "status --json: the raw return" 0 'out:"ring_id": "2.20"' \
	'out:"name": "cache"' 'out:"vms": ['
run $CTL --json --socket "$SOCK" status
expect "global --json and --socket before the command" 0 'out:"fence_policy": "self"'
run $C status extra
expect "status: extra argument is a usage error" 2 "err:unexpected argument 'extra'"

# ---- vm-add
run $C vm-add web1 --qmp /run/q.sock --role primary --peer-node 2 \
	--pre-failover '{"execute":"nbd-server-stop"}' \
	--post-failover '{"execute":"object-del","arguments":{"id":"comp0"}}' \
	--post-failover '{"execute":"object-del","arguments":{"id":"m0"}}' \
	--yank-exclude chardev:mon1
expect "vm-add: all options on the wire" 0 "out:VM web1 added" \
	'log:vm-add {"name":"web1","peer-node":2,"post-failover":[{"arguments":{"id":"comp0"},"execute":"object-del"},{"arguments":{"id":"m0"},"execute":"object-del"}],"pre-failover":[{"execute":"nbd-server-stop"}],"qmp":"/run/q.sock","role":"primary","yank-exclude":["chardev:mon1"]}'
run $C vm-add db1 --role secondary --peer-node 4294967295 --qmp /q --json
expect "vm-add --json, largest node id" 0 'out:"name": "db1"' \
	'log:vm-add {"name":"db1","peer-node":4294967295,"post-failover":[],"pre-failover":[],"qmp":"/q","role":"secondary"}'
run $C vm-add exists --qmp /q --role primary --peer-node 2
expect "vm-add: a daemon error exits 1" 1 "err:already configured" "err:GenericError"

before=$(log_lines)
run $C vm-add web1 --role primary --peer-node 2
expect "vm-add: --qmp is required" 2 "err:--qmp" nolog
run $C vm-add web1 --qmp /q --role master --peer-node 2
expect "vm-add: bad role" 2 "err:expected primary or secondary" nolog
for bad in 0 -1 abc 4294967296 2x ""; do
	run $C vm-add web1 --qmp /q --role primary --peer-node "$bad"
	expect "vm-add: bad --peer-node '$bad'" 2 "err:--peer-node" nolog
done
run $C vm-add web1 --qmp /q --role primary --peer-node 2 --pre-failover '{"execute":'
expect "vm-add: invalid JSON in --pre-failover" 2 "err:--pre-failover: invalid JSON" nolog
run $C vm-add web1 --qmp /q --role primary --peer-node 2 --post-failover '{"arguments":{}}'
expect "vm-add: a command without execute" 2 "err:expected a QMP command object" nolog
run $C vm-add web1 --qmp /q --role primary --peer-node 2 --post-failover '[1]'
expect "vm-add: a command that is not an object" 2 "err:--post-failover" nolog
run $C vm-add --qmp /q --role primary --peer-node 2
expect "vm-add: missing name" 2 "err:missing VM name" nolog
run $C vm-add a b --qmp /q --role primary --peer-node 2
expect "vm-add: two names" 2 "err:unexpected argument 'b'" nolog
run $C vm-add a --qmp
expect "vm-add: option without its argument" 2 "err:--qmp" nolog
run $C vm-add a --frobnicate
expect "vm-add: unknown option" 2 "err:--frobnicate" nolog

# ---- vm-remove
run $C vm-remove web1
expect "vm-remove" 0 "out:VM web1 removed" 'log:vm-remove {"name":"web1"}'
run $C vm-remove nosuch
expect "vm-remove: unknown VM exits 1" 1 "err:no such VM"
before=$(log_lines)
run $C vm-remove
expect "vm-remove: missing name" 2 "err:missing VM name" nolog

# ---- failover
run $C failover web1
expect "failover" 0 "out:Failover of web1 requested" "out:status: failing-over" \
	'log:failover {"force":false,"name":"web1"}' "noerr:WARNING"
run $C failover web1 --json
expect "failover --json" 0 'out:"status": "failing-over"'
run $C failover refused
expect "failover: SafetyRefused exits 4" 4 "err:refused by the safety gate" "err:not quorate"
run $C failover broken
expect "failover: another error class exits 1" 1 "err:DeviceNotActive"
before=$(log_lines)
run $C failover web1 --force
expect "failover --force without a terminal needs --yes" 2 \
	"err:WARNING: --force BYPASSES THE SAFETY GATES" "err:--yes" nolog
run $C failover web1 --yes
expect "failover --yes without --force" 2 "err:--yes only confirms --force" nolog
run $C failover web1 --force --yes
expect "failover --force --yes" 0 "err:WARNING: --force BYPASSES" "out:(forced)" \
	'log:failover {"force":true,"name":"web1"}'

# Interactive confirmation needs a terminal: script(1) gives one.
if command -v script >/dev/null 2>&1 &&
   script -qec true /dev/null >/dev/null 2>&1 </dev/null; then
	before=$(log_lines)
	printf 'no\n' | script -qec "$C failover web1 --force" /dev/null >"$T/out" 2>"$T/err"
	rc=$?
	cp "$T/out" "$T/err.tty"; cat "$T/err.tty" >>"$T/err"
	expect "failover --force: answering no on a terminal does nothing" 2 \
		"err:Type 'yes'" "err:not confirmed" nolog
	printf 'yes\n' | script -qec "$C failover web1 --force" /dev/null >"$T/out" 2>"$T/err"
	rc=$?
	expect "failover --force: answering yes on a terminal" 0 \
		'log:failover {"force":true,"name":"web1"}'
else
	ok "# SKIP no script(1) for a terminal"
	ok "# SKIP no script(1) for a terminal"
fi

# ---- watch
# lines_in FILE N: FILE exists and has at least N lines
lines_in() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

$C watch >"$T/watch1" 2>"$T/err" &
WPID=$!
if wait_for "lines_in '$T/watch1' 2" 10; then
	kill -INT $WPID
	wait $WPID; rc=$?
	WPID=
	cp "$T/watch1" "$T/out"
	expect "watch: one line per event, SIGINT ends it with 0" 0 \
		"out:STATUS web1: solo (rule1-secondary-node-lost)" \
		"out:AUDIT web1: rule1-secondary-node-lost: transition committed (on quorum) [qmp:x-colo-lost-heartbeat]"
else
	notok "watch: no events within 10 s"; sed 's/^/# /' "$T/err"
fi
$C watch --json >"$T/watch2" 2>"$T/err" &
WPID=$!
if wait_for "lines_in '$T/watch2' 2" 10; then
	kill -TERM $WPID
	wait $WPID; rc=$?
	WPID=
	cp "$T/watch2" "$T/out"
	expect "watch --json: raw event lines" 0 'out:{"event":"STATUS","data":{"vm":"web1"' \
		'out:"timestamp":{"seconds":'
else
	notok "watch --json: no events within 10 s"
fi

# ---- usage errors
run $CTL
expect "no command" 2 "err:missing command" "err:--help"
run $C frobnicate
expect "unknown command" 2 "err:unknown command 'frobnicate'"
run $CTL --bogus status
expect "unknown global option" 2 "err:--bogus"
for t in abc 0 -1 1e9 ""; do
	run $C --timeout "$t" status
	expect "bad --timeout '$t'" 2 "err:--timeout"
done
run $CTL --help
expect "--help lists commands and exit codes" 0 "out:vm-add NAME --qmp PATH" \
	"out:Exit status:" "out:4  refused by the daemon's safety gate"
run $CTL vm-add --help
expect "COMMAND --help" 0 "out:Usage:"
run $CTL --version
expect "--version" 0 "out:colo-arbiterctl "

# ---- cannot connect (3)
run $CTL --socket "$T/none.sock" status
expect "no daemon: exit 3" 3 "err:cannot connect to $T/none.sock" "err:is colo-arbiterd running?"
# In a chroot whose / is 0700 (mktemp -d) nobody can reach any socket at all.
if ! command -v setpriv >/dev/null 2>&1; then
	ok "# SKIP setpriv not available"
	ok "# SKIP setpriv not available"
elif ! setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "cd / && cd /tmp" 2>/dev/null; then
	ok "# SKIP / or /tmp not searchable by others (a chroot made with mktemp -d?)"
	ok "# SKIP / or /tmp not searchable by others (a chroot made with mktemp -d?)"
else
	start_fake "$T/open.sock" "$T/ready2" --group nogroup --mode 0666
	F2PID=$started
	run setpriv --reuid=65534 --regid=4242 --clear-groups $CTL --socket "$T/open.sock" status
	expect "not root nor in the group: refused, exit 3" 3 "err:refused the connection" \
		"err:permission denied"
	run setpriv --reuid=65534 --regid=4242 --groups=65534 $CTL --socket "$T/open.sock" status
	expect "a member of the control group is let in" 0 "out:Gate: open"
	kill $F2PID; wait $F2PID; F2PID=
fi

# ---- timeout (5): the fake blocks 5 s on "hang"
run $C --timeout 0.5 failover hang
expect "no reply in time: exit 5" 5 "err:no reply from the daemon within 0.5 s"

# ---- connection lost during watch (3)
$C watch >"$T/watch3" 2>"$T/err" &
WPID=$!
if wait_for "lines_in '$T/watch3' 2" 15; then
	kill $FPID; wait $FPID; frc=$?; FPID=
	wait $WPID; rc=$?
	WPID=
	cp "$T/watch3" "$T/out"
	expect "watch: the daemon going away exits 3" 3 "err:closed the connection"
else
	notok "watch before the daemon goes away: no events"
fi

# ---- the fake daemon (the real control.c) ran clean
if [ "${frc:-x}" = 0 ] && ! grep -qE 'Sanitizer|runtime error|LeakSanitizer' "$T/fake.err"; then
	ok "fake-arbiterd exited 0 on SIGTERM, no sanitizer report"
else
	notok "fake-arbiterd exit status ${frc:-?} or sanitizer report"
	sed 's/^/# /' "$T/fake.err" | head -40
fi

echo "1..$n"
