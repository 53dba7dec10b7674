#!/bin/bash
# test/bench/e2e.sh: failover times on real QEMU COLO pairs, real corosync, real colo-arbiterd
# (the namespace lab). Not a test: prints figures (BENCHMARKS.md). Root. Usage:
#
#     test/bench/e2e.sh [-r RUNS] [-n PAIRS] [-b BUILD_DIR] [-s "SCENARIOS"] [-k DIR]
#
#   -r  runs per scenario (default 10)        -n  pairs failing over together (default 20)
#   -b  build dir (default $TOP_BUILDDIR, else _build/main)
#   -s  among: primary secondary qemu-crash qemu-crash-s replication partition pairs (default: all)
#   -k  keep each lab's logs (arbiter logs, audit records, corosync logs, QEMU events) in DIR
#
# Each run measures fault -> survivor confirmed alone, split into
#   detect   fault -> what the arbiter acts on: corosync's new quorate membership on the
#            survivor (corosync.log, ms) for node faults; for a QEMU fault, the first audit
#            record of any arbiter (pidfd exit / COLO_EXIT seen)
#   decide   -> the survivor's decision record (audit.jsonl, wall ms); includes the fence
#            wait (fence_policy self: the lost node's bounded self-fence time)
#   command  -> QEMU's STOP event (x-colo-lost-heartbeat executing; QEMU's own timestamp),
#            i.e. epoch commit over CPG plus the pre-failover commands
#   qemu     -> QEMU's RESUME event (running alone)
#   confirm  -> the survivor's "confirmed running alone" record (query-colo-status +
#            query-status read back, after the post-failover commands)
#   alone    fault -> the survivor's RESUME: the VM runs alone from here (detect + decide +
#            command + qemu); "total" adds the arbiter's confirmation
#   own      the arbiter's own share, event -> x-colo-lost-heartbeat written, from its log
# "primary" and "secondary" come from one power-off of n1 under two pairs in opposite
# directions; "partition" cuts n1 at the bridge. "pairs": N pairs in both directions between
# n1 and n2, n1 powered off, fence_policy none (allow_unsafe, so that no fence wait hides
# the arbiter's figure): each pair's confirmation after corosync's event, and the CPU
# that the surviving corosyncs and QEMUs used meanwhile.
# Environment: LAB_ARB_LOG_LEVEL (arbiters' log_level, default debug), LAB_ARB_RT_PRIO
# (their realtime_priority, default 10; 0 for normal scheduling), LAB_ARBD (another
# colo-arbiterd binary to measure, with this build's helpers), COLO_MEM (guests' RAM in MiB,
# default 128), LAB_THP (always|madvise|never: the host's transparent_hugepage mode for the
# run, restored afterwards; QEMU 7.2 allocates a secondary's COLO RAM cache without
# MADV_HUGEPAGE, so under Debian's "madvise" it is 4 KiB pages, which its failover frees).
# Everything is started through the lab and stopped by PID (lab.sh's EXIT trap).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
runs=10 npairs=20 bdir=${TOP_BUILDDIR:-$top/_build/main}
scen="primary secondary qemu-crash qemu-crash-s replication partition pairs"
keep=""
while getopts "r:n:b:s:k:h" o; do
	case "$o" in
	r) runs=$OPTARG ;;
	n) npairs=$OPTARG ;;
	b) bdir=$OPTARG ;;
	s) scen=$OPTARG ;;
	k) keep=$OPTARG ;;
	*) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
thp=/sys/kernel/mm/transparent_hugepage/enabled
if [ -n "${LAB_THP:-}" ]; then
	case $LAB_THP in always|madvise|never) ;; *) echo "LAB_THP: always, madvise or never" >&2; exit 2 ;; esac
	thp_was=$(sed 's/.*\[\(.*\)\].*/\1/' "$thp") || exit 1
	echo "$LAB_THP" > "$thp" || exit 1
	trap 'echo "$thp_was" > "$thp"' EXIT # also after Ctrl-C or kill
	echo "# transparent_hugepage: $LAB_THP for this run (was $thp_was)"
	# the run is a child, so that the host's setting is restored after its lab is down; a
	# signal to this process reaches it too (a kill of this pid alone left it running)
	LAB_THP="" "$0" "$@" &
	child=$!
	trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT TERM
	wait "$child"
	exit $?
fi
export TOP_SRCDIR=$top TOP_BUILDDIR=$bdir COLO_REQUIRE_REAL=1
. "$top/test/lab/lab.sh"
. "$top/test/lab/colo.sh"
. "$top/test/lab/arb.sh"
arb_need >/dev/null || exit 1
want() { case " $scen " in *" $1 "*) return 0 ;; esac; return 1; }

