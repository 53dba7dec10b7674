#!/bin/bash
# bench_daemon.sh: colo-arbiterd's reaction latency, memory and idle CPU on the namespace lab
# (test/lab/lab.sh, 3 corosync nodes, token 1000) with the QMP simulator (daemon_lab.sh).
# Prints figures; not a test (nothing here is in TESTS). Root.
#
#   sudo TOP_BUILDDIR=_build/main test/bench/bench_daemon.sh [--vms N] [--runs R] [--idle S] [--stagger S]
#   (--stagger S: part 2 starts the arbiters S seconds apart, e.g. 45 for 500 VMs)
#
# Part 1, one VM, R runs (default 20): pair bK (primary n1, secondary n2) added at run time,
#   protected; then kill -9 of n1's corosync + silent loss of the primary in the simulator.
#   n2's arbiter logs, when it writes x-colo-lost-heartbeat, the time since the event that
#   decided it (the reaction latency) and since the last corosync membership event; the
#   simulator logs when the secondary read it. Afterwards n1's corosync is restarted and
#   the VM removed. Prints median / p99 / max.
# Part 2, N VMs (default 30; the issue's figure is 500), a fresh lab: N pairs from VM files;
#   VmRSS / VmHWM / Pss and idle CPU (utime+stime ticks over S s, default 30) of n1's and n2's
#   arbiters once all are protected, their VmRSS read every 0.5 s over those S s (min / max:
#   each state round maps its queues for a moment), and their resident memory by kind after
#   them, with what the host would get back if the daemon exited (corosync's IPC rings fill
#   as traffic wraps them: --idle 400 shows the steady state);
#   then the same node loss for all N at once: every x-colo-lost-heartbeat counted, its
#   reaction latency, the spread from the first to the last command (daemon log and
#   simulator receive times), and the CPU n2's and n3's arbiters spent meanwhile.
# Environment: BENCH_ARBD=PATH measures another colo-arbiterd binary (e.g. an older build);
# BENCH_TRACE=DIR runs part 2's arbiters under test/daemon/slowdisk.so without delay and
# keeps their fsync/syncfs/rename/CPG-send traces and the loop turns spent in
# cpg_dispatch/quorum_dispatch (µs) in DIR for a breakdown.
# BENCH_SMAPS=DIR keeps /proc/PID/smaps of n1's and n2's idle arbiters in DIR (memory breakdown).
# BENCH_BLACKBOX=DIR keeps n2's blackbox (SIGUSR2) once idle, before the kill, and after the
# failover in DIR (read them with qb-blackbox from libqb-tools).
# BENCH_LOG_LEVEL=debug runs the arbiters at that log level (default info).
# BENCH_PERF=FILE records a system-wide perf profile with call graphs of part 2's 8 s
# after the node loss (`perf report -i FILE --comm colo-arbiterd`).
# BENCH_SYSC=PREFIX records n2's arbiter alone over the same 8 s: every system call it
# makes (PREFIX.sys; `perf script -i PREFIX.sys -F tid,time,trace`) and a flat profile
# (PREFIX.cyc); BENCH_SYSC_NODE=3 records the witness's arbiter instead; BENCH_SYSC_F=HZ
# sets the profile's rate and BENCH_SYSC_CG its call graphs (e.g. "--call-graph dwarf,16384").
# BENCH_CONF_EXTRA='key = value\n...' appends those lines to every arbiter's config
# (e.g. 'state_period = 600s' to see what the periodic rounds cost).
# Every process is started through the lab and killed by PID on exit (lab_down trap).
set -u
VMS=30 RUNS=20 IDLE=30 STAGGER=0
while [ $# -gt 0 ]; do
	case $1 in
	--vms) VMS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	--stagger) STAGGER=$2; shift 2 ;;
	-h|--help) sed -n '2,38p' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
