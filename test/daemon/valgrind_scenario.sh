#!/bin/bash
# valgrind_scenario.sh: colo-arbiterd under valgrind through a node loss and its failover.
# 3-node corosync lab (token 1000), policy none, pair wa (primary on n1, secondary on n2);
# n2's arbiter, the survivor that runs the whole takeover, runs under
# valgrind --leak-check=full --error-exitcode=99 (n1 and n3 run plain, to keep the run short).
# n1's corosync is killed and its primary lost silently: n2 must fail wa over under
# valgrind, exit 0 on SIGTERM, and its valgrind log must show no error and no definitely or
# indirectly lost bytes.
# TAP. Skips in a sanitizer build (ASan and valgrind exclude each other; check.sh's
# _build/san) and without valgrind, except that COLO_REQUIRE_REAL=1 makes a missing
# valgrind a failure in a plain build. Root; skips without the lab's tools like the others.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need
if ldd "$DL_ARBD" 2>/dev/null | grep -Eq 'lib(asan|ubsan|tsan)' ||
	nm "$DL_ARBD" 2>/dev/null | grep -q ' __asan_init'; then
	echo "1..0 # SKIP sanitizer build: valgrind cannot run an ASan binary (the sanitizers check it)"
	exit 0
fi
if ! command -v valgrind >/dev/null; then
	if [ "${COLO_REQUIRE_REAL:-0}" = 1 ]; then
		echo "1..1"; echo "not ok 1 - valgrind is required (COLO_REQUIRE_REAL=1) and missing"; exit 1
	fi
	echo "1..0 # SKIP valgrind not installed"
	exit 0
fi

echo "1..5"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
VG="$LAB_DIR/n2.vg"
dl_pair wa || { echo "Bail out! simulator refused the pair"; exit 1; }
dl_arb_start 1
# valgrind's translation at SCHED_RR would hold a core from the normal tasks for seconds
sed -i 's/^realtime_priority = .*/realtime_priority = 0/' "$LAB_DIR/n2/arb.conf"
DL_WRAP="valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$VG" \
	dl_arb_start 2
dl_arb_start 3
dl_check "wa protected with n2's arbiter under valgrind" dl_wait 120 dl_protected wa

lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"wap"}' >/dev/null
dl_check "n1 lost: n2 (under valgrind) runs wa alone (status solo, simulator mode none, running)" \
	eval 'dl_wait 90 dl_st 2 wa solo && dl_sim_state was | dl_jqe ".mode==\"none\" and .running"'
sleep 2
dl_check "exactly one x-colo-lost-heartbeat reached the secondary" \
	eval '[ "$(dl_count_cmd was x-colo-lost-heartbeat)" = 1 ]'
# valgrind reports after the exit: wait for the whole process, then read the log
dl_arb_kill 2 TERM
ec=$?
dl_check "n2's arbiter exits 0 on SIGTERM under valgrind (99 would be a valgrind error)" [ "$ec" = 0 ]
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost" "$VG" | sed 's/^/#   /'
dl_check "valgrind: 0 errors, no definitely or indirectly lost bytes" \
	eval 'grep -q "ERROR SUMMARY: 0 errors" "$VG" &&
	      ! grep -Eq "(definitely|indirectly) lost: [1-9]" "$VG"'
[ "$TAP_BAD" = 0 ] || sed 's/^/#   vg: /' "$VG" | head -80
dl_arb_kill 1 TERM
dl_arb_kill 3 TERM
lab_down
exit $TAP_BAD
