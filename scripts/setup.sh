#!/usr/bin/env bash
# Sets convledger up on Debian 12 and either runs the demo or the tests.
#
#   bash scripts/setup.sh demo   # install what is missing, build, run the server on ./data with
#                                # the demo conversations, print an admin key and curl examples
#   bash scripts/setup.sh test   # install what is missing, build everything, run ctest
#
# Safe to run again: packages are installed only when dpkg says one is missing, the build is
# incremental, and the demo appends nothing the second time.
#
# Environment:
#   CONVLEDGER_BUILD_DIR  build directory, relative to the repository root (default: build)
#   CONVLEDGER_DATA_DIR   demo data directory (default: ./data)
#   CONVLEDGER_LISTEN     where the demo server listens (default: 127.0.0.1:8080)
#   CONVLEDGER_JOBS       parallel build jobs (default: nproc)
#   CONVLEDGER_TEST_TIMEOUT  seconds per test for ctest (default: 900)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
build_dir=${CONVLEDGER_BUILD_DIR:-build}
data_dir=${CONVLEDGER_DATA_DIR:-./data}
jobs=${CONVLEDGER_JOBS:-$(nproc 2>/dev/null || echo 2)}
test_timeout=${CONVLEDGER_TEST_TIMEOUT:-900}

packages=(
  build-essential cmake git pkg-config
  librocksdb-dev libflatbuffers-dev flatbuffers-compiler flatbuffers-compiler-dev
  libboost-dev libspdlog-dev libssl-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev python3
  libzip-dev python3-jsonschema libjemalloc-dev
)

say() { printf '==> %s\n' "$*" >&2; }

usage() {
  echo "usage: bash scripts/setup.sh demo|test" >&2
  exit 2
}

install_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "all ${#packages[@]} Debian packages already installed"
    return
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup.sh: missing packages (${missing[*]}) and not root; run as root" >&2
      exit 1
    fi
  fi
  say "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

configure() {
  say "configuring ${build_dir} (Release)"
  cmake -S . -B "${build_dir}" -DCMAKE_BUILD_TYPE=Release "$@"
}

build() {
  say "building ${*:-everything} with ${jobs} jobs"
  local targets=()
  local t
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "${build_dir}" -j "${jobs}" "${targets[@]}"
}

case "${mode}" in
  demo)
    install_packages
    configure
    build convledger
    case "${build_dir}" in
      /*) cli="${build_dir}/convledger" ;;
      *) cli="./${build_dir}/convledger" ;;
    esac
    listen=${CONVLEDGER_LISTEN:-127.0.0.1:8080}
    say "running: ${cli} serve --data ${data_dir} --listen ${listen}  (Ctrl-C or SIGTERM stops it)"
    # exec: the server itself receives SIGTERM/SIGINT and stops gracefully.
    exec "${cli}" serve --data "${data_dir}" --listen "${listen}"
    ;;
  test)
    install_packages
    # Explicit, so that a build directory configured without them still tests everything.
    configure -DCONVLEDGER_BUILD_TESTS=ON -DCONVLEDGER_BUILD_BENCH=ON
    build
    say "running the tests"
    ctest --test-dir "${build_dir}" --output-on-failure --no-tests=error \
      --timeout "${test_timeout}"
    ;;
  *)
    usage
    ;;
esac
