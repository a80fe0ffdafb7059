#!/usr/bin/env bash
# Builds convledger in Release and runs the HTTP API benchmark (issue 4): append and customer-view
# requests per second over loopback at 64 keep-alive connections against the in-process rate in
# the same run, and the server's RSS after CONVLEDGER_BENCH_EVENTS events appended through HTTP.
#
#   bench/run-http-bench.sh                                  (200,000 events: a few minutes)
#   CONVLEDGER_BENCH_EVENTS=1000000 bench/run-http-bench.sh  (the issue's memory figure)
#
# Environment: BUILD_DIR (default <repo>/build-bench), BENCH_DIR (where the server's and the
# in-process ledgers go; default $TMPDIR or /tmp), and the CONVLEDGER_BENCH_* variables described
# at the top of bench/http_bench.cc. Output: per-measurement lines on stderr, then the summary
# table (also written to $BUILD_DIR/bench/http-bench-summary.md). Run it on a quiet machine: the
# client, the server and the in-process peer share the cores.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build-bench}"
data="${BENCH_DIR:-${TMPDIR:-/tmp}}"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCONVLEDGER_BUILD_TESTS=OFF \
  -DCONVLEDGER_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target http_bench

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)  data dir: $data"
"$build/bench/http_bench" --dir="$data" --summary_md="$build/bench/http-bench-summary.md" 2>&1 |
  tee "$build/bench/http-bench-output.txt"
