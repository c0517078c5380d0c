#!/usr/bin/env bash
# Backup throughput and repository size: the appliance (rustic_core, release build) against the
# stock restic CLI on the same data set, first run and incremental run. One run each, same
# machine; prints a table and the ratios. Usage: scripts/bench-backup.sh [size in MiB, default 1024]
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
FILE_MIB=16
WORK=$(mktemp -d /tmp/backplane-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
command -v restic >/dev/null || scripts/tools.sh e2e

echo "Building the appliance (release)…"
cargo build --release -q -p appliance --bin backplane-appliance
APPLIANCE=target/release/backplane-appliance

echo "Writing $SIZE_MIB MiB of incompressible data…"
mkdir -p "$WORK/source"
for i in $(seq 1 $((SIZE_MIB / FILE_MIB))); do
  head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/source/file-$i.bin"
done

# The incremental run sees 5 % of the files rewritten and one new file.
change_data() {
  local changed=$(( SIZE_MIB / FILE_MIB / 20 )); [ "$changed" -ge 1 ] || changed=1
  for i in $(seq 1 "$changed"); do
    head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/source/file-$i.bin"
  done
  head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom > "$WORK/source/new-file.bin"
}

seconds() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
bytes_of() { du -sb "$1" | cut -f1; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

mkdir -p "$WORK/appliance"
printf '[{"id":"bench","name":"source","path":"%s"}]' "$WORK/source" > "$WORK/appliance/assets.json"
export RESTIC_PASSWORD=bench-password
restic init -q --repo "$WORK/restic" >/dev/null

run_appliance() {
  "$APPLIANCE" worker backup --data-dir "$WORK/appliance" --asset-id bench --host bench >/dev/null
}
run_restic() {
  restic backup -q --repo "$WORK/restic" --host bench "$WORK/source" >/dev/null
}

declare -A TIME SIZE
measure() { # name command repository
  drop_caches
  local start end
  start=$(seconds); "$2"; end=$(seconds)
  TIME[$1]=$(calc "$end - $start")
  SIZE[$1]=$(bytes_of "$3")
}

measure appliance_first run_appliance "$WORK/appliance/repository"
measure restic_first run_restic "$WORK/restic"
change_data
measure appliance_incremental run_appliance "$WORK/appliance/repository"
measure restic_incremental run_restic "$WORK/restic"

mib_per_s() { calc "$1 / ${TIME[$2]}"; }
growth() { calc "(${SIZE[$1]} - ${SIZE[$2]}) / 1048576"; }
changed_mib=$(( (SIZE_MIB / FILE_MIB / 20 > 0 ? SIZE_MIB / FILE_MIB / 20 : 1) * FILE_MIB + FILE_MIB ))
echo
echo "Data set: $SIZE_MIB MiB in $FILE_MIB MiB files; incremental run: $changed_mib MiB rewritten or new"
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); restic $(restic version | cut -d' ' -f2)"
printf '%-22s %10s %10s %14s\n' "run" "seconds" "MiB/s" "repo MiB"
for run in appliance_first restic_first; do
  printf '%-22s %10.2f %10s %14.1f\n' "$run" "${TIME[$run]}" "$(mib_per_s "$SIZE_MIB" "$run")" "$(calc "${SIZE[$run]} / 1048576")"
done
for run in appliance_incremental restic_incremental; do
  printf '%-22s %10.2f %10s %14.1f\n' "$run" "${TIME[$run]}" "$(mib_per_s "$SIZE_MIB" "$run")" "$(calc "${SIZE[$run]} / 1048576")"
done
echo
echo "appliance/restic time, first run:       $(calc "${TIME[appliance_first]} / ${TIME[restic_first]}")"
echo "appliance/restic time, incremental run: $(calc "${TIME[appliance_incremental]} / ${TIME[restic_incremental]}")"
echo "repository growth on the incremental run: appliance $(growth appliance_incremental appliance_first) MiB, restic $(growth restic_incremental restic_first) MiB"
