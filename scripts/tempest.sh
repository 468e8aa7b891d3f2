#!/bin/sh
# Runs Tempest's network API suites (tempest.api.network and
# neutron_tempest_plugin.api) against lepton-server behind a throw-away
# Keystone, both on loopback. Installs Debian 12's packages first (keystone,
# tempest, neutron-tempest-plugin, openstackclient), without letting their
# install start any service. Prints passed/failed/skipped per module and exits
# non-zero when a test fails that tests/tempest/known-failures.txt does not
# list, or a test skips that tests/tempest/expected-skips.txt does not list.
#
#   scripts/tempest.sh [--server PATH] [--regex RE] [--keep]
set -eu
cd "$(dirname "$0")/.."
PKGS="keystone tempest neutron-tempest-plugin python3-openstackclient python3-stestr
python3-subunit uwsgi-core uwsgi-plugin-python3"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	# No service may start during the install (keystone's package would
	# start its own uwsgi on port 5000): policy-rc.d answers "forbidden".
	added_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		added_policy=1
	fi
	echo "keystone keystone/configure_db boolean false" | $SUDO debconf-set-selections
	echo "keystone keystone/create-admin-tenant boolean false" | $SUDO debconf-set-selections
	echo "keystone keystone/register-endpoint boolean false" | $SUDO debconf-set-selections
	rc=0
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		-o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null || rc=$?
	if [ -n "$added_policy" ]; then
		$SUDO rm -f /usr/sbin/policy-rc.d
	fi
	[ "$rc" -eq 0 ] || exit "$rc"
fi
exec /usr/bin/python3 scripts/tempest.py "$@"
