#!/bin/bash
# test_membership_lab.sh: the membership module against a real 3-node corosync cluster in
# network namespaces (test/lab/lab.sh, token 1000). One cpgwatch per node prints every event
# as a JSON line; the checks read those lines. Covers: the initial view (Rq == Rc), agreed
# order of concurrent senders, corosync killed and restarted under a running client,
# a client killed alone (PROCDOWN, no ring change), a partition at the bridge and its heal.
# Delays from each fault to the first matching event are printed as TAP comments.
# TAP. Needs root, corosync, nsenter, unshare, nft, ip, jq; skips without them unless
# COLO_REQUIRE_REAL=1. Bounds are generous (seconds): the machine is shared and noisy.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"

CPGWATCH="$TOP_BUILDDIR/test/membership/cpgwatch"

need=""
for t in corosync corosync-quorumtool nsenter unshare nft ip jq; do
	command -v "$t" >/dev/null || need="$need $t"
done
[ -x "$CPGWATCH" ] || need="$need cpgwatch(build it)"
. "$TOP_SRCDIR/test/common/tap.sh"
tap_need "membership lab" "$need"
TAP_DUMP=dump_logs
check() { tap_check "$@"; } # description, command...

W=$(mktemp -d /tmp/colo-memlab.XXXXXX)
cleanup() { lab_down; rm -rf "$W"; }
declare -A WLOG WPID

mono() { "$CPGWATCH" --mono; }

# Every JSON line of node I's current cpgwatch log, as one array, through a jq program.
# A line still being written is skipped (fromjson?).
evq() { # node, jq args...
	local f=${WLOG[$1]}
	shift
	jq -R 'fromjson? // empty' "$f" | jq -s "$@"
}

wait_until() { # seconds, command...: poll every 0.1 s
	local secs=$1 t=0
	shift
	while [ "$t" -lt $((secs * 10)) ]; do
		"$@" && return 0
		sleep 0.1
		t=$((t + 1))
	done
	"$@"
}

dump_logs() {
	local i
	for i in 1 2 3; do
		[ -n "${WLOG[$i]:-}" ] && [ -f "${WLOG[$i]}" ] || continue
		echo "# --- n$i cpgwatch (last 12 events, deliveries left out)"
		grep -v '"ev":"\(deliver\|sent\)"' "${WLOG[$i]}" | tail -12 | cut -c1-300 | sed 's/^/#   /'
	done
}

spawn_watch() { # node, tag
	WLOG[$1]="$W/n$1.$2.log"
	lab_spawn "$1" "${WLOG[$1]}" "$CPGWATCH" --group colo-memlab --label "n$1" \
		--retry-min-ms 50 --retry-max-ms 200 --send-count 30 --send-every 5 --send-on-signal
	WPID[$1]=$LAB_LAST_PID
}

# Delay in ms from STAMP to the first event of node I matching a jq condition on `.`,
# printed as a TAP comment; fails when there is none.
delay() { # label, node, stamp, condition
	local label=$1 i=$2 st=$3 cond=$4 t
	t=$(evq "$i" -r --argjson st "$st" \
		"[.[] | select(.t_mono_ms > \$st) | select($cond)] | first | .t_mono_ms // empty")
	[ -n "$t" ] || return 1
	echo "# delay: $label: $(jq -n "($t - $st) * 10 | round / 10") ms"
}

has_after() { # node, stamp, condition
	evq "$1" -e --argjson st "$2" "any(.[]; .t_mono_ms > \$st and ($3))" >/dev/null
}

echo "1..14"

# --- setup: the lab, one cpgwatch per node --------------------------------------------------
up() { lab_up 3 1000 && trap cleanup EXIT; }
check "3-node corosync lab (token 1000) comes up" up || { echo "Bail out! no lab"; exit 1; }
for i in 1 2 3; do spawn_watch "$i" a; done

# --- 1. initial view ----------------------------------------------------------------------
view_ok() { # node: group of 3, totem ring of 3, quorate, Rq == Rc
	evq "$1" -e '
		([.[] | select(.ev == "cpg_confchg")] | last) as $c |
		([.[] | select(.ev == "totem_confchg")] | last) as $t |
		([.[] | select(.ev == "quorum")] | last) as $q |
		$c != null and $t != null and $q != null and
		$c.n_members == 3 and ($t.members | sort) == [1,2,3] and
		$q.quorate == 1 and ($q.members | sort) == [1,2,3] and $t.ring == $q.ring' >/dev/null
}
all_views_ok() { view_ok 1 && view_ok 2 && view_ok 3; }
check "1: every node sees 3 group members, a 3-node totem ring equal to the quorum ring, quorate" \
	wait_until 20 all_views_ok
