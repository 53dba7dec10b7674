#!/bin/bash
# test/demo.sh: the live demo. A 3-node corosync cluster in network namespaces on this one
# machine, a real QEMU 7.2 COLO pair (primary on n1, secondary on n2, n3 a witness), one
# colo-arbiterd per node; then a fault, and the failover as a timeline read from the
# arbiters' audit records and logs, corosync's log and QEMU's own event timestamps.
# Run as root on Debian 12:
#
#     sudo test/demo.sh [--scenario primary|secondary|qemu-crash|replication|partition]
#                       [--keep] [--no-build] [--no-install]
#
#   primary      (default) n1 loses power: its link is cut first (nftables drop on its own
#                interface, so no FIN/RST escapes), then every process of n1 (corosync,
#                arbiter, QEMU) is killed by PID; the secondary on n2 takes over
#   secondary    the same for n2: the primary on n1 leaves COLO and runs alone
#   qemu-crash   the primary QEMU is killed, its node stays up: the secondary takes over
#   replication  the pair's TCP connections are reset inside n2 (ss -K), corosync intact
#   partition    n1 is cut off at the bridge: {n2,n3} take over, n1 freezes its QEMU
#   --keep       leave everything up afterwards, print commands to try, tear down on Ctrl-C
#   --no-build   use the existing build in _build/demo (or $DEMO_BUILD_DIR)
#   --no-install do not check or install Debian packages
#
# Fencing: there is no Pacemaker fencer in the lab, so the arbiters run with
# fence_policy = self: the survivor waits the bounded self-fence time of the lost node
# (self_wait, P + B + self_fence_timeout + kill_time + 1 s) before it takes over.
# Everything is torn down by PID on exit, also on failure or Ctrl-C (lab.sh's EXIT trap).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
scenario=primary keep=0 build=1 install=1
while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) scenario=${2:-}; shift ;;
	--scenario=*) scenario=${1#*=} ;;
	--keep) keep=1 ;;
	--no-build) build=0 ;;
	--no-install) install=0 ;;
	-h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case "$scenario" in
primary|secondary|qemu-crash|replication|partition) ;;
*) echo "demo.sh: unknown scenario '$scenario' (see --help)" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (network namespaces, nftables, apt-get)" >&2; exit 1; }

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
say() { printf '%s\n' "$*"; }
die() { # keeps the lab's logs (daemon, corosync, QEMU, audit) for a look afterwards
	echo "demo.sh: $*" >&"$errfd"
	if [ -n "${LAB_DIR:-}" ] && [ -d "$LAB_DIR" ]; then
		local keep
		keep=$(mktemp -d /tmp/colo-demo-logs.XXXX)
		cp -a "$LAB_DIR/." "$keep/" 2>/dev/null
		find "$keep" \( -name '*.qcow2' -o -type s \) -delete 2>/dev/null
		echo "demo.sh: logs kept in $keep" >&"$errfd"
	fi
	exit 1
}
start=$SECONDS
errfd=2

if [ "$install" = 1 ]; then
	say "checking packages (apt-get installs what is missing) ..."
	"$top/test/install-deps.sh" >/tmp/demo-install.$$.log 2>&1 ||
		{ cat /tmp/demo-install.$$.log >&2; rm -f /tmp/demo-install.$$.log; die "package installation failed"; }
	rm -f /tmp/demo-install.$$.log
	say "packages ready after $((SECONDS - start)) s"
fi

bdir=${DEMO_BUILD_DIR:-$top/_build/demo}
if [ "$build" = 1 ]; then
	say "building in $bdir ..."
	mkdir -p "$bdir"
	{
		{ [ -x "$top/configure" ] || (cd "$top" && ./autogen.sh); } &&
			{ [ -f "$bdir/Makefile" ] || (cd "$bdir" && "$top/configure" -q); } &&
			make -C "$bdir/arbiter" -s -j"$(nproc)" &&
			make -C "$bdir/test" -s lab/qmpcall
	} >"$bdir.log" 2>&1 || { tail -30 "$bdir.log" >&2; die "build failed (log: $bdir.log)"; }
	say "built in $((SECONDS - start)) s"
fi
export TOP_SRCDIR=$top TOP_BUILDDIR=$bdir
for f in arbiter/colo-arbiterd arbiter/colo-arbiterctl test/lab/qmpcall; do
	[ -x "$bdir/$f" ] || die "$bdir/$f missing: run without --no-build"
done

