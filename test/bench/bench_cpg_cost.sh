#!/bin/bash
# bench_cpg_cost.sh: what one CPG message costs corosync, by the spacing of the messages.
# Prints figures; not a test (nothing here is in TESTS). Root.
#
#   sudo TOP_BUILDDIR=_build/main test/bench/bench_cpg_cost.sh [--count N] [--every "MS ..."]
#
# A fresh 3-node namespace lab (test/lab/lab.sh, token 1000, knet with crypto), a cpgwatch
# (test/membership) in the group on every node; then, for each spacing MS (default
# "1 4 20 100 250"), n2's cpgwatch multicasts N small messages (default 40) one every MS
# ms. For each spacing it prints the CPU (utime + stime, all threads) the three corosync
# processes used from the first message until a second after the last, minus their idle
# rate measured before, per message. Why it matters: totem keeps the token turning
# while messages flow and for a while after, so messages spread out in time cost far
# more than the same messages sent together (colo-arbiterd batches its sends and keeps
# STATE reports nobody reads for the periodic round: BENCHMARKS.md).
# Every process is started through the lab and killed by PID on exit (lab_down trap).
set -u
COUNT=40 EVERY="1 4 20 100 250"
while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift 2 ;;
	--every) EVERY=$2; shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
TOP_BUILDDIR=$(cd "${TOP_BUILDDIR:-$TOP_SRCDIR}" && pwd)
CPGWATCH="$TOP_BUILDDIR/test/membership/cpgwatch"
export TOP_SRCDIR TOP_BUILDDIR
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
[ -x "$CPGWATCH" ] || { echo "no $CPGWATCH: build the tests (make -C test check TESTS=)" >&2; exit 2; }
. "$TOP_SRCDIR/test/lab/lab.sh"

hz=$(getconf CLK_TCK)
cs_ticks() { # utime + stime of every thread of the three corosyncs
	local t=0 p f
	for p in "${LAB_COROSYNC[@]}"; do
		for f in /proc/"$p"/task/*/stat; do
			t=$((t + $(awk '{ print $14 + $15 }' "$f" 2>/dev/null || echo 0)))
		done
	done
	echo "$t"
}
now_ms() { date +%s%3N; }

echo "# bench_cpg_cost: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
lab_up 3 1000 >/dev/null || { echo "lab did not come up" >&2; exit 1; }
for i in 1 2 3; do lab_spawn "$i" "$LAB_DIR/watch$i.log" "$CPGWATCH" --label "w$i"; done
sleep 3
a=$(cs_ticks) t=$(now_ms); sleep 5; b=$(cs_ticks)
idle=$(awk -v d=$((b - a)) -v ms=$(($(now_ms) - t)) 'BEGIN { printf "%.3f", d / ms }')
echo "corosync x3 idle: $((b - a)) ticks in 5 s ($(awk -v r="$idle" -v hz="$hz" 'BEGIN { printf "%.1f", r * 1000 / hz * 100 }') % of one core)"
for ms in $EVERY; do
	a=$(cs_ticks) t=$(now_ms)
	# cpgwatch keeps running after its last message: timeout ends it a second later
	lab_exec 2 timeout "$(awk -v n="$COUNT" -v e="$ms" 'BEGIN { printf "%.2f", (n * e + 1500) / 1000 }')" \
		"$CPGWATCH" --label "s$ms" --send-count "$COUNT" --send-every "$ms" >"$LAB_DIR/send$ms.log" 2>&1 &
	wait $!
	b=$(cs_ticks) el=$(($(now_ms) - t))
	sent=$(grep -c '"ev":"sent"' "$LAB_DIR/send$ms.log")
	awk -v d=$((b - a)) -v el="$el" -v idle="$idle" -v n="$sent" -v ms="$ms" -v hz="$hz" 'BEGIN {
		extra = d - idle * el; if (extra < 0) extra = 0
		printf "%d messages, one every %d ms: corosync x3 used %d ticks in %d ms, %.0f above idle: %.1f ms of CPU per message\n",
			n, ms, d, el, extra, n ? extra * 1000 / hz / n : 0 }'
done
lab_down
