# test/common/tap.sh: TAP helpers shared by the shell suites that run real components
# (the lab libraries daemon/daemon_lab.sh and lab/arb.sh, and the scripts that use them).
# Source it; it defines functions and two counters, nothing else.
#
#   tap_need WHO MISSING   plan a skip (or, under COLO_REQUIRE_REAL=1, a failure) and exit
#                          unless we are root and MISSING is empty; with COLO_SKIP_LABS=1
#                          (check.sh's make distcheck, which would run every lab a third
#                          time) plan a skip saying so
#   tap_check DESC CMD...  one numbered case from CMD's exit status; on failure, calls the
#                          function named by $TAP_DUMP (if set) to print diagnostics
#   tap_wait SECS CMD...   poll CMD every 0.1 s for SECS (wall clock), then once more
#   TAP_N, TAP_BAD         cases so far, 1 once any failed (the script's exit status)

TAP_N=0 TAP_BAD=0
TAP_DUMP=${TAP_DUMP:-}

tap_need() { # who, missing tools (space-separated, empty: none)
	if [ "${COLO_SKIP_LABS:-0}" = 1 ]; then
		echo "1..0 # SKIP $1: labs run in the main and sanitizer builds, not again here (COLO_SKIP_LABS=1)"
		exit 0
	fi
	if [ "$(id -u)" != 0 ] || [ -n "$2" ]; then
		if [ "${COLO_REQUIRE_REAL:-0}" = 1 ]; then
			echo "1..1"; echo "not ok 1 - $1 needs root and:$2"; exit 1
		fi
		echo "1..0 # SKIP $1 needs root and:$2"; exit 0
	fi
}

tap_check() { # description, command...
	local d=$1
	shift
	TAP_N=$((TAP_N + 1))
	if "$@"; then
		echo "ok $TAP_N - $d"
	else
		TAP_BAD=1
		echo "not ok $TAP_N - $d"
		[ -z "$TAP_DUMP" ] || "$TAP_DUMP"
	fi
}

tap_wait() { # seconds (wall clock), command...
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
