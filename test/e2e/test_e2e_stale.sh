#!/bin/bash
# test_e2e_stale.sh: SAFETY.md's stale secondary on real components. Pair sa (primary n1,
# secondary n2, witness n3, fence_policy self). The pair's replication connections are reset
# inside n2 (ss -K): n1's primary goes on alone through a committed epoch, and n2's arbiter
# must kill its now stale secondary. Here that kill never lands (the daemon lab's nokill.so
# shim, preloaded into n2's arbiter only, turns it into a log line), so the secondary's quit
# is never confirmed; then n1 is powered off. Expected: the stale secondary does not take
# over (QEMU still mode secondary, no failover event), n2's status --json names n1 as the
# node with the only current copy, and says why. TAP; root; skips without the components
# unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/e2e/e2e_lib.sh"
ARB_POLICY=self
NOKILL="$TOP_BUILDDIR/test/daemon/nokill.so"
if [ ! -f "$NOKILL" ]; then
	if [ "${COLO_REQUIRE_REAL:-0}" = 1 ]; then echo "1..1"; echo "not ok 1 - needs daemon/nokill.so (make check builds it)"; exit 1; fi
	echo "1..0 # SKIP needs daemon/nokill.so (make check builds it)"; exit 0
fi
port() { echo "${COLO_PORTS[$1]}" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "1..5"
up() {
	e2e_up 3 && e2e_pair sa 1 2 || return 1
	local i
	for i in 1 2 3; do arb_conf "$i"; done
	arb_start 1
	arb_start 3
	# (a sanitizer build's arbiter must accept a preload ahead of its runtime)
	ARB_WRAP="env LD_PRELOAD=$NOKILL COLO_TEST_NOKILL_PID=${COLO_PID_S[sa]} COLO_TEST_KILL_LOG=$LAB_DIR/n2/kills
		ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"
	arb_start 2
	ARB_WRAP=""
}
check "3 nodes, pair sa (n1->n2); n2's arbiter cannot kill sa's secondary (nokill.so)" up ||
	{ echo "Bail out! no lab"; exit 1; }
check "sa protected and in COLO" eval 'arb_wait 60 all_protected sa && in_colo sa'
T0=$(now_ms)
lab_exec 2 ss -K -t state established "( dport = :$(port sa mirror) or dport = :$(port sa compare1) or sport = :$(port sa nbd) or sport = :$(port sa mig) )" >/dev/null
check "replication reset: n1 runs sa alone; n2 declares its secondary stale and tries to kill it (intercepted)" \
	eval 'arb_wait 30 is_st 1 sa solo && arb_wait 10 is_st 2 sa stale &&
	      arb_wait 10 grep -q "^kill ${COLO_PID_S[sa]} 9\$" "$LAB_DIR/n2/kills"'
arb_power_off 1
T1=$(now_ms)
# detection (~3.5 s) + self_wait (9.4 s) + margin: a takeover would have happened by then
sleep 20
echo "# n2 on sa $(( ($(now_ms) - T1) / 1000 )) s after n1's power-off: $(arb_status 2 | jq -c '.vms[] | select(.name=="sa") | {status, where, why, epoch: .epoch.kind}')"
check "n1 powered off: the stale secondary never takes over (QEMU mode secondary, no MIGRATION/RESUME since)" \
	eval '[ "$(qstate sa s | cut -d/ -f1)" = secondary ] &&
	      [ "$(arb_event_count sa s MIGRATION "$T0")" = 0 ] && [ "$(arb_event_count sa s RESUME "$T0")" = 0 ] &&
	      ! is_st 2 sa solo'
check "n2's status --json names n1 as holding the only current copy (where 1, epoch SOLO held by n1)" \
	arb_jq 2 '.vms[] | select(.name=="sa") | .where == 1 and .epoch.kind == "SOLO" and .epoch.holder == 1 and .protected == false'
exit $TAP_BAD