# shellcheck source=lab/lab.sh
. "$top/test/lab/lab.sh"
# shellcheck source=lab/colo.sh
. "$top/test/lab/colo.sh"
# shellcheck source=lab/arb.sh
. "$top/test/lab/arb.sh"

VM=demo
# shellcheck disable=SC2034 # read by arb.sh
ARB_POLICY=self
# A COLO primary's output is held by colo-compare; in the partition scenario the isolated
# primary is frozen too, to show it stop before the other side resumes (SAFETY H1).
# shellcheck disable=SC2034
[ "$scenario" = partition ] && ARB_EXTRA="freeze_colo_primaries = yes"

bold "== bring-up: 3 corosync nodes (token 1000 ms), one QEMU COLO pair, 3 arbiters"
lab_up 3 1000 >/dev/null 2>&1 || die "the lab did not come up"
colo_pair_up "$VM" 1 2 2>"$LAB_DIR/colo.err" || { cat "$LAB_DIR/colo.err" >&2; die "the COLO pair did not come up"; }
arb_register "$VM"
for i in 1 2 3; do arb_conf "$i"; arb_start "$i"; done
# QEMU's own events of both sides, from their spare monitors (arb_record: a recorder on each
# QEMU's node, so a powered-off node's recorder dies with it).
arb_record "$VM"
protected() {
	[ "$(arb_vm_status 1 "$VM")/$(arb_vm_status 2 "$VM")" = protected/protected ]
}
arb_wait 60 protected || die "the pair never became protected: $(arb_status 2 | jq -c '.vms')"
# From here bash's own job notices ("Killed" when an arbiter kills a stale QEMU) go to a
# file, not between the lines of the timeline.
exec 3>&2 2>>"$LAB_DIR/demo.stderr"
errfd=3
say "up $((SECONDS - start)) s after the start: QEMU primary pid ${COLO_PID_P[$VM]} on n1, secondary pid ${COLO_PID_S[$VM]} on n2, both in COLO"
say "fencing: fence_policy = self (no Pacemaker fencer here): a survivor waits the lost node's bounded self-fence time"
say "         no watchdog_device in the lab (a real one would reset this host): a production node sets one"
say
bold "== colo-arbiterctl status (on n2)"
arb_ctl 2 status
say

now_ms() { date +%s%3N; }
pq() { colo_query "$VM" "$1" "$2" 2>/dev/null; } # side, query
survivor=2 lost=1
case "$scenario" in
primary)
	bold "== fault: n1 powered off (link cut on n1's interface, then corosync, arbiter, QEMU killed by PID)"
	T0=$(now_ms)
	arb_power_off 1
	;;
secondary)
	survivor=1 lost=2
	bold "== fault: n2 powered off (link cut on n2's interface, then corosync, arbiter, QEMU killed by PID)"
	T0=$(now_ms)
	arb_power_off 2
	;;
qemu-crash)
	bold "== fault: the primary QEMU (pid ${COLO_PID_P[$VM]}) is killed; n1, its corosync and arbiter stay up"
	T0=$(now_ms)
	kill -9 "${COLO_PID_P[$VM]}"
	wait "${COLO_PID_P[$VM]}" 2>/dev/null
	;;
replication)
	survivor=1 lost=2
	bold "== fault: every TCP connection of the pair reset inside n2 (ss -K), corosync (UDP) intact"
	T0=$(now_ms)
	lab_exec 2 ss -K -t dst "$LAB_NET.1" >/dev/null
	;;
partition)
	bold "== fault: n1 cut off at the bridge (its own stack untouched); freeze_colo_primaries = yes"
	T0=$(now_ms)
	lab_partition 1
	;;
esac
sside=s
[ "$survivor" = 1 ] && sside=p
alone() { # the survivor's arbiter says solo, and its QEMU agrees
	[ "$(arb_vm_status "$survivor" "$VM")" = solo ] &&
		[ "$(pq "$sside" query-colo-status | jq -r '.mode + "/" + .reason')" = none/request ] &&
		[ "$(pq "$sside" query-status | jq -r .status)" = running ]
}
if ! arb_wait 90 alone; then
	arb_ctl "$survivor" status
	die "n$survivor did not report the VM running alone within 90 s"
fi
T1=$(now_ms)
sleep 1.5 # let the last records and events land

