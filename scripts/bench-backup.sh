#!/usr/bin/env bash
# Backup throughput and repository size: the appliance (rustic_core, release build) against the
# stock restic CLI on the same data set, first run and incremental run, repeated RUNS times
# (fresh data and repositories each time); prints each run and the median with its spread.
# Usage: scripts/bench-backup.sh [size in MiB, default 1024] [runs, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
RUNS=${2:-3}
FILE_MIB=16
command -v restic >/dev/null || scripts/tools.sh e2e

echo "Building the appliance (release)…"
cargo build --release -q -p appliance --bin backplane-appliance
APPLIANCE=$PWD/target/release/backplane-appliance

seconds() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
bytes_of() { du -sb "$1" | cut -f1; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
# Median and range of the numbers on standard input: "0.91 [0.85–0.97]".
spread() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f [%.2f–%.2f]", m, v[1], v[NR] }'; }

# The incremental run sees 5 % of the files rewritten and one new file.
CHANGED_FILES=$(( SIZE_MIB / FILE_MIB / 20 > 0 ? SIZE_MIB / FILE_MIB / 20 : 1 ))
CHANGED_MIB=$(( (CHANGED_FILES + 1) * FILE_MIB ))

declare -A TIME SIZE
FIRST_RATIOS=() INCREMENTAL_RATIOS=()

one_run() { # run number
  local work; work=$(mktemp -d /tmp/backplane-bench-XXXXXX)
  mkdir -p "$work/source" "$work/appliance"
  for i in $(seq 1 $((SIZE_MIB / FILE_MIB))); do
    head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom > "$work/source/file-$i.bin"
  done
  printf '[{"id":"bench","name":"source","path":"%s"}]' "$work/source" > "$work/appliance/assets.json"
  export RESTIC_PASSWORD=bench-password
  restic init -q --repo "$work/restic" >/dev/null
  run_appliance() { "$APPLIANCE" worker backup --data-dir "$work/appliance" --asset-id bench --host bench >/dev/null; }
  run_restic() { restic backup -q --repo "$work/restic" --host bench "$work/source" >/dev/null; }
  measure() { # name command repository
    drop_caches
    local start end
    start=$(seconds); "$2"; end=$(seconds)
    TIME[$1]=$(calc "$end - $start")
    SIZE[$1]=$(bytes_of "$3")
  }
  measure appliance_first run_appliance "$work/appliance/repository"
  measure restic_first run_restic "$work/restic"
  for i in $(seq 1 "$CHANGED_FILES"); do
    head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom > "$work/source/file-$i.bin"
  done
  head -c $((FILE_MIB * 1024 * 1024)) /dev/urandom > "$work/source/new-file.bin"
  measure appliance_incremental run_appliance "$work/appliance/repository"
  measure restic_incremental run_restic "$work/restic"
  rm -rf "$work"

  echo
  echo "Run $1"
  printf '%-22s %10s %10s %14s\n' "run" "seconds" "MiB/s" "repo MiB"
  for run in appliance_first restic_first appliance_incremental restic_incremental; do
    printf '%-22s %10.2f %10s %14.1f\n' "$run" "${TIME[$run]}" "$(calc "$SIZE_MIB / ${TIME[$run]}")" "$(calc "${SIZE[$run]} / 1048576")"
  done
  local growth_appliance growth_restic
  growth_appliance=$(calc "(${SIZE[appliance_incremental]} - ${SIZE[appliance_first]}) / 1048576")
  growth_restic=$(calc "(${SIZE[restic_incremental]} - ${SIZE[restic_first]}) / 1048576")
  echo "repository growth on the incremental run: appliance $growth_appliance MiB, restic $growth_restic MiB"
  FIRST_RATIOS+=("$(calc "${TIME[appliance_first]} / ${TIME[restic_first]}")")
  INCREMENTAL_RATIOS+=("$(calc "${TIME[appliance_incremental]} / ${TIME[restic_incremental]}")")
  echo "appliance/restic time: first ${FIRST_RATIOS[-1]}, incremental ${INCREMENTAL_RATIOS[-1]}"
}

echo "Data set: $SIZE_MIB MiB in $FILE_MIB MiB files; incremental run: $CHANGED_MIB MiB rewritten or new; $RUNS runs"
echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); restic $(restic version | cut -d' ' -f2)"
for run in $(seq 1 "$RUNS"); do one_run "$run"; done
echo
echo "appliance/restic time, first run, median [range] of $RUNS:       $(printf '%s\n' "${FIRST_RATIOS[@]}" | spread)"
echo "appliance/restic time, incremental run, median [range] of $RUNS: $(printf '%s\n' "${INCREMENTAL_RATIOS[@]}" | spread)"
