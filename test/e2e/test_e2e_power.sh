#!/bin/bash
# test_e2e_power.sh: a node loses power under two real QEMU COLO pairs, one in each
# direction: pa (primary n1, secondary n2) and pb (primary n2, secondary n1); n3 is the
# witness; fence_policy = self (no Pacemaker fencer in the lab: the survivor waits the lost
# node's bounded self-fence time before a secondary takes over). n1 is powered off: its
# interface drops everything first (no FIN/RST escapes), then its corosync, arbiter and
# QEMUs are killed by PID. Expected:
#   pb: n2's primary leaves COLO at once (rule 1, no fence wait, no checkpoint needed)
#   pa: n2's secondary takes over after the self-fence wait (rule 2)
# Each is asserted on `colo-arbiterctl status --json`, on QEMU's own query-colo-status and
# query-status of both sides, and on exactly one side running. TAP; root; skips without
# the components unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/e2e/e2e_lib.sh"
ARB_POLICY=self

echo "1..9"
up() { e2e_up 3 && e2e_pair pa 1 2 && e2e_pair pb 2 1 && e2e_arbs; }
check "3 nodes, pairs pa (n1->n2) and pb (n2->n1), 3 arbiters (fence_policy self)" up ||
	{ echo "Bail out! no lab"; exit 1; }
check "both pairs protected (status --json on n1 and n2) and in COLO (QEMU's own view)" \
	eval 'arb_wait 60 all_protected pa pb && in_colo pa && in_colo pb'

T0=$(now_ms)
arb_power_off 1
check "pb: n2's primary runs alone (status solo, QEMU mode none, last-mode primary, reason request, running)" \
	eval 'arb_wait 60 is_st 2 pb solo &&
	      [ "$(qstate pb p)" = "none/primary/request/running" ] && one_runs pb'
check "pa: n2's secondary runs alone (status solo, QEMU mode none, last-mode secondary, reason request, running)" \
	eval 'arb_wait 60 is_st 2 pa solo &&
	      [ "$(qstate pa s)" = "none/secondary/request/running" ] && one_runs pa'
b_conf=$(audit_ms 2 pb confirmed "$T0")
a_dec=$(audit_ms 2 pa "takes over" "$T0")
a_conf=$(audit_ms 2 pa confirmed "$T0")
echo "# after the fault: pb confirmed alone +$((b_conf - T0)) ms; pa decided +$((a_dec - T0)) ms, confirmed +$((a_conf - T0)) ms"
check "pb left COLO at once: confirmed within 15 s of the fault, before pa's self-fence wait ended" \
	eval '[ -n "$b_conf" ] && [ -n "$a_dec" ] && [ $((b_conf - T0)) -lt 15000 ] && [ "$b_conf" -lt "$a_dec" ]'
# self_wait = P + B + SFT + kill_time + 1 s = 0.5 + 5.4 + 2 + 0.5 + 1 = 9.4 s after the gate
check "pa: the secondary took over only after the self-fence wait (>= 9.4 s after the fault)" \
	eval '[ -n "$a_dec" ] && [ $((a_dec - T0)) -ge 9400 ]'
check "status --json on n2: both VMs solo with the only current copy on n2, epoch 2 SOLO held by n2" \
	arb_jq 2 '[.vms[] | select(.status == "solo" and .where == 2 and .epoch.kind == "SOLO" and .epoch.holder == 2)] | length == 2'
# pb's primary: docs/COLO-FT.txt's clean-up ran as post-failover (test/lab/arb.sh), and the
# yank spared colo-compare's loopback chardevs (yank-exclude): compare0 still connected
cleaned() {
	[ "$(colo_query pb p query-named-block-nodes | jq '[.[] | select(."node-name" == "replication0")] | length')" = 0 ] &&
		[ "$(colo_query pb p '{"execute":"qom-list","arguments":{"path":"/objects"}}' |
			jq '[.[] | select(.name | test("^(comp0|iothread1|m0|redire0|redire1)$"))] | length')" = 0 ] &&
		colo_query pb p query-chardev | jq -e '.[] | select(.label == "compare0") | .filename | contains("<->")' >/dev/null
}
check "pb: the primary's clean-up done (no replication0, comp0, iothread1, m0, redire0/1); loopback chardev compare0 not yanked" \
	cleaned
check "each survivor QEMU failed over exactly once (one MIGRATION completed event), n1 has no process left" \
	eval '[ "$(arb_event_count pa s MIGRATION "$T0")" = 1 ] && [ "$(arb_event_count pb p MIGRATION "$T0")" = 1 ] &&
	      [ -z "$(ip netns pids "${LAB_ID}n1" | grep -vx "${LAB_HOLDER[1]}")" ]'
exit $TAP_BAD