# ---------------------------------------------------------------- the timeline
tl=$LAB_DIR/timeline.tsv
: >"$tl"
add() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$tl"; } # ms, where, what
add "$T0" "lab" "FAULT: $scenario"
# corosync's own log on the nodes that stay up (hires timestamps, local time)
for i in 1 2 3; do
	[ "$scenario" = primary ] && [ "$i" = 1 ] && continue
	[ "$scenario" = secondary ] && [ "$i" = 2 ] && continue
	[ "$i" = "$survivor" ] || { [ "$scenario" = partition ] && [ "$i" = 1 ]; } || continue
	while IFS= read -r line; do
		ts=$(date -d "$(echo "$line" | cut -c1-19)" +%s%3N 2>/dev/null) || continue
		[ "$ts" -ge "$T0" ] || continue
		what=$(echo "$line" | sed -E 's/^.*\] //')
		case "$line" in
		*"Token has not been received"*) add "$ts" "n$i corosync" "token lost: $what" ;;
		*"A processor failed"*) add "$ts" "n$i corosync" "failure detected, forming a new membership" ;;
		*"A new membership"*) add "$ts" "n$i corosync" "membership change: $what" ;;
		*"[QUORUM] Members["*) add "$ts" "n$i corosync" "quorum: $what" ;;
		*"This node is within the non-primary component"*) add "$ts" "n$i corosync" "INQUORATE: $what" ;;
		esac
	done <"$LAB_DIR/n$i/log-corosync/corosync.log"
done
# the arbiters' audit records (one JSON line per decision, wall-clock ms)
for i in 1 2 3; do
	[ -f "$LAB_DIR/n$i/audit.jsonl" ] || continue
	jq -r --argjson t0 "$T0" --arg vm "$VM" 'def hex: if . < 16 then "0123456789abcdef"[.:.+1]
			else (. / 16 | floor | hex) + (. % 16 | "0123456789abcdef"[.:.+1]) end;
		select(.wall_ms >= $t0 and (.vm == $vm or .vm == null)) |
		[.wall_ms, "n\(.node) arbiter", "audit: \(.rule): \(.decision) (on \(.event)\(
			if .inputs.quorate then ", quorate" else ", INQUORATE" end), ring \(.inputs.ring.nodeid).\(.inputs.ring.seq | hex)\(
			if (.actions | length) > 0 then "; " + ([.actions[] | .kind + (if .cmd then " " + .cmd elif .msg then " " + .msg
				elif .status then " " + .status elif .node then " node \(.node)"
				elif .epoch then " E=\(.epoch.n) \(.epoch.kind)" elif .vm then " " + .vm else "" end)] | join(", ")) else "" end))"] | @tsv' \
		"$LAB_DIR/n$i/audit.jsonl" 2>/dev/null >>"$tl"
