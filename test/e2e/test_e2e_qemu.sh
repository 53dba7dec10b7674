#!/bin/bash
# test_e2e_qemu.sh: faults that leave every node up, on four real QEMU COLO pairs: qa, qb,
# qc with the primary on n1 and the secondary on n2, qd the other way round; n3 is the
# witness; fence_policy = self (no fence wait applies here: a QEMU's exit is seen through
# its pidfd by its own node's arbiter, and corosync is intact).
#   qc: its replication connections are reset inside n2 (ss -K on exactly qc's COLO
#       sockets; corosync, on UDP, intact): the primary continues alone, the secondary is
#       stopped (killed as stale), nobody else moves
#   qa: the primary QEMU is killed (n1 alive): the secondary takes over
#   qb: the secondary QEMU is killed (n2 alive): the primary continues alone
#   then the witness n3 is powered off while two busy loops load the CPUs: nothing is
#       frozen or yanked (no STOP event on any QEMU), qd stays in COLO
#   nc: a QEMU started with -compat unstable-input=reject (it lists x-colo-lost-heartbeat
#       in query-commands but refuses it) added on n1 with `colo-arbiterctl vm-add`: shown
#       `refused` with the reason in status and in the log, never in the decision core
# Asserted on status --json, on QEMU's own query-colo-status/query-status of both sides and
# on its events; times are printed, bounds are generous (benchmarks measure).
# TAP; root; skips without the components unless COLO_REQUIRE_REAL=1.
. "$TOP_SRCDIR/test/e2e/e2e_lib.sh"
ARB_POLICY=self

port() { echo "${COLO_PORTS[$1]}" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
no_stop_since() { # T name...
	local t=$1 v s
	shift
	for v in "$@"; do for s in p s; do
		[ "$(arb_event_count "$v" "$s" STOP "$t")" = 0 ] || { echo "# $v $s stopped"; return 1; }
	done; done
}

echo "1..11"
up() { e2e_up 3 && e2e_pair qa 1 2 && e2e_pair qb 1 2 && e2e_pair qc 1 2 && e2e_pair qd 2 1 && e2e_arbs; }
check "3 nodes, pairs qa qb qc (n1->n2) and qd (n2->n1), 3 arbiters" up || { echo "Bail out! no lab"; exit 1; }
check "all four pairs protected on both nodes and in COLO (QEMU's own view)" \
	eval 'arb_wait 60 all_protected qa qb qc qd && in_colo qa && in_colo qb && in_colo qc && in_colo qd'

# ---- replication reset of qc only
ea=$(epoch_n 1 qa) eb=$(epoch_n 1 qb) ed=$(epoch_n 1 qd)
T0=$(now_ms)
lab_exec 2 ss -K -t state established "( dport = :$(port qc mirror) or dport = :$(port qc compare1) or sport = :$(port qc nbd) or sport = :$(port qc mig) )" >/dev/null
check "qc replication reset: n1's primary continues alone (solo; QEMU none/primary/request, running)" \
	eval 'arb_wait 30 is_st 1 qc solo && [ "$(qstate qc p)" = "none/primary/request/running" ]'
check "qc: n2's secondary is stopped (QEMU gone, n2 says stale) and exactly one side runs" \
	eval 'arb_wait 15 eval "[ \"\$(qstate qc s)\" = gone ]" && arb_wait 10 is_st 2 qc stale && one_runs qc'
echo "# qc: fault -> primary confirmed alone +$(( $(audit_ms 1 qc confirmed "$T0") - T0 )) ms"
check "qc reset: nobody else moved (qa qb qd protected, epochs unchanged, in COLO, no STOP event)" \
	eval 'all_protected qa qb qd && [ "$(epoch_n 1 qa)/$(epoch_n 1 qb)/$(epoch_n 1 qd)" = "$ea/$eb/$ed" ] &&
	      in_colo qa && in_colo qb && in_colo qd && no_stop_since "$T0" qa qb qd'

# ---- QEMU killed, node alive: primary of qa
T0=$(now_ms)
kill -9 "${COLO_PID_P[qa]}"
check "qa primary QEMU killed: n2's secondary runs alone (solo; none/secondary/request, running), one side runs" \
	eval 'arb_wait 30 is_st 2 qa solo && [ "$(qstate qa s)" = "none/secondary/request/running" ] && one_runs qa'
ms=$(( $(arb_event_ms qa s RESUME "$T0") - T0 ))
echo "# qa: kill -9 -> secondary resumed alone +$ms ms (QEMU's timestamp); confirmed +$(( $(audit_ms 2 qa confirmed "$T0") - T0 )) ms"
check "qa: the secondary resumed alone within 5 s of the kill (QEMU's own RESUME timestamp)" \
	eval '[ "$ms" -ge 0 ] && [ "$ms" -lt 5000 ]'

# ---- QEMU killed, node alive: secondary of qb
T0=$(now_ms)
kill -9 "${COLO_PID_S[qb]}"
check "qb secondary QEMU killed: n1's primary runs alone (solo; none/primary/request, running), one side runs" \
	eval 'arb_wait 30 is_st 1 qb solo && [ "$(qstate qb p)" = "none/primary/request/running" ] && one_runs qb'
echo "# qb: kill -9 -> primary resumed alone +$(( $(arb_event_ms qb p RESUME "$T0") - T0 )) ms; confirmed +$(( $(audit_ms 1 qb confirmed "$T0") - T0 )) ms"
check "qd untouched by the QEMU kills (protected, in COLO)" eval 'all_protected qd && in_colo qd'

# ---- witness death under CPU load
for _ in 1 2; do
	sh -c 'while :; do :; done' &
	lab_track $!
	loads="${loads:-} $!"
done
T0=$(now_ms)
arb_power_off 3
sleep 15 # corosync detection (~3.5 s) + the liveness bound (5.4 s) + margin
# shellcheck disable=SC2086
{ kill -9 $loads; wait $loads; } 2>/dev/null
check "witness n3 powered off under CPU load: nothing frozen or yanked (no STOP since), qd in COLO, solo VMs running" \
	eval 'no_stop_since "$T0" qa qb qc qd && in_colo qd && all_protected qd &&
	      runs qa s && runs qb p && runs qc p && arb_jq 1 ".cluster.gate==\"open\"" && arb_jq 2 ".cluster.gate==\"open\""'

# ---- a QEMU whose policy refuses the failover command
lab_spawn 1 "$LAB_DIR/nc.log" qemu-system-x86_64 -nodefaults -display none -machine none \
	-accel tcg -qmp "unix:$LAB_DIR/nc.qmp,server=on,wait=off" -compat unstable-input=reject
refused_nc() {
	arb_jq 1 '.vms[] | select(.name=="nc") | .status=="refused" and
		(.why | test("unstable-input=reject"))' &&
		grep -q "vm=nc: refused: QEMU started with -compat unstable-input=reject" "$LAB_DIR/n1/arb.log"
}
check "nc: a QEMU with -compat unstable-input=reject is refused, with the reason in status and log" \
	eval 'arb_wait 10 test -S "$LAB_DIR/nc.qmp" &&
	      arb_ctl 1 vm-add nc --qmp "$LAB_DIR/nc.qmp" --role primary --peer-node 2 >/dev/null &&
	      arb_wait 20 refused_nc'
arb_status 1 | jq -c '.vms[] | select(.name=="nc") | {status, why}' | sed 's/^/#   /'
exit $TAP_BAD
