# shellcheck shell=bash
# test/lab/arb.sh: colo-arbiterd on the namespace lab (lab.sh) for real QEMU COLO pairs
# (colo.sh). Source lab.sh and colo.sh first, then:
#
#   arb_need                    TAP skip (or fail with COLO_REQUIRE_REAL=1) without root/tools
#   arb_conf I                  write node I's arb.conf: fence_policy ARB_POLICY (default
#                               self), plus the lines of ARB_EXTRA
#   arb_register NAME           VM files for pair NAME on its primary's and secondary's nodes
#                               (clean-up commands of conf/vm.d/example.conf.sample)
#   arb_ctl_register NAME       the same through `colo-arbiterctl vm-add` on running arbiters
#   arb_start I / arb_kill I [SIG]   start / signal node I's colo-arbiterd (lab_spawn: lab_down
#                               kills it by PID); each run logs to its own arb.log.N
#   arb_status I                `colo-arbiterctl status --json` on node I
#   arb_jq I FILTER             jq -e FILTER on it (false on no answer)
#   arb_vm_status I NAME        the status word of VM NAME on node I
#   arb_wait SECS CMD...        poll CMD every 0.1 s
#   arb_power_off I             "pull the plug" of node I: drop on its own interface first (no
#                               FIN/RST escapes), then SIGKILL its corosync, arbiter and every
#                               QEMU it runs, by PID
#   arb_audit I                 node I's audit records (JSON lines)
#
# This is the real-QEMU counterpart of test/daemon/daemon_lab.sh (which drives qmp-sim):
# the arbiter holds each QEMU's arb.sock monitor; its QMP chardev ids start with
# compat_monitor, which the arbiter never yanks. Must not: touch anything outside $LAB_DIR
# and the lab's namespaces, or kill anything not started by the lab.

# LAB_ARBD: another colo-arbiterd binary (benchmarks compare builds with it)
ARB_D=${LAB_ARBD:-$TOP_BUILDDIR/arbiter/colo-arbiterd}
ARB_CTL="$TOP_BUILDDIR/arbiter/colo-arbiterctl"
ARB_POLICY=${ARB_POLICY:-self}
ARB_EXTRA=${ARB_EXTRA:-}
ARB_WRAP=${ARB_WRAP:-}
declare -A ARB_PID
ARB_RUN=0
. "$(dirname "${BASH_SOURCE[0]}")/../common/tap.sh"

arb_need() {
	local need="" t
	for t in corosync corosync-quorumtool nsenter unshare nft ip jq ss qemu-system-x86_64 qemu-img; do
		command -v "$t" >/dev/null || need="$need $t"
	done
	[ -x "$ARB_D" ] || need="$need colo-arbiterd(build it)"
	[ -x "$ARB_CTL" ] || need="$need colo-arbiterctl(build it)"
	[ -x "${QMPCALL:-$TOP_BUILDDIR/test/lab/qmpcall}" ] || need="$need qmpcall(make -C test lab/qmpcall)"
	tap_need "e2e lab" "$need"
}

arb_wait() { tap_wait "$@"; } # seconds (wall clock), command...

arb_conf() { lab_arb_conf "$1" "$ARB_POLICY" "$LAB_N" "$ARB_EXTRA"; } # node

arb_vmfile() { # node name qmp role peer
	local f="$LAB_DIR/n$1/vm.d/$2.conf"
	mkdir -p "$LAB_DIR/n$1/vm.d"
	printf 'name = "%s"\nqmp = "%s"\nrole = %s\npeer-node = %s\n' "$2" "$3" "$4" "$5" >"$f"
	if [ "$4" = primary ]; then
		cat >>"$f" <<'EOV'
yank-exclude = compare0
yank-exclude = compare0-0
yank-exclude = compare_out
yank-exclude = compare_out0
post-failover = {"execute": "x-blockdev-change", "arguments": {"parent": "colo-disk0", "child": "children.1"}}
post-failover = {"execute": "blockdev-del", "arguments": {"node-name": "replication0"}}
post-failover = {"execute": "object-del", "arguments": {"id": "comp0"}}
post-failover = {"execute": "object-del", "arguments": {"id": "iothread1"}}
post-failover = {"execute": "object-del", "arguments": {"id": "m0"}}
post-failover = {"execute": "object-del", "arguments": {"id": "redire0"}}
post-failover = {"execute": "object-del", "arguments": {"id": "redire1"}}
EOV
	else
		cat >>"$f" <<'EOV'
pre-failover = {"execute": "nbd-server-stop"}
post-failover = {"execute": "object-del", "arguments": {"id": "f2"}}
post-failover = {"execute": "object-del", "arguments": {"id": "f1"}}
post-failover = {"execute": "chardev-remove", "arguments": {"id": "red1"}}
post-failover = {"execute": "chardev-remove", "arguments": {"id": "red0"}}
EOV
	fi
}

arb_register() { # pair name (colo_pair_up done)
	local v=$1
	arb_vmfile "${COLO_PNODE[$v]}" "$v" "$(colo_sock "$v" p arb)" primary "${COLO_SNODE[$v]}"
	arb_vmfile "${COLO_SNODE[$v]}" "$v" "$(colo_sock "$v" s arb)" secondary "${COLO_PNODE[$v]}"
}

# The same commands as arguments of colo-arbiterctl vm-add.
ARB_YANK_EXCLUDE_P=(compare0 compare0-0 compare_out compare_out0)
ARB_POST_P=('{"execute": "x-blockdev-change", "arguments": {"parent": "colo-disk0", "child": "children.1"}}'
	'{"execute": "blockdev-del", "arguments": {"node-name": "replication0"}}'
	'{"execute": "object-del", "arguments": {"id": "comp0"}}'
	'{"execute": "object-del", "arguments": {"id": "iothread1"}}'
	'{"execute": "object-del", "arguments": {"id": "m0"}}'
	'{"execute": "object-del", "arguments": {"id": "redire0"}}'
	'{"execute": "object-del", "arguments": {"id": "redire1"}}')
