#!/usr/bin/env bash
# The Debian packages: built by cpack from this build, lintian clean, the unit accepted by systemd-analyze,
# installed with dpkg -i, and the server started the way the unit starts it: as the otinish user, in its state
# directory, with the keys as credentials and NOTIFY_SOCKET/WATCHDOG_USEC set as systemd sets them. It must
# say READY=1, ping the watchdog, answer /healthz, and on SIGTERM say STOPPING=1 and exit 0. Then purge.
# Installs into the real system, so it needs root (CI is a disposable machine); elsewhere it is skipped (77).
#   deb_test.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1 work=$2
if [ "$(id -u)" != 0 ] || ! command -v dpkg >/dev/null; then
  echo "SKIP: needs root and dpkg"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

cpack --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail cpack; }
server_deb=$(ls "$work"/otinish_*.deb)
dev_deb=$(ls "$work"/libotinish-dev_*.deb)

# lintian: no error and no warning (there is no override file: each finding is fixed instead).
lintian --fail-on error,warning "$server_deb" "$dev_deb" >"$work/lintian.log" 2>&1 || { cat "$work/lintian.log"; fail lintian; }

cleanup() {
  [ -n "${server_pid:-}" ] && kill -9 "$server_pid" 2>/dev/null || true
  [ -n "${listener_pid:-}" ] && kill "$listener_pid" 2>/dev/null || true
  dpkg --purge otinish libotinish-dev >/dev/null 2>&1 || true
  rm -rf /var/lib/otinish /etc/otinish /var/backups/otinish
  getent passwd otinish >/dev/null && deluser --system --quiet otinish >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
dpkg -i "$server_deb" "$dev_deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
unit=/lib/systemd/system/otinish.service
[ -f "$unit" ] || fail "the unit is not installed"
getent passwd otinish >/dev/null || fail "postinst made no otinish user"
[ -f /etc/otinish/kek ] && [ -f /etc/otinish/checkpoint.key ] || fail "postinst made no keys"
[ "$(stat -c %a /etc/otinish/kek)" = 600 ] || fail "the key-encryption key is readable by others"
pkg-config --exists otinish || fail "libotinish-dev's otinish.pc is not found by pkg-config"

systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }
# The hardening the unit must keep (an edit that drops one fails here).
for line in Type=notify User=otinish StateDirectory=otinish ProtectSystem=strict NoNewPrivileges=yes \
            CapabilityBoundingSet= WatchdogSec=; do
  grep -q "^$line" "$unit" || fail "the unit lost $line"
done

# Start it as systemd would. The unit's ExecStart, with one change: any free port instead of 8109, so that a
# test machine's other servers do not matter.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
state=/var/lib/$(sed -n 's/^StateDirectory=//p' "$unit")
install -d -m 0700 -o otinish -g otinish "$state"
creds=$work/credentials
install -d -m 0500 -o otinish -g otinish "$creds"
sed -n 's/^LoadCredential=//p' "$unit" | while IFS=: read -r name path; do
  install -m 0400 -o otinish -g otinish "$path" "$creds/$name"
done
notify=$work/notify.sock
python3 - "$notify" "$work/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
import os; os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
listener_pid=$!
for _ in $(seq 50); do [ -S "$notify" ] && break; sleep 0.1; done
chmod 0755 "$work"
(cd / && exec setpriv --reuid otinish --regid otinish --init-groups --no-new-privs \
   env -i PATH=/usr/bin:/bin NOTIFY_SOCKET="$notify" WATCHDOG_USEC=2000000 CREDENTIALS_DIRECTORY="$creds" \
   sh -c "WATCHDOG_PID=\$\$ exec $exec_start --listen 127.0.0.1:0" >"$work/stdout.log" 2>"$work/stderr.log") &
server_pid=$!
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
wait_for "$work/notify.log" "READY=1" 60 || { cat "$work/stderr.log"; fail "no READY=1"; }
port=$(sed -n 's/^listening on http:\/\/127.0.0.1://p' "$work/stdout.log")
[ -n "$port" ] || fail "no 'listening on' line"
python3 -c "import urllib.request,sys; r=urllib.request.urlopen('http://127.0.0.1:$port/healthz'); sys.exit(r.status!=200)" \
  || fail "/healthz did not answer 200"
for _ in $(seq 100); do [ "$(grep -c WATCHDOG=1 "$work/notify.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c WATCHDOG=1 "$work/notify.log")" -ge 2 ] || fail "fewer than two watchdog pings in 10 s"
ls "$state"/keys/keys-*.klog >/dev/null 2>&1 || fail "the applicants' key store was not made in $state (the kek credential unused?)"
[ -z "$(find "$state" ! -user otinish)" ] || fail "files in $state not owned by otinish"
kill -TERM "$server_pid"
code=0
wait "$server_pid" || code=$?
server_pid=
[ "$code" = 0 ] || { cat "$work/stderr.log"; fail "SIGTERM: exit $code"; }
wait_for "$work/notify.log" "STOPPING=1" 5 || fail "no STOPPING=1"
echo "DEB_TEST_OK ($(grep -c WATCHDOG=1 "$work/notify.log") watchdog pings)"
