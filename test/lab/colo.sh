# shellcheck shell=bash
# test/lab/colo.sh: real QEMU COLO pairs across the nodes of the namespace lab (lab.sh).
# Source lab.sh first and bring the lab up, then:
#
#   colo_pair_up NAME PNODE SNODE   start a primary on node PNODE and a secondary on SNODE,
#                                   replication (migration, NBD, mirror/compare chardevs)
#                                   crossing the lab network, and bring the pair into COLO
#   colo_qmp NAME p|s CMD...        run qmpcall on that side's lab monitor
#   colo_query NAME p|s CMD         the "return" of one query, compact JSON
#   colo_pid NAME p|s               the QEMU's PID
#   colo_arb_sock NAME p|s          that side's arb.sock (register it with the node's arbiter:
#                                   arb.sh's arb_register)
#   colo_pairs_up N NODE_A NODE_B [PREFIX]   N pairs PREFIX1..PREFIXN (default vm), odd ones
#                                   with the primary on NODE_A, even ones on NODE_B (both
#                                   directions); names in COLO_NAMES
#
# The recipe is the one recorded in qemu-colo/README.md and silent-loss/README.md (QEMU 7.2
# under TCG): x-checkpoint-delay 1 h, because periodic checkpoints deadlock under TCG; the
# secondary has its own copy of the disk plus active/hidden images. Each QEMU has three
# monitors: arb.sock (the arbiter's, held for the VM's life), lab.sock (this library's) and
# spare.sock. Every QEMU is started with lab_spawn, so lab_down kills it by PID.
# COLO_MEM: guest RAM in MiB (default 128). A secondary's failover frees its COLO RAM cache, a
# copy of the guest's RAM, before it resumes (16 ms for 128 MiB alone): benchmarks vary it.

declare -A COLO_DIR COLO_PID_P COLO_PID_S COLO_PNODE COLO_SNODE COLO_PORTS
COLO_COUNT=0
COLO_NAMES=()

colo_qmpcall() { "${QMPCALL:-$TOP_BUILDDIR/test/lab/qmpcall}" "$@"; }

colo_sock() { echo "${COLO_DIR[$1]}/$2-${3:-lab}.sock"; }

colo_qmp() { # NAME p|s CMD...
	local name=$1 side=$2
	shift 2
	colo_qmpcall -t 20 "$(colo_sock "$name" "$side")" "$@"
}

colo_query() { # NAME p|s CMD -> the return value of the last reply
	colo_qmp "$1" "$2" "$3" | grep '"return"' | tail -1 | jq -c '.return'
}

colo_pid() { if [ "$2" = p ]; then echo "${COLO_PID_P[$1]}"; else echo "${COLO_PID_S[$1]}"; fi; }

colo_arb_sock() { colo_sock "$1" "$2" arb; }

colo_wait_sock() { # path, seconds
	local t=0
	while [ ! -S "$1" ] && [ "$t" -lt $(($2 * 10)) ]; do sleep 0.1; t=$((t + 1)); done
	[ -S "$1" ]
}

colo_common_args() { # name side
	local d=${COLO_DIR[$1]} s=$2
	echo "-name $1-$s,debug-threads=on -machine pc -accel tcg -cpu qemu64 -m ${COLO_MEM:-128} -smp 1"
	echo "-nodefaults -display none -vga none -serial file:$d/$s-serial.log"
	echo "-pidfile $d/$s.pid"
	echo "-qmp unix:$d/$s-arb.sock,server=on,wait=off"
	echo "-qmp unix:$d/$s-lab.sock,server=on,wait=off"
	echo "-qmp unix:$d/$s-spare.sock,server=on,wait=off"
	echo "-netdev user,id=hn0,restrict=on -device rtl8139,id=e0,netdev=hn0,romfile="
}