ARB_POST_S=('{"execute": "object-del", "arguments": {"id": "f2"}}'
	'{"execute": "object-del", "arguments": {"id": "f1"}}'
	'{"execute": "chardev-remove", "arguments": {"id": "red1"}}'
	'{"execute": "chardev-remove", "arguments": {"id": "red0"}}')

arb_ctl_register() { # pair name, arbiters running on both nodes
	local v=$1 pn=${COLO_PNODE[$1]} sn=${COLO_SNODE[$1]} a=() c
	for c in "${ARB_POST_P[@]}"; do a+=(--post-failover "$c"); done
	for c in "${ARB_YANK_EXCLUDE_P[@]}"; do a+=(--yank-exclude "$c"); done
	arb_ctl "$pn" vm-add "$v" --qmp "$(colo_sock "$v" p arb)" --role primary --peer-node "$sn" \
		"${a[@]}" >/dev/null || return 1
	a=(--pre-failover '{"execute": "nbd-server-stop"}')
	for c in "${ARB_POST_S[@]}"; do a+=(--post-failover "$c"); done
	arb_ctl "$sn" vm-add "$v" --qmp "$(colo_sock "$v" s arb)" --role secondary --peer-node "$pn" \
		"${a[@]}" >/dev/null
}

arb_start() { # node; arb.log points to the last run's log
	ARB_RUN=$((ARB_RUN + 1))
	[ -f "$LAB_DIR/n$1/arb.conf" ] || arb_conf "$1"
	# shellcheck disable=SC2086 # ARB_WRAP is a command prefix
	lab_spawn "$1" "$LAB_DIR/n$1/arb.log.$ARB_RUN" $ARB_WRAP "$ARB_D" -f -c "$LAB_DIR/n$1/arb.conf"
	ARB_PID[$1]=$LAB_LAST_PID
	ln -sf "arb.log.$ARB_RUN" "$LAB_DIR/n$1/arb.log"
}

arb_kill() { # node [signal]; returns the daemon's exit status
	kill "-${2:-KILL}" "${ARB_PID[$1]}" 2>/dev/null
	wait "${ARB_PID[$1]}" 2>/dev/null
}

arb_status() { lab_exec "$1" "$ARB_CTL" --timeout 3 status --json 2>/dev/null; }
arb_ctl() { local i=$1; shift; lab_exec "$i" "$ARB_CTL" --timeout 5 "$@"; }
arb_jqe() { # jq -e FILTER on stdin; false on empty input
	local in
	in=$(cat)
	[ -n "$in" ] && printf '%s\n' "$in" | jq -e "$1" >/dev/null 2>&1
}
arb_jq() { arb_status "$1" | arb_jqe "$2"; }
arb_vm_status() { arb_status "$1" | jq -r ".vms[] | select(.name==\"$2\") | .status" 2>/dev/null; }
arb_audit() { cat "$LAB_DIR/n$1/audit.jsonl" 2>/dev/null; }

# Every process the lab started on node I, by PID: corosync, arbiter, QEMUs.
arb_node_pids() {
	local i=$1 v
	echo "${LAB_COROSYNC[$i]:-}" "${ARB_PID[$i]:-}"
	for v in "${!COLO_PNODE[@]}"; do
		[ "${COLO_PNODE[$v]}" = "$i" ] && echo "${COLO_PID_P[$v]}"
		[ "${COLO_SNODE[$v]}" = "$i" ] && echo "${COLO_PID_S[$v]}"
	done
}

arb_power_off() { # node: link first, then every process by PID
	local i=$1 p pids
	lab_isolate "$i"
	pids=$(arb_node_pids "$i")
	# shellcheck disable=SC2086
	kill -9 $pids 2>/dev/null
	for p in $pids; do wait "$p" 2>/dev/null; done
	return 0
}

# QEMU's own events of pair NAME, side p|s, recorded from its spare monitor by a qmpcall
# running on the QEMU's node (it dies with that node): LAB_DIR/events-NAME-SIDE.jsonl.
arb_record() { # pair name
	local v=$1 s node
	for s in p s; do
		node=${COLO_PNODE[$v]}
		[ "$s" = s ] && node=${COLO_SNODE[$v]}
		lab_spawn "$node" "$LAB_DIR/events-$v-$s.jsonl" "${QMPCALL:-$TOP_BUILDDIR/test/lab/qmpcall}" \
			-t 86400 -e NO_SUCH_EVENT "$(colo_sock "$v" "$s" spare)" query-status
	done
}
# Epoch ms of the first (or last) EVENT of that side since ms T (0 = ever); empty if none.
arb_event_ms() { # name p|s EVENT [T] [first|last]
	local f="$LAB_DIR/events-$1-$2.jsonl" sel="head"
	[ "${5:-first}" = last ] && sel="tail"
	jq -r --arg e "$3" --argjson t "${4:-0}" 'select(.event == $e) |
		(.timestamp.seconds * 1000 + (.timestamp.microseconds / 1000 | floor)) | select(. >= $t)' \
		"$f" 2>/dev/null | "$sel" -1
}
arb_event_count() { # name p|s EVENT [T]
	jq -r --arg e "$3" --argjson t "${4:-0}" 'select(.event == $e) |
		(.timestamp.seconds * 1000 + (.timestamp.microseconds / 1000 | floor)) | select(. >= $t)' \
		"$LAB_DIR/events-$1-$2.jsonl" 2>/dev/null | wc -l
}
