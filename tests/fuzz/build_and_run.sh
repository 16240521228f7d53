#!/usr/bin/env bash
# Builds the analyser's libFuzzer target (tests/fuzz/CMakeLists.txt, clang++-14 with
# ASan+UBSan) and runs it for a bounded time on the committed seed corpus plus the
# inputs it found before (BUILD_DIR/corpus). Exit 0: no crash, leak, timeout or OOM;
# otherwise libFuzzer's exit code, the input in BUILD_DIR/crashes/ and its stack above.
# usage: tests/fuzz/build_and_run.sh [BUILD_DIR] [SECONDS] [more libFuzzer flags...]
# (default build/fuzz and 60 s). Exit 77 (skip) without clang++-14, except under CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/fuzz}
seconds=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
cxx=${PICKET_FUZZ_CXX:-clang++-14}
if ! command -v "$cxx" >/dev/null ||
   ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $cxx or libFuzzer missing (apt-get install clang-14 libfuzzer-14-dev) and CI=true forbids skipping"
    exit 1
  fi
  echo "SKIP: $cxx or libFuzzer missing (apt-get install clang-14 libfuzzer-14-dev)"
  exit 77
fi
mkdir -p "$build"
launcher=()
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j2 --target analysis_fuzzer
mkdir -p "$build/corpus" "$build/crashes"
# New inputs go to the first directory; the committed seeds are only read.
exec "$build/analysis_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/crashes/" "$@" "$build/corpus" "$here/corpus"
