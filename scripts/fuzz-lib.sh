# Shared by the fuzz scripts (source it): build one libFuzzer target with clang
# (-fsanitize=fuzzer,address,undefined) from only the sources it needs, rebuilding only when a
# source or header is newer than the binary, and run it for a bounded time. New inputs go to
# <build>/new (libFuzzer writes to the first corpus directory), so the committed corpus changes
# only when someone merges them in on purpose (tests/fuzz/README.md).

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

# fuzz_build NAME BINARY SOURCE... [-- HEADER...]: (re)builds BINARY when needed.
fuzz_build() {
  local name=$1 binary=$2
  shift 2
  local sources=() deps=() rebuild=0 cxx s
  while (($#)) && [[ $1 != -- ]]; do sources+=("$1"); shift; done
  (($#)) && shift
  deps=("$@")
  cxx=$(fuzz_clang "$name") || return 1
  mkdir -p "$(dirname "$binary")"
  [[ -x $binary ]] || rebuild=1
  for s in "${sources[@]}" "${deps[@]}"; do
    [[ $s -nt $binary ]] && rebuild=1
  done
  if ((rebuild)); then
    local jobs=${FUZZ_BUILD_JOBS:-2}
    echo "$name: building $binary with $cxx, $jobs compilers at a time" >&2
    local flags=(-std=c++20 -gline-tables-only -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
                 -fno-sanitize-recover=all -I"$FUZZ_ROOT")
    local objs="$binary.objs" i failed=0 pids=()
    rm -rf "$objs" && mkdir -p "$objs"
    # One object per source, numbered (two sources may share a file name), compiled side by
    # side; then one link.
    for i in "${!sources[@]}"; do
      "$cxx" "${flags[@]}" -c "${sources[$i]}" -o "$objs/$i.o" &
      pids+=($!)
      if ((${#pids[@]} >= jobs)); then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
      fi
    done
    for i in "${pids[@]}"; do wait "$i" || failed=1; done
    if ((failed)); then
      echo "$name: compiling failed" >&2
      return 1
    fi
    "$cxx" "${flags[@]}" "$objs"/*.o -o "$binary.tmp"
    mv "$binary.tmp" "$binary"
    rm -rf "$objs"
  fi
}

# fuzz_run NAME BINARY SECONDS LIBFUZZER-OPTION... [-- CORPUS-DIR...]: runs BINARY for SECONDS
# with a fresh <dir of BINARY>/new as the first corpus directory.
fuzz_run() {
  local name=$1 binary=$2 seconds=$3
  shift 3
  local options=() corpora=() out
  while (($#)) && [[ $1 != -- ]]; do options+=("$1"); shift; done
  (($#)) && shift
  corpora=("$@")
  out=$(dirname "$binary")
  rm -rf "$out/new" && mkdir -p "$out/new"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/" "${options[@]}" "$out/new" "${corpora[@]}"
  echo "$name: ran ${seconds}s without findings" >&2
}
