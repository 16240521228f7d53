#!/usr/bin/env bash
# Builds one libFuzzer target (tests/fuzz/CMakeLists.txt: clang++-14, every picket
# module with ASan+UBSan) and runs it for a bounded time on its committed seed
# corpus (tests/fuzz/corpus/TARGET) plus the inputs it found before
# (BUILD_DIR/corpus/TARGET). Exit 0: no crash, leak, timeout or OOM; otherwise
# libFuzzer's exit code, the input in BUILD_DIR/crashes/TARGET/ and its stack above.
# usage: tests/fuzz/build_and_run.sh [BUILD_DIR] [SECONDS] [TARGET] [more libFuzzer flags...]
# (defaults build/fuzz, 60 s, analysis; targets: analysis config sse gunzip ndjson
# http zk_documents). Exit 77 (skip) without clang++-14, except under CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/fuzz}
seconds=${2:-60}
target=${3:-analysis}
shift $(( $# < 3 ? $# : 3 ))
cxx=${PICKET_FUZZ_CXX:-clang++-14}
cc=${PICKET_FUZZ_CC:-clang-14}
if ! command -v "$cxx" >/dev/null ||
   ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "FAIL: $cxx or libFuzzer missing (apt-get install clang-14 libfuzzer-14-dev) and CI=true forbids skipping"
    exit 1
  fi
  echo "SKIP: $cxx or libFuzzer missing (apt-get install clang-14 libfuzzer-14-dev)"
  exit 77
fi
if [ ! -d "$here/corpus/$target" ]; then
  echo "unknown fuzz target '$target' (no $here/corpus/$target)"
  exit 2
fi
mkdir -p "$build"
launcher=()
if [ -z "${CMAKE_CXX_COMPILER_LAUNCHER:-}" ] && command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# Several ctest entries share BUILD_DIR; they run serially (RUN_SERIAL), so one configure at a time.
if [ ! -f "$build/CMakeCache.txt" ] || [ "$here/CMakeLists.txt" -nt "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" "${launcher[@]}" \
    >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
fi
cmake --build "$build" -j2 --target "${target}_fuzzer"
mkdir -p "$build/corpus/$target" "$build/crashes/$target"
# New inputs go to the first directory; the committed seeds are only read.
# libFuzzer's own exit code for a crash is 77, ctest's skip code: a crash must fail.
exec "$build/${target}_fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -print_final_stats=1 -artifact_prefix="$build/crashes/$target/" "$@" \
  "$build/corpus/$target" "$here/corpus/$target"