colo_pair_up() { # NAME PNODE SNODE
	local name=$1 pn=$2 sn=$3 d pip sip
	local mig nbd mirror c1 c0 cout
	d=$(mktemp -d "$LAB_DIR/colo-$name.XXXX")
	COLO_DIR[$name]=$d
	COLO_PNODE[$name]=$pn
	COLO_SNODE[$name]=$sn
	pip="$LAB_NET.$pn"
	sip="$LAB_NET.$sn"
	# Distinct ports from a per-pair base: ports are per namespace, but pairs sharing a
	# node (and the primary's own loopback pairs) must not collide with each other.
	local base=$((20000 + COLO_COUNT * 10))
	COLO_COUNT=$((COLO_COUNT + 1))
	COLO_NAMES+=("$name")
	mig=$base nbd=$((base + 1)) mirror=$((base + 2)) c1=$((base + 3)) c0=$((base + 4))
	cout=$((base + 5))
	COLO_PORTS[$name]="mig=$mig nbd=$nbd mirror=$mirror compare1=$c1"

	qemu-img create -q -f qcow2 "$d/p.qcow2" 64M || return 1
	cp "$d/p.qcow2" "$d/s-parent.qcow2"
	qemu-img create -q -f qcow2 "$d/s-active.qcow2" 64M || return 1
	qemu-img create -q -f qcow2 "$d/s-hidden.qcow2" 64M || return 1

	# shellcheck disable=SC2046 # word splitting of the argument list is intended
	lab_spawn "$pn" "$d/p.log" qemu-system-x86_64 $(colo_common_args "$name" p) \
		-chardev "socket,id=mirror0,host=$pip,port=$mirror,server=on,wait=off" \
		-chardev "socket,id=compare1,host=$pip,port=$c1,server=on,wait=off" \
		-chardev "socket,id=compare0,host=127.0.0.1,port=$c0,server=on,wait=off" \
		-chardev "socket,id=compare0-0,host=127.0.0.1,port=$c0" \
		-chardev "socket,id=compare_out,host=127.0.0.1,port=$cout,server=on,wait=off" \
		-chardev "socket,id=compare_out0,host=127.0.0.1,port=$cout" \
		-object filter-mirror,id=m0,netdev=hn0,queue=tx,outdev=mirror0 \
		-object filter-redirector,netdev=hn0,id=redire0,queue=rx,indev=compare_out \
		-object filter-redirector,netdev=hn0,id=redire1,queue=rx,outdev=compare0 \
		-object iothread,id=iothread1 \
		-object colo-compare,id=comp0,primary_in=compare0-0,secondary_in=compare1,outdev=compare_out0,iothread=iothread1 \
		-drive "if=ide,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,children.0.file.filename=$d/p.qcow2,children.0.driver=qcow2" \
		-S
	COLO_PID_P[$name]=$LAB_LAST_PID
	colo_wait_sock "$d/p-lab.sock" 30 || { lab_log "primary $name: no QMP: $(cat "$d/p.log")"; return 1; }

	# shellcheck disable=SC2046
	lab_spawn "$sn" "$d/s.log" qemu-system-x86_64 $(colo_common_args "$name" s) \
		-chardev "socket,id=red0,host=$pip,port=$mirror,reconnect=1" \
		-chardev "socket,id=red1,host=$pip,port=$c1,reconnect=1" \
		-object filter-redirector,id=f1,netdev=hn0,queue=tx,indev=red0 \
		-object filter-redirector,id=f2,netdev=hn0,queue=rx,outdev=red1 \
		-object filter-rewriter,id=rew0,netdev=hn0,queue=all \
		-drive "if=none,id=parent0,file.filename=$d/s-parent.qcow2,driver=qcow2" \
		-drive "if=none,id=childs0,driver=replication,mode=secondary,file.driver=qcow2,top-id=colo-disk0,file.file.filename=$d/s-active.qcow2,file.backing.driver=qcow2,file.backing.file.filename=$d/s-hidden.qcow2,file.backing.backing=parent0" \
		-drive "if=ide,id=colo-disk0,driver=quorum,read-pattern=fifo,vote-threshold=1,children.0=childs0" \
		-incoming "tcp:$sip:$mig"
	COLO_PID_S[$name]=$LAB_LAST_PID
	colo_wait_sock "$d/s-lab.sock" 30 || { lab_log "secondary $name: no QMP: $(cat "$d/s.log")"; return 1; }

	local caps='{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-colo","state":true},{"capability":"events","state":true}]}}'
	colo_qmp "$name" s "$caps" \
		"{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"inet\",\"data\":{\"host\":\"$sip\",\"port\":\"$nbd\"}}}}" \
		'{"execute":"nbd-server-add","arguments":{"device":"parent0","writable":true}}' >/dev/null ||
		{ lab_log "secondary $name: set-up failed"; return 1; }
	# The secondary's red0/red1 must be connected to the primary's servers first.
	local t=0 ch
	while [ "$t" -lt 300 ]; do
		ch=$(colo_query "$name" p query-chardev)
		if echo "$ch" | jq -e '[.[] | select((.label == "mirror0" or .label == "compare1") and (.filename | contains("<->")))] | length == 2' >/dev/null; then
			break
		fi
		sleep 0.1
		t=$((t + 1))
	done
	[ "$t" -lt 300 ] || { lab_log "primary $name: proxy chardevs never connected"; return 1; }
	colo_qmp "$name" p \
		"{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"replication\",\"node-name\":\"replication0\",\"mode\":\"primary\",\"file\":{\"driver\":\"nbd\",\"export\":\"parent0\",\"server\":{\"type\":\"inet\",\"host\":\"$sip\",\"port\":\"$nbd\"}}}}" \
		'{"execute":"x-blockdev-change","arguments":{"parent":"colo-disk0","node":"replication0"}}' \
		"$caps" \
		'{"execute":"migrate-set-parameters","arguments":{"x-checkpoint-delay":3600000}}' \
		"{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:$sip:$mig\"}}" >/dev/null ||
		{ lab_log "primary $name: set-up failed"; return 1; }
	colo_wait_modes "$name" 60
}

colo_wait_modes() { # NAME SECS: both sides report their COLO mode, primary migration "colo"
	local name=$1 t=0 pm sm mig
	while [ "$t" -lt $(($2 * 10)) ]; do
		pm=$(colo_query "$name" p query-colo-status | jq -r .mode)
		sm=$(colo_query "$name" s query-colo-status | jq -r .mode)
		mig=$(colo_query "$name" p query-migrate | jq -r .status)
		[ "$pm/$sm/$mig" = "primary/secondary/colo" ] && return 0
		sleep 0.1
		t=$((t + 1))
	done
	lab_log "pair $name never reached COLO: primary=$pm secondary=$sm migration=$mig"
	return 1
}

colo_pairs_up() { # N NODE_A NODE_B [PREFIX]: pairs in both directions
	local n=$1 a=$2 b=$3 pre=${4:-vm} k
	for k in $(seq 1 "$n"); do
		if [ $((k % 2)) = 1 ]; then
			colo_pair_up "$pre$k" "$a" "$b" || return 1
		else
			colo_pair_up "$pre$k" "$b" "$a" || return 1
		fi
	done
}
