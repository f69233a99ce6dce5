#!/usr/bin/env bash
# Builds kernel_probe (with oneDNN when Debian's libdnnl-dev is installed) into $1 (default /tmp/dtd-kernels).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-/tmp/dtd-kernels}
mkdir -p "$out"
flags=(-O2 -Wall -Wno-unused-function -o "$out/kernel_probe" "$here/kernel_probe.c" -ldl -lpthread -lm)
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then
    flags+=(-DWITH_DNNL -ldnnl -lgomp)
else
    echo "build.sh: no oneDNN headers (apt-get install libdnnl-dev); building without oneDNN" >&2
fi
cc "${flags[@]}"
echo "$out/kernel_probe"
