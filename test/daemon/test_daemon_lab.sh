#!/bin/bash
# test_daemon_lab.sh: colo-arbiterd end to end on a real 3-node corosync cluster in network
# namespaces (token 1000), one arbiter per node, one qmp-sim for every simulated QEMU
# (see daemon_lab.sh for why one). Labs 1 and 2 use policy `none` (allow_unsafe) so that no
# fence wait stretches the run; lab 3 runs the pacemaker path without a fencer.
#
# Lab 1, pairs va vb vc (primary on n1, secondary on n2, n3 witness):
#   e) hostile CPG messages from n3 are logged and dropped; nothing changes
#   c) kill -9 of n2's arbiter only (PROCDOWN): nothing fails over, nothing is yanked
#   b) the secondary QEMU of vb dies (sim `kill`) and the primary's next checkpoint fails
#      (COLO_EXIT error): n1 yanks first, then runs vb alone; n2's stale side is killed
#   d) n1 cut off at the bridge: {n2,n3} fail va and vc over; n1 freezes its solo vb
#      (yank, stop: paused) and sends no failover to any QEMU
# Lab 2, pair wa:
#   run-time VMs through colo-arbiterctl (vm-add, restart, vm-remove), bad control requests,
#   SIGTERM exit 0; pidfd: a VM whose simulator process is killed is reported as exited
#   a) kill -9 of n1's corosync + silent loss of the primary: n2 fails the secondary over
#      exactly once (x-colo-lost-heartbeat in the simulator's log); n1's corosync restarted:
#      its arbiter reconnects and kills its stale side (through the nokill.so shim)
# Lab 3, pair fa, fence_policy pacemaker without a fencer: the fence runs in a child,
#   fails, and no takeover happens; the loop keeps answering; then SIGSTOP of n2's corosync
#   closes n2's gate while its daemon keeps answering.
# Lab 4, pair ia: n1 runs ia alone and is isolated on its own interface: the own liveness
#   deadline freezes ia within seconds.
# Assertions read `colo-arbiterctl status --json` on each node and the simulator's state and command logs.
# TAP. Root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need

check() { dl_check "$@"; }

st() { dl_jq "$1" ".vms[] | select(.name==\"$2\") | .status==\"$3\""; }
all_protected() {
	local v i
	for v in "$@"; do for i in 1 2; do st "$i" "$v" protected || return 1; done; done
}
epochs() { dl_status "$1" | jq -c '[.vms[] | [.name, .epoch.n]]'; }
count_cmd() { dl_sim_cmds "$1" | jq "[.[] | select(. == \"$2\")] | length"; }
no_cmd() { [ "$(count_cmd "$1" "$2")" = 0 ]; }
alive() { kill -0 "${DL_ARB[$1]}" 2>/dev/null; }

echo "1..33"

# ---------------------------------------------------------------- lab 1
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
for v in va vb vc; do dl_pair "$v" || { echo "Bail out! simulator refused the pairs"; exit 1; }; done
for i in 1 2 3; do dl_arb_start "$i"; done
check "three arbiters record va, vb, vc as protected COLO pairs on n1 and n2" \
	dl_wait 30 all_protected va vb vc

# e) hostile CPG messages
before1=$(epochs 1) before2=$(epochs 2)
# a header with our magic but major 9 (sent once cpgwatch has joined), then plain text
{ sleep 2; printf 'CAPM\t\001\002\001\001\001\001\001{"kind":"liveness"}\n'; sleep 1; } |
	lab_exec 3 timeout 6 "$TOP_BUILDDIR/test/membership/cpgwatch" --group colo-arbiter --stdin \
	>"$LAB_DIR/evil.out" 2>&1
lab_exec 3 timeout 5 "$TOP_BUILDDIR/test/membership/cpgwatch" --group colo-arbiter --label evil \
	--send-count 3 >>"$LAB_DIR/evil.out" 2>&1
dropped() {
	grep -q "dropped a CPG message from node 3 .*(6 bytes)" "$LAB_DIR/n$1/arb.log" &&
		grep -q "dropped a CPG message from node 3 .*(3[12] bytes)" "$LAB_DIR/n$1/arb.log"
}
check "hostile CPG messages from n3 are logged and dropped by n1 and n2" \
	eval 'dl_wait 10 dropped 1 && dl_wait 10 dropped 2'
