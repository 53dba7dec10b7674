#!/bin/bash
# test_daemon_fence.sh: fence_policy pacemaker with a real fencer. Pacemaker 2.1 runs on the
# 3-node namespace lab (pacemakerd and its daemons in each node's namespaces, own
# /var/lib/pacemaker and /var/log/pacemaker), with one fence device, fence_colotest
# (daemon/fence_colotest: kills a lab node's processes by PID), able to fence n1. The
# arbiters run with fence_policy pacemaker and the QMP simulator (daemon_lab.sh).
#   1 Pacemaker is up on all three nodes (crm_mon: partition with quorum, 3 online) and the
#     fencer of n2 lists the device for n1 (stonith_admin)
#   2 pair pa (primary n1, secondary n2) protected
#   3 n1 cut off at its own interface (its corosync stalls) and its primary lost silently:
#     n2's arbiter asks Pacemaker's fencer to fence n1, which runs the agent (n1's corosync,
#     pacemakerd and arbiter killed by PID), and logs the success
#   4 n2 takes pa over only after that: exactly one x-colo-lost-heartbeat, pa solo on n2,
#     and the command follows the fence success in n2's log and audit records
#     (H3-fence-done before the takeover's epoch commit)
#   5 n1's arbiter process is gone (the fence killed it)
# TAP. Root; skips without pacemaker (or fails with COLO_REQUIRE_REAL=1).
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
need=""
for t in pacemakerd cibadmin crm_mon crm_attribute stonith_admin; do
	command -v "$t" >/dev/null || need="$need $t"
done
id hacluster >/dev/null 2>&1 || need="$need hacluster(user)"
tap_need "pacemaker fencing lab" "$need"
dl_need

echo "1..5"
dl_up pacemaker || { echo "Bail out! lab did not come up"; exit 1; }
dl_pair pa || { echo "Bail out! simulator refused the pair"; exit 1; }

pcmk_start() { # node: Pacemaker in the node's namespaces, the agent in its /usr/sbin
	local i=$1 st="$LAB_DIR/n$1"
	mkdir -p "$st"/lib-pacemaker/{cib,pengine,blackbox,cores} "$st/log-pacemaker" \
		"$st/sbin-upper" "$st/sbin-work"
	sed "s|@LAB_DIR@|$LAB_DIR|" "$TOP_SRCDIR/test/daemon/fence_colotest" >"$st/sbin-upper/fence_colotest"
	chmod 755 "$st/sbin-upper/fence_colotest"
	chown -R hacluster:haclient "$st/lib-pacemaker" "$st/log-pacemaker"
	lab_exec "$i" sh -c "
		mount --bind '$st/lib-pacemaker' /var/lib/pacemaker &&
		mount --bind '$st/log-pacemaker' /var/log/pacemaker &&
		mount -t overlay overlay \
			-o 'lowerdir=/usr/sbin,upperdir=$st/sbin-upper,workdir=$st/sbin-work' /usr/sbin" ||
		return 1
	lab_spawn "$i" "$st/pacemakerd.out" env PCMK_logfile=/var/log/pacemaker/pacemaker.log \
		PCMK_logfacility=none PCMK_debug=no /usr/sbin/pacemakerd
	PCMK_PID[$i]=$LAB_LAST_PID
}
declare -A PCMK_PID
# pacemakerd forks its daemons: stop them all by their parent's SIGTERM, then by PID
pcmk_stop() {
	local i
	for i in 1 2 3; do [ -n "${PCMK_PID[$i]:-}" ] && kill -TERM "${PCMK_PID[$i]}" 2>/dev/null; done
	sleep 3
	for i in 1 2 3; do
		[ -n "${PCMK_PID[$i]:-}" ] || continue
		pkill -9 -P "${PCMK_PID[$i]}" 2>/dev/null
		kill -9 "${PCMK_PID[$i]}" 2>/dev/null
	done
}
trap 'pcmk_stop; lab_down' EXIT

