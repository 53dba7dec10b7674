# shellcheck shell=bash
# test/e2e/e2e_lib.sh: what the end-to-end tests share (real QEMU COLO pairs, real corosync,
# real colo-arbiterd; lab/lab.sh, lab/colo.sh, lab/arb.sh). Source it from a test:
#
#   check DESC CMD...        one TAP case; on failure dumps every node's status and notices
#   e2e_up N_NODES           lab_up with token 1000 (arbiters not started yet)
#   e2e_pair NAME P S        colo_pair_up + arb_register + arb_record (events recorded)
#   e2e_arbs                 arb_conf + arb_start on every node
#   qstate NAME p|s          QEMU's own view: "mode/last-mode/reason/run" or "gone"
#   runs NAME p|s            that QEMU is alive and says running
#   one_runs NAME            exactly one side of NAME runs
#   st I NAME                the arbiter's status word for NAME on node I
#   now_ms                   wall clock, ms
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/lab/colo.sh"
. "$TOP_SRCDIR/test/lab/arb.sh"
arb_need

TAP_DUMP=e2e_dump
check() { tap_check "$@"; } # description, command...
e2e_dump() {
	local i
	for i in $(seq 1 "$LAB_N"); do
		echo "# --- n$i status: $(arb_status "$i" | jq -c '[.cluster.gate, (.vms[] | [.name, .status, .epoch.n, .why])]' 2>/dev/null)"
		grep -E '\[(notice|warning|error|crit)' "$LAB_DIR/n$i/arb.log" 2>/dev/null | tail -12 | sed 's/^/#   /'
	done
}

now_ms() { date +%s%3N; }
e2e_up() { lab_up "${1:-3}" 1000 >/dev/null; }
e2e_pair() { colo_pair_up "$1" "$2" "$3" && arb_register "$1" && arb_record "$1"; }
e2e_arbs() { local i; for i in $(seq 1 "$LAB_N"); do arb_conf "$i"; arb_start "$i"; done; }

qstate() { # name side
	local pid
	pid=$(colo_pid "$1" "$2")
	kill -0 "$pid" 2>/dev/null || { echo gone; return; }
	printf '%s/%s\n' "$(colo_query "$1" "$2" query-colo-status 2>/dev/null | jq -r '.mode + "/" + ."last-mode" + "/" + .reason')" \
		"$(colo_query "$1" "$2" query-status 2>/dev/null | jq -r .status)"
}
runs() { local s; s=$(qstate "$1" "$2"); [ "${s##*/}" = running ]; }
one_runs() {
	local c=0
	runs "$1" p && c=$((c + 1))
	runs "$1" s && c=$((c + 1))
	[ "$c" = 1 ]
}
st() { arb_vm_status "$1" "$2"; }
is_st() { [ "$(st "$1" "$2")" = "$3" ]; }
protected() { # name: protected on both of its nodes
	is_st "${COLO_PNODE[$1]}" "$1" protected && is_st "${COLO_SNODE[$1]}" "$1" protected
}
all_protected() { local v; for v in "$@"; do protected "$v" || return 1; done; }
in_colo() { # name: QEMU's own view on both sides
	[ "$(qstate "$1" p)" = "primary/none/none/running" ] &&
		[ "$(qstate "$1" s)" = "secondary/none/none/running" ]
}
epoch_n() { arb_status "$1" | jq -r ".vms[] | select(.name==\"$2\") | .epoch.n"; }
# first audit record of node I for VM NAME with a decision matching RE since T: its wall_ms
audit_ms() { # node vm regex T
	jq -r --arg vm "$2" --arg re "$3" --argjson t "$4" \
		'select(.vm == $vm and .wall_ms >= $t and (.decision | test($re))) | .wall_ms' \
		"$LAB_DIR/n$1/audit.jsonl" 2>/dev/null | head -1
}
