#!/bin/bash
# test_e2e_partition.sh: full partition of the primary's node, on real QEMU COLO pairs
# (primary n1, secondary n2, witness n3), fence_policy = self and freeze_colo_primaries = yes
# (so that the isolated COLO primary is frozen too, SAFETY H1):
#   A) pa: n1 cut off at the bridge (its own stack untouched): only the quorate side {n2,n3}
#      acts; n1 freezes its QEMU before n2's resumes alone (QEMU's own event timestamps),
#      never runs alone; after the heal the old primary never runs again and is killed
#   B) pb (registered at run time with colo-arbiterctl vm-add): n1 isolated by a drop on its
#      own interface, its corosync stalls: the arbiter's own liveness deadline freezes pb
#      before n2 resumes alone; after the heal n1's side never runs again
# TAP; root; skips without the components unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/e2e/e2e_lib.sh"
ARB_POLICY=self
ARB_EXTRA="freeze_colo_primaries = yes"

frozen_before_resume() { # name T: the primary's STOP precedes the secondary's RESUME
	local stop res
	stop=$(arb_event_ms "$1" p STOP "$2")
	res=$(arb_event_ms "$1" s RESUME "$2" last)
	echo "# $1: primary (isolated) STOP +$((stop - $2)) ms, secondary RESUME alone +$((res - $2)) ms (QEMU timestamps)"
	[ -n "$stop" ] && [ -n "$res" ] && [ "$stop" -lt "$res" ]
}
never_alone_since() { # name T: the primary never left COLO and never resumed
	[ "$(arb_event_count "$1" p RESUME "$2")" = 0 ] &&
		[ "$(arb_event_count "$1" p MIGRATION "$2")" = 0 ]
}
p_not_running() { local s; s=$(qstate "$1" p); [ "$s" = gone ] || [ "$s" = "primary/none/none/paused" ]; }

echo "1..11"
up() { e2e_up 3 && e2e_pair pa 1 2 && e2e_arbs; }
check "3 nodes, pair pa (n1->n2), arbiters with fence_policy self, freeze_colo_primaries yes" up ||
	{ echo "Bail out! no lab"; exit 1; }
check "pa protected and in COLO" eval 'arb_wait 60 all_protected pa && in_colo pa'

# ---- A: at the bridge
T0=$(now_ms)
lab_partition 1
check "A) bridge partition: n2 (quorate side) runs pa alone (solo; none/secondary/request, running)" \
	eval 'arb_wait 60 is_st 2 pa solo && [ "$(qstate pa s)" = "none/secondary/request/running" ]'
check "A) n1 froze its primary (status frozen, gate closed; QEMU mode primary, paused): exactly one side runs" \
	eval 'is_st 1 pa frozen && arb_jq 1 ".cluster.gate==\"closed\"" &&
	      [ "$(qstate pa p)" = "primary/none/none/paused" ] && one_runs pa'
check "A) n1's QEMU stopped before n2's resumed alone, and never ran alone" \
	eval 'frozen_before_resume pa "$T0" && never_alone_since pa "$T0"'
lab_unpartition 1
lab_wait_quorate 1 3 60
check "A) after the heal: n1 rejoins; its old primary never runs again and is killed (n1 says stale)" \
	eval 'arb_wait 30 eval "[ \"\$(qstate pa p)\" = gone ]" && arb_wait 10 is_st 1 pa stale &&
	      never_alone_since pa "$T0" && is_st 2 pa solo && one_runs pa'

# ---- B: drop on n1's own interface
check "B) pair pb (n1->n2) added at run time with colo-arbiterctl vm-add: protected, in COLO" \
	eval 'e2e_pair pb 1 2 && arb_ctl_register pb && arb_wait 60 all_protected pb && in_colo pb'
T0=$(now_ms)
lab_isolate 1
check "B) n1 isolated on its own interface: n2 runs pb alone (solo; none/secondary/request, running)" \
	eval 'arb_wait 60 is_st 2 pb solo && [ "$(qstate pb s)" = "none/secondary/request/running" ]'
check "B) n1's arbiter froze pb by its own deadline (QEMU primary, paused), before n2 resumed" \
	eval 'arb_wait 10 eval "[ \"\$(qstate pb p)\" = primary/none/none/paused ]" &&
	      frozen_before_resume pb "$T0" && never_alone_since pb "$T0" && one_runs pb'
lab_heal 1
lab_wait_quorate 1 3 60
sleep 5
check "B) after the heal: n1's pb never runs again (killed or still frozen), n2 alone" \
	eval 'p_not_running pb && never_alone_since pb "$T0" && is_st 2 pb solo && one_runs pb'
check "after both: pa and pb each ran on exactly one side, n2's status --json names n2 as holder" \
	arb_jq 2 '[.vms[] | select(.status == "solo" and .where == 2)] | length == 2'
exit $TAP_BAD
