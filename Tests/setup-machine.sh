#!/usr/bin/env bash
# Installs what building and testing libdtd needs on a fresh Debian machine, skipping whatever is
# already there (so it is quick on a prepared machine). The Swift 6.3 toolchain must be on PATH.
set -euo pipefail

packages=(libblis-dev libffi-dev pkg-config valgrind gcc g++ make)
# Using libdtd from outside the repository (Tests/install/check.sh): CMake for find_package(dtd),
# Go for the binding in bindings/go, binutils for the release archive (objdump, strip).
packages+=(cmake golang-go binutils)
# Full-backward DTD's exact method (issue 15): COIN-OR CLP, which libdtd dlopen()s at run time as
# libClp.so.1 (coinor-libclp1, pulled in by -dev); libdtd builds and runs without it.
packages+=(coinor-libclp-dev)
# oneDNN 2.x (libdnnl2, pulled in by -dev): libdtd dlopens libdnnl.so.2 for its float32
# convolutions on AVX-512 CPUs and runs without it; the headers build the kernel probe
# (bindings/python/benchmarks/kernels).
packages+=(libdnnl-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import numpy, pytest' 2>/dev/null; then
    echo "setup: installing numpy and pytest"
    python3 -m pip install -q numpy pytest
fi

command -v swift >/dev/null || { echo "setup: the Swift 6.3 toolchain is required (swift not on PATH)" >&2; exit 1; }
