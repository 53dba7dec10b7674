#!/bin/bash
# test_lab_corosync.sh: the namespace lab that every cluster test builds on really forms a
# corosync cluster, loses and regains a node, isolates one, and leaves nothing behind. TAP.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"

n=0 bad=0
check() { # description, command...
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else bad=1; echo "not ok $n - $d"; fi
}

need=""
for t in corosync corosync-quorumtool nsenter unshare nft ip; do
	command -v "$t" >/dev/null || need="$need $t"
done
. "$TOP_SRCDIR/test/common/tap.sh"
tap_need "corosync lab" "$need"

all_quorate() { # votes
	local i
	for i in $(seq 1 "$LAB_N"); do lab_wait_quorate "$i" "$1" 30 || return 1; done
}
not_quorate_within() { # node, seconds
	local t=0
	while [ "$t" -lt $(($2 * 10)) ]; do
		lab_quorate "$1" || return 0
		sleep 0.1
		t=$((t + 1))
	done
	return 1
}
no_answer() { ! lab_exec "$1" corosync-quorumtool -s >/dev/null 2>&1; }

echo "1..7"
up() { lab_up 3 1000 && all_quorate 3; }
check "3-node corosync cluster in namespaces comes up, every node quorate with 3 votes" up ||
	{ echo "Bail out! lab did not come up"; exit 1; }
lab_kill_corosync 3
check "after kill -9 of n3's corosync, n1 and n2 stay quorate with 2 votes" \
	eval 'lab_wait_quorate 1 2 30 && lab_wait_quorate 2 2 30'
check "n3 has no corosync left to answer" no_answer 3
lab_start_corosync 3
check "n3's corosync restarted: all three quorate with 3 votes again" all_quorate 3
lab_partition 3
check "n3 cut off at the bridge loses quorum" not_quorate_within 3 30
check "n1 keeps quorum with 2 votes while n3 is cut off" lab_wait_quorate 1 2 30
id=$LAB_ID
lab_down
check "teardown removed every namespace and process of the lab" \
	eval "! ip netns list | grep -q '^$id' && ! pgrep -f 'colo-lab-$id' >/dev/null"
exit $bad
