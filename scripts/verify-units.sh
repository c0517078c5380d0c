#!/usr/bin/env bash
# Checks the systemd units and sysusers file in packaging/ with systemd's own tools: every
# directive known and valid (`systemd-analyze verify`, any complaint fails), and the users
# created (`systemd-sysusers` into a scratch root). The units name /usr/local/bin; the check
# points them at this build's binaries, which must exist (target/debug).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in systemd-analyze systemd-sysusers; do
  command -v "$tool" >/dev/null || { echo "verify-units: $tool is missing (Debian package systemd)" >&2; exit 1; }
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

bin="$PWD/target/debug"
for unit in packaging/systemd/*.service; do
  name=$(basename "$unit")
  sed "s#/usr/local/bin/#$bin/#g" "$unit" > "$scratch/$name"
  complaints=$(systemd-analyze verify --man=no "$scratch/$name" 2>&1 || true)
  if [ -n "$complaints" ]; then
    echo "verify-units: $unit:" >&2
    echo "$complaints" >&2
    exit 1
  fi
done

mkdir -p "$scratch/root/etc/sysusers.d"
cp packaging/sysusers.d/backplane.conf "$scratch/root/etc/sysusers.d/"
systemd-sysusers --root="$scratch/root" >/dev/null 2>&1 || { echo "verify-units: systemd-sysusers refused packaging/sysusers.d/backplane.conf" >&2; exit 1; }
for user in backplane backplane-appliance; do
  grep -q "^$user:" "$scratch/root/etc/passwd" || { echo "verify-units: sysusers did not create $user" >&2; exit 1; }
done
echo "systemd units and users: verified"
