#!/usr/bin/env bash
# Builds libdtd and runs every test suite: the Swift engine tests, the ABI cross-check, the
# libffi harness, the C examples (with valgrind), the Python package's tests, and the
# self-contained (static Swift runtime) flavour. Stops at the first failing suite.
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

step "ABI cross-check (header, table, exports)"
python3 Tests/abi/check_abi.py .build/release/libdtd.so

step "libffi harness (and its strict -Werror compile)"
sh Tests/abi/build_harness_strict.sh
.build/release/dtd-ffi-harness .build/release/libdtd.so Tests/abi/signatures.txt

step "C examples and valgrind"
make -C bindings/c all run valgrind

step "Python package tests"
python3 -m pytest -q bindings/python/tests

# The Zennit fixtures regenerate from Tests/Fixtures/generate: drawn content exactly, computed
# values to 1e-12 per sample (about 1 minute of CPU; torch + zennit from the cached extras venv).
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
DTD_LIBRARY="$PWD/.build-static/release/libdtd.so" python3 -m pytest -q bindings/python/tests

step "all suites passed"
