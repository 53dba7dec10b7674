#!/bin/bash
# test/check.sh: the one command that installs what is missing, builds colo-arbiter and
# runs every test suite. Run as root on Debian 12 (apt-get needs it):
#
#     sudo test/check.sh [--quick] [--no-install] [--no-distcheck] [--no-sanitizers]
#
# Phases: packages, build (-Werror), make check, sanitizer build (ASan+UBSan) + its
# make check, make distcheck, a short libFuzzer run. It ends with one line
# "N passed, N failed" counting every test case of every phase (a phase that is not a
# test program, such as distcheck, counts as one case); skipped cases, if any, are
# counted on the line before it.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build="${COLO_BUILD_DIR:-$top/_build}"
install=1 distcheck=1 sanitizers=1 fuzz=1
for a in "$@"; do
	case "$a" in
	--quick) distcheck=0 sanitizers=0 fuzz=0 ;;
	--no-install) install=0 ;;
	--no-distcheck) distcheck=0 ;;
	--no-sanitizers) sanitizers=0 ;;
	--no-fuzz) fuzz=0 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) echo "check.sh: unknown option '$a' (see --help)" >&2; exit 2 ;;
	esac
done

log() { printf '\n=== %s\n' "$*"; }
die() { echo "check.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

# Packages: build tools, the libraries we link, and every real component a test runs
# (the list lives in install-deps.sh, shared with demo.sh).
if [ "$install" = 1 ]; then
	log "packages"
	"$top/test/install-deps.sh" || die "package installation failed"
fi

passed=0 failed=0 skipped=0
count_suite() { # $1 = build dir; adds its test-suite counts, shows what failed
	local f="$1/test/test-suite.log" p fl sk er xp
	[ -f "$f" ] || { failed=$((failed + 1)); echo "no test-suite.log in $1"; return; }
	sed -n '/^# TOTAL/,/^# ERROR/p' "$f"
	# test-suite.log holds the full logs of the failed tests only: show them.
	if grep -qE '^# (FAIL|ERROR|XPASS): *[1-9]' "$f"; then
		echo "--- failed tests' logs ($f, first 400 lines)"
		head -400 "$f"
		echo "---"
	fi
	p=$(sed -n 's/^# PASS: *//p' "$f" | head -1)
	fl=$(sed -n 's/^# FAIL: *//p' "$f" | head -1)
	sk=$(sed -n 's/^# SKIP: *//p' "$f" | head -1)
	er=$(sed -n 's/^# ERROR: *//p' "$f" | head -1)
	xp=$(sed -n 's/^# XPASS: *//p' "$f" | head -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${fl:-0} + ${er:-0} + ${xp:-0}))
	skipped=$((skipped + ${sk:-0}))
}
step() { # $1 = name, rest = command; counts as one case
	local name="$1"; shift
	if "$@"; then passed=$((passed + 1)); echo "ok: $name"
	else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

# Tests that need real components must not skip themselves quietly here.
export COLO_REQUIRE_REAL=1
jobs=$(nproc 2>/dev/null || echo 2)

log "build (-Werror)"
(cd "$top" && ./autogen.sh >/dev/null) || die "autogen.sh failed"
mkdir -p "$build/main"
(cd "$build/main" && "$top/configure" -q --enable-werror >/dev/null && make -s -j"$jobs") ||
	die "build failed"

log "make check"
(cd "$build/main" && make -s -j"$jobs" check >"$build/main-check.log" 2>&1)
count_suite "$build/main"

if [ "$sanitizers" = 1 ]; then
	log "sanitizer build (ASan + UBSan) and make check"
	mkdir -p "$build/san"
	if (cd "$build/san" && "$top/configure" -q --enable-werror --enable-sanitizers >/dev/null &&
		make -s -j"$jobs"); then
		# The main build runs the 100,000 random schedules; here a fifth of them.
		(cd "$build/san" && SIM_COUNT=20000 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 make -s -j"$jobs" check \
			>"$build/san-check.log" 2>&1)
		count_suite "$build/san"
	else
		failed=$((failed + 1)); echo "FAILED: sanitizer build"
	fi
fi

if [ "$distcheck" = 1 ]; then
	log "make distcheck"
	# the tarball's own make check skips the namespace labs (COLO_SKIP_LABS): they
	# already ran in both builds above, and a third run would double the suite's time
	step distcheck sh -c "cd '$build/main' && COLO_SKIP_LABS=1 make -s distcheck \
		DISTCHECK_CONFIGURE_FLAGS=--enable-werror >'$build/distcheck.log' 2>&1 ||
		{ tail -40 '$build/distcheck.log'; exit 1; }"
fi

if [ "$fuzz" = 1 ]; then
	log "libFuzzer (clang), short run of each target"
	mkdir -p "$build/fuzz"
	if (cd "$build/fuzz" && CC=clang "$top/configure" -q --enable-werror --enable-fuzzing \
		>/dev/null && make -s -j"$jobs" && make -s -C test fuzz-targets); then
		for t in "$build"/fuzz/test/fuzz/fuzz_*; do
			[ -x "$t" ] || continue
			n=$(basename "$t")
			corpus="$build/fuzz/corpus-$n"
			mkdir -p "$corpus"
			cp "$top/test/fuzz/corpus/${n#fuzz_}"/* "$corpus"/ 2>/dev/null
			step "$n (20 s)" sh -c "'$t' -max_total_time=20 -max_len=4096 \
				-print_final_stats=1 '$corpus' >'$build/fuzz/$n.log' 2>&1 ||
				{ tail -30 '$build/fuzz/$n.log'; exit 1; }"
			grep -E 'stat::number_of_executed_units' "$build/fuzz/$n.log" || true
		done
	else
		failed=$((failed + 1)); echo "FAILED: fuzzing build"
	fi
fi

echo
[ "$skipped" -gt 0 ] && echo "$skipped skipped (not counted below)"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
