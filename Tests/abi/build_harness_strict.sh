#!/bin/sh
# Compiles the libffi harness (Sources/dtd-ffi-harness) as strict C11 with gcc and clang, every
# warning an error, without running it. SwiftPM builds the harness that CI runs
# (.build/release/dtd-ffi-harness) but passes no warning flags; this keeps the sources clean.
#
#   sh Tests/abi/build_harness_strict.sh          # CC="gcc clang" by default
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags="-std=c11 -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -O2"
for cc in ${CC:-gcc clang}; do
    # shellcheck disable=SC2086
    "$cc" $flags -o "$out/dtd-ffi-harness" "$root"/Sources/dtd-ffi-harness/*.c $(pkg-config --cflags --libs libffi libcjson) -ldl
    echo "ok    $cc: Sources/dtd-ffi-harness/*.c compile cleanly ($flags)"
done
