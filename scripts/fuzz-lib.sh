# Shared by the fuzz scripts (source it after setting FUZZ_ROOT). The fuzzers are CMake targets
# (tests/fuzz/CMakeLists.txt, -DNIMSCALER_FUZZ=ON) built by clang in a tree of their own,
# $FUZZ_BUILD_DIR (default build-fuzz/). New inputs go to <binary>-work/new (libFuzzer writes to
# the first corpus directory), so the committed corpus changes only when someone merges them in
# on purpose (tests/fuzz/README.md).

# fuzz_clang NAME: prints the clang++ to use, or fails with how to install it.
fuzz_clang() {
  local c
  if [[ -n "${CXX_FUZZ:-}" ]]; then echo "$CXX_FUZZ"; return 0; fi
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null; then echo "$c"; return 0; fi
  done
  echo "$1: clang++ not found (apt-get install -y clang libclang-rt-14-dev)" >&2
  return 1
}

fuzz_build_dir() { echo "${FUZZ_BUILD_DIR:-$FUZZ_ROOT/build-fuzz}"; }

# fuzz_build NAME TARGET: configures the fuzz tree once and builds TARGET (one fuzzer, or
# `fuzzers` for all of them); make rebuilds only what changed. Prints the build's log on failure.
# FUZZ_PREBUILT=1: does nothing.
fuzz_build() {
  local name=$1 target=$2 dir cxx
  # Built already by the caller (make fuzz builds all of them once, then runs them side by side).
  [[ ${FUZZ_PREBUILT:-0} == 1 ]] && return 0
  dir=$(fuzz_build_dir)
  cxx=$(fuzz_clang "$name") || return 1
  mkdir -p "$dir"
  if [[ ! -f $dir/CMakeCache.txt ]]; then
    if ! cmake -S "$FUZZ_ROOT" -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="${cxx/clang++/clang}" \
      -DNIMSCALER_FUZZ=ON -DNIMSCALER_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/configure.log" 2>&1; then
      cat "$dir/configure.log" >&2
      echo "$name: configuring $dir failed" >&2
      return 1
    fi
  fi
  if ! cmake --build "$dir" --target "$target" -j "${FUZZ_BUILD_JOBS:-2}" >"$dir/build-$target.log" 2>&1; then
    tail -n 40 "$dir/build-$target.log" >&2
    echo "$name: building $target failed (whole log: $dir/build-$target.log)" >&2
    return 1
  fi
}

# fuzz_binary TARGET: where the fuzz tree puts a fuzzer.
fuzz_binary() { echo "$(fuzz_build_dir)/tests/fuzz/$1"; }

# fuzz_run NAME BINARY SECONDS LIBFUZZER-OPTION... [-- CORPUS-DIR...]: runs BINARY for SECONDS
# with a fresh <BINARY>-work/new as the first corpus directory.
fuzz_run() {
  local name=$1 binary=$2 seconds=$3
  shift 3
  local options=() corpora=() out
  while (($#)) && [[ $1 != -- ]]; do options+=("$1"); shift; done
  (($#)) && shift
  corpora=("$@")
  out=$binary-work
  rm -rf "$out/new" && mkdir -p "$out/new"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "${options[@]}" "$out/new" "${corpora[@]}"
  echo "$name: ran ${seconds}s without findings" >&2
}
