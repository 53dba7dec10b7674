#!/bin/bash
# measure-detection.sh: how long node loss takes to reach a CPG/quorum client, on the namespace
# lab, under CPU load. The liveness bound B of the arbiter (SAFETY.md H1) must be set from the
# tail of this, not from the median. Not part of `make check` (it takes ~15 s per run).
#
#   sudo TOP_BUILDDIR=/path/to/build test/membership/measure-detection.sh [RUNS] [TOKEN_MS]
#
# Each run: kill -9 n3's corosync, and take (on CLOCK_MONOTONIC, shared by the namespaces) the
# delay until n1's cpgwatch gets the CPG confchg with n3 NODEDOWN and the quorum notification
# without n3, and until n3's cpgwatch gets ipc_lost; then restart n3 and wait for a settled
# 3-node view. LOAD=0 turns off the CPU hogs (one busy loop per core, in the root namespace).
# Prints every run, then median / p99 / max per measure (with few runs p99 is the max).
set -u
RUNS=${1:-5}
TOKEN=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
CPGWATCH="$TOP_BUILDDIR/test/membership/cpgwatch"
[ -x "$CPGWATCH" ] || { echo "no $CPGWATCH: set TOP_BUILDDIR" >&2; exit 2; }
command -v jq >/dev/null || { echo "needs jq" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
. "$TOP_SRCDIR/test/lab/lab.sh"

W=$(mktemp -d /tmp/colo-memmeasure.XXXXXX)
HOGS=()
cleanup() {
	local p
	for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	lab_down
	rm -rf "$W"
}
declare -A WLOG WPID
evq() { local f=${WLOG[$1]}; shift; jq -R 'fromjson? // empty' "$f" | jq -s "$@"; }
first_after() { # node, stamp, condition -> t_mono_ms or nothing
	evq "$1" -r --argjson st "$2" "[.[] | select(.t_mono_ms > \$st) | select($3)] | first | .t_mono_ms // empty"
}
wait_first() { # seconds, node, stamp, condition
	local secs=$1 t=0 v
	shift
	while [ "$t" -lt $((secs * 10)) ]; do
		v=$(first_after "$@") && [ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.1
		t=$((t + 1))
	done
	return 1
}
settled() { # every node's last view: 3 members, quorate, Rq == Rc
	local i
	for i in 1 2 3; do
		evq "$i" -e '([.[] | select(.ev == "totem_confchg")] | last) as $t |
			([.[] | select(.ev == "quorum")] | last) as $q |
			([.[] | select(.ev == "cpg_confchg")] | last) as $c |
			$t != null and $q != null and $c != null and $c.n_members == 3 and
			($t.members | length) == 3 and $q.quorate == 1 and $t.ring == $q.ring' \
			>/dev/null || return 1
	done
}

lab_up 3 "$TOKEN" || exit 1
trap cleanup EXIT
for i in 1 2 3; do
	WLOG[$i]="$W/n$i.log"
	lab_spawn "$i" "${WLOG[$i]}" "$CPGWATCH" --group colo-measure --label "n$i" \
		--retry-min-ms 50 --retry-max-ms 200
	WPID[$i]=$LAB_LAST_PID
done
if [ "${LOAD:-1}" = 1 ]; then
	for _ in $(seq "$(nproc)"); do
		sh -c 'while :; do :; done' &
		HOGS+=($!)
	done
fi

res="$W/results"
: >"$res"
for r in $(seq "$RUNS"); do
	for _ in $(seq 300); do settled && break; sleep 0.1; done
	sleep 2
	st=$("$CPGWATCH" --mono)
	lab_kill_corosync 3
	cpg=$(wait_first 60 1 "$st" '.ev == "cpg_confchg" and any(.left[]; .nodeid == 3 and .reason == "NODEDOWN")')
	quo=$(wait_first 10 1 "$st" '.ev == "quorum" and .quorate == 1 and (.members | index(3)) == null')
	lost=$(wait_first 10 3 "$st" '.ev == "ipc_lost"')
	line=$(jq -nc --argjson st "$st" --arg c "${cpg:-}" --arg q "${quo:-}" --arg l "${lost:-}" \
		'def d($x): if $x == "" then null else ((($x | tonumber) - $st) * 10 | round / 10) end;
		 {run: '"$r"', cpg_nodedown_ms: d($c), quorum_ms: d($q), local_ipc_lost_ms: d($l)}')
	echo "$line" | tee -a "$res"
	lab_start_corosync 3
done
echo "# runs=$RUNS token=$TOKEN load=${LOAD:-1} (ms: median / p99 / max)"
jq -rs 'def pct($a; $p): ($a | sort) as $s | $s[(((($s | length) - 1) * $p) | ceil)];
	. as $rs | ["cpg_nodedown_ms", "quorum_ms", "local_ipc_lost_ms"][] as $k |
	[$rs[][$k] | select(. != null)] as $a |
	if ($a | length) == 0 then "\($k): no data" else
	"\($k): \(pct($a; 0.5) * 10 | round / 10) / \(pct($a; 0.99) * 10 | round / 10) / \($a | max * 10 | round / 10)  (n=\($a | length))" end' "$res"
