#!/bin/bash
# test_e2e_rolling.sh: SAFETY.md's rolling partition (C2b) on real components. Pair ra
# (primary n1, secondary n2, witness n3, fence_policy self). First {n2} | {n1,n3} (n2 cut at
# the bridge): n1's primary goes solo at once (rule 1, a committed T(SOLO) that n3 holds) and
# runs on. Then the partition moves to {n1} | {n2,n3} in one step: n1 freezes its solo
# primary; n2's secondary saw nothing of the new epoch, must not take over (it was not in
# COLO at the current epoch), and n2's status --json names n1 as the node with the only
# current copy. TAP; root; skips without the components unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/e2e/e2e_lib.sh"
ARB_POLICY=self

echo "1..5"
up() { e2e_up 3 && e2e_pair ra 1 2 && e2e_arbs; }
check "3 nodes, pair ra (n1->n2), 3 arbiters (fence_policy self)" up || { echo "Bail out! no lab"; exit 1; }
check "ra protected and in COLO" eval 'arb_wait 60 all_protected ra && in_colo ra'
T0=$(now_ms)
lab_partition 2
check "{n2} | {n1,n3}: n1's primary runs ra alone (solo; none/primary/request, running)" \
	eval 'arb_wait 60 is_st 1 ra solo && [ "$(qstate ra p)" = "none/primary/request/running" ]'
sleep 10 # the primary runs alone and diverges from the secondary's copy
T1=$(now_ms)
lab_partition 1
lab_unpartition 2
check "{n1} | {n2,n3}: n1 freezes its solo primary (QEMU paused, never resumed since)" \
	eval 'arb_wait 30 eval "[ \"\$(qstate ra p)\" = none/primary/request/paused ]" &&
	      [ "$(arb_event_count ra p RESUME "$T1")" = 0 ]'
sleep 20 # corosync detection + self_wait: a takeover would have happened by now
echo "# n2 on ra: $(arb_status 2 | jq -c '.vms[] | select(.name=="ra") | {status, where, why}'); secondary QEMU: $(qstate ra s)"
check "n2's secondary never takes over (no MIGRATION completed since the start; gone or still a secondary) and n2 names n1 as holder of the only current copy" \
	eval '[ "$(arb_event_count ra s MIGRATION "$T0")" = 0 ] &&
	      { [ "$(qstate ra s)" = gone ] || [ "$(qstate ra s | cut -d/ -f1)" = secondary ]; } &&
	      ! is_st 2 ra solo &&
	      arb_jq 2 ".vms[] | select(.name==\"ra\") | .where == 1 and .epoch.kind == \"SOLO\" and .epoch.holder == 1"'
exit $TAP_BAD
