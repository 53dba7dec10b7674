#!/bin/bash
# test_daemon_qemu_death.sh: a simulated QEMU dies while its node lives (issue 5).
# 3-node corosync lab (token 1000), policy none; pairs qa and qb (primary on n1, secondary
# on n2), each simulated QEMU with a listener process of its own (qmp-sim "process":true),
# so SO_PEERCRED names that process and its death is a pidfd exit (A7), not a hang-up only.
#   A) qa's primary dies: n2 fails the secondary over (one x-colo-lost-heartbeat, then
#      query-colo-status confirms mode none), n1 stays alive and quorate
#   B) qb's secondary dies: n1 yanks (block node and migration stream first), then runs the
#      primary alone
# The time from the kill to the peer's command is printed as a TAP comment (simulator's
# clock), with the daemon's own share from its log; only the ordering is asserted.
# n2's arbiter starts with its first two pidfd_open calls failing (EMFILE, nokill.so's
# COLO_TEST_PIDFD_FAIL): it retries until both secondaries are watched, so B still sees the
# death through the pidfd.
# TAP; root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need

# µs on the simulator's clock of the first "in" command CMD of SIMVM
sim_cmd_t() {
	dl_sim "{\"cmd\":\"log\",\"name\":\"$1\"}" |
		jq -e "[.log[] | select(.dir==\"in\" and (.msg.execute // .msg.\"exec-oob\") == \"$2\") | .t][0]"
}
# µs on the simulator's clock at which SIMVM's listener process was killed
sim_kill_t() { awk -v v="$1:" '$2 == v && /listener process .* gone/ { print $1; exit }' "$LAB_DIR/sim.log"; }
# the commands after x-colo-lost-heartbeat include a query-colo-status
confirmed() {
	dl_sim_cmds "$1" | dl_jqe 'index("x-colo-lost-heartbeat") as $i | $i != null and
		(.[$i:] | index("query-colo-status")) != null'
}

echo "1..14"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
for v in qa qb; do
	dl_pair "$v" ',"process":true' || { echo "Bail out! simulator refused the pairs"; exit 1; }
done
dl_arb_start 1
COLO_TEST_PIDFD_FAIL=2 dl_arb_start 2
dl_arb_start 3
dl_check "qa, qb protected; each side's QEMU pid is its own listener process, not the simulator" \
	eval 'dl_wait 30 dl_protected qa qb &&
	      dl_jq 1 ".vms[] | select(.name==\"qa\") | .local.pid == $(dl_sim_pid qap)" &&
	      dl_jq 2 ".vms[] | select(.name==\"qa\") | .local.pid == $(dl_sim_pid qas)" &&
	      [ "$(dl_sim_pid qap)" != "$DL_SIM" ]'

watched_again() { # vm: one error for the failed watch, then watched again
	[ "$(grep -c "vm=$1: cannot watch QEMU pid .*Too many open files.*retrying" "$LAB_DIR/n2/arb.log")" = 1 ] &&
		grep -q "vm=$1: QEMU pid $(dl_sim_pid "$1s") watched again" "$LAB_DIR/n2/arb.log"
}
dl_check "n2's failed pidfd watches (EMFILE) of qa's and qb's secondaries: logged once each, retried, watched" \
	eval 'dl_wait 10 eval "watched_again qa && watched_again qb"'

# ---- A) the primary QEMU of qa dies, n1 lives
pid=$(dl_sim_pid qap)
dl_sim '{"cmd":"kill","name":"qap"}' >/dev/null
dl_check "A: n1 sees its QEMU exit through the pidfd (not only the QMP hang-up)" \
	dl_wait 10 grep -q "vm=qa: QEMU pid $pid exited (pidfd)" "$LAB_DIR/n1/arb.log"
dl_check "A: n2 runs qa alone: status solo, simulator mode none and running" \
	eval 'dl_wait 20 dl_st 2 qa solo && dl_sim_state qas | dl_jqe ".mode==\"none\" and .running"'
