#!/bin/bash
# test_daemon_restart.sh: the surviving arbiter is killed in the middle of its failover and
# restarted (issue 5). 3-node corosync lab (token 1000), policy none, pair ra (primary on
# n1, secondary on n2) with a listener process per simulated QEMU ("process":true).
# The secondary's x-colo-lost-heartbeat is held in the simulator (fault delay: it takes
# effect at once, its reply and the RESUME after it come DELAY ms later, and the in-band
# monitor stays busy until then); the primary QEMU is killed; n2's arbiter is killed -9
# once its command is written, and started again.
# Asserts: the failover takes effect exactly once (the simulator's secondary ended COLO by
# request, at most one COLO_EXIT, a resent command refused), query-colo-status after the
# restart confirms it, n2 ends solo, and no second VM runs (the primary stays dead, n1
# runs nothing). TAP; root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need
DELAY=6000

# events SIMVM sent, as a JSON array of names
sim_events() {
	dl_sim "{\"cmd\":\"log\",\"name\":\"$1\"}" |
		jq -ce '[.log[] | select(.dir=="out") | .msg.event | select(.)]'
}
written() { grep -q "vm=ra: x-colo-lost-heartbeat written" "$LAB_DIR/n2/arb.log"; }

echo "1..8"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_pair ra ',"process":true' || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do dl_arb_start "$i"; done
dl_check "ra protected on n1 and n2" dl_wait 30 dl_protected ra

dl_sim "{\"cmd\":\"fault\",\"name\":\"ras\",\"fault\":\"delay\",\"match\":\"x-colo-lost-heartbeat\",\"ms\":$DELAY}" \
	'{"cmd":"kill","name":"rap"}' >/dev/null
dl_check "the primary killed: n2's arbiter writes x-colo-lost-heartbeat" dl_wait 10 written
dl_arb_kill 2 KILL
# no reply to the failover command was written yet when the arbiter died
unanswered() {
	dl_sim '{"cmd":"log","name":"ras"}' | dl_jqe '
		([.log[] | select(.dir=="in" and .msg.execute=="x-colo-lost-heartbeat") | .msg.id][0]) as $id |
		$id != null and ([.log[] | select(.dir=="out" and .msg.id == $id)] | length) == 0'
}
dl_check "n2's arbiter killed -9 with the failover in flight (no reply yet, secondary paused)" \
	eval 'unanswered && dl_sim_state ras | dl_jqe ".running == false"'
dl_arb_start 2
dl_check "restarted n2 ends solo on ra; the simulator's secondary runs alone (mode none, running)" \
	eval 'dl_wait $((DELAY / 1000 + 30)) dl_st 2 ra solo &&
	      dl_sim_state ras | dl_jqe ".mode==\"none\" and .running and .alive"'
sleep 2
# Events reach the log only while a client is connected, so the count of COLO_EXIT is
# "at most one"; the state says the COLO run ended by request, and a resent
# x-colo-lost-heartbeat can only have been refused (not in COLO)
resent_refused() {
	dl_sim '{"cmd":"log","name":"ras"}' | dl_jqe '
		[.log[] | select(.dir=="in" and .msg.execute=="x-colo-lost-heartbeat") | .msg.id][1:] as $ids |
		[.log[] | select(.dir=="out" and .msg.return != null and
				 (.msg.id as $i | $ids | index($i) != null))] | length == 0'
}
dl_check "the failover took effect exactly once (<= 1 COLO_EXIT, ended by request, resends refused)" \
	eval 'sim_events ras | dl_jqe "([.[] | select(. == \"COLO_EXIT\")] | length) <= 1" &&
	      dl_sim_state ras | dl_jqe ".\"last-mode\" == \"secondary\" and .reason == \"request\"" &&
	      resent_refused'
n_lhb=$(dl_count_cmd ras x-colo-lost-heartbeat)
echo "# x-colo-lost-heartbeat commands that reached the secondary: $n_lhb (one before the kill)"
dl_check "the restarted arbiter read query-colo-status from a new connection after the restart" \
	eval 'dl_sim "{\"cmd\":\"log\",\"name\":\"ras\"}" | dl_jqe "
		([.log[] | select(.dir==\"in\" and .msg.execute==\"x-colo-lost-heartbeat\") | .conn][0]) as \$c |
		[.log[] | select(.dir==\"in\" and .conn > \$c and .msg.execute==\"query-colo-status\")] | length >= 1"'
dl_check "no second VM runs: the primary stays dead, n1 runs nothing alone" \
	eval 'dl_sim_state rap | dl_jqe ".alive == false and .running == false" &&
	      ! dl_st 1 ra solo && [ "$(dl_count_cmd rap x-colo-lost-heartbeat)" = 0 ]'
grep -h "vm=ra" "$LAB_DIR/n2/arb.log" | grep -E "notice|warning" | tail -8 | sed 's/^/#   n2 (restarted): /'
dl_check "every arbiter exits 0 on SIGTERM" \
	eval 'dl_arb_kill 1 TERM && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
lab_down
exit $TAP_BAD
