#!/bin/bash
# test_daemon_watchdog.sh: watchdog_device on a real 3-node corosync cluster (token 1000).
# The device is a regular file per node here: the daemon writes a byte per pet, and
# nothing resets the machine (a real /dev/watchdog would reboot the host running the lab).
#   1 a watchdog_device that cannot be opened: n3's arbiter refuses to start (exit 1,
#     CRIT naming the device)
#   2 pair ia protected: every arbiter pets its file (it grows), status says "petted"
#   3 n1 runs ia alone, then its own interface drops everything (its corosync stalls, no
#     quorum notification comes): n1 stops petting while its gate is still open, at least
#     1.5 s before the gate closes on its liveness deadline, then freezes ia, then pets again
#   4 ... and it lets go of the device when the pets stop (the kernel pings a watchdog
#     released without the magic close, as by a crash: held unpetted, a crash would pet it
#     late), and holds it again once they resume
#   5 n2 and n3, quorate, pet on meanwhile
#   6 the same cut with ia running alone again, n1's arbiter killed after letting go and
#     restarted at once: the new one takes the device only after it has frozen ia (opening
#     it at start would pet it: WDIOC_SETTIMEOUT pings)
#   7 SIGTERM: n2 exits 0 and its file ends with the magic close 'V'; kill -9 of n3:
#     no 'V' (a crash leaves a real device counting)
#   8 a device that refuses every pet (/dev/full: ENOSPC): n3 runs on, status says "not
#     petted", and the failure is logged once, not once per pet
#   9 a character device with no driver behind it (passes the start check, every open
#     fails): n3 runs on, "not petted", the failure logged once, and never reported as a
#     device held too late to let go
# TAP. Root; skips without the tools unless COLO_REQUIRE_REAL=1.
set -u
. "$TOP_SRCDIR/test/lab/lab.sh"
. "$TOP_SRCDIR/test/daemon/daemon_lab.sh"
dl_need