ok=1
for i in 1 2 3; do pcmk_start "$i" || ok=0; done
online() {
	lab_exec 2 crm_mon -1 2>/dev/null | grep -q "partition with quorum" &&
		lab_exec 2 crm_mon -1 2>/dev/null | grep -Eq "Online: \[ n1 n2 n3 \]"
}
configured() {
	lab_exec 2 crm_attribute -t crm_config -n stonith-enabled -v true >/dev/null 2>&1 &&
	lab_exec 2 cibadmin -C -o resources -X '<primitive id="fence-n1" class="stonith" type="fence_colotest"><instance_attributes id="fence-n1-ia"><nvpair id="fence-n1-hl" name="pcmk_host_list" value="n1"/></instance_attributes></primitive>' >/dev/null 2>&1
}
listed() { lab_exec 2 stonith_admin -L 2>/dev/null | grep -q "fence-n1"; }
if [ "$ok" = 1 ] && dl_wait 120 online && configured; then
	dl_wait 60 listed
fi
dl_check "Pacemaker up on n1-n3 (quorate, 3 online), n2's fencer lists the device for n1" \
	eval 'online && listed'
lab_exec 2 crm_mon -1 2>&1 | sed -n '1,12p' | sed 's/^/#   /'

dl_arb_start 1
dl_arb_start 2
dl_arb_start 3
dl_check "pa protected on n1 and n2 (fence_policy pacemaker)" dl_wait 60 dl_protected pa

# n1 "powered off" by the fence: its corosync, pacemakerd (and children) and arbiter
pkids() { pgrep -P "$1" 2>/dev/null; }
echo "${LAB_COROSYNC[1]} ${PCMK_PID[1]} $(pkids "${PCMK_PID[1]}" | tr '\n' ' ') ${DL_ARB[1]}" \
	>"$LAB_DIR/n1/fence-pids"
mark=$(($(wc -l <"$LAB_DIR/n2/arb.log") + 1))
lab_isolate 1
dl_sim '{"cmd":"silent-loss","name":"pap"}' >/dev/null
after() { tail -n +"$mark" "$LAB_DIR/n2/arb.log"; }
fenced() { after | grep -q "fence of node 1 succeeded"; }
dl_check "n2 asks the fencer, which runs the agent on n1 and reports success" \
	eval 'dl_wait 90 fenced && [ -f "$LAB_DIR/n1/fenced" ] && after | grep -q "fencing node 1 (child pid"'
after | grep -E "fenc" | head -5 | sed 's/^/#   n2: /'
sed 's/^/#   agent: /' "$LAB_DIR/fence-agent.log" 2>/dev/null | tail -4

lhb_after_fence() { # in n2's log, and in its audit records: the fence, then the takeover
	local f t
	after | awk '/fence of node 1 succeeded/ { f = NR } /x-colo-lost-heartbeat written/ { l = NR }
		END { exit !(f && l && l > f) }' || return 1
	f=$(grep -n '"H3-fence-done"' "$LAB_DIR/n2/audit.jsonl" | head -1 | cut -d: -f1)
	t=$(grep -n '"rule2-primary-node-lost"' "$LAB_DIR/n2/audit.jsonl" | head -1 | cut -d: -f1)
	[ -n "$f" ] && [ -n "$t" ] && [ "$f" -lt "$t" ]
}
dl_check "n2 takes pa over after the fence: solo, one x-colo-lost-heartbeat, commanded after the fence success" \
	eval 'dl_wait 60 dl_st 2 pa solo && sleep 1 && [ "$(dl_count_cmd pas x-colo-lost-heartbeat)" = 1 ] && lhb_after_fence'
jq -c 'select(.rule | test("fence|commit|rule2")) | {rule, decision}' "$LAB_DIR/n2/audit.jsonl" 2>/dev/null |
	tail -5 | sed 's/^/#   audit: /'
dl_check "n1's arbiter was killed by the fence" eval '! kill -0 "${DL_ARB[1]}" 2>/dev/null'
exit "$TAP_BAD"
