#!/bin/bash
# test_daemon_persist.sh: epoch persistence runs off the daemon's loop (the I/O worker
# thread), on a real 3-node corosync lab with the QMP simulator (daemon_lab.sh).
#
# n3's arbiter (the witness that must ack n2's takeover) runs on a slow disk: slowdisk.so
# delays every fdatasync by 1 s (a batch of records in the epoch log takes one; a record
# slower than the commit timeout of 3 s and the proposer gives up and re-proposes for ever)
# and traces fdatasync, appends holding pa's record and CPG sends with CLOCK_MONOTONIC
# stamps. Pair pa (primary n1, secondary n2); n1's corosync is killed and the primary is
# lost silently, so n2 proposes a SOLO epoch and n3 must make its ack durable before
# sending it.
#   1 the pair is protected on n1 and n2 (n3 slow)
#   2 while n3 is inside a delayed fdatasync of its epoch log, `colo-arbiterctl status` on
#     n3 answers within 0.5 s, and the fdatasync is still pending when it has answered
#   3 n2 takes over (solo), exactly one x-colo-lost-heartbeat reached the secondary
#   4 on n3 every ACK sent after the fault follows a complete durable write of pa's record:
#     an append of it to epochs.log, then the end of an fdatasync of epochs.log
#   5 SIGTERM: every arbiter exits 0; n3's epoch log then holds pa's ack of n2's SOLO
#     epoch and verifies whole (no unfinished batch: the queue was drained)
# Before the fault, the same lab checks the log rate limit of dropped CPG messages:
#   6 60 malformed messages from a CPG client on n3: n1 logs at most 8 of them in full,
#     then one summary line per 10 s with the count of the others; pa stays protected
# After it, n3's arbiter is restarted on records of the format before the epoch log:
#   7 epoch-old1.json (a VM the log never saw) and an older epoch-pa.json: old1's record
#     is moved into the log, pa keeps the log's newer record, no epoch-*.json remains
#   8 an unreadable epoch-bad.json: the arbiter refuses to start its decision core (exit
#     1, CRIT naming the file), and loses nothing: the file and the log stay as they were
#   9 the same for a whole record whose "broke_inst" (a COLO_EXIT{error} kept) is malformed
# TAP. Root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need_slowdisk

echo "1..9"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_pair pa || { echo "Bail out! simulator refused the pair"; exit 1; }
IOLOG="$LAB_DIR/n3/io.log"
: >"$IOLOG"
dl_arb_start 1
dl_arb_start 2
DL_WRAP="env LD_PRELOAD=$DL_NOKILL:$SLOWDISK COLO_TEST_FSYNC_DELAY_MS=1000 COLO_TEST_IO_LOG=$IOLOG COLO_TEST_WRITE_VM=pa"
dl_arb_start 3
DL_WRAP=""
dl_check "pa protected on n1 and n2 while n3's disk takes 1 s per fdatasync" \
	dl_wait 60 dl_protected pa
# 6 (run here, on the quiet cluster): a flood of malformed CPG messages from n3
lab_exec 3 timeout 20 "$TOP_BUILDDIR/test/membership/cpgwatch" --group colo-arbiter \
	--label flood --send-count 60 --send-every 5 >"$LAB_DIR/flood.out" 2>&1
full() { grep -c "dropped a CPG message from node 3 " "$LAB_DIR/n1/arb.log"; }
summed() { # the counts of every summary line so far
	grep -o "[0-9]* more dropped CPG messages from node 3" "$LAB_DIR/n1/arb.log" |
		awk '{ s += $1 } END { print s + 0 }'
}
all_counted() { [ "$(( $(full) + $(summed) ))" = 60 ]; }
dl_wait 25 all_counted
echo "# n1 logged $(full) of 60 dropped messages in full, $(summed) summed up"
FLOOD_OK=0
all_counted && [ "$(full)" -le 8 ] && [ "$(full)" -ge 1 ] && dl_protected pa && FLOOD_OK=1
# let n3 finish what it was persisting for the start-up before the fault
sleep 5
mark=$(wc -l <"$IOLOG")
after() { tail -n +"$((mark + 1))" "$IOLOG"; }

lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"pap"}' >/dev/null

# 2: catch n3 inside a delayed fdatasync of its epoch log, then ask for its status
elog="$LAB_DIR/n3/state/epochs.log"
data_sync() { # begin|end
	after | grep -c "^fdatasync-$1 [0-9]* $elog\$"
}
pending() { [ "$(data_sync begin)" -gt "$(data_sync end)" ]; }
ends_before="" ends_after=""
ms=""
if dl_wait 40 pending; then
	ends_before=$(data_sync end)
	t0=$(date +%s%N)
	dl_status 3 | dl_jqe '.vms | type == "array"' && ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	ends_after=$(data_sync end)
	echo "# status on n3 answered in ${ms:-?} ms while its fdatasync was pending"
fi
answered() { [ -n "$ms" ] && [ "$ms" -lt 500 ] && [ "$ends_after" = "$ends_before" ]; }
answered || tail -20 "$IOLOG" | sed 's/^/#   io: /'
dl_check "n3 answers status within 0.5 s while a persist of pa is pending (loop not stalled)" \
	answered

