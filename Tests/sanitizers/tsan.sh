#!/usr/bin/env bash
# The ThreadSanitizer job (Tests/sanitizers/README.md): libdtd and the Swift tests built once with
# -sanitize=thread (release, -enable-testing for the tests' @testable import) into .build-tsan;
#   1. the Swift concurrency stress test (small networks: 8 threads of mixed calls; a VGG-sized CNN:
#      6 threads overlapping in the worker pool), every result bit-identical to serial;
#   2. the 8-thread C example (bindings/c/threads.c) and 8 threads creating and destroying handles
#      (registry_threads.c) through the C ABI.
# Any report fails the job (halt_on_error); Tests/sanitizers/tsan.supp lists the documented false
# positives, and the log says how many matched.
#
#   bash Tests/sanitizers/tsan.sh
# Calls per thread under TSan (about 10x slower): DTD_STRESS_CALLS (default here 2500, 10^4 in
# the plain suite) and DTD_STRESS_VGG_CALLS (default here 3, 8 in the plain suite).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

clang=${CLANG:-$(dirname "$(readlink -f "$(command -v swift)")")/clang}
runtime_dir=$(dirname "$("$clang" -print-file-name=libclang_rt.tsan-x86_64.so)")
scratch=.build-tsan
flags=(-c release --sanitize=thread -Xswiftc -enable-testing --scratch-path "$scratch")
export TSAN_OPTIONS="suppressions=$root/Tests/sanitizers/tsan.supp:halt_on_error=1:print_suppressions=1:second_deadlock_stack=1"
export SWIFT_BACKTRACE=enable=no

step() { printf '\n--> %s\n' "$*"; }

step "libdtd and the Swift tests with ThreadSanitizer in $scratch"
start=$SECONDS
swift build "${flags[@]}" --build-tests
echo "built in $((SECONDS - start)) s"

step "Swift concurrency stress test under TSan"
DTD_STRESS_CALLS=${DTD_STRESS_CALLS:-2500} DTD_STRESS_VGG_CALLS=${DTD_STRESS_VGG_CALLS:-3} \
    swift test "${flags[@]}" --skip-build --filter ConcurrencyStress

step "the 8-thread C example and the handle registry under TSan"
lib=$root/$scratch/release
ln -sf libdtd.so "$lib/libdtd.so.1"
mkdir -p "$scratch/c"
for program in bindings/c/threads.c Tests/sanitizers/registry_threads.c; do
    name=$(basename "$program" .c)
    # The shared TSan runtime: the static one drags in libdispatch interceptors a C program cannot link.
    "$clang" -std=c99 -O1 -g -fsanitize=thread -shared-libsan -fuse-ld=lld -pthread -I Include "$program" \
        -o "$scratch/c/$name" -L "$lib" -ldtd -Wl,-rpath,"$lib" -Wl,-rpath,"$runtime_dir"
    "$scratch/c/$name"
done