res=$(mktemp /tmp/colo-bench-e2e.XXXX)
trap 'rm -f "$res"' EXIT
LAB_ON_EXIT='rm -f "$res"' # lab_up's EXIT trap replaces the one above
now_ms() { date +%s%3N; }
cms() { date -d "$1" +%s%3N; } # a corosync.log timestamp
quorum_ms() { # node T: first new quorate membership line after T
	local l ts
	while IFS= read -r l; do
		ts=$(cms "$(echo "$l" | cut -c1-19)") || continue
		[ "$ts" -ge "$2" ] && { echo "$ts"; return; }
	done < <(grep "\[QUORUM\] Members\[" "$LAB_DIR/n$1/log-corosync/corosync.log")
}
audit_ms() { # node vm regex T
	jq -r --arg vm "$2" --arg re "$3" --argjson t "$4" \
		'select(.vm == $vm and .wall_ms >= $t and (.decision | test($re))) | .wall_ms' \
		"$LAB_DIR/n$1/audit.jsonl" 2>/dev/null | head -1
}
first_audit_ms() { # vm T: first record about vm on any node
	cat "$LAB_DIR"/n[123]/audit.jsonl 2>/dev/null | jq -r --arg vm "$1" --argjson t "$2" \
		'select(.vm == $vm and .wall_ms >= $t) | .wall_ms' | sort -n | head -1
}
own_ms() { # node vm: the last "written X ms after the event" figure
	grep -h "vm=$2: x-colo-lost-heartbeat written" "$LAB_DIR/n$1/arb.log" 2>/dev/null | tail -1 |
		sed -E 's/.*written ([0-9.]+) ms after the event.*/\1/'
}
# one result line: scenario fault detect_at survivor_node side vm
record() {
	local sc=$1 t0=$2 det=$3 node=$4 side=$5 vm=$6 dec stop resu conf own
	dec=$(audit_ms "$node" "$vm" "takes over|goes solo" "$t0")
	stop=$(arb_event_ms "$vm" "$side" STOP "$t0")
	resu=$(arb_event_ms "$vm" "$side" RESUME "$t0" last)
	conf=$(audit_ms "$node" "$vm" confirmed "$t0")
	own=$(own_ms "$node" "$vm")
	if [ -z "$det" ] || [ -z "$dec" ] || [ -z "$stop" ] || [ -z "$resu" ] || [ -z "$conf" ]; then
		echo "# $sc $vm: incomplete record (detect=$det decide=$dec stop=$stop resume=$resu confirm=$conf)" >&2
		return 1
	fi
	printf '%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\n' "$sc" $((det - t0)) $((dec - det)) $((stop - dec)) \
		$((resu - stop)) $((conf - resu)) $((conf - t0)) "${own:-nan}" $((resu - t0)) >>"$res"
	printf '  %-11s %-6s total %6d ms, running alone at %d ms (detect %d, decide %d, command %d, qemu %d, confirm %d; own %s ms)\n' \
		"$sc" "$vm" $((conf - t0)) $((resu - t0)) $((det - t0)) $((dec - det)) $((stop - dec)) \
		$((resu - stop)) $((conf - resu)) "${own:-?}"
}
solo() { [ "$(arb_vm_status "$1" "$2")" = solo ]; }
# "pairs": mp(odd) has its primary on n1, mp(even) on n2; the survivor on n2 is
# mp(odd)'s secondary and mp(even)'s primary
pair_survivor_side() { if [ $(($1 % 2)) = 1 ]; then echo s; else echo p; fi; }
cpu_ms() { # PIDs: CPU time on the CPU of all their threads, ms (schedstat)
	local p f t=0
	for p in "$@"; do
		for f in /proc/"$p"/task/*/schedstat; do
			read -r ns _ <"$f" 2>/dev/null && t=$((t + ns / 1000))
		done
	done
	echo $((t / 1000))
}
save() { # the current lab's logs into the -k directory
	local d
	[ -n "$keep" ] && [ -n "${LAB_ID:-}" ] || return 0
	d="$keep/$LAB_ID"
	mkdir -p "$d"
	cp -a "$LAB_DIR"/events-*.jsonl "$d/" 2>/dev/null
	for i in 1 2 3; do
		mkdir -p "$d/n$i"
		cp -aL "$LAB_DIR/n$i/arb.log" "$LAB_DIR/n$i/audit.jsonl" "$LAB_DIR/n$i/log-corosync/corosync.log" "$d/n$i/" 2>/dev/null
	done
}
lab() { # fresh lab with pairs "name:p:s ..." and arbiters
	local spec
	save
	lab_down
	lab_up 3 1000 >/dev/null 2>&1 || { echo "lab did not come up" >&2; return 1; }
	COLO_COUNT=0 COLO_NAMES=()
	for spec in "$@"; do
		IFS=: read -r v p s <<<"$spec"
		colo_pair_up "$v" "$p" "$s" 2>/dev/null && arb_register "$v" && arb_record "$v" || return 1
	done
	for i in 1 2 3; do arb_conf "$i"; arb_start "$i"; done
	for spec in "$@"; do
		v=${spec%%:*}
		arb_wait 60 eval "[ \"\$(arb_vm_status 1 $v)/\$(arb_vm_status 2 $v)\" = protected/protected ]" ||
			{ echo "$v never protected" >&2; return 1; }
	done
}

ARB_POLICY=self
if want primary || want secondary; then
	echo "== primary / secondary node powered off (fence_policy self), $runs runs"
	for r in $(seq 1 "$runs"); do
		lab ba:1:2 bb:2:1 || continue
		t0=$(now_ms)
		arb_power_off 1
		arb_wait 60 solo 2 ba && arb_wait 60 solo 2 bb || { echo "  run $r: no failover" >&2; continue; }
		sleep 0.5
		det=$(quorum_ms 2 "$t0")
		want primary && record primary "$t0" "$det" 2 s ba
		want secondary && record secondary "$t0" "$det" 2 p bb
	done
fi
if want partition; then
	echo "== primary's node cut off at the bridge (fence_policy self), $runs runs"
	for r in $(seq 1 "$runs"); do
		lab pt:1:2 || continue
		t0=$(now_ms)
		lab_partition 1
		arb_wait 60 solo 2 pt || { echo "  run $r: no failover" >&2; continue; }
		sleep 0.5
		record partition "$t0" "$(quorum_ms 2 "$t0")" 2 s pt
	done
fi
qemu_crash() { # scenario prefix killed-side: kill one QEMU per run, the other side goes solo
	local sc=$1 pre=$2 side=$3 surv_node surv_side r v
	if [ "$side" = p ]; then surv_node=2 surv_side=s; else surv_node=1 surv_side=p; fi
	specs=()
	for r in $(seq 1 "$runs"); do specs+=("$pre$r:1:2"); done
	lab "${specs[@]}" || return
	for r in $(seq 1 "$runs"); do
		v=$pre$r
		t0=$(now_ms)
		kill -9 "$(colo_pid "$v" "$side")"
		arb_wait 30 solo "$surv_node" "$v" || { echo "  run $r: no failover" >&2; continue; }
		sleep 0.5
		record "$sc" "$t0" "$(first_audit_ms "$v" "$t0")" "$surv_node" "$surv_side" "$v"
	done
}
if want qemu-crash; then
	echo "== QEMU killed, node alive (primary QEMU killed), $runs runs"
	qemu_crash qemu-crash qc p
fi
if want qemu-crash-s; then
	echo "== QEMU killed, node alive (secondary QEMU killed: the primary goes solo), $runs runs"
	qemu_crash qemu-crash-s qs s
fi
if want replication; then
	echo "== replication connections reset inside the secondary's node (ss -K), $runs runs"
	specs=()
	for r in $(seq 1 "$runs"); do specs+=("rr$r:1:2"); done
	if lab "${specs[@]}"; then
		for r in $(seq 1 "$runs"); do
			v=rr$r
			pt() { echo "${COLO_PORTS[$v]}" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
			t0=$(now_ms)
			lab_exec 2 ss -K -t state established "( dport = :$(pt mirror) or dport = :$(pt compare1) or sport = :$(pt nbd) or sport = :$(pt mig) )" >/dev/null
			arb_wait 30 solo 1 "$v" || { echo "  run $r: no failover" >&2; continue; }
			sleep 0.5
			record replication "$t0" "$(first_audit_ms "$v" "$t0")" 1 p "$v"
		done
	fi
fi

stats() { # column (2..8) of scenario rows: median p90 max
	awk -F'\t' -v s="$1" -v c="$2" '$1 == s && $c != "nan" { print $c }' "$res" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			i = int(0.9 * NR + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
			printf "%g/%g/%g", m, v[i], v[NR] }'
}
if [ -s "$res" ]; then
	echo
	echo "median/p90/max in ms (runs):"
	printf '%-12s %5s %18s %16s %16s %16s %16s %16s %18s %16s\n' scenario runs total alone detect decide command qemu confirm own
	for s in primary secondary partition qemu-crash qemu-crash-s replication; do
		c=$(awk -F'\t' -v s="$s" '$1 == s' "$res" | wc -l)
		[ "$c" -gt 0 ] || continue
		printf '%-12s %5d %18s %16s %16s %16s %16s %16s %18s %16s\n' "$s" "$c" "$(stats "$s" 7)" "$(stats "$s" 9)" \
			"$(stats "$s" 2)" "$(stats "$s" 3)" "$(stats "$s" 4)" "$(stats "$s" 5)" "$(stats "$s" 6)" "$(stats "$s" 8)"
	done
fi

if want pairs; then
	echo
	echo "== $npairs pairs (both directions between n1 and n2) failing over together: n1 powered off, fence_policy none (allow_unsafe)"
	ARB_POLICY=none
	specs=()
	for k in $(seq 1 "$npairs"); do
		if [ $((k % 2)) = 1 ]; then specs+=("mp$k:1:2"); else specs+=("mp$k:2:1"); fi
	done
	t=$SECONDS
	if lab "${specs[@]}"; then
		echo "  bring-up of $npairs pairs and 3 arbiters: $((SECONDS - t)) s"
		surv=()
		for k in $(seq 1 "$npairs"); do surv+=("$(colo_pid "mp$k" "$(pair_survivor_side "$k")")"); done
		# CPU of n2's and n3's corosync, of the survivors; their idle rate first, over 2 s
		snap() { cpu_cs=$(cpu_ms "${LAB_COROSYNC[2]}" "${LAB_COROSYNC[3]}") cpu_qemu=$(cpu_ms "${surv[@]}") cpu_at=$(now_ms); }
		snap; c0=$cpu_cs q0=$cpu_qemu w0=$cpu_at
		sleep 2
		snap; ci=$(((cpu_cs - c0) * 1000 / (cpu_at - w0))) qi=$(((cpu_qemu - q0) * 1000 / (cpu_at - w0))) # ms per s
		c0=$cpu_cs q0=$cpu_qemu w0=$cpu_at
		t0=$(now_ms)
		arb_power_off 1
		# one status query per poll (not one per pair): the poll itself is load
		all_solo() { arb_jq 2 "[.vms[] | select(.status == \"solo\")] | length == $npairs"; }
		arb_wait 90 all_solo || echo "  not every pair failed over within 90 s" >&2
		sleep 1
		q=$(quorum_ms 2 "$t0")
		last=0 lines="" last_r=0 lines_r=""
		declare -A last_side=([p]=0 [s]=0)
		for k in $(seq 1 "$npairs"); do
			side=$(pair_survivor_side "$k")
			r=$(arb_event_ms "mp$k" "$side" RESUME "$t0" last)
			if [ -n "$r" ]; then
				lines_r="$lines_r$((r - q))\n"
				[ "$r" -gt "$last_r" ] && last_r=$r
				[ "$r" -gt "${last_side[$side]}" ] && last_side[$side]=$r
			fi
			c=$(audit_ms 2 "mp$k" confirmed "$t0")
			[ -n "$c" ] || { echo "  mp$k: not confirmed" >&2; continue; }
			lines="$lines$((c - q))\n"
			[ "$c" -gt "$last" ] && last=$c
		done
		echo "  corosync's new membership on n2: +$((q - t0)) ms after the fault"
		printf '  per pair, corosync event -> running alone (QEMU RESUME, ms), sorted: %s\n' \
			"$(printf "$lines_r" | sort -n | tr '\n' ' ')"
		printf '  per pair, corosync event -> confirmed alone (ms), sorted: %s\n' \
			"$(printf "$lines" | sort -n | tr '\n' ' ')"
		echo "  all $npairs running alone $((last_r - q)) ms, all confirmed $((last - q)) ms after the corosync event"
		echo "  running alone, the last primary that lost its secondary $((last_side[p] - q)) ms," \
			"the last secondary that took over $((last_side[s] - q)) ms"
		own=$(grep -h "x-colo-lost-heartbeat written" "$LAB_DIR/n2/arb.log" |
			sed -E 's/.*written ([0-9.]+) ms after the event.*/\1/' | sort -g | tail -1)
		echo "  arbiter's own share (event -> x-colo-lost-heartbeat written), max over the pairs: $own ms"
		snap
		el=$((cpu_at - w0))
		echo "  CPU from the fault to the end ($el ms) above the idle rate: n2's and n3's" \
			"corosync $((cpu_cs - c0 - ci * el / 1000)) ms (idle $ci ms/s)," \
			"the $npairs surviving QEMUs $((cpu_qemu - q0 - qi * el / 1000)) ms (idle $qi ms/s)"
	fi
fi
save
lab_down
