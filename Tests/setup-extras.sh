#!/usr/bin/env bash
# Prints the path of a Python venv with the optional test dependencies (Tests/requirements-extras.txt:
# torch, zennit, onnx, scikit-learn, dask, Pillow, matplotlib, build tools). The venv lives under
# ~/.cache/libdtd (outside the clone), keyed by the requirements' hash, so CI on a prepared machine
# reuses it and a fresh machine builds it once (torch is a ~5 GB download, about 3 minutes).
# Progress goes to stderr; stdout is only the venv path.
set -euo pipefail
cd "$(dirname "$0")/.."
req=Tests/requirements-extras.txt
key=$(sha256sum "$req" | cut -c1-12)
venv="${DTD_EXTRAS_VENV:-$HOME/.cache/libdtd/extras-$key}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    echo "setup-extras: building $venv (first run on this machine)" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q -r "$req" >&2
    touch "$venv/.complete"
fi
echo "$venv"
