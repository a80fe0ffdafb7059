#!/usr/bin/env bash
# Builds convledger in Release and runs the storage benchmarks: every convledger figure beside raw
# RocksDB writing/reading the same bytes, then a table of ratios against the targets of issue 2.
#
#   bench/run-ledger-bench.sh [extra ledger_bench / Google Benchmark flags]
#
# Environment:
#   BUILD_DIR   build directory (default: <repo>/build-bench)
#   BENCH_DIR   where the temporary databases go (default: $TMPDIR or /tmp); it must be on the disk
#               being measured (not tmpfs) for the fsync figures to mean anything.
# Output: Google Benchmark's table, then the ratio table (also written to
# $BUILD_DIR/bench/ledger-bench-summary.md, full output to $BUILD_DIR/bench/ledger-bench-output.txt).
# A full run takes about 2 minutes. Run it on a quiet machine: other processes' CPU or fsync load
# shows up directly in the figures (the load average is printed at the start).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
data="${BENCH_DIR:-${TMPDIR:-/tmp}}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCONVLEDGER_BUILD_TESTS=OFF \
  -DCONVLEDGER_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target ledger_bench

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)  data dir: $data ($(df -h --output=source,fstype "$data" | tail -1 | tr -s ' '))"
# The disk's synchronous write rate right now (500 x 1 KiB O_DSYNC writes): the fsync figures are
# relative to it, and on a shared VM it moves with everything else that writes to the disk.
probe="$data/convledger-bench-dsync-probe.$$"
dd if=/dev/zero of="$probe" bs=1k count=500 oflag=dsync 2>&1 | awk -F', ' '/copied/ {
  split($3, t, " "); printf "disk sync probe: %.0f O_DSYNC writes/s\n", 500 / t[1] }'
rm -f "$probe"
"$build/bench/ledger_bench" --dir="$data" --summary_md="$build/bench/ledger-bench-summary.md" \
  --benchmark_color=false "$@" 2>&1 | tee "$build/bench/ledger-bench-output.txt"
