#!/bin/bash
# valgrind_scenario.sh: not part of `make check` (slow). Runs scenario (a) of
# test_daemon_lab.sh with every colo-arbiterd under valgrind --leak-check=full, stops them
# with SIGTERM and prints each node's valgrind summary; exit 0 only if every log shows no
# error and no definitely/indirectly lost bytes.
#   TOP_SRCDIR=... TOP_BUILDDIR=... QMP_SIM=... test/daemon/valgrind_scenario.sh
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need
command -v valgrind >/dev/null || { echo "1..0 # SKIP no valgrind"; exit 0; }
VG_DIR=$(mktemp -d /tmp/colo-vg.XXXXXX)
dl_up none || exit 1
dl_pair wa || exit 1
for i in 1 2 3; do
	DL_WRAP="valgrind --leak-check=full --show-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$VG_DIR/n$i.vg"
	dl_arb_start "$i"
done
dl_wait 90 eval 'dl_jq 1 ".vms[0].status==\"protected\"" && dl_jq 2 ".vms[0].status==\"protected\""' ||
	echo "# pair not protected under valgrind"
lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"wap"}' >/dev/null
if dl_wait 60 dl_jq 2 '.vms[0].status=="solo"'; then
	echo "# n2 took over under valgrind"
else
	echo "# n2 did NOT take over"
	took=no
fi
sleep 2
rc=0
[ "${took:-yes}" = yes ] || rc=1
for i in 1 2 3; do
	dl_arb_kill "$i" TERM
	ec=$?
	echo "# n$i exit $ec"
	[ "$ec" = 0 ] || rc=1
	grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$VG_DIR/n$i.vg" | sed 's/^/#   /'
	grep -q "ERROR SUMMARY: 0 errors" "$VG_DIR/n$i.vg" || rc=1
	grep -Eq "definitely lost: [1-9]|indirectly lost: [1-9]" "$VG_DIR/n$i.vg" && rc=1
done
[ "$rc" = 0 ] && rm -rf "$VG_DIR" || echo "# logs kept in $VG_DIR"
lab_down
exit $rc