sleep 2
dl_check "A: exactly one x-colo-lost-heartbeat reached qa's secondary, confirmed by query-colo-status" \
	eval '[ "$(dl_count_cmd qas x-colo-lost-heartbeat)" = 1 ] && confirmed qas'
t_kill=$(sim_kill_t qap) t_cmd=$(sim_cmd_t qas x-colo-lost-heartbeat)
dl_check "A: the kill came before the secondary's command (simulator's clock)" \
	eval '[ -n "$t_kill" ] && [ -n "$t_cmd" ] && [ "$t_cmd" -gt "$t_kill" ]'
echo "# A: kill of qap -> x-colo-lost-heartbeat on qas: $(( (${t_cmd:-0} - ${t_kill:-0}) )) us (simulator clock)"
grep -h "vm=qa: x-colo-lost-heartbeat written" "$LAB_DIR/n2/arb.log" | sed 's/^/#   n2: /'
dl_check "A: n1 alive, quorate with 3 votes, gate open, and it failed nothing over" \
	eval 'kill -0 "${DL_ARB[1]}" && lab_wait_quorate 1 3 5 && dl_jq 1 ".cluster.gate==\"open\"" &&
	      [ "$(dl_count_cmd qap x-colo-lost-heartbeat)" = 0 ] && ! dl_st 1 qa solo'
echo "# A: n1's view of qa afterwards: $(dl_status 1 | jq -c '.vms[] | select(.name=="qa") | [.status, .where, .why, .epoch]')"
dl_check "A: n1 names n2 as the holder of qa (stale, where 2), never asks for a restart on n1" \
	dl_wait 15 dl_jq 1 '.vms[] | select(.name=="qa") | .status == "stale" and .where == 2'
dl_check "A: qb untouched (protected, no yank, no failover)" \
	eval 'dl_protected qb && [ "$(dl_count_cmd qbp yank)" = 0 ] &&
	      [ "$(dl_count_cmd qbs x-colo-lost-heartbeat)" = 0 ]'

# ---- B) the secondary QEMU of qb dies, n2 lives
pid=$(dl_sim_pid qbs)
dl_sim '{"cmd":"kill","name":"qbs"}' >/dev/null
dl_check "B: n2 sees its QEMU exit through the pidfd" \
	dl_wait 10 grep -q "vm=qb: QEMU pid $pid exited (pidfd)" "$LAB_DIR/n2/arb.log"
dl_check "B: n1 runs qb's primary alone: status solo, simulator mode none and running" \
	eval 'dl_wait 20 dl_st 1 qb solo && dl_sim_state qbp | dl_jqe ".mode==\"none\" and .running"'
t_kill=$(sim_kill_t qbs) t_cmd=$(sim_cmd_t qbp x-colo-lost-heartbeat)
dl_check "B: the kill came before the primary's x-colo-lost-heartbeat, and only one was sent" \
	eval '[ -n "$t_kill" ] && [ -n "$t_cmd" ] && [ "$t_cmd" -gt "$t_kill" ] &&
	      [ "$(dl_count_cmd qbp x-colo-lost-heartbeat)" = 1 ]'
dl_check "B: n1 yanked first, the block node and the migration stream at the head of the yank" \
	eval 'dl_sim "{\"cmd\":\"log\",\"name\":\"qbp\"}" | dl_jqe "
		[.log[] | select(.dir==\"in\") | .msg | select((.execute // .\"exec-oob\") |
			IN(\"yank\", \"x-colo-lost-heartbeat\"))] as \$c |
		(\$c[0].\"exec-oob\" // \$c[0].execute) == \"yank\" and
		(\$c[0].arguments.instances[0:2] | map(.type)) == [\"block-node\", \"migration\"]"'
echo "# B: kill of qbs -> x-colo-lost-heartbeat on qbp: $(( (${t_cmd:-0} - ${t_kill:-0}) )) us (simulator clock)"
grep -h "vm=qb: x-colo-lost-heartbeat written" "$LAB_DIR/n1/arb.log" | sed 's/^/#   n1: /'
dl_check "every arbiter exits 0 on SIGTERM" \
	eval 'dl_arb_kill 1 TERM && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
lab_down
exit $TAP_BAD
