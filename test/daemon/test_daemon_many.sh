#!/bin/bash
# test_daemon_many.sh: 120 pairs on the 3-node lab (issue 5): more VMs than the daemon's
# kept queues (64 messages) and its kept send buffer, so a confchg's state round and a
# failover go through the burst path (2 x 64 KiB buffer, released after), while the
# periodic state round goes a slice per liveness tick through the kept one.
#   - all 120 protected on both sides
#   - idle: n2 sends a slice of its reports on every tick (at most 120/10 of them with
#     its LIVENESS), never the whole round at once (log_level trace names each send)
#   - n2's blackbox holds its decisions, not those trace lines
#   - node loss of n1 (kill -9 of its corosync, every primary silently lost): n2 runs
#     all 120 alone, one x-colo-lost-heartbeat each
# TAP; root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need
command -v qb-blackbox >/dev/null 2>&1 || tap_need test_daemon_many.sh " qb-blackbox"

N=120
# status from run_dir/status.json: the control socket's reply for 120 VMs is large
DL_STATUS_FILE=1
count_status() { dl_status "$1" | jq --arg s "$2" '[.vms[] | select(.status == $s)] | length' 2>/dev/null; }

echo "1..7"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_many_pairs "$N" || { echo "Bail out! simulator refused the pairs"; exit 1; }
sed -i 's/^log_level = .*/log_level = trace/' "$LAB_DIR/n2/arb.conf"
for i in 1 2 3; do
	dl_arb_start "$i"
	[ "$i" = 3 ] || sleep 3
done
all_prot() { [ "$(count_status 1 protected)" = "$N" ] && [ "$(count_status 2 protected)" = "$N" ]; }
if ! dl_check "all $N pairs protected on n1 and n2" dl_wait 120 all_prot; then
	echo "# n1 $(count_status 1 protected), n2 $(count_status 2 protected) of $N protected"
fi

# ---- idle: the periodic round a slice per tick
sleep 2
mark=$(($(wc -l <"$LAB_DIR/n2/arb.log") + 1))
sleep 6
sends() { tail -n +"$mark" "$LAB_DIR/n2/arb.log" | sed -n 's/.*node=2: \([0-9]*\) messages out in .*/\1/p'; }
echo "# n2's sends over 6 s idle (messages each): $(sends | tr '\n' ' ')"
slice=$(((N + 9) / 10))
dl_check "idle: n2 sends on most ticks, never more than a slice of $slice reports with its LIVENESS and a fence mark" \
	eval '[ "$(sends | wc -l)" -ge 8 ] && [ "$(sends | sort -n | tail -n 1)" -le $((slice + 2)) ]'
dl_check "idle: the slices carry reports (at least $slice messages on 8 ticks)" \
	eval '[ "$(sends | awk -v s="$slice" "\$1 >= s" | wc -l)" -ge 8 ]'
# the blackbox keeps lines down to debug: the start-up's decisions, not the trace lines
# that every tick writes to n2's log
bb="$LAB_DIR/n2/run/colo-arbiter/blackbox"
rm -f "$bb"
kill -USR2 "${DL_ARB[2]}"
bb_ok() {
	dl_wait 10 test -s "$bb" && sleep 0.5 && qb-blackbox "$bb" >"$LAB_DIR/bb.txt" 2>/dev/null &&
		grep -q "decision committed" "$LAB_DIR/bb.txt" &&
		! grep -q "messages out in\|liveness tick\|own messages .* back as sent" "$LAB_DIR/bb.txt" &&
		grep -q "messages out in" "$LAB_DIR/n2/arb.log"
}
dl_check "n2's blackbox (SIGUSR2, qb-blackbox) holds the start-up's decisions and none of the ticks' trace lines" bb_ok

# ---- node loss of n1
mark=$(($(wc -l <"$LAB_DIR/n2/arb.log") + 1))
loss=()
for k in $(seq "$N"); do loss+=("{\"cmd\":\"silent-loss\",\"name\":\"m${k}p\"}"); done
lab_kill_corosync 1
dl_sim "${loss[@]}" >/dev/null
solo_lines() { tail -n +"$mark" "$LAB_DIR/n2/arb.log" | grep -c -- "-> solo "; }
all_solo() { [ "$(solo_lines)" -ge "$N" ] && [ "$(count_status 2 solo)" = "$N" ]; }
if ! dl_check "node loss of n1: n2 runs all $N alone" dl_wait 90 all_solo; then
	echo "# n2 logged $(solo_lines) solo, status $(count_status 2 solo) of $N"
	dl_dump
fi
reqs=()
for k in $(seq "$N"); do reqs+=("{\"cmd\":\"log\",\"name\":\"m${k}s\"}"); done
lhb=$(dl_sim "${reqs[@]}" | jq -s '[.[] | [.log[] | select(.dir == "in" and
	((.msg.execute // .msg["exec-oob"]) == "x-colo-lost-heartbeat"))] | length] |
	[(map(select(. == 1)) | length), (map(select(. != 1)) | length)] | @text' -r 2>/dev/null)
echo "# secondaries with exactly one x-colo-lost-heartbeat, and with another count: $lhb"
dl_check "each of the $N secondaries got exactly one x-colo-lost-heartbeat" \
	[ "$lhb" = "[$N,0]" ]
dl_check "every arbiter exits 0 on SIGTERM" \
	eval 'dl_arb_kill 1 TERM && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
lab_down
exit $TAP_BAD
