#!/bin/bash
# test_colo_pair.sh: a real QEMU 7.2 COLO pair across two namespace nodes (lab/colo.sh)
# reaches COLO with every replication link crossing the lab network, and behaves as the
# recordings say when its primary's host vanishes silently: the secondary notices nothing
# by itself, and nbd-server-stop + x-colo-lost-heartbeat make it run alone, confirmed by
# query-colo-status and query-status. This is the ground the end-to-end tests stand on. TAP.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/lab/colo.sh"

n=0 bad=0
check() { # description, command...
	local d=$1
	shift
	n=$((n + 1))
	if "$@"; then echo "ok $n - $d"; else bad=1; echo "not ok $n - $d"; fi
}

need=""
for t in corosync nsenter unshare nft ip jq qemu-system-x86_64 qemu-img; do
	command -v "$t" >/dev/null || need="$need $t"
done
. "$TOP_SRCDIR/test/common/tap.sh"
tap_need "real COLO pair" "$need"

modes() { # name -> "pmode/smode/pmig/prun/srun"
	printf '%s/%s/%s/%s/%s' \
		"$(colo_query "$1" p query-colo-status | jq -r .mode)" \
		"$(colo_query "$1" s query-colo-status | jq -r .mode)" \
		"$(colo_query "$1" p query-migrate | jq -r .status)" \
		"$(colo_query "$1" p query-status | jq -r .status)" \
		"$(colo_query "$1" s query-status | jq -r .status)"
}
in_colo() { [ "$(modes vm1)" = "primary/secondary/colo/running/running" ]; }
crossing() { # n2 holds exactly red0, red1, NBD and migration, all with n1 (as recorded)
	local c
	c=$(lab_exec 2 ss -Htn state established "dst $LAB_NET.1" | wc -l)
	echo "# established connections on n2 with n1: $c (${COLO_PORTS[vm1]})"
	[ "$c" = 4 ]
}
secondary_unaware() {
	local s
	sleep 2
	s=$(colo_query vm1 s query-colo-status)
	echo "# secondary 2 s after the silent loss: $s"
	[ "$(echo "$s" | jq -r '.mode + "/" + .reason')" = "secondary/none" ]
}
failover_secondary() {
	colo_qmp vm1 s nbd-server-stop x-colo-lost-heartbeat >"$LAB_DIR/failover.out"
}
secondary_alone() {
	local t=0 s r
	while [ "$t" -lt 100 ]; do
		s=$(colo_query vm1 s query-colo-status)
		r=$(colo_query vm1 s query-status | jq -r .status)
		if [ "$(echo "$s" | jq -r '.mode + "/" + ."last-mode" + "/" + .reason')/$r" = \
			"none/secondary/request/running" ]; then
			echo "# confirmed: $s, $r"
			return 0
		fi
		sleep 0.1
		t=$((t + 1))
	done
	echo "# not confirmed: $s, $r"
	return 1
}
twice_is_generic_error() {
	local out
	out=$(colo_qmp vm1 s x-colo-lost-heartbeat)
	echo "$out" | grep -q '"class":"GenericError"'
}

echo "1..7"
up() { lab_up 3 1000 && colo_pair_up vm1 1 2; }
check "a real QEMU COLO pair starts with its primary on n1 and secondary on n2" up ||
	{ echo "Bail out! no pair"; exit 1; }
check "both sides report their COLO modes, migration is colo, both run" in_colo
check "replication connections cross the lab network from n2 to n1" crossing
lab_isolate 1
{ kill -9 "$(colo_pid vm1 p)"; wait "$(colo_pid vm1 p)"; } 2>/dev/null
check "silent loss of the primary's node: the secondary notices nothing by itself" secondary_unaware
check "nbd-server-stop + x-colo-lost-heartbeat on the secondary reply" failover_secondary
check "the secondary runs alone: mode none, last-mode secondary, reason request, running" \
	secondary_alone
check "a second x-colo-lost-heartbeat is a GenericError (resending is safe)" twice_is_generic_error
exit $bad
