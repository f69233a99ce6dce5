#!/usr/bin/env bash
# The AddressSanitizer + UndefinedBehaviorSanitizer job (Tests/sanitizers/README.md).
#
# libdtd is built once with -sanitize=address (its Swift code; Swift has no UBSan, and traps on
# overflow by itself) plus libFuzzer's coverage instrumentation, into .build-asan; every C program
# that drives it is compiled with -fsanitize=address,undefined by the Swift toolchain's clang:
#   1. the libffi harness (every export, every phase),
#   2. the C examples,
#   3. the Python test suite (the ASan runtime preloaded into python3),
#   4. the fuzzer over its committed corpus and regressions, then a short fuzzing run.
#
#   bash Tests/sanitizers/asan.sh [FUZZ_SECONDS]      # default 60
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
fuzz_seconds=${1:-60}

clang=${CLANG:-$(dirname "$(readlink -f "$(command -v swift)")")/clang}
runtime=$("$clang" -print-file-name=libclang_rt.asan-x86_64.so)
lib=$root/.build-asan/release
# detect_leaks=0: the Swift runtime keeps one-time metadata for the life of the process.
# allocator_may_return_null=1: malloc returns NULL instead of aborting, so the harness's
# out-of-memory check sees DTD_ERROR_OUT_OF_MEMORY as with the system allocator.
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The Swift runtime's crash handler would read memory through ASan's shadow; let ASan report.
export SWIFT_BACKTRACE=enable=no
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

step() { printf '\n--> %s\n' "$*"; }

step "libdtd with AddressSanitizer (and the fuzzer's coverage) in .build-asan, and the fuzzer"
start=$SECONDS
bash Tests/fuzz/run.sh build
echo "built in $((SECONDS - start)) s"

step "libffi harness, ASan+UBSan"
# shellcheck disable=SC2086
"$clang" -std=c11 -O1 -g $san -fuse-ld=lld -o .build-fuzz/dtd-ffi-harness Sources/dtd-ffi-harness/*.c \
    $(pkg-config --cflags --libs libffi libcjson) -ldl
.build-fuzz/dtd-ffi-harness "$lib/libdtd.so" Tests/abi/signatures.txt | tail -n 2

step "C examples, ASan+UBSan"
make -s -C bindings/c CC="$clang" SANITIZE="$san" SANITIZE_LD=-fuse-ld=lld BUILDDIR="$lib" OUT=build-asan run

step "Python tests against the ASan build (the ASan runtime preloaded)"
# python3 is not instrumented, so the runtime must be loaded first: LD_PRELOAD=$runtime.
LD_PRELOAD=$runtime DTD_LIBRARY="$lib/libdtd.so" DTD_EXPECT_LIBRARY="$lib/libdtd.so" \
    python3 -m pytest -q -p no:cacheprovider bindings/python/tests

step "fuzzer: corpus and regressions, then ${fuzz_seconds} s of fuzzing"
bash Tests/fuzz/run.sh regress
bash Tests/fuzz/run.sh short "$fuzz_seconds"
