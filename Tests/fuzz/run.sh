#!/usr/bin/env bash
# Builds and runs the libFuzzer target Tests/fuzz/fuzz_api.c against an AddressSanitizer build of
# libdtd whose Swift code carries libFuzzer's coverage instrumentation (see README.md).
#
#   bash Tests/fuzz/run.sh build            # .build-asan/release/libdtd.so (incremental) and the fuzzer
#   bash Tests/fuzz/run.sh regress          # every corpus and regression input once (CI)
#   bash Tests/fuzz/run.sh short [SECONDS]  # fuzz from a copy of the corpus for SECONDS (60; CI)
#   bash Tests/fuzz/run.sh long [RUNS]      # RUNS executions (1000000); the corpus becomes a set cover of old + new
#
# Exit status: non-zero when the build fails or an input breaks the contract (a crash, an
# ASan or UBSan report, a contract abort).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

clang=${CLANG:-$(dirname "$(readlink -f "$(command -v swift)")")/clang}
scratch=${DTD_ASAN_SCRATCH:-.build-asan}
lib=$root/$scratch/release
out=$root/.build-fuzz
fuzzer=$out/fuzz_api
corpus=Tests/fuzz/corpus
regressions=Tests/fuzz/regressions

# allocator_may_return_null: libdtd reports a failed allocation as DTD_ERROR_OUT_OF_MEMORY, which
# needs malloc to return NULL; detect_leaks: the Swift runtime's one-time metadata is never freed.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The Swift runtime's own crash handler would report through ASan's shadow memory; let libFuzzer
# and ASan report crashes instead.
export SWIFT_BACKTRACE=enable=no

build() {
    # Always through SwiftPM (a no-op when up to date), so a checkout that moved on never fuzzes
    # a stale library; the first build takes a few minutes.
    # One -sanitize= option: given SwiftPM's --sanitize=address --sanitize=fuzzer, the Swift
    # driver passes only one of them to the frontend. For a library, -sanitize=fuzzer adds
    # libFuzzer's coverage instrumentation (the fuzzer's executable brings libFuzzer itself;
    # any other ASan program gets the ASan runtime's no-op coverage hooks).
    mkdir -p "$out"
    if ! swift build -c release -Xswiftc -sanitize=address,fuzzer --scratch-path "$scratch" --product dtd >"$out/build.log" 2>&1; then
        tail -n 40 "$out/build.log" >&2
        echo "fuzz: building libdtd in $scratch failed (log: $out/build.log)" >&2
        exit 1
    fi
    tail -n 1 "$out/build.log"
    undefined=$(nm -D --undefined-only "$lib/libdtd.so")
    for symbol in __asan_init __sanitizer_cov_8bit_counters_init; do
        if ! grep -q "$symbol" <<<"$undefined"; then
            echo "fuzz: $lib/libdtd.so lacks $symbol (built without ASan or coverage?); remove $scratch and rebuild" >&2
            exit 1
        fi
    done
    ln -sf libdtd.so "$lib/libdtd.so.1"
    mkdir -p "$out"
    "$clang" -std=c11 -g -O1 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -fuse-ld=lld -I Include Tests/fuzz/fuzz_api.c -o "$fuzzer" -L "$lib" -ldtd -Wl,-rpath,"$lib"
    echo "fuzz: built $fuzzer"
}

mode=${1:-regress}
case "$mode" in
build)
    build
    ;;
regress)
    build
    # Each file once: with -runs=0 libFuzzer only loads (runs) the given corpora.
    if ! "$fuzzer" -runs=0 -artifact_prefix="$out/" "$corpus" "$regressions" >"$out/regress.log" 2>&1; then
        grep -v '^INFO:' "$out/regress.log" | tail -n 60 >&2
        echo "fuzz: an input broke the contract (log: $out/regress.log; replay it with FUZZ_API_TRACE=1)" >&2
        exit 1
    fi
    echo "fuzz: $(ls "$corpus" | wc -l) corpus and $(ls "$regressions" | wc -l) regression inputs passed"
    ;;
short)
    build
    seconds=${2:-60}
    rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp "$corpus"/* "$work"/
    "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$out/" "$work" "$regressions" 2>&1 |
        grep -E '^(stat::|INFO: Seed|#[0-9]+ +DONE)|ERROR|SUMMARY|contract broken|Test unit written' || true
    # grep swallowed the fuzzer's status; a crash leaves an artifact.
    # (find, not ls: ls fails when any one of the patterns matches nothing.)
    if [ -n "$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -print -quit)" ]; then
        echo "fuzz: the fuzzer found a failing input (artifacts in $out); see Tests/fuzz/README.md" >&2
        exit 1
    fi
    ;;
long)
    build
    runs=${2:-1000000}
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$fuzzer" -runs="$runs" -print_final_stats=1 -artifact_prefix="$out/" "$work" "$corpus" "$regressions"
    # Keep the corpus small: the fewest inputs that reach every edge the old corpus and the run
    # reached (a set cover; counters off, so only edges count).
    # The old corpus is replaced only after the merge has written a non-empty cover.
    cover=$(mktemp -d)
    "$fuzzer" -set_cover_merge=1 -use_counters=0 "$cover" "$corpus" "$work" 2>&1 | tail -n 1
    if [ -n "$(ls -A "$cover")" ]; then
        rm -f "$corpus"/*
        cp "$cover"/* "$corpus"/
    fi
    rm -rf "$cover"
    ;;
*)
    echo "usage: $0 build|regress|short [SECONDS]|long [RUNS]" >&2
    exit 2
    ;;
esac
