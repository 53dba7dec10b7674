#!/bin/bash
# test_daemon_fdstore.sh: the OOB-negotiated QMP connection survives a colo-arbiterd restart
# under systemd's fd store (issue 5, SAFETY H5), since a hung QEMU cannot negotiate a new one.
# 3-node corosync lab (token 1000), policy none, pair sd (primary on n1, secondary on n2).
# n1's arbiter runs under fakesd (test/daemon/fakesd.c: NOTIFY_SOCKET, FDSTORE=1 kept by
# FDNAME, restart with LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID).
#   1. the daemon puts its QMP fd into the store under the VM's name
#   2. the primary QEMU then accepts no new monitor session (qmp-sim fault no-accept)
#   3. fakesd kills the daemon (-9, a crash) and starts it again with the stored fd
#   4. the new daemon adopts the fd: its queries are answered on the old connection, the
#      simulator's log shows no new connection, sd is protected again
#   5. the same after a clean restart (SIGTERM keeps the store), then SIGTERM: exit 0
# TAP; root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
FAKESD="$TOP_BUILDDIR/test/daemon/fakesd"
[ -x "$FAKESD" ] || DL_ARBD=/nonexistent # dl_need then says what is missing
dl_need

SDLOG="" SDPID=""
n_starts() { awk '$2 == "start"' "$SDLOG" 2>/dev/null | wc -l; }
# the pid of the Nth service start in fakesd's log; lab_down kills it by PID
svc_pid() { awk -v n="$1" '$2 == "start" && ++k == n { print $3 }' "$SDLOG"; }
restart() { # signal N: fakesd restarts the daemon; wait for start N
	RS_N=$2
	kill "-$1" "$SDPID"
	dl_wait 20 eval '[ "$(n_starts)" -ge "$RS_N" ]' || return 1
	DL_ARB[1]=$(svc_pid "$RS_N")
	lab_track "${DL_ARB[1]}"
}
simlog() { dl_sim '{"cmd":"log","name":"sdp"}'; }
# after the first SKIP log entries of sdp: a query-colo-status answered, every entry on
# connection CONN
adopted_conn_used() { # skip conn
	simlog | dl_jqe ".log[$1:] as \$l | (\$l | map(.conn) | unique) == [$2] and
		([\$l[] | select(.dir==\"in\" and .msg.execute==\"query-colo-status\") | .msg.id] as \$ids |
		 \$ids != [] and ([\$l[] | select(.dir==\"out\" and .msg.return != null and
		   (.msg.id as \$i | \$ids | index(\$i) != null))] | length) >= 1)"
}
log_lines() { wc -l <"$LAB_DIR/n1/arb.log"; }
new_log_has() { tail -n +"$(($1 + 1))" "$LAB_DIR/n1/arb.log" | grep -q "$2"; }

echo "1..9"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_pair sd || { echo "Bail out! simulator refused the pair"; exit 1; }
SDLOG="$LAB_DIR/n1/fakesd.log"
lab_spawn 1 "$LAB_DIR/n1/fakesd.out" "$FAKESD" --socket "$LAB_DIR/n1/notify.sock" --log "$SDLOG" -- \
	env LD_PRELOAD="$DL_NOKILL" COLO_TEST_NOKILL_PID="$DL_SIM" COLO_TEST_KILL_LOG="$LAB_DIR/n1/kills" \
	ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0" \
	$DL_WRAP "$DL_ARBD" -f -c "$LAB_DIR/n1/arb.conf"
SDPID=$LAB_LAST_PID
ln -sf fakesd.out "$LAB_DIR/n1/arb.log"
dl_wait 10 eval '[ "$(n_starts)" -ge 1 ]'
DL_ARB[1]=$(svc_pid 1)
lab_track "${DL_ARB[1]}"
dl_arb_start 2
dl_arb_start 3
dl_check "sd protected; n1's arbiter (under fakesd) said READY=1 and stored its QMP fd as \"sd\"" \
	eval 'dl_wait 30 dl_protected sd && grep -q "notify READY=1" "$SDLOG" &&
	      dl_wait 10 grep -q "stored sd\$" "$SDLOG"'
conn=$(simlog | jq -e '[.log[].conn] | unique | if length == 1 then .[0] else error end')
dl_check "the primary's simulated QEMU has exactly one monitor connection (n1's arbiter)" \
	[ -n "$conn" ]

# ---- crash restart
dl_sim '{"cmd":"fault","name":"sdp","fault":"no-accept"}' >/dev/null
skip=$(simlog | jq '.log | length') lines=$(log_lines)
restart HUP 2
dl_check "fakesd killed the daemon (-9) and started it with LISTEN_FDS=1 LISTEN_FDNAMES=sd" \
	eval 'grep -q "exit $(svc_pid 1) signal 9" "$SDLOG" && grep -q " start ${DL_ARB[1]} fds 1 names sd\$" "$SDLOG"'
dl_check "the new daemon adopted the stored fd (log) and sd is protected again on n1" \
	eval 'dl_wait 20 new_log_has $lines "vm=sd: adopted the stored QMP fd" && dl_wait 30 dl_protected sd'
dl_check "its queries were answered on the old connection; no new connection (simulator's log)" \
	eval 'dl_wait 10 adopted_conn_used $skip $conn &&
	      dl_sim_state sdp | dl_jqe ".connected == 1"'

# ---- clean restart: SIGTERM keeps the store (vm_free sends no FDSTOREREMOVE while stopping)
skip=$(simlog | jq '.log | length') lines=$(log_lines)
restart USR1 3
dl_check "clean restart: the daemon exited 0 and the store still held sd for the next start" \
	eval 'grep -q "exit $(svc_pid 2) status 0" "$SDLOG" && grep -q " start ${DL_ARB[1]} fds 1 names sd\$" "$SDLOG"'
dl_check "clean restart: adopted again, answered on the same connection, protected" \
	eval 'dl_wait 20 new_log_has $lines "vm=sd: adopted the stored QMP fd" &&
	      dl_wait 10 adopted_conn_used $skip $conn && dl_wait 30 dl_protected sd'
dl_check "n2 saw nothing but a peer restart: no yank, no failover on either side" \
	eval '[ "$(dl_count_cmd sdp yank)" = 0 ] && [ "$(dl_count_cmd sds x-colo-lost-heartbeat)" = 0 ]'
dl_sim '{"cmd":"fault","name":"sdp","fault":"clear"}' >/dev/null
kill -TERM "$SDPID"
wait "$SDPID" 2>/dev/null
dl_check "SIGTERM to fakesd: the daemon exits 0" \
	eval 'grep -q "exit ${DL_ARB[1]} status 0" "$SDLOG" && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
lab_down
exit $TAP_BAD