sleep 1
check "after the hostile messages: arbiters alive, pairs protected, epochs unchanged" \
	eval 'alive 1 && alive 2 && alive 3 && all_protected va vb vc &&
	      [ "$(epochs 1)" = "$before1" ] && [ "$(epochs 2)" = "$before2" ]'

# c) PROCDOWN: only n2's arbiter dies
dl_arb_kill 2 KILL
sleep 4
check "n2's arbiter killed (PROCDOWN): no yank and no failover on any QEMU of n1 or n2" \
	eval '( for v in va vb vc; do for s in p s; do
		no_cmd $v$s yank && no_cmd $v$s x-colo-lost-heartbeat || exit 1; done; done )'
undecided() { dl_jq 1 ".vms[] | select(.name==\"$1\") | .status | IN(\"protected\", \"degraded\")"; }
check "n2's arbiter killed: n1 decides nothing (protected or unverified, never solo)" \
	eval '( for v in va vb vc; do undecided $v || exit 1; done )'
dl_arb_start 2
check "n2's arbiter restarted: every pair protected again on both sides" \
	dl_wait 30 all_protected va vb vc

# b) the secondary QEMU of vb dies; the primary's checkpoint fails
dl_sim '{"cmd":"kill","name":"vbs"}' '{"cmd":"checkpoint","name":"vbp"}' >/dev/null
check "vb: n1 runs the primary alone (status solo, simulator running mode none)" \
	eval 'dl_wait 20 st 1 vb solo &&
	      dl_sim_state vbp | dl_jqe ".mode==\"none\" and .running"'
