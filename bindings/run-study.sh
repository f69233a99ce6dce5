#!/usr/bin/env bash
# The main job: build libdtd and run the DTD study's root audit on the bundled network
# (Sixt & Landgraf 2022: four blocks of 1000 inputs, first-layer roots, per-rule and "as
# published", both placements), then its second experiment, full-backward DTD (400 inputs,
# exact vs. as the study sampled it; the exact method needs coinor-libclp-dev, which
# Tests/setup-machine.sh installs), printing both tables and writing them as CSV and JSON.
set -euo pipefail
cd "$(dirname "$0")/.."

bash Tests/setup-machine.sh
swift build -c release
ln -sf libdtd.so .build/release/libdtd.so.1
python3 bindings/python/examples/dtd_study.py "$@"