same_ring() {
	local r1 r2 r3
	r1=$(evq 1 -c '[.[] | select(.ev == "totem_confchg")] | last | .ring')
	r2=$(evq 2 -c '[.[] | select(.ev == "totem_confchg")] | last | .ring')
	r3=$(evq 3 -c '[.[] | select(.ev == "totem_confchg")] | last | .ring')
	echo "# ring ids: n1 $r1 n2 $r2 n3 $r3"
	[ "$r1" = "$r2" ] && [ "$r2" = "$r3" ]
}
check "1: all three report the same ring id" same_ring

# --- 2. agreed order ----------------------------------------------------------------------
st=$(mono)
kill -USR1 "${WPID[1]}" "${WPID[2]}" "${WPID[3]}"
deliveries() { # node: "nodeid:pid:data" of every delivery after the stamp
	evq "$1" -c --argjson st "$st" \
		'[.[] | select(.ev == "deliver" and .t_mono_ms > $st) | "\(.from.nodeid):\(.from.pid):\(.data)"]'
}
got_all() { local i; for i in 1 2 3; do [ "$(deliveries "$i" | jq length)" -ge 90 ] || return 1; done; }
order_ok() {
	local d1 d2 d3 i
	wait_until 20 got_all || { echo "# not all 90 messages delivered everywhere"; return 1; }
	d1=$(deliveries 1) d2=$(deliveries 2) d3=$(deliveries 3)
	echo "# n1 delivered $(jq length <<<"$d1") messages, first: $(jq -c '.[0:4]' <<<"$d1")"
	[ "$d1" = "$d2" ] && [ "$d1" = "$d3" ] || { echo "# delivery sequences differ"; return 1; }
	[ "$(jq length <<<"$d1")" = 90 ] || return 1
	# Each sender's own messages, in the order it sent them (seq 0..29).
	for i in 1 2 3; do
		jq -e --arg l "n$i" '[.[] | split(":") | select(.[2] == $l) | .[3] | tonumber] == [range(30)]' \
			<<<"$d1" >/dev/null || { echo "# n$i's messages missing or out of order"; return 1; }
	done
}
check "2: 3 concurrent senders x 30 messages: every node delivers the same 90 in the same order" order_ok
own_ok() {
	local i
	for i in 1 2 3; do
		evq "$i" -e --argjson st "$st" --argjson me "$i" \
			'[.[] | select(.ev == "deliver" and .t_mono_ms > $st and .self)] |
			 length == 30 and all(.[]; .from.nodeid == $me)' >/dev/null || return 1
	done
}
check "2: each node delivers its own 30 messages, sender taken from CPG (nodeid, self)" own_ok

# --- 3. kill -9 of n3's corosync -------------------------------------------------------------
st=$(mono)
lab_kill_corosync 3
LEFT3='.ev == "cpg_confchg" and any(.left[]; .nodeid == 3 and .reason == "NODEDOWN")'
TOTEM12='.ev == "totem_confchg" and (.members | sort) == [1,2]'
QUORUM12='.ev == "quorum" and .quorate == 1 and (.members | sort) == [1,2]'
survivor_ok() { # node
	has_after "$1" "$st" "$LEFT3" && has_after "$1" "$st" "$TOTEM12" &&
		evq "$1" -e --argjson st "$st" "
		([.[] | select(.t_mono_ms > \$st and $TOTEM12)] | last) as \$t |
		([.[] | select(.t_mono_ms > \$st and $QUORUM12)] | last) as \$q |
		\$t != null and \$q != null and \$t.ring == \$q.ring" >/dev/null
}
survivors_ok() { survivor_ok 1 && survivor_ok 2; }
report3() {
	delay "n3 cpgwatch ipc_lost after kill -9 corosync" 3 "$st" '.ev == "ipc_lost"'
	for i in 1 2; do
		delay "n$i cpg left 3 NODEDOWN" "$i" "$st" "$LEFT3"
		delay "n$i totem confchg {1,2}" "$i" "$st" "$TOTEM12"
		delay "n$i quorum quorate=1 {1,2}" "$i" "$st" "$QUORUM12"
	done
}
check "3: n3's cpgwatch reports ipc_lost when its corosync is killed" \
	wait_until 10 has_after 3 "$st" '.ev == "ipc_lost"'
check "3: n1, n2 see n3 left NODEDOWN, a totem ring {1,2}, quorate=1 on that same ring id" \
	wait_until 30 survivors_ok
report3