st() { dl_jq "$1" ".vms[] | select(.name==\"$2\") | .status==\"$3\""; }
wd() { echo "$LAB_DIR/n$1/watchdog"; }
wd_conf() { # node path
	sed -i '/^watchdog_device = /d' "$LAB_DIR/n$1/arb.conf"
	echo "watchdog_device = \"$2\"" >>"$LAB_DIR/n$1/arb.conf"
}
size() { stat -c %s "$(wd "$1")"; }
# does node I's arbiter hold its device?  By inode: the path of a file the daemon opened
# in its own mount namespace need not read the same from here (a chroot)
held() {
	local want f
	want=$(stat -c %d:%i "$(wd "$1")")
	for f in /proc/"${DL_ARB[$1]}"/fd/*; do
		[ "$(stat -L -c %d:%i "$f" 2>/dev/null)" = "$want" ] && return 0
	done
	return 1
}
grows() { # node: the file grows within 3 s
	local a
	a=$(size "$1")
	dl_wait 3 eval "[ \$(size $1) -gt $a ]"
}
# a log line's time of day in ms ("Nov 26 14:28:26.851 colo-arbiterd ...")
line_ms() { awk '{ split($3, t, /[:.]/); print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4]; exit }'; }

echo "1..9"
dl_up none || { echo "Bail out! lab did not come up"; exit 1; }
dl_pair ia || { echo "Bail out! simulator refused the pair"; exit 1; }
for i in 1 2 3; do : >"$(wd "$i")"; wd_conf "$i" "$(wd "$i")"; done

# 1
wd_conf 3 "$LAB_DIR/n3/no-such-watchdog"
dl_arb_start 3
refused() {
	! kill -0 "${DL_ARB[3]}" 2>/dev/null &&
		grep -q "\[crit\].*watchdog_device .*no-such-watchdog: No such file" "$LAB_DIR/n3/arb.log"
}
dl_check "an unopenable watchdog_device: n3 refuses to start (exit 1, CRIT naming it)" \
	eval 'dl_wait 20 refused && { dl_arb_kill 3; [ $? = 1 ]; }'
wd_conf 3 "$(wd 3)"

# 2
for i in 1 2 3; do dl_arb_start "$i"; done
dl_wait 30 eval 'st 1 ia protected && st 2 ia protected'
dl_check "ia protected: n1, n2 and n3 hold and pet their watchdog (each file grows; status says petted)" \
	eval 'grows 1 && grows 2 && grows 3 && dl_jq 1 ".cluster.watchdog==\"petted\"" &&
	      dl_jq 3 ".cluster.watchdog==\"petted\"" && held 1 && held 2 && held 3'

# 3, 4, 5
dl_sim '{"cmd":"kill","name":"ias"}' '{"cmd":"checkpoint","name":"iap"}' >/dev/null
dl_wait 20 st 1 ia solo
log1="$LAB_DIR/n1/arb.log"
mark=$(wc -l <"$log1")
lab_isolate 1
paused() { dl_sim_state iap | dl_jqe '.running == false'; }
again() { grep -q "watchdog .*: petted again" "$LAB_DIR/n1/arb.log"; }
letgo() { grep -q "watchdog .* let go (its release is the last pet)" "$log1"; }
dl_wait 20 letgo
held 1 && held_letgo=1 || held_letgo=0
again && early=1 || early=0
dl_wait 30 paused
dl_wait 10 again
held 1 && held_again=1 || held_again=0
after() { grep -n "$1" "$log1" | awk -F: -v m="$mark" '$1 > m { print $1; exit }'; } # first line after the cut
n_stop=$(after "watchdog .*: no longer petted")
n_closed=$(after "gate open -> closed")
n_frozen=$(after "vm=ia: .*-> frozen")
n_again=$(after "watchdog .*: petted again")
lead=$(( $(sed -n "${n_closed:-1}p" "$log1" | line_ms) - $(sed -n "${n_stop:-1}p" "$log1" | line_ms) ))
echo "# n1: pets stopped ${lead} ms before its gate closed (lines $n_stop, $n_closed, frozen $n_frozen, again $n_again)"
dl_check "n1 isolated with ia alone: pets stop >= 1.5 s before the gate closes, then ia is frozen, then pets resume" \
	eval '[ -n "$n_stop" ] && [ -n "$n_closed" ] && [ -n "$n_frozen" ] && [ -n "$n_again" ] &&
	      [ "$n_stop" -lt "$n_closed" ] && [ "$n_closed" -lt "$n_frozen" ] &&
	      [ "$n_frozen" -lt "$n_again" ] && [ "$lead" -ge 1500 ]'
echo "# n1: device held after the let-go: $held_letgo (pets already resumed: $early); held once pets resumed: $held_again"
dl_check "n1 lets the device go when its pets stop (a crash then cannot pet it late), holds it again once they resume" \
	eval '[ "$held_letgo" = 0 ] && [ "$early" = 0 ] && [ "$held_again" = 1 ]'
dl_check "n2 and n3 pet on while n1 is cut off" eval 'grows 2 && grows 3'
lab_heal 1

# 6: the same cut, and n1's arbiter killed once it has let go, before the freeze: the
# restarted one must not take the device (opening it there would pet it) before ia is
# frozen
running() { dl_sim_state iap | dl_jqe '.running == true'; }
dl_wait 40 eval 'st 1 ia solo && running'
mark=$(wc -l <"$log1")
lab_isolate 1
dl_wait 20 eval '[ -n "$(after "watchdog .* let go (its release is the last pet)")" ]'
running && cut_running=1 || cut_running=0
dl_arb_kill 1 KILL
dl_arb_start 1
log1r="$LAB_DIR/n1/arb.log.$DL_RUN"
dl_wait 30 paused
dl_wait 15 eval 'grep -q "watchdog_device .* is not a watchdog" "$log1r"'
n_frz=$(grep -n "vm=ia: .*-> frozen" "$log1r" | head -1 | cut -d: -f1)
n_hold=$(grep -n "watchdog_device .* is not a watchdog" "$log1r" | head -1 | cut -d: -f1)
echo "# n1 restarted while cut off with ia running alone ($cut_running): frozen at line ${n_frz:-none}, device first held at line ${n_hold:-none}"
dl_check "n1's arbiter killed after letting go, restarted while cut off: it takes the device only after freezing ia" \
	eval '[ "$cut_running" = 1 ] && [ -n "$n_frz" ] && [ -n "$n_hold" ] && [ "$n_hold" -gt "$n_frz" ]'
lab_heal 1

# 7
dl_arb_kill 2 TERM
rc2=$?
dl_arb_kill 3 KILL
dl_check "SIGTERM: n2 exits 0 and disarms (its file ends with 'V'); kill -9 of n3 does not" \
	eval '[ "$rc2" = 0 ] && [ "$(tail -c 1 "$(wd 2)")" = V ] && [ "$(tail -c 1 "$(wd 3)")" = p ]'

# 8
wd_conf 3 /dev/full
dl_arb_start 3
write_errs() { grep -c "\[error\].*watchdog /dev/full: write: No space left on device" "$LAB_DIR/n3/arb.log"; }
dl_wait 20 eval 'dl_jq 3 ".cluster.watchdog==\"not petted\""'
sleep 3 # six pet periods of 0.5 s
echo "# n3: $(write_errs) error line(s) for the refused pets"
dl_check "pets refused by the device (/dev/full): n3 runs on, status says not petted, one error line" \
	eval 'kill -0 "${DL_ARB[3]}" && dl_jq 3 ".cluster.watchdog==\"not petted\"" && [ "$(write_errs)" = 1 ]'

# 9
dl_arb_kill 3
major=$(awk '/^Character devices/ { f = 1; next } /^Block devices/ { f = 0 } f { print $1 }' \
	/proc/devices | sort -un | awk 'BEGIN { m = 240 } $1 == m { m++ } END { print m }')
nodev="$LAB_DIR/n3/nodev"
mknod "$nodev" c "$major" 0
wd_conf 3 "$nodev"
dl_arb_start 3
open_errs() { grep -c "\[error\].*watchdog $nodev: open: " "$LAB_DIR/n3/arb.log"; }
late() { grep -c "too late to let go" "$LAB_DIR/n3/arb.log"; }
dl_wait 20 eval 'dl_jq 3 ".cluster.watchdog==\"not petted\""'
sleep 3
echo "# n3: $(open_errs) open error line(s), $(late) 'too late' line(s): $(grep -m1 "open: " "$LAB_DIR/n3/arb.log" | cut -d' ' -f5-)"
dl_check "a device that passes the start check but cannot be opened (char major $major, no driver): n3 runs on, not petted, one error line, not taken for held" \
	eval 'kill -0 "${DL_ARB[3]}" && dl_jq 3 ".cluster.watchdog==\"not petted\"" &&
	      [ "$(open_errs)" = 1 ] && [ "$(late)" = 0 ]'
lab_down
exit "$TAP_BAD"
