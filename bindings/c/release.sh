#!/usr/bin/env bash
# Builds the binary release archive of libdtd for C users:
#
#   bash bindings/c/release.sh [OUTPUT_DIR]      (default OUTPUT_DIR: .build/release-archive)
#
# writes libdtd-X.Y.Z-linux-<arch>.tar.gz and its .sha256 (sha256sum -c format). The archive holds
# one directory, libdtd-X.Y.Z-linux-<arch>/, laid out as an install prefix:
#
#   README.md  LICENSE  licenses/BLIS.txt
#   include/dtd.h
#   lib/libdtd.so.X.Y.Z  lib/libdtd.so.1 -> libdtd.so.X.Y.Z  lib/libdtd.so -> libdtd.so.1
#   lib/libblis.so.4                       the BLAS libdtd was linked and tested with
#   lib/pkgconfig/libdtd.pc                relocatable (prefix=${pcfiledir}/../..)
#   lib/cmake/dtd/dtdConfig.cmake, dtdConfigVersion.cmake   (imported target dtd::dtd)
#   examples/api_tour.c  examples/threads.c  examples/CMakeLists.txt
#
# The library is the self-contained flavour (the Swift runtime linked in; `make -C bindings/c lib`
# builds it incrementally) with its debug sections stripped. It finds the bundled BLIS through its
# RUNPATH $ORIGIN; what it still needs from the system is glibc and the GCC runtime (libstdc++,
# libgcc_s, and libgomp for BLIS's OpenMP build). The archive is reproducible: sorted entries,
# owner 0, every mtime SOURCE_DATE_EPOCH (default: the last commit's time).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$(mkdir -p "${1:-$root/.build/release-archive}" && cd "${1:-$root/.build/release-archive}" && pwd)"

version="$(make -s -C "$here" --no-print-directory print-version)"
arch="$(uname -m)"
name="libdtd-$version-linux-$arch"
epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}"

echo "release: building the self-contained library"
make -s -C "$here" --no-print-directory lib

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
dest="$stage/$name"

echo "release: staging $name"
make -s -C "$here" --no-print-directory install PREFIX="$dest" PC_RPATH=1 \
    PC_PREFIX='$${pcfiledir}/../..' >/dev/null
rm "$dest/lib/cmake/dtd/install-manifest.txt"    # install's own bookkeeping, not part of a release
strip --strip-debug "$dest/lib/libdtd.so.$version"

# The BLAS: bundle the libblis.so.4 that libdtd resolves to on this machine, with its licence.
blis="$(ldd "$dest/lib/libdtd.so.$version" | awk '$1 == "libblis.so.4" { print $3 }')"
if [ -z "$blis" ] || [ ! -f "$blis" ]; then
    echo "release: libdtd does not resolve libblis.so.4 here (ldd); install libblis-dev" >&2
    exit 1
fi
install -m 0755 "$(readlink -f "$blis")" "$dest/lib/libblis.so.4"
mkdir -p "$dest/licenses"
blis_package="$(dpkg -S "$(readlink -f "$blis")" 2>/dev/null | cut -d: -f1 | head -n 1 || true)"
if [ -n "$blis_package" ] && [ -f "/usr/share/doc/$blis_package/copyright" ]; then
    cp "/usr/share/doc/$blis_package/copyright" "$dest/licenses/BLIS.txt"
else
    echo "release: cannot find the licence of $blis (a Debian package's copyright file)" >&2
    exit 1
fi

install -m 0644 "$here/dist/README.md" "$dest/README.md"
install -m 0644 "$here/dist/LICENSE" "$dest/LICENSE"
mkdir -p "$dest/examples"
install -m 0644 "$here/api_tour.c" "$here/threads.c" "$here/CMakeLists.txt" "$dest/examples/"

tarball="$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$stage" -cf - "$name" | gzip -9n > "$out/$tarball"
(cd "$out" && sha256sum "$tarball" > "$tarball.sha256")

echo "release: $out/$tarball ($(du -h "$out/$tarball" | cut -f1))"
cat "$out/$tarball.sha256"