TOP_BUILDDIR=$(cd "${TOP_BUILDDIR:-$TOP_SRCDIR}" && pwd)
QMP_SIM=${QMP_SIM:-$TOP_BUILDDIR/test/qmp-sim/qmp-sim}
CPGWATCH="$TOP_BUILDDIR/test/membership/cpgwatch"
export TOP_SRCDIR TOP_BUILDDIR QMP_SIM
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 2; }
[ -x "$CPGWATCH" ] || { echo "no $CPGWATCH: build the tests (make -C test check TESTS=)" >&2; exit 2; }
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
# BENCH_ARBD: another colo-arbiterd binary to measure (e.g. an older build) with this
# build's helpers (qmp-sim, sockline, nokill.so, cpgwatch, colo-arbiterctl)
DL_ARBD=${BENCH_ARBD:-$DL_ARBD}
COLO_REQUIRE_REAL=1 dl_need
# 2 descriptors per simulated QEMU in qmp-sim, a QMP socket and a pidfd per VM in the daemon
ulimit -n 65536 2>/dev/null || ulimit -n 4096

mono_ms() { "$CPGWATCH" --mono; }
# stats NAME < numbers: median / p99 / max (nearest rank, as measure-detection.sh)
stats() {
	sort -g | awk -v name="$1" '{ a[NR] = $1 } END {
		if (NR == 0) { printf "%s: no data\n", name; exit }
		p50 = a[int((NR - 1) * 0.5 + 0.999999) + 1]; p99 = a[int((NR - 1) * 0.99 + 0.999999) + 1]
		printf "%s: median %.3f / p99 %.3f / max %.3f / min %.3f ms (n=%d)\n", name, p50, p99, a[NR], a[1], NR }'
}
# the daemon's line: VM EVENT_MS MEMB_MS MEMB_KIND
lhb_lines() { # logfile, first line
	tail -n +"$2" "$1" | sed -n 's/.* vm=\([^:]*\): x-colo-lost-heartbeat written \([0-9.-]*\) ms after the event that sent it, \([0-9.-]*\) ms after the last membership event (\([^)]*\)).*/\1 \2 \3 \4/p'
}
set_log_level() { # production level (BENCH_LOG_LEVEL=debug for a breakdown, slower)
	local i
	for i in 1 2 3; do
		sed -i "s/^log_level = .*/log_level = ${BENCH_LOG_LEVEL:-info}/" "$LAB_DIR/n$i/arb.conf"
		[ -z "${BENCH_CONF_EXTRA:-}" ] || grep -q "^# bench extra" "$LAB_DIR/n$i/arb.conf" ||
			printf "# bench extra\n%b\n" "$BENCH_CONF_EXTRA" >>"$LAB_DIR/n$i/arb.conf"
	done
}
count_status() { # node status
	dl_status "$1" | jq --arg s "$2" '[.vms[] | select(.status == $s)] | length' 2>/dev/null
}
proc_mem() { # pid
	awk '/^VmRSS|^VmHWM|^RssAnon|^RssFile|^RssShmem/ { printf "%s %s kB  ", $1, $2 }' "/proc/$1/status"
	# PSS: a page shared with corosync (its IPC rings) or other processes
	# (the libraries) counted as a share of it
	awk '/^Pss:/ { printf "Pss: %s kB  ", $2 }' "/proc/$1/smaps_rollup" 2>/dev/null
}
# What the host would get back if the daemon exited: its private pages, corosync's
# rings for its connections (shared only with corosync, gone with them) and its own
# binary's text (shared here with the lab's other arbiters only).  The libraries'
# text is not counted: corosync maps the same libc, libqb and libsystemd chain.
smaps_parts() { # pid: resident kB by mapping kind
	awk '/^[0-9a-f]+-[0-9a-f]+ / { name = $6 }
	/^Rss:/ { if (name ~ /heap/) h += $2; else if (name ~ /blackbox/) b += $2
		else if (name ~ /qb-.*(cpg|quorum)/) r += $2; else if (name ~ /\.so/) l += $2
		else o += $2
		if (name ~ /qb-.*(cpg|quorum)/ || name ~ /colo-arbiterd$/) c += $2 }
	/^Private_(Clean|Dirty):/ { if (name !~ /qb-.*(cpg|quorum)/ && name !~ /colo-arbiterd$/) c += $2 }
	END { printf "(heap %d, blackbox %d, corosync IPC rings %d, libraries %d, other %d kB; ", h, b, r, l, o
		printf "the host'"'"'s cost: %d kB)", c }' "/proc/$1/smaps"
}
bench_blackbox() { # tag: n2's blackbox, written on SIGUSR2, kept as $BENCH_BLACKBOX/n2-TAG
	local f="$LAB_DIR/n2/run/colo-arbiter/blackbox"
	rm -f "$f"
	kill -USR2 "${DL_ARB[2]}"
	dl_wait 10 test -s "$f" && sleep 0.5 && mkdir -p "$BENCH_BLACKBOX" &&
		cp "$f" "$BENCH_BLACKBOX/n2-$1"
}
proc_ticks() { # pid: utime + stime
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# idle_watch S pid...: sleeps S s, reading each pid's VmRSS every 0.5 s; prints
# "min max samples" a pid.  A single sample can miss the state round's transient.
idle_watch() {
	local s=$1 end p k v i
	shift
	local -a lo hi n
	end=$((SECONDS + s))
	while [ "$SECONDS" -lt "$end" ]; do
		i=0
		for p in "$@"; do
			while read -r k v _; do
				[ "$k" = VmRSS: ] || continue
				[ -z "${lo[i]:-}" ] || [ "$v" -lt "${lo[i]}" ] && lo[i]=$v
				[ -z "${hi[i]:-}" ] || [ "$v" -gt "${hi[i]}" ] && hi[i]=$v
				n[i]=$((${n[i]:-0} + 1))
			done <"/proc/$p/status"
			i=$((i + 1))
		done
		sleep 0.5
	done
	for i in "${!lo[@]}"; do echo "${lo[i]} ${hi[i]} ${n[i]}"; done
}
W=$(mktemp -d /tmp/colo-bench.XXXXXX)
echo "# colo-arbiterd benchmark: $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# binary $DL_ARBD, FSM_MAX_VMS $(sed -n 's/^#define FSM_MAX_VMS *//p' "$TOP_SRCDIR/include/fsm.h")"

# ------------------------------------------------------------------ part 1
if [ "$RUNS" -gt 0 ]; then
	echo "## part 1: one VM, $RUNS runs of node loss (kill -9 of n1's corosync + silent loss)"
	dl_up none || { echo "lab did not come up" >&2; exit 1; }
	set_log_level
	for i in 1 2 3; do dl_arb_start "$i"; done
	dl_wait 30 dl_jq 2 '.cluster.gate == "open"' || echo "# n2's gate not open"
	: >"$W/p1"
	for r in $(seq "$RUNS"); do
		v=b$r
		dl_sim "{\"cmd\":\"vm-add\",\"name\":\"${v}p\",\"qmp\":\"$LAB_DIR/${v}p.qmp\"}" \
			"{\"cmd\":\"vm-add\",\"name\":\"${v}s\",\"qmp\":\"$LAB_DIR/${v}s.qmp\",\"incoming\":true}" \
			"{\"cmd\":\"pair\",\"primary\":\"${v}p\",\"secondary\":\"${v}s\"}" >/dev/null
		dl_ctl 1 vm-add "$v" --qmp "$LAB_DIR/${v}p.qmp" --role primary --peer-node 2 >/dev/null
		dl_ctl 2 vm-add "$v" --qmp "$LAB_DIR/${v}s.qmp" --role secondary --peer-node 1 \
			--pre-failover '{"execute":"nbd-server-stop"}' >/dev/null
		if ! dl_wait 60 dl_protected "$v"; then
			echo "# run $r: $v not protected, skipped"
			continue
		fi
		sleep 1
		mark=$(($(wc -l <"$LAB_DIR/n2/arb.log") + 1))
		t0=$(mono_ms)
		lab_kill_corosync 1
		dl_sim "{\"cmd\":\"silent-loss\",\"name\":\"${v}p\"}" >/dev/null
		if dl_wait 60 dl_st 2 "$v" solo; then
			line=$(lhb_lines "$LAB_DIR/n2/arb.log" "$mark" | awk -v v="$v" '$1 == v' | head -1)
			tsim=$(dl_sim "{\"cmd\":\"log\",\"name\":\"${v}s\"}" | jq -r '[.log[] |
				select(.dir == "in" and ((.msg.execute // .msg["exec-oob"]) == "x-colo-lost-heartbeat"))
				| .t] | first // empty')
			fault=$(awk -v a="${tsim:-0}" -v b="$t0" 'BEGIN { if (a > 0) printf "%.1f", a / 1000 - b; else print "-" }')
			echo "$line $fault" | tee -a "$W/p1" | awk -v r="$r" \
				'{ printf "# run %d: event -> command %s ms; last membership event (%s) -> command %s ms; kill -> command %s ms\n", r, $2, $4, $3, $5 }'
		else
			echo "# run $r: n2 did not take $v over"
		fi
		lab_start_corosync 1
		dl_wait 60 eval "dl_jq 1 '.cluster.gate == \"open\"' && dl_st 1 $v stale" ||
			echo "# run $r: n1 not back with $v stale"
		dl_ctl 1 vm-remove "$v" >/dev/null 2>&1
		dl_ctl 2 vm-remove "$v" >/dev/null 2>&1
	done
	awk '{ print $2 }' "$W/p1" | stats "1 VM: deciding event -> x-colo-lost-heartbeat written"
	awk '{ print $3 }' "$W/p1" | stats "1 VM: last corosync membership event -> written"
	awk '$5 != "-" { print $5 }' "$W/p1" | stats "1 VM: kill -9 of corosync -> secondary read it (incl. detection)"
	echo "# membership event kinds last before the command: $(awk '{ print $4 }' "$W/p1" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
	echo "# 1 VM (after $RUNS runs): n2 arbiter $(proc_mem "${DL_ARB[2]}")"
	for i in 1 2 3; do dl_arb_kill "$i" TERM; done
	lab_down
fi

# ------------------------------------------------------------------ part 2
if [ "$VMS" -gt 0 ]; then
	echo "## part 2: $VMS VMs (primaries on n1, secondaries on n2), memory, idle CPU, node loss"
	# status from run_dir/status.json: a `status` reply for hundreds of VMs is larger
	# than the control socket's output queue (see BENCHMARKS.md)
	DL_STATUS_FILE=1
	dl_up none || { echo "lab did not come up" >&2; exit 1; }
	set_log_level
	dl_many_pairs "$VMS" || echo "# the simulator refused some pairs"
	t_start=$SECONDS
	for i in 1 2 3; do
		# BENCH_TRACE=DIR: trace fsync/rename/CPG sends of every arbiter (slowdisk.so, no
		# delay) into DIR/io-nI.log, CLOCK_MONOTONIC µs, for a breakdown of the failover
		if [ -n "${BENCH_TRACE:-}" ]; then
			mkdir -p "$BENCH_TRACE"
			: >"$BENCH_TRACE/io-n$i.log"
			DL_WRAP="env LD_PRELOAD=$DL_NOKILL:$TOP_BUILDDIR/test/daemon/slowdisk.so COLO_TEST_IO_LOG=$BENCH_TRACE/io-n$i.log"
		fi
		dl_arb_start "$i"
		DL_WRAP=""
		# one simulator serves every node: with hundreds of VMs, two arbiters
		# connecting at once can outrun its greetings on a 2-core machine
		[ "$i" = 3 ] || sleep "$STAGGER"
	done
	all_prot() { [ "$(count_status 1 protected)" = "$VMS" ] && [ "$(count_status 2 protected)" = "$VMS" ]; }
	if ! dl_wait $((60 + VMS / 4)) all_prot; then
		echo "# not all protected: n1 $(count_status 1 protected), n2 $(count_status 2 protected) of $VMS"
	fi
	echo "# all $VMS pairs protected $((SECONDS - t_start)) s after the arbiters started"
	sleep 5
	for i in 1 2; do
		p=${DL_ARB[$i]}
		echo "# n$i arbiter pid $p ($(cat "/proc/$p/comm")): $(proc_mem "$p")fds $(ls "/proc/$p/fd" | wc -l)"
		if [ -n "${BENCH_SMAPS:-}" ]; then
			mkdir -p "$BENCH_SMAPS"
			cat "/proc/$p/smaps" >"$BENCH_SMAPS/idle-n$i.smaps"
		fi
	done
	hz=$(getconf CLK_TCK)
	a1=$(proc_ticks "${DL_ARB[1]}") a2=$(proc_ticks "${DL_ARB[2]}")
	mapfile -t rss_range < <(idle_watch "$IDLE" "${DL_ARB[1]}" "${DL_ARB[2]}")
	b1=$(proc_ticks "${DL_ARB[1]}") b2=$(proc_ticks "${DL_ARB[2]}")
	[ -n "${BENCH_BLACKBOX:-}" ] && bench_blackbox idle
	for i in 1 2; do
		eval "d=\$((b$i - a$i))"
		awk -v d="$d" -v s="$IDLE" -v hz="$hz" -v i="$i" -v n="$VMS" \
			'BEGIN { printf "%d VMs idle: n%d arbiter used %d ticks (%d/s) in %d s = %.2f%% of one core\n", n, i, d, hz, s, d * 100 / (s * hz) }'
		# corosync's IPC rings (libcpg/libquorum map 1 MiB each way, shared) become
		# resident as traffic wraps them: a long --idle shows the steady state
		echo "# n$i after $IDLE s idle: $(proc_mem "${DL_ARB[$i]}")$(smaps_parts "${DL_ARB[$i]}")"
		read -r lo hi ns <<<"${rss_range[$((i - 1))]:-}"
		[ -n "${ns:-}" ] && echo "$VMS VMs idle: n$i arbiter VmRSS over the $IDLE s: min $lo / max $hi kB ($ns samples)"
	done
	mark=$(($(wc -l <"$LAB_DIR/n2/arb.log") + 1))
	loss=()
	for k in $(seq "$VMS"); do loss+=("{\"cmd\":\"silent-loss\",\"name\":\"m${k}p\"}"); done
	# BENCH_PERF=FILE: a system-wide perf profile (call graphs) of the 8 s after the kill
	if [ -n "${BENCH_PERF:-}" ] && command -v perf >/dev/null; then
		perf record -a -g -F 1999 -o "$BENCH_PERF" -- sleep 8 >/dev/null 2>&1 &
		lab_track $!
		sleep 1
	fi
	if [ -n "${BENCH_SYSC:-}" ] && command -v perf >/dev/null; then
		sn=${BENCH_SYSC_NODE:-2}
		perf record -e raw_syscalls:sys_enter -p "${DL_ARB[$sn]}" -o "$BENCH_SYSC.sys" \
			-- sleep 8 >/dev/null 2>&1 &
		lab_track $!
		perf record ${BENCH_SYSC_CG:-} -F ${BENCH_SYSC_F:-15000} -p "${DL_ARB[$sn]}" -o "$BENCH_SYSC.cyc" -- sleep 8 >/dev/null 2>&1 &
		lab_track $!
		sleep 1
	fi
	# the lab's own start-up writes (logs, the previous run's files) are flushed
	# first: their writeback, due up to 30 s later, otherwise raced the fdatasyncs
	# of the failover in some runs and not in others
	echo "# dirty before the kill, synced: $(awk '/^Dirty:/ { print $2 " kB" }' /proc/meminfo)"
	sync
	c2=$(proc_ticks "${DL_ARB[2]}") c3=$(proc_ticks "${DL_ARB[3]}")
	t0=$(mono_ms)
	lab_kill_corosync 1
	dl_sim "${loss[@]}" >/dev/null
	# counted in n2's log, not by `status --json | jq`: a 2 MB status rendered and parsed
	# several times a second competed with the failover being measured
	solo_lines() { tail -n +"$mark" "$LAB_DIR/n2/arb.log" | grep -c -- "-> solo "; }
	all_solo() { [ "$(solo_lines)" -ge "$VMS" ]; }
	dl_wait $((60 + VMS / 4)) all_solo || echo "# n2 logged $(solo_lines) of $VMS VMs running alone"
	# CPU the surviving arbiters spent from the kill to the last VM running alone (the
	# detection's ~4 s idle included: ~1 % of a core)
	echo "$VMS VMs: CPU from the kill to all solo: n2 arbiter $(($(proc_ticks "${DL_ARB[2]}") - c2)) ticks, n3 arbiter $(($(proc_ticks "${DL_ARB[3]}") - c3)) ticks ($(getconf CLK_TCK)/s)"
	echo "# n2 status: $(count_status 2 solo) of $VMS solo"
	sleep 2
	lhb_lines "$LAB_DIR/n2/arb.log" "$mark" >"$W/p2"
	echo "$VMS VMs: $(wc -l <"$W/p2") x-colo-lost-heartbeat written by n2, $(awk '{ print $1 }' "$W/p2" | sort -u | wc -l) distinct VMs"
	awk '{ print $2 }' "$W/p2" | stats "$VMS VMs: deciding event -> x-colo-lost-heartbeat written, per VM"
	awk '{ print $3 }' "$W/p2" | stats "$VMS VMs: last corosync membership event -> written, per VM"
	awk '{ print $3 }' "$W/p2" | sort -g | awk 'NR == 1 { a = $1 } { b = $1 } END {
		printf "%d VMs: spread of the commands in the daemon (first to last written): %.3f ms\n", NR, b - a }'
	reqs=()
	for k in $(seq "$VMS"); do reqs+=("{\"cmd\":\"log\",\"name\":\"m${k}s\"}"); done
	dl_sim "${reqs[@]}" >"$W/p2log"
	jq -r '[.log[] | select(.dir == "in" and
		((.msg.execute // .msg["exec-oob"]) == "x-colo-lost-heartbeat")) | .t] | first // empty' \
		"$W/p2log" >"$W/p2sim"
	# stages on the secondary's monitor (simulator clock, µs): the pre-failover command
	# nbd-server-stop in, its reply out, x-colo-lost-heartbeat in
	jq -r --argjson t0 "$t0" '.log as $l |
		([$l[] | select(.t / 1000 > $t0 and .dir == "in" and .msg.execute == "nbd-server-stop")] | first) as $pre |
		if $pre == null then empty else
		([$l[] | select(.dir == "out" and .msg.id == $pre.msg.id)] | first) as $rep |
		([$l[] | select(.dir == "in" and ((.msg.execute // .msg["exec-oob"]) == "x-colo-lost-heartbeat"))] | first) as $lhb |
		"\($pre.t / 1000 - $t0) \((($rep.t // 0) - $pre.t) / 1000) \(if $lhb == null or $rep == null
			then "-" else ($lhb.t - $rep.t) / 1000 end)" end' \
		"$W/p2log" >"$W/p2stages"
	awk '{ print $1 }' "$W/p2stages" | stats "$VMS VMs: kill -> pre-failover nbd-server-stop read"
	awk '{ print $2 }' "$W/p2stages" | stats "$VMS VMs: nbd-server-stop read -> its reply"
	awk '$3 != "-" { print $3 }' "$W/p2stages" | stats "$VMS VMs: that reply -> x-colo-lost-heartbeat read (< 0: read before the reply went out)"
	awk -v t0="$t0" '{ print $1 / 1000 - t0 }' "$W/p2sim" | sort -g | awk -v n="$VMS" 'NR == 1 { a = $1 } { b = $1 } END {
		printf "%d VMs: the simulator read %d of them; kill -> first %.1f ms, kill -> last %.1f ms, spread %.3f ms\n", n, NR, a, b, b - a }'
	echo "# membership event kinds last before the commands: $(awk '{ print $4 }' "$W/p2" | sort | uniq -c | tr -s ' ' | tr '\n' ',')"
	echo "# n2 after the failover: $(proc_mem "${DL_ARB[2]}")"
	[ -n "${BENCH_BLACKBOX:-}" ] && bench_blackbox failover
	[ -n "${BENCH_TRACE:-}" ] && echo "$t0" >"$BENCH_TRACE/t0_ms" &&
		for i in 2 3; do cp "$LAB_DIR/n$i/arb.log" "$BENCH_TRACE/n$i-arb.log"; done
	for i in 1 2 3; do dl_arb_kill "$i" TERM; done
	lab_down
fi
rm -rf "$W"
