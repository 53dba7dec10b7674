#!/bin/bash
# test_e2e_arbkill.sh: the survivor's arbiter is killed (-9) in the middle of a failover and
# restarted, on real QEMU COLO pairs ka and kb (primary n1, secondary n2; n3 witness;
# fence_policy self). n1 is powered off; while n2 waits out n1's self-fence time (status
# "waiting"), n2's arbiter is killed and started again at once. Then it is killed again the
# moment kb's secondary QEMU has run nbd-server-stop (the sequence is in flight).
# Expected: each failover completes exactly once (one MIGRATION completed event on each
# secondary QEMU), confirmed by status --json and QEMU's own query-colo-status, and exactly
# one side runs. TAP; root; skips without the components unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/e2e/e2e_lib.sh"
ARB_POLICY=self

echo "1..5"
up() { e2e_up 3 && e2e_pair ka 1 2 && e2e_pair kb 1 2 && e2e_arbs; }
check "3 nodes, pairs ka and kb (n1->n2), 3 arbiters (fence_policy self)" up || { echo "Bail out! no lab"; exit 1; }
check "ka and kb protected and in COLO" eval 'arb_wait 60 all_protected ka kb && in_colo ka && in_colo kb'
T0=$(now_ms)
arb_power_off 1
check "n2 waits out n1's self-fence time (status waiting) and is killed -9 there, then restarted" \
	eval 'arb_wait 30 is_st 2 ka waiting && arb_kill 2 KILL; arb_start 2; true'
# Kill again the moment kb's secondary QEMU reports its export gone: nbd-server-stop, the
# first command of its failover sequence, has run; the rest may be in flight.
bx() { grep -q BLOCK_EXPORT_DELETED "$LAB_DIR/events-kb-s.jsonl" 2>/dev/null; }
end=$((SECONDS + 60))
until bx || [ "$SECONDS" -ge "$end" ]; do sleep 0.01; done
arb_kill 2 KILL
was=$(qstate kb s)
arb_start 2
echo "# second kill of n2's arbiter mid-sequence; kb's secondary QEMU then: $was"
check "after both kills: ka and kb solo on n2 (status), QEMU none/secondary/request running, one side runs" \
	eval 'arb_wait 60 eval "is_st 2 ka solo && is_st 2 kb solo" &&
	      [ "$(qstate ka s)" = "none/secondary/request/running" ] &&
	      [ "$(qstate kb s)" = "none/secondary/request/running" ] && one_runs ka && one_runs kb'
sleep 2
check "each failover happened exactly once (one MIGRATION completed, one RESUME on each secondary QEMU)" \
	eval '[ "$(arb_event_count ka s MIGRATION "$T0")/$(arb_event_count kb s MIGRATION "$T0")" = 1/1 ] &&
	      [ "$(arb_event_count ka s RESUME "$T0")/$(arb_event_count kb s RESUME "$T0")" = 1/1 ]'
exit $TAP_BAD
