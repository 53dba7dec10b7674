#!/bin/bash
# test/install-deps.sh: installs the Debian 12 packages that the build and every test need
# (build tools, the libraries we link, and every real component a test or the demo runs),
# with apt-get, and only those that are missing. Used by check.sh and demo.sh. Must not
# start services from package scripts on a fresh machine, nor touch anything else.
# Exit 0 when everything is present afterwards; 1 with a message on stderr otherwise.
set -uo pipefail

packages=(build-essential autoconf automake libtool pkg-config
	libqb-dev libqb-tools libjansson-dev zlib1g-dev libcmocka-dev libcpg-dev libquorum-dev libcorosync-common-dev
	qemu-system-x86 qemu-utils clang libclang-rt-14-dev valgrind iproute2 nftables corosync procps jq pacemaker-dev
	pacemaker pacemaker-cli-utils)

fail() { echo "$(basename "$0"): $*" >&2; exit 1; }

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	[ "$(id -u)" = 0 ] || fail "missing packages (${missing[*]}): run as root"
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine's services must not start from package scripts.
	policy=/usr/sbin/policy-rc.d
	added_policy=0
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
	fi
	apt-get update -q </dev/null >/dev/null || fail "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
		fail "apt-get install failed"
	[ "$added_policy" = 1 ] && rm -f "$policy"
else
	echo "all present"
fi
exit 0