dl_check "n2 takes pa over: solo, exactly one x-colo-lost-heartbeat to the secondary" \
	eval 'dl_wait 60 dl_st 2 pa solo && sleep 2 &&
	      [ "$(dl_count_cmd pas x-colo-lost-heartbeat)" = 1 ]'

# 4: each ACK (kind 5) after the fault needs, before it: an append holding pa's record
# to the epoch log, then an fdatasync-end of the log that began after that append
acks_follow_writes() {
	after | awk -v elog="$elog" '
		$1 == "append-mark" && $3 == elog { st = 1 }
		$1 == "fdatasync-begin" && $3 == elog && st == 1 { st = 2 }
		$1 == "fdatasync-end" && $3 == elog && st == 2 { st = 0; durable++ }
		$1 == "send" && $3 == 5 {
			acks++
			if (durable == 0) bad++
			if (first == "") first = $2
		}
		END {
			printf "# n3: %d ACKs sent, %d durable writes of pa before/among them\n",
				acks, durable
			exit !(acks >= 1 && bad == 0)
		}'
}
dl_check "n3 sends its ACK only after pa's record is durable (append, then fdatasync)" \
	acks_follow_writes
after | grep -E "epochs.log| 5\$" | head -20 | sed 's/^/#   /'

term_all() { dl_arb_kill 1 TERM; dl_arb_kill 2 TERM && dl_arb_kill 3 TERM; }
# the last record of pa in n3's log: acked n2's proposal of a SOLO epoch (kind 1)
pa_acked() {
	jq -s -e '[.[] | select(.vm == "pa")] | last |
		.acked and .acked_prop.proposer == 2 and .acked_prop.to.holder == 2' "$elog" >/dev/null
}
log_whole() { # the file ends with a commit line
	tail -n 1 "$elog" | grep -q '^{"commit":'
}
dl_check "SIGTERM: n2 and n3 exit 0; n3's epoch log holds pa's ack of n2's epoch, ends with a whole batch" \
	eval 'term_all && pa_acked && log_whole'
dl_check "60 malformed CPG messages from n3: n1 logs at most 8 in full and sums up the rest (all 60 counted), pa untouched" \
	[ "$FLOOD_OK" = 1 ]

# 7, 8: records of one file per VM (the format before the epoch log)
legacy() { # vm n: a whole record, as that format wrote it
	printf '{"version":1,"vm":"%s","epoch":{"n":%s,"kind":2,"holder":2,"hinst":{"pid":77,"start":88},"secondary":0,"sinst":{"pid":0,"start":0}},"acked":false,"acked_prop":{"from_n":0,"proposer":0,"to":{"n":0,"kind":0,"holder":0,"hinst":{"pid":0,"start":0},"secondary":0,"sinst":{"pid":0,"start":0}}},"frozen_n":0,"frozen":false,"frozen_inst":{"pid":0,"start":0},"named":false,"named_inst":{"pid":0,"start":0},"named_n":0}\n' "$1" "$2"
}
st3="$LAB_DIR/n3/state"
legacy old1 7 >"$st3/epoch-old1.json"
legacy pa 1 >"$st3/epoch-pa.json"
moved() { grep -q "2 records of one file per VM moved into" "$LAB_DIR/n3/arb.log"; }
old1_in_log() {
	jq -s -e '[.[] | select(.vm == "old1")] | last | .epoch.n == 7 and .epoch.holder == 2' \
		"$elog" >/dev/null
}
dl_arb_start 3
dl_check "older records moved into n3's log: old1 added, pa keeps the log's newer record, no epoch-*.json left" \
	eval 'dl_wait 20 moved && old1_in_log && pa_acked && [ -z "$(ls "$st3" | grep "^epoch-.*\.json$")" ]'
dl_arb_kill 3 TERM
printf '{"version":1,"vm":"bad",' >"$st3/epoch-bad.json"
sum_before=$(md5sum "$elog" "$st3/epoch-bad.json")
dl_arb_start 3
refused() {
	! kill -0 "${DL_ARB[3]}" 2>/dev/null &&
		grep -q "\[crit\].*epoch-bad.json: unreadable epoch record" "$LAB_DIR/n3/arb.log"
}
dl_check "an unreadable older record: n3 exits 1 naming the file, the file and the log unchanged" \
	eval 'dl_wait 20 refused && { dl_arb_kill 3; [ $? = 1 ]; } &&
	      [ "$(md5sum "$elog" "$st3/epoch-bad.json")" = "$sum_before" ]'
grep "crit" "$LAB_DIR/n3/arb.log" | head -3 | sed 's/^/#   n3: /'
# 9: a record that parses as JSON, with every field right but broke_inst
legacy bad 3 | sed 's/}$/,"broke_inst":{"pid":5}}/' >"$st3/epoch-bad.json"
sum_before=$(md5sum "$elog" "$st3/epoch-bad.json")
dl_arb_start 3
dl_check "a record with a malformed broke_inst: n3 exits 1 naming the file, the file and the log unchanged" \
	eval 'jq -e ".broke_inst.pid == 5" "$st3/epoch-bad.json" >/dev/null && dl_wait 20 refused &&
	      { dl_arb_kill 3; [ $? = 1 ]; } && [ "$(md5sum "$elog" "$st3/epoch-bad.json")" = "$sum_before" ]'
lab_down
exit "$TAP_BAD"
