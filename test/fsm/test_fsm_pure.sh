#!/bin/sh
# test_fsm_pure.sh: the decision core must stay pure (issue 3 "Must show"):
# no system I/O header, no clock read, in any fsm source or audit.c.
src="${TOP_SRCDIR:-$(dirname "$0")/../..}/arbiter"
files="$src/fsm.c $src/fsm_epoch.c $src/fsm_vm.c $src/fsm_table.c $src/fsm_str.c $src/audit.c"
echo "1..3"
n=1
check() {
	desc=$1; pat=$2
	hits=$(grep -nE "$pat" $files 2>&1)
	if [ -z "$hits" ]; then echo "ok $n - $desc"
	else echo "not ok $n - $desc"; echo "$hits" | sed 's/^/# /'; fi
	n=$((n + 1))
}
for f in $files; do [ -r "$f" ] || { echo "Bail out! missing $f"; exit 1; }; done
check "no system I/O headers" '#[[:space:]]*include[[:space:]]*<(unistd\.h|stdio\.h|sys/|time\.h|fcntl\.h|poll\.h|qb/|corosync/|signal\.h|pthread\.h)'
check "no clock reads" '(clock_gettime|gettimeofday|timespec_get|(^|[^_a-zA-Z0-9.>])(time|clock|localtime|gmtime)\()'
check "no I/O calls" '([^_a-z](printf|fprintf|puts|fopen|open|read|write|syslog|getenv|rand|random)[[:space:]]*\()'