check "vb: n1 yanked before x-colo-lost-heartbeat (simulator's command log)" \
	eval 'dl_sim_cmds vbp | dl_jqe "index(\"yank\") != null and
		index(\"yank\") < index(\"x-colo-lost-heartbeat\")" >/dev/null'
check "vb: status --json carries each VM's last decision as an object (vb's: rule 3, confirmed alone)" \
	eval 'dl_jq 1 "[.vms[] | select(.name == \"vb\") | .last_decision | .vm == \"vb\" and
		(.rule | startswith(\"rule3\")) and .decision == \"confirmed running alone\" and
		.epoch.kind == \"SOLO\"] == [true]" &&
	      dl_jq 1 "[.vms[].last_decision | type] == [\"object\", \"object\", \"object\"]"'
check "vb: va and vc untouched (still protected, no yank)" \
	eval 'all_protected va vc && no_cmd vap yank && no_cmd vcp yank'

# d) n1 cut off at the bridge (and its replication links in the simulator)
dl_sim '{"cmd":"partition","a":"vap","b":"vas"}' '{"cmd":"partition","a":"vcp","b":"vcs"}' >/dev/null
lab_partition 1
check "partition: the quorate side {n2,n3} fails va and vc over to n2 (solo)" \
	dl_wait 30 eval 'st 2 va solo && st 2 vc solo'
check "partition: n1 froze its solo vb (simulator paused) and never failed va or vc over" \
	eval 'dl_wait 15 eval "dl_sim_state vbp | dl_jqe \".running == false\"" &&
	      no_cmd vap x-colo-lost-heartbeat && no_cmd vcp x-colo-lost-heartbeat'
check "partition: n1's gate is closed and n2's open" \
	eval 'dl_jq 1 ".cluster.gate==\"closed\"" && dl_jq 2 ".cluster.gate==\"open\""'
check "lab 1: every arbiter exits 0 on SIGTERM (clean; leak-checked under sanitizers)" \
	eval 'dl_arb_kill 1 TERM && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
# the audit lines of a loop iteration are written together: whole lines, none lost at exit
check "lab 1: every audit log is whole JSON lines; n2's has va and vc confirmed alone" \
	eval 'jq -se "length > 0" "$LAB_DIR/n1/audit.jsonl" "$LAB_DIR/n2/audit.jsonl" \
		"$LAB_DIR/n3/audit.jsonl" >/dev/null &&
	      jq -se "[.[] | select(.decision == \"confirmed running alone\") | .vm] |
		index(\"va\") != null and index(\"vc\") != null" "$LAB_DIR/n2/audit.jsonl" >/dev/null'
lab_down

# ---------------------------------------------------------------- lab 2
dl_up none || { echo "Bail out! lab 2 did not come up"; exit 1; }
dl_pair wa || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do dl_arb_start "$i"; done
check "lab 2: wa protected" dl_wait 30 all_protected wa

# control socket: run-time VMs survive a restart, bad requests get errors
dl_sim '{"cmd":"vm-add","name":"rtp","qmp":"'"$LAB_DIR"'/rtp.qmp"}' \
	'{"cmd":"vm-add","name":"rts","qmp":"'"$LAB_DIR"'/rts.qmp","incoming":true}' \
	'{"cmd":"pair","primary":"rtp","secondary":"rts"}' >/dev/null
check "vm-add through colo-arbiterctl on n1 and n2: rt becomes a protected pair" \
	eval 'dl_ctl 1 vm-add rt --qmp "$LAB_DIR/rtp.qmp" --role primary --peer-node 2 >/dev/null &&
	      dl_ctl 2 vm-add rt --qmp "$LAB_DIR/rts.qmp" --role secondary --peer-node 1 \
		--pre-failover "{\"execute\":\"nbd-server-stop\"}" >/dev/null &&
	      dl_wait 30 all_protected rt'
check "SIGTERM: n1's arbiter exits 0" eval 'dl_arb_kill 1 TERM'
dl_arb_start 1
check "restarted n1 arbiter still has the run-time VM rt (run_dir/vm.d) and its epoch" \
	eval 'dl_wait 30 all_protected rt wa &&
	      dl_jq 1 ".vms[] | select(.name==\"rt\") | .epoch.n >= 1"'
check "bad control requests: unknown command and bad vm-add arguments are refused" \
	eval '"$DL_SOCKLINE" --greeting "$LAB_DIR/n1/run/colo-arbiter/control.sock" \
		"{\"execute\":\"no-such\",\"id\":7}" | tail -1 |
		dl_jqe ".error.class==\"CommandNotFound\" and .id==7" &&
	      ! dl_ctl 1 vm-add bad --qmp relative.sock --role primary --peer-node 2 2>/dev/null &&
	      dl_ctl 1 status --json | dl_jqe "[.vms[].name] | index(\"bad\") == null"'
# from here status.json cannot be replaced on n1: its temporary path is a directory
N1RUN="$LAB_DIR/n1/run/colo-arbiter"
mkdir "$N1RUN/.status.json.tmp"
check "vm-remove of rt on n1: gone from status and from run_dir/vm.d" \
	eval 'dl_ctl 1 vm-remove rt >/dev/null &&
	      dl_wait 5 eval "dl_status 1 | dl_jqe \"[.vms[].name] == [\\\"wa\\\"]\"" &&
	      [ ! -e "$LAB_DIR/n1/run/colo-arbiter/vm.d/rt.conf" ]'
sleep 1.2 # past the status dump's delay (at most 1 s)
check "status.json not writable: it keeps the last snapshot (rt), n1's arbiter runs and answers (wa)" \
	eval 'jq -e "[.vms[].name] | index(\"rt\") != null" "$N1RUN/status.json" >/dev/null && alive 1 &&
	      dl_ctl 1 status --json | dl_jqe "[.vms[].name] == [\"wa\"]" && [ -d "$N1RUN/.status.json.tmp" ]'
rmdir "$N1RUN/.status.json.tmp"
# pidfd: a VM served by a qmp-sim process of its own, so that its "QEMU" can really die
"$QMP_SIM" --control "$LAB_DIR/sim2.ctl" >"$LAB_DIR/sim2.out" 2>&1 </dev/null &
sim2=$!
lab_track "$sim2"
dl_wait 10 grep -q READY "$LAB_DIR/sim2.out"
"$DL_SOCKLINE" "$LAB_DIR/sim2.ctl" '{"cmd":"vm-add","name":"solo1","qmp":"'"$LAB_DIR"'/solo1.qmp"}' >/dev/null
dl_ctl 3 vm-add pd --qmp "$LAB_DIR/solo1.qmp" --role primary --peer-node 1 >/dev/null
check "pidfd: n3 sees its QEMU (a separate simulator) connected with that process's pid" \
	dl_wait 20 dl_jq 3 ".vms[] | select(.name==\"pd\") | .local.connected and .local.pid == $sim2"
kill -9 "$sim2"
wait "$sim2" 2>/dev/null
check "pidfd: kill -9 of that process is reported as a QEMU exit (alive false), not a hang-up only" \
	eval 'dl_wait 10 dl_jq 3 ".vms[] | select(.name==\"pd\") | .local.alive == false" &&
	      grep -q "vm=pd: QEMU pid $sim2 exited (pidfd)" "$LAB_DIR/n3/arb.log"'
dl_ctl 3 vm-remove pd >/dev/null

lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"wap"}' >/dev/null
check "a) n1's corosync killed + silent loss of the primary: n2 runs wa alone" \
	eval 'dl_wait 30 st 2 wa solo &&
	      dl_sim_state was | dl_jqe ".mode==\"none\" and .running"'
sleep 3
check "a) exactly one x-colo-lost-heartbeat reached the secondary" \
	eval '[ "$(count_cmd was x-colo-lost-heartbeat)" = 1 ]'
lab_start_corosync 1
check "n1's corosync restarted: its arbiter reconnects, learns E(v) and kills its stale primary" \
	eval 'dl_wait 40 eval "st 1 wa stale && grep -q \"^kill $DL_SIM 9\$\" \"$LAB_DIR/n1/kills\"" &&
	      dl_jq 1 ".cluster.gate==\"open\""'
check "lab 2: every arbiter exits 0 on SIGTERM" \
	eval 'dl_arb_kill 1 TERM && dl_arb_kill 2 TERM && dl_arb_kill 3 TERM'
lab_down

# ---------------------------------------------------------------- lab 3: pacemaker policy
# No pacemaker-fenced runs in the lab: the fence request must run in a child, fail, and
# block the takeover, while the daemon keeps answering.
dl_up pacemaker || { echo "Bail out! lab 3 did not come up"; exit 1; }
dl_pair fa || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do dl_arb_start "$i"; done
dl_wait 30 all_protected fa
lab_kill_corosync 1
dl_sim '{"cmd":"silent-loss","name":"fap"}' >/dev/null
check "pacemaker policy, n1 lost: n2 requests the fence in a child and hears its failure" \
	dl_wait 30 eval 'grep -q "fencing node 1 (child pid" "$LAB_DIR/n2/arb.log" &&
			 grep -q "fence of node 1 FAILED" "$LAB_DIR/n2/arb.log"'
sleep 3
t0=$(date +%s%N)
check "no fence proof: no takeover (no x-colo-lost-heartbeat), and the daemon answers at once" \
	eval 'dl_status 2 >/dev/null && [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ] &&
	      no_cmd fas x-colo-lost-heartbeat && ! st 2 fa solo'
check "failed fences are retried with a backoff, not in a loop (at most 8 children so far)" \
	eval '[ "$(grep -c "fencing node 1 (child pid" "$LAB_DIR/n2/arb.log")" -le 8 ]'
# SIGSTOP of n2's corosync: IPC stops answering, own messages stop coming back
kill -STOP "${LAB_COROSYNC[2]}"
gate_closed_2() { dl_jq 2 '.cluster.gate=="closed"'; }
check "SIGSTOP of n2's corosync: n2's gate closes (own deadline) and its daemon still answers" \
	dl_wait 20 gate_closed_2
kill -CONT "${LAB_COROSYNC[2]}"
lab_down

# ---------------------------------------------------------------- lab 4: own deadline
# n1 runs ia alone, then its own interface drops everything: its corosync stalls and may
# take tens of seconds to say inquorate (DESIGN §3); the arbiter's own liveness deadline
# (liveness_bound, 5.4 s by default) must freeze ia well before that.
dl_up none || { echo "Bail out! lab 4 did not come up"; exit 1; }
dl_pair ia || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do dl_arb_start "$i"; done
dl_wait 30 all_protected ia
dl_sim '{"cmd":"kill","name":"ias"}' '{"cmd":"checkpoint","name":"iap"}' >/dev/null
dl_wait 20 st 1 ia solo
t0=$(date +%s%N)
lab_isolate 1
paused() { dl_sim_state iap | dl_jqe '.running == false'; }
dl_wait 30 paused
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# isolate n1 -> its solo primary paused after $ms ms"
check "n1 isolated on its own interface: its solo primary is frozen within 12 s (own deadline)" \
	eval 'paused && [ "$ms" -lt 12000 ] && grep -q "gate open -> closed" "$LAB_DIR/n1/arb.log"'
lab_heal 1
lab_down
exit $TAP_BAD
