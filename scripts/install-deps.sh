#!/bin/sh
# Installs the Debian 12 packages that building, running and testing Lepton
# need. Idempotent: it skips apt entirely when everything is already there.
set -eu
PKGS="gcc make pkg-config clang-format
libmicrohttpd-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev
libmnl-dev libnftables-dev bird2 python3-prometheus-client
etcd-server etcd-client
python3 python3-pytest python3-openstackclient iproute2 nftables busybox isc-dhcp-client tcpdump iputils-ping netcat-openbsd iperf3
curl systemd dpkg-dev debhelper fakeroot lintian chromium chromium-driver python3-selenium"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
