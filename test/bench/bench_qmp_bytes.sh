#!/bin/bash
# bench_qmp_bytes.sh: what each byte of a QMP command costs QEMU before the command runs.
# Prints figures; not a test (nothing here is in TESTS). No root needed.
#
#   TOP_BUILDDIR=_build/main test/bench/bench_qmp_bytes.sh [--runs N] [--pads "B ..."]
#
# One idle QEMU (-machine none, its QMP monitor on a private unix socket), oob negotiated;
# for each padding B (default "0 100 200 400 800") qmpcall sends N times (default 50) an
# in-band query-status and an OOB yank of no instance, each with an id string of B bytes,
# and prints the median round trip. QEMU 7.2's monitor takes one byte per main-loop turn
# (monitor_can_read() answers 1), so the round trip grows with the line: the slope is the
# price of every byte the arbiter sends while a VM waits for it (BENCHMARKS.md, and the
# clean-up placed after x-colo-lost-heartbeat in conf/vm.d/example.conf.sample).
# The QEMU is killed by PID on exit.
set -u
RUNS=50 PADS="0 100 200 400 800"
while [ $# -gt 0 ]; do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--pads) PADS=$2; shift 2 ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
TOP_BUILDDIR=$(cd "${TOP_BUILDDIR:-$TOP_SRCDIR}" && pwd)
QMPCALL="$TOP_BUILDDIR/test/lab/qmpcall"
[ -x "$QMPCALL" ] || { echo "no $QMPCALL: make -C test lab/qmpcall" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "no qemu-system-x86_64" >&2; exit 2; }

dir=$(mktemp -d /tmp/colo-bench-qmp.XXXX)
qpid=""
cleanup() {
	[ -n "$qpid" ] && { kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; }
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
qemu-system-x86_64 -machine none -nodefaults -display none \
	-qmp "unix:$dir/m.sock,server=on,wait=off" 2>"$dir/qemu.log" &
qpid=$!
for _ in $(seq 100); do [ -S "$dir/m.sock" ] && break; sleep 0.05; done
[ -S "$dir/m.sock" ] || { echo "QEMU did not start: $(cat "$dir/qemu.log")" >&2; exit 1; }

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
measure() { # request, pad -> "bytes median_us"
	local args=()
	for _ in $(seq "$RUNS"); do args+=("$1"); done
	"$QMPCALL" -T "$dir/m.sock" "${args[@]}" 2>"$dir/rtt" >/dev/null || return 1
	# the first line is qmp_capabilities
	echo "$(sed -n 2p "$dir/rtt" | cut -d' ' -f2) $(tail -n +2 "$dir/rtt" | cut -d' ' -f1 | median)"
}

echo "# bench_qmp_bytes: $(qemu-system-x86_64 --version | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $RUNS runs each"
echo "# bytes = the request line; us = median write -> reply"
first_b="" first_u="" last_b="" last_u=""
for pad in $PADS; do
	id=$(head -c "$pad" /dev/zero | tr '\0' x)
	read -r ib iu < <(measure "{\"execute\":\"query-status\",\"id\":\"$id\"}") || { echo "query-status failed" >&2; exit 1; }
	read -r ob ou < <(measure "{\"exec-oob\":\"yank\",\"arguments\":{\"instances\":[]},\"id\":\"$id\"}") || { echo "yank failed" >&2; exit 1; }
	printf 'in-band query-status %4d bytes %6d us | exec-oob yank %4d bytes %6d us\n' "$ib" "$iu" "$ob" "$ou"
	[ -z "$first_b" ] && first_b=$ib first_u=$iu
	last_b=$ib last_u=$iu
done
if [ "$last_b" -gt "$first_b" ]; then
	awk -v b0="$first_b" -v u0="$first_u" -v b1="$last_b" -v u1="$last_u" \
		'BEGIN { printf "in-band: %.1f us per byte of the command line (%d -> %d bytes)\n", (u1 - u0) / (b1 - b0), b0, b1 }'
fi
