#!/bin/bash
# test_daemon_diskfail.sh: a witness whose disk fails (fdatasync of its epoch log returns
# EIO, as a dying disk does) acks nothing, says so, keeps answering, and works again after a
# restart on a good disk; on a real 3-node corosync lab with the QMP simulator
# (daemon_lab.sh).
#
# n3's arbiter runs under slowdisk.so (no delay): while the file $LAB_DIR/n3/failsync exists,
# fsync/fdatasync of its epochs.log fail with EIO without syncing. The flag is set before n3
# starts. Pair pa (primary n1, secondary n2).
#   1 pa is protected on n1 and n2 (their COLO epoch commits with 2 of 3 acks)
#   2 n3 logs the failed batch at CRIT ("Input/output error ... unusable until a restart")
#     and sends no ACK (CPG kind 5) while its log is broken
#   3 n3's status still answers and shows the cluster (the loop is not stuck on the disk)
#   4 the flag removed, n3's arbiter restarted (SIGTERM: exit 0): it opens the log (every
#     batch on it verifies: a failed batch was cut back or is whole) without CRIT lines
#   5 n1's corosync killed and the primary lost silently: n2 takes pa over (solo), and n3
#     sent an ACK after its restart (n3 is needed: n1 is gone, so the commit needs n2 + n3)
# TAP. Root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need_slowdisk

echo "1..5"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_pair pa || { echo "Bail out! simulator refused the pair"; exit 1; }
IOLOG="$LAB_DIR/n3/io.log"
FLAG="$LAB_DIR/n3/failsync"
: >"$IOLOG"
touch "$FLAG"
dl_arb_start 1
dl_arb_start 2
DL_WRAP="env LD_PRELOAD=$DL_NOKILL:$SLOWDISK COLO_TEST_SYNC_FAIL_FLAG=$FLAG COLO_TEST_IO_LOG=$IOLOG"
dl_arb_start 3
DL_WRAP=""
dl_check "pa protected on n1 and n2 while n3's disk fails every fdatasync of its epoch log" \
	dl_wait 60 dl_protected pa

failed_logged() { grep -q "failed: Input/output error; the epoch log is unusable until a restart" "$LAB_DIR/n3/arb.log"; }
acks() { grep -c "^send [0-9]* 5\$" "$IOLOG"; }
dl_wait 20 failed_logged
dl_check "n3 logs the failed batch (EIO, log unusable) and sends no ACK" \
	eval 'failed_logged && grep -q "^fdatasync-fail " "$IOLOG" && [ "$(acks)" = 0 ]'
grep -m 2 "epoch record" "$LAB_DIR/n3/arb.log" | sed 's/^/#   n3: /'

dl_check "n3 still answers status (cluster view with 3 members)" \
	dl_jq 3 '.cluster.members | length == 3'

rm -f "$FLAG"
restarted() {
	dl_arb_kill 3 TERM || return 1
	mark=$(wc -l <"$IOLOG")
	DL_WRAP="env LD_PRELOAD=$DL_NOKILL:$SLOWDISK COLO_TEST_SYNC_FAIL_FLAG=$FLAG COLO_TEST_IO_LOG=$IOLOG"
	dl_arb_start 3
	DL_WRAP=""
	dl_wait 20 dl_jq 3 '.cluster.gate == "open"'
}
restarted
RESTART_OK=$?
dl_check "after the disk is back, n3 restarts (SIGTERM exit 0), opens its log, gate open, no CRIT" \
	eval '[ "$RESTART_OK" = 0 ] && ! grep -q "\[crit\]" "$LAB_DIR/n3/arb.log"'

lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"pap"}' >/dev/null
acks_after() { tail -n +"$((mark + 1))" "$IOLOG" | grep -c "^send [0-9]* 5\$"; }
dl_check "n1 lost: n2 takes pa over with n3's ack (solo, n3 sent ACKs after its restart)" \
	eval 'dl_wait 60 dl_st 2 pa solo && [ "$(acks_after)" -ge 1 ]'
lab_down
exit "$TAP_BAD"
