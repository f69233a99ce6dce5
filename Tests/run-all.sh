#!/usr/bin/env bash
# Builds libdtd and runs every test suite: the Swift engine tests, the ABI cross-check, the
# libffi harness, the C examples (with valgrind), the Python package's tests, the
# self-contained (static Swift runtime) flavour, libdtd used from outside the repository
# (install, pkg-config, CMake, Go, a Swift package, the release archive), and the sanitizer and
# fuzzing jobs. Stops at the first failing suite.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "machine setup"
bash Tests/setup-machine.sh

step "release build"
swift build -c release
ln -sf libdtd.so .build/release/libdtd.so.1

step "Swift engine tests (swift test)"
swift test

step "Swift reference and oracle tests again, every optional shortcut off (DTD_FAST_PATHS=0)"
# The shortcuts must not change a result: the same references check the general paths
# (FastPathTests shows the shortcuts really are off). Reuses the build above.
DTD_FAST_PATHS=0 swift test --filter 'FastPathTests|RuleOracleTests|RuleReferenceTests|PropagationStepTests|LedgerTests|PoolingTests|Conv2DTests|ForwardAndGradientTests|EquivalenceLemmaTests|GraphOracleTests|RandomDAGGraphOracleTests|LayerRelevanceTests'

# --- The float32 convolutions without oneDNN (issue 12) -----------------------------------------
# Where libdnnl.so.2 loads and the CPU has AVX-512, the suite above ran the wide float32
# convolutions on oneDNN; the reference, oracle and convolution suites run again on im2col + BLAS,
# the path of every other machine. About 30 s.
step "Swift reference, oracle and convolution tests on im2col + BLAS (DTD_KERNELS=blas)"
DTD_KERNELS=blas swift test --skip-build --filter 'RuleReferenceTests|RuleOracleTests|Conv2DTests|ForwardAndGradientTests|WinogradTests|GraphOracleTests'

step "ABI cross-check (header, table, exports)"
python3 Tests/abi/check_abi.py .build/release/libdtd.so

step "libffi harness (and its strict -Werror compile)"
sh Tests/abi/build_harness_strict.sh
.build/release/dtd-ffi-harness .build/release/libdtd.so Tests/abi/signatures.txt

step "C examples and valgrind"
make -C bindings/c all run valgrind

step "Python package tests"
# DTD_LIBRARY makes the loader use exactly this build (an unloadable one is an error, never a
# fall-back); DTD_EXPECT_LIBRARY makes test_loader assert that this is the library it loaded.
DTD_LIBRARY="$PWD/.build/release/libdtd.so" DTD_EXPECT_LIBRARY="$PWD/.build/release/libdtd.so" \
    python3 -m pytest -q bindings/python/tests

# The Zennit fixtures regenerate from Tests/Fixtures/generate: drawn content exactly, computed
# values to 1e-12 per sample (about 2 minutes; torch + zennit from the cached extras venv).
step "Zennit fixtures regenerate (Tests/Fixtures/generate/check_fixtures.py)"
extras=$(bash Tests/setup-extras.sh)
"$extras/bin/python" Tests/Fixtures/generate/check_fixtures.py

step "self-contained flavour (-static-stdlib)"
swift build -c release -Xswiftc -static-stdlib --scratch-path .build-static
ln -sf libdtd.so .build-static/release/libdtd.so.1
if ldd .build-static/release/libdtd.so | grep -q libswiftCore; then
    echo "the static flavour still links the Swift runtime dynamically" >&2
    exit 1
fi
python3 Tests/abi/check_abi.py .build-static/release/libdtd.so
.build/release/dtd-ffi-harness .build-static/release/libdtd.so Tests/abi/signatures.txt
DTD_LIBRARY="$PWD/.build-static/release/libdtd.so" DTD_EXPECT_LIBRARY="$PWD/.build-static/release/libdtd.so" \
    python3 -m pytest -q bindings/python/tests

# --- Python with its optional dependencies, and the wheel ----------------------------------------
# The suite again in the extras venv (Tests/setup-extras.sh), where nothing skips for a missing
# package: dtd.image against Zennit's colour maps, dtd.plot, dtd.dask on a 2-process LocalCluster,
# tqdm progress, the scripts that draw the README's pictures, the importers (from_torch + Zennit's
# presets = Zennit on VGG-11 and ResNet-18, from_onnx = from_torch, from_sklearn), the command
# line and examples/digits.py, and the wheel (pip builds it around the static build above,
# auditwheel repairs it; it is installed into a fresh venv and run from outside the repository
# with a clean environment). -rs lists every skip with its reason (tests that need the graph
# layers say "needs graph layers (issue 10)" until they land).
step "Python extras and the wheel (extras venv)"
venv=$(bash Tests/setup-extras.sh)
DTD_LIBRARY="$PWD/.build/release/libdtd.so" DTD_EXPECT_LIBRARY="$PWD/.build/release/libdtd.so" \
    DTD_WHEEL_LIBRARY="$PWD/.build-static/release/libdtd.so" "$venv/bin/python" -m pytest -q -rs bindings/python/tests

# --- Using libdtd from outside the repository (issue 14) ---------------------------------------
# Installs the self-contained flavour just built into a temporary prefix and uses it as a new
# user would, with env -i: C through pkg-config, a CMake project with find_package(dtd 1), the Go
# binding's go test, the Swift example package bindings/swift/ExplainMLP (DTDCore by path), the
# release archive (built, unpacked, a C program linked against it, ldd checked); then
# make uninstall must leave the prefix byte for byte as it was. About 1-2 minutes.
step "install, pkg-config, CMake, Go, Swift package, release archive (Tests/install/check.sh)"
bash Tests/install/check.sh

# --- Reliability (issue 13): sanitizers and the fuzzer ------------------------------------------
# Each job builds libdtd once with its sanitizer (.build-asan, .build-tsan); see
# Tests/sanitizers/README.md and Tests/fuzz/README.md. The ASan+UBSan job runs the harness, the C
# examples, the Python suite and the fuzzer (its corpus and regressions, then 60 s of fuzzing);
# the TSan job runs the Swift concurrency stress test, threads.c and registry_threads.c.
step "AddressSanitizer + UBSan: harness, C examples, Python, fuzzer"
bash Tests/sanitizers/asan.sh 60

step "ThreadSanitizer: concurrency stress test, threads.c, registry_threads.c"
bash Tests/sanitizers/tsan.sh

step "all suites passed"
