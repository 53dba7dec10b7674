#!/bin/bash
# test_daemon_break.sh: a replication reset that only the secondary's arbiter saw, which
# restarts before the primary's arbiter is back (issue 5; DESIGN rule 5: "the secondary's
# arbiter reports and the primary's arbiter answers"). After a reset QEMU's queries still
# show both sides in COLO (recorded: qemu-colo/silent-loss reset-s), so the secondary's
# COLO_EXIT{error} is the only witness of the break: the arbiter keeps it with the VM's
# epoch record ("broke_inst" in epochs.log), or the restarted arbiter would report a
# healthy secondary and the pair would stay "protected" while it is not (seed 2075784 of
# the randomized simulation, found with --count 150000 --start 2000000).
# 3-node corosync lab (token 1000), policy none, pair rb (primary on n1, secondary on n2).
#   1 rb protected on n1 and n2
#   2 n1's arbiter stopped, then the migration link reset: n2's arbiter logs the
#     secondary's COLO_EXIT and its epoch log records the secondary's instance as broken
#   3 n2's arbiter killed -9 and started again; the simulator's secondary still answers
#     query-colo-status with mode secondary, reason none (nothing there shows the break)
#   4 n1's arbiter started: the primary goes solo by rule3-colo-broke, confirmed; n2 kills
#     its stale secondary (through the nokill.so shim); no fence was requested
#   5 every arbiter exits 0 on SIGTERM
# TAP; root; skips without the tools unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need

elog="" # n2's epoch log, once the lab is up
broke_recorded() { # the last record of rb names the secondary's instance as broken
	grep '"vm":"rb"' "$elog" | tail -1 | grep -q '"broke_inst"'
}
exit_seen() { grep -q "vm=rb: QMP event COLO_EXIT" "$LAB_DIR/n2/arb.log"; }

echo "1..5"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
elog="$LAB_DIR/n2/state/epochs.log"
dl_pair rb || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do dl_arb_start "$i"; done
dl_check "rb protected on n1 and n2" dl_wait 30 dl_protected rb

dl_arb_kill 1 TERM >/dev/null
dl_sim '{"cmd":"reset-migration","name":"rbs"}' >/dev/null
dl_check "n1's arbiter away, migration reset: n2 saw COLO_EXIT and recorded the break" \
	eval 'dl_wait 10 exit_seen && dl_wait 10 broke_recorded'

dl_arb_kill 2 KILL >/dev/null
dl_arb_start 2
dl_check "n2 restarted; QEMU's query still shows the secondary in COLO (mode secondary, reason none)" \
	eval 'dl_wait 15 dl_jq 2 ".cluster.gate == \"open\"" &&
	      dl_sim_state rbs | dl_jqe ".mode == \"secondary\" and .reason == \"none\" and .alive"'

dl_arb_start 1
solo_by_rule3() {
	dl_st 1 rb solo && grep -q '"rule":"rule3-colo-broke"' "$LAB_DIR/n1/audit.jsonl"
}
dl_check "n1's arbiter back: the primary goes solo by rule 3; n2 kills its stale secondary; no fence" \
	eval 'dl_wait 30 solo_by_rule3 &&
	      dl_sim_state rbp | dl_jqe ".mode == \"none\" and .running" &&
	      dl_wait 10 eval "dl_st 2 rb stale && grep -q \"^kill $DL_SIM 9\$\" \"$LAB_DIR/n2/kills\"" &&
	      ! grep -q "fence requested" "$LAB_DIR"/n*/arb.log'
grep -h "vm=rb" "$LAB_DIR/n1/arb.log" | grep -E "notice|warning" | tail -6 | sed 's/^/#   n1: /'
dl_check "every arbiter exits 0 on SIGTERM" \
	eval 'dl_arb_kill 1 TERM && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
lab_down
exit $TAP_BAD
