#!/bin/sh
# test_sim_random.sh: make check driver of the simulator (issue 4), TAP.
#  - the SAFETY.md section 6 schedules (and variants) as fixed scripts;
#  - regression seeds: each once broke an invariant, before a fix (of the fsm,
#    or of the model: 8095708, and of the checker: 17000848);
#  - a seed of a documented limit, counted as such;
#  - SIM_COUNT (default 100000) random schedules, split over two processes
#    (this is a 2-core machine), 0 violations, schedules per second printed;
#  - mechanism removal: with each of the nine mechanisms of issue 4 off,
#    a violation must be found within SIM_SEARCH (default 3000) seeds.
# Every process this script starts is waited for; temporary files are
# removed on exit, also on failure.

SIM=${SIM:-${TOP_BUILDDIR:-..}/test/sim/sim}
COUNT=${SIM_COUNT:-100000}
SEARCH=${SIM_SEARCH:-3000}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sim-check.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT INT TERM

if [ ! -x "$SIM" ]; then
	echo "1..0 # SKIP simulator binary $SIM not built"
	exit 0
fi

REGRESS="46 134 725 824 1979 2406 3787 4941 7960 10014 10438 11270 11472 11473 12337 15121 19461 23997 39567 60425 2075784 2140468 3076838 8095708 13108533 14141006 17000848 21125125"
MECHS="quorum_gate ring_id_agreement fence_wait procdown_guard own_liveness epoch_cas eligibility:stale_kill freeze_confirm yank_first watchdog watchdog_release"

n_fixed=$("$SIM" --fixed all 2>/dev/null | grep -c '^\(not \)\?ok - fixed')
n_reg=$(echo $REGRESS | wc -w)
n_mech=$(echo $MECHS | wc -w)
echo "1..$((n_fixed + n_reg + 1 + 2 + n_mech + 1))"
i=0

# 1. fixed schedules
"$SIM" --fixed all > "$TMP/fixed" 2>&1
while IFS= read -r line; do
	case "$line" in
	"ok - "*) i=$((i + 1)); echo "ok $i - ${line#ok - }" ;;
	"not ok - "*) i=$((i + 1)); echo "not ok $i - ${line#not ok - }" ;;
	*) echo "# $line" ;;
	esac
done < "$TMP/fixed"

# 2. regression seeds
for s in $REGRESS; do
	i=$((i + 1))
	if "$SIM" --seed "$s" > "$TMP/reg" 2>&1; then
		echo "ok $i - regression seed $s: no violation"
	else
		echo "not ok $i - regression seed $s"
		sed 's/^/# /' "$TMP/reg" | head -200
	fi
done

# 2b. a seed of a documented limit (doc/fsm.md section 11): counted as such, no violation;
# if the limit is ever lifted, this expects 0 and the section goes
i=$((i + 1))
"$SIM" --count 1 --start 6026063 > "$TMP/lim" 2>&1
if grep -q ", 0 violations," "$TMP/lim" &&
	grep -q "^# 1 VM(s) ended stalled after a replication break" "$TMP/lim"; then
	echo "ok $i - seed 6026063: a replication break no arbiter saw, counted as the known limit"
else
	echo "not ok $i - seed 6026063: expected the known limit of a break no arbiter saw"
	sed 's/^/# /' "$TMP/lim" | head -50
fi

# 3. random schedules, two processes
half=$((COUNT / 2))
start=$(date +%s.%N)
"$SIM" --count "$half" --start 1 > "$TMP/r1" 2>&1 &
p1=$!
"$SIM" --count "$((COUNT - half))" --start "$((half + 1))" > "$TMP/r2" 2>&1 &
p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
end=$(date +%s.%N)
for k in 1 2; do
	i=$((i + 1))
	eval rc=\$rc$k
	if [ "$rc" -eq 0 ]; then
		echo "ok $i - random schedules, part $k of 2"
		sed 's/^/# /' "$TMP/r$k"
	else
		echo "not ok $i - random schedules, part $k of 2"
		sed 's/^/# /' "$TMP/r$k" | head -400
	fi
done
awk -v n="$COUNT" -v a="$start" -v b="$end" 'BEGIN { d = b - a; if (d <= 0) d = 0.001;
	printf "# %d random schedules in %.1f s wall: %.0f schedules/s on 2 processes\n", n, d, n / d }' 

# 4. mechanism removal: the checker must be able to fail
for m in $MECHS; do
	i=$((i + 1))
	mech=${m%%:*}
	also=
	[ "$m" != "$mech" ] && also="--also ${m#*:}"
	# shellcheck disable=SC2086
	if "$SIM" --search "$mech" $also --count "$SEARCH" > "$TMP/m" 2>&1; then
		echo "ok $i - $(grep -m1 "^# $mech off" "$TMP/m" | sed 's/^# //')"
		grep -A12 '^# shrunk' "$TMP/m" | sed 's/^/# /'
	else
		echo "not ok $i - $mech off: no violation found in $SEARCH seeds"
	fi
done

# 5. replay prints a readable timeline
i=$((i + 1))
if "$SIM" --seed 1 --verbose 2>&1 | grep -q 'booted: every pair in COLO'; then
	echo "ok $i - sim --seed N --verbose prints a timeline"
else
	echo "not ok $i - sim --seed N --verbose prints a timeline"
fi