# --- 4. restart n3's corosync ---------------------------------------------------------------
st=$(mono)
lab_start_corosync 3
rejoin_ok() { # n3: ipc_up after the restart; first quorate report 0, then a quorate=1
	evq 3 -e --argjson st "$st" '
		[.[] | select(.t_mono_ms > $st)] as $e |
		($e | map(.ev == "ipc_up") | index(true)) as $u |
		$u != null and
		([$e[$u:][] | select(.ev == "ipc_up" or .ev == "quorum") | .quorate]) as $qs |
		$qs[0] == 0 and ($qs | index(1)) != null' >/dev/null
}
JOIN3='.ev == "cpg_confchg" and any(.joined[]; .nodeid == 3 and .reason == "NODEUP")'
check "4: n3's cpgwatch reconnects by itself: ipc_up, quorate=0 first, then quorate=1" \
	wait_until 30 rejoin_ok
check "4: n1 sees n3's cpgwatch join with NODEUP" wait_until 30 has_after 1 "$st" "$JOIN3"
delay "n3 ipc_up after corosync start" 3 "$st" '.ev == "ipc_up"'
delay "n3 quorate=1 after corosync start" 3 "$st" '.ev == "quorum" and .quorate == 1'
delay "n1 cpg joined 3 NODEUP" 1 "$st" "$JOIN3"

# --- 5. kill -9 of n3's cpgwatch only -------------------------------------------------------
# Wait for a settled 3-node view first, so that no late event of step 4 counts here.
wait_until 20 all_views_ok >/dev/null
sleep 0.5
st=$(mono)
{ kill -9 "${WPID[3]}"; wait "${WPID[3]}"; } 2>/dev/null
PROC3='.ev == "cpg_confchg" and any(.left[]; .nodeid == 3 and .reason == "PROCDOWN")'
procdown_fast() {
	wait_until 10 has_after 1 "$st" "$PROC3" || return 1
	local d
	d=$(delay "n1 cpg left 3 PROCDOWN after kill -9 cpgwatch" 1 "$st" "$PROC3") || return 1
	echo "$d"
	# "within a second or so": 3 s is the generous bound on a loaded 2-core machine.
	awk -v d="${d##*: }" 'BEGIN { exit !(d + 0 < 3000) }'
}
check "5: n1 sees n3's process leave with PROCDOWN within 3 s" procdown_fast
sleep 1.5
no_ring_change() {
	! has_after 1 "$st" '.ev == "totem_confchg" or .ev == "quorum" or .ev == "nodelist"'
}
check "5: and no totem confchg or quorum change on n1 (the node stayed)" no_ring_change

# --- 6. partition n3 at the bridge, then heal ---------------------------------------------------
spawn_watch 3 b
wait_until 20 all_views_ok >/dev/null
sleep 0.5
st=$(mono)
lab_partition 3
part_ok() {
	has_after 3 "$st" '.ev == "quorum" and .quorate == 0' &&
		has_after 1 "$st" "$QUORUM12" && has_after 2 "$st" "$QUORUM12" || return 1
	local r1 r3
	r1=$(evq 1 -c --argjson st "$st" '[.[] | select(.t_mono_ms > $st and .ev == "totem_confchg")] | last | .ring')
	r3=$(evq 3 -c --argjson st "$st" '[.[] | select(.t_mono_ms > $st and .ev == "totem_confchg")] | last | .ring')
	[ "$r1" != null ] && [ "$r3" != null ] && [ "$r1" != "$r3" ] || return 1
	echo "# partition rings: n1 $r1, n3 $r3"
}
check "6: partition: n3 quorate=0, n1/n2 quorate=1 with {1,2}, different totem ring ids" \
	wait_until 30 part_ok
delay "n3 quorum quorate=0 after partition" 3 "$st" '.ev == "quorum" and .quorate == 0'
delay "n1 quorum quorate=1 {1,2} after partition" 1 "$st" "$QUORUM12"
st=$(mono)
lab_unpartition 3
merged() {
	local i r rs=""
	for i in 1 2 3; do
		r=$(evq "$i" -c --argjson st "$st" '
			([.[] | select(.t_mono_ms > $st and .ev == "totem_confchg")] | last) as $t |
			([.[] | select(.t_mono_ms > $st and .ev == "quorum")] | last) as $q |
			if $t != null and $q != null and ($t.members | sort) == [1,2,3] and
			   $q.quorate == 1 and ($q.members | sort) == [1,2,3] and $t.ring == $q.ring
			then $t.ring else null end')
		[ "$r" != null ] || return 1
		rs="$rs $r"
	done
	set -- $rs
	[ "$1" = "$2" ] && [ "$2" = "$3" ]
}
check "6: heal: all three merge into one ring of 3, quorate, Rq == Rc everywhere" wait_until 30 merged
check "6: heal: n1 sees n3's cpgwatch join with NODEUP" wait_until 10 has_after 1 "$st" "$JOIN3"
delay "n1 totem ring of 3 after heal" 1 "$st" '.ev == "totem_confchg" and (.members | length) == 3'
delay "n3 quorate=1 after heal" 3 "$st" '.ev == "quorum" and .quorate == 1'

exit $TAP_BAD