done
# QEMU's own events (QEMU timestamps, microseconds)
for s in p s; do
	[ -f "$LAB_DIR/events-$VM-$s.jsonl" ] || continue
	node=${COLO_PNODE[$VM]}
	[ "$s" = s ] && node=${COLO_SNODE[$VM]}
	name=primary
	[ "$s" = s ] && name=secondary
	jq -r --argjson t0 "$T0" --arg w "n$node QEMU $name" 'select(.event) |
		((.timestamp.seconds * 1000 + (.timestamp.microseconds / 1000 | floor))) as $ms |
		select($ms >= $t0) | [$ms, $w, "event \(.event) \(.data // {} | tostring)\(
			{ BLOCK_EXPORT_DELETED: " (nbd-server-stop done)",
			  STOP: " (x-colo-lost-heartbeat, or a freeze, stops the vCPUs)",
			  RESUME: " (running again)" }[.event] // "")"] | @tsv' \
		"$LAB_DIR/events-$VM-$s.jsonl" 2>/dev/null >>"$tl"
done
add "$T1" "lab" "checked: n$survivor's arbiter says solo, its QEMU says mode none, reason request, running"

say
bold "== timeline (ms after the fault; sources: corosync.log, audit.jsonl, QEMU events)"
sort -n -s -k1,1 "$tl" | while IFS=$'\t' read -r ms where what; do
	printf '%+9d ms  %-20s %s\n' "$((ms - T0))" "$where" "$what"
done
say
if [ "$scenario" = partition ]; then
	fz=$(jq -r 'select(.event == "STOP") | .timestamp.seconds * 1000 + (.timestamp.microseconds / 1000 | floor)' \
		"$LAB_DIR/events-$VM-p.jsonl" 2>/dev/null | head -1)
	rs=$(jq -r 'select(.event == "RESUME") | .timestamp.seconds * 1000 + (.timestamp.microseconds / 1000 | floor)' \
		"$LAB_DIR/events-$VM-s.jsonl" 2>/dev/null | tail -1)
	[ -n "$fz" ] && [ -n "$rs" ] &&
		say "QEMU's own timestamps: n1's isolated primary stopped at +$((fz - T0)) ms, n2's secondary resumed alone at +$((rs - T0)) ms ($((rs - fz)) ms later)"
fi
hb=$(grep -h "x-colo-lost-heartbeat written" "$LAB_DIR"/n[123]/arb.log 2>/dev/null | tail -1 | sed -E 's/^.*vm=[^:]*: //')
[ -n "$hb" ] && say "arbiter's own figure: $hb"
q=$(grep -h "\[QUORUM\] Members\[" "$LAB_DIR/n$survivor/log-corosync/corosync.log" | tail -1 | cut -c1-19)
dec=$(jq -r --argjson t0 "$T0" --arg vm "$VM" 'select(.wall_ms >= $t0 and .vm == $vm and (.actions | length) > 0) | .wall_ms' \
	"$LAB_DIR/n$survivor/audit.jsonl" 2>/dev/null | head -1)
if [ "$scenario" = secondary ]; then
	say "fence: no wait (rule1-secondary-node-lost: a primary may leave COLO at once; the lost secondary cannot run without a committed epoch)"
elif [ "$scenario" = primary ] || [ "$scenario" = partition ]; then
	if [ -n "$q" ] && [ -n "$dec" ]; then
		qms=$(date -d "$q" +%s%3N)
		say "fence (policy self): n$survivor waited $((dec - qms)) ms between corosync's new quorate membership and its decision (self_wait, the lost node's bounded self-fence time)"
	fi
fi
conf=$(jq -r --argjson t0 "$T0" --arg vm "$VM" 'select(.wall_ms >= $t0 and .vm == $vm and (.decision | test("confirmed"))) | .wall_ms' \
	"$LAB_DIR/n$survivor/audit.jsonl" 2>/dev/null | head -1)
[ -n "$conf" ] && say "total: fault -> failover confirmed by the arbiter from query-colo-status + query-status: $((conf - T0)) ms"

say
bold "== the VM now (QEMU's own answers, through the lab monitor)"
for s in p s; do
	node=${COLO_PNODE[$VM]} name=primary
	[ "$s" = s ] && node=${COLO_SNODE[$VM]} name=secondary
	pid=$(colo_pid "$VM" "$s")
	if kill -0 "$pid" 2>/dev/null; then
		say "n$node $name (pid $pid): query-colo-status $(pq "$s" query-colo-status), query-status $(pq "$s" query-status | jq -c '{status, running}')"
	else
		say "n$node $name (pid $pid): gone"
	fi
done
if [ "$scenario" = primary ] || [ "$scenario" = secondary ]; then
	left=$(ip netns pids "${LAB_ID}n$lost" | grep -cvx "${LAB_HOLDER[$lost]}")
	say "n$lost: $left processes left besides its namespace holder"
fi
say
bold "== colo-arbiterctl status (on n$survivor)"
arb_ctl "$survivor" status
say
say "demo: scenario $scenario done in $((SECONDS - start)) s (build included)"

if [ "$keep" = 1 ]; then
	say
	bold "== --keep: the lab stays up until Ctrl-C. Commands to try (as root):"
	for i in 1 2 3; do
		say "  n$i status:   nsenter -t ${LAB_HOLDER[$i]} -m -n -u -r -w -- $ARB_CTL status"
	done
	say "  watch n$survivor:    nsenter -t ${LAB_HOLDER[$survivor]} -m -n -u -r -w -- $ARB_CTL watch"
	say "  n$survivor quorum:   nsenter -t ${LAB_HOLDER[$survivor]} -m -n -u -r -w -- corosync-quorumtool -s"
	say "  QEMU n$survivor:     $TOP_BUILDDIR/test/lab/qmpcall $(colo_sock "$VM" "$sside" lab) query-colo-status query-status"
	say "  audit n$survivor:    jq -c . $LAB_DIR/n$survivor/audit.jsonl"
	say "  daemon log:  less $LAB_DIR/n$survivor/arb.log"
	[ "$scenario" = partition ] && say "  heal n1:     ip netns exec ${LAB_ID}br nft delete table bridge lab_part1"
	say "Ctrl-C tears everything down."
	while sleep 1; do :; done
fi
exit 0
