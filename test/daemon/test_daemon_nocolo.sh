#!/bin/bash
# test_daemon_nocolo.sh: a QEMU without COLO support is refused, visibly (issues 5 and 6).
# 3-node corosync lab (token 1000), policy none. VM nc: primary ncp on n1 and secondary ncs
# on n2 are qmp-sim build no-colo (no x-colo-lost-heartbeat or query-colo-status in
# query-commands); pair ok (COLO) beside it.
#   - `colo-arbiterctl status` shows nc as refused with the reason (JSON and text), the log
#     says so once, and nc is never in the decision core (no query, no audit record)
#   - n1 lost (corosync killed, primaries lost silently): n2 fails ok over, and sends nothing
#     to ncs
#   - ncs replaced by a COLO build at the same socket: n2 manages nc again
# TAP; root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need

refused() { # node
	dl_jq "$1" '.vms[] | select(.name=="nc") | .status == "refused" and .protected == false and
		(.why | test("x-colo-lost-heartbeat")) and .local.connected'
}
nc_cmds_only_probe() { # simvm: the arbiter read query-commands but asked nothing COLO
	dl_sim_cmds "$1" | dl_jqe 'index("query-commands") != null and
		([.[] | select(IN("query-colo-status", "x-colo-lost-heartbeat", "yank", "stop",
				  "cont", "query-migrate", "nbd-server-stop"))] | length) == 0'
}

echo "1..9"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_sim "{\"cmd\":\"vm-add\",\"name\":\"ncp\",\"qmp\":\"$LAB_DIR/ncp.qmp\",\"build\":\"no-colo\"}" \
	"{\"cmd\":\"vm-add\",\"name\":\"ncs\",\"qmp\":\"$LAB_DIR/ncs.qmp\",\"build\":\"no-colo\",\"incoming\":true}" \
	>/dev/null || { echo "Bail out! simulator refused the VMs"; exit 1; }
dl_vmfile 1 nc "$LAB_DIR/ncp.qmp" primary 2
dl_vmfile 2 nc "$LAB_DIR/ncs.qmp" secondary 1
dl_pair ok || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do dl_arb_start "$i"; done
dl_check "ok protected; nc shown as refused with the reason on n1 and n2 (status --json)" \
	eval 'dl_wait 30 dl_protected ok && dl_wait 10 refused 1 && refused 2'
dl_check "the text status says REFUSED and why" \
	eval 'dl_ctl 2 status | grep -A6 "^VM nc: REFUSED" |
	      grep -q "protected: NO: refused, QEMU without COLO: no x-colo-lost-heartbeat"'
dl_check "each log says it once, as an error" \
	eval '[ "$(grep -c "vm=nc: refused: QEMU without COLO" "$LAB_DIR/n1/arb.log")" = 1 ] &&
	      [ "$(grep -c "vm=nc: refused: QEMU without COLO" "$LAB_DIR/n2/arb.log")" = 1 ] &&
	      grep -q "\[error\].*vm=nc: refused" "$LAB_DIR/n2/arb.log"'
dl_check "nc is not in the decision core: no COLO query or command sent, no audit record" \
	eval 'nc_cmds_only_probe ncp && nc_cmds_only_probe ncs &&
	      ! grep -qs "\"vm\":\"nc\"" "$LAB_DIR/n1/audit.jsonl" "$LAB_DIR/n2/audit.jsonl" &&
	      grep -qs "\"vm\":\"ok\"" "$LAB_DIR/n2/audit.jsonl"'

lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"okp"}' '{"cmd":"silent-loss","name":"ncp"}' >/dev/null
dl_check "n1 lost: n2 fails the COLO pair ok over (solo)" dl_wait 30 dl_st 2 ok solo
sleep 2
dl_check "n1 lost: n2 sent nothing to the refused nc's QEMU, which stays refused" \
	eval 'nc_cmds_only_probe ncs && refused 2 &&
	      dl_sim_state ncs | dl_jqe ".status == \"inmigrate\""'

# the operator replaces the QEMU with a COLO build: the refusal lifts
dl_sim '{"cmd":"vm-remove","name":"ncs"}' \
	"{\"cmd\":\"vm-add\",\"name\":\"ncs\",\"qmp\":\"$LAB_DIR/ncs.qmp\",\"incoming\":true}" >/dev/null
dl_check "a COLO QEMU at nc's socket: n2 manages nc again (status no longer refused, queried)" \
	eval 'dl_wait 30 eval "dl_jq 2 \".vms[] | select(.name==\\\"nc\\\") | .status != \\\"refused\\\"\"" &&
	      dl_wait 10 eval "dl_sim_cmds ncs | dl_jqe \"index(\\\"query-colo-status\\\") != null\"" &&
	      grep -q "vm=nc: this QEMU has COLO: managed again" "$LAB_DIR/n2/arb.log"'
dl_check "n2 never sent x-colo-lost-heartbeat to the new nc QEMU (not in COLO)" \
	eval '[ "$(dl_count_cmd ncs x-colo-lost-heartbeat)" = 0 ]'
dl_check "arbiters on n2 and n3 exit 0 on SIGTERM" \
	eval 'dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
dl_arb_kill 1 TERM
lab_down
exit $TAP_BAD
