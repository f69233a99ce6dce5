#!/usr/bin/env bash
# libdtd as a new user meets it, outside the repository and with a bare environment (env -i):
#
#   1. make -C bindings/c install into a temporary prefix that already holds unrelated files;
#   2. C with pkg-config: cc api_tour.c $(pkg-config --cflags --libs libdtd), built and run;
#   3. CMake: a 10-line project with find_package(dtd 1 REQUIRED), built and run (and
#      find_package(dtd 2) refused);
#   4. Go: go test ./... in bindings/go against the installed prefix, offline (GOPROXY=off);
#   5. Swift: the example package bindings/swift/ExplainMLP, which depends on this package's
#      DTDCore product by path, built and run;
#   6. the release archive: built, its checksum verified, unpacked, a C program compiled against
#      it runs with env -i, and ldd shows libdtd and BLIS from the archive and no Swift library;
#   7. make uninstall: the prefix is byte for byte what it was before step 1.
#
# Needs the self-contained flavour (.build-static/release/libdtd.so, built by run-all.sh before
# this; `make -C bindings/c lib` otherwise), cc, pkg-config, cmake, go and swift.
#   bash Tests/install/check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bare=(env -i "PATH=/usr/local/bin:/usr/bin:/bin" "HOME=$HOME")   # no LD_LIBRARY_PATH, no toolchain
say() { printf -- '--- %s\n' "$*"; }
fail() { echo "install check: $*" >&2; exit 1; }
timer() { date +%s%N; }
lap() { local ms=$((($(timer) - $1) / 1000000)); printf '    (%d.%d s)\n' $((ms / 1000)) $((ms % 1000 / 100)); }

# What a directory holds, byte for byte: every entry's type, mode and target or checksum.
snapshot() {
    (cd "$1" && find . -printf '%y %m %p -> %l\n' | sort && find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

# ldd of a binary must resolve libdtd.so.1 (and the libraries named after $2) under $2 and show
# no Swift runtime library.
check_ldd() {
    local binary="$1" under="$2" want
    shift 2
    local deps
    deps="$("${bare[@]}" ldd "$binary")"
    echo "$deps" | sed 's/^/    /'
    if echo "$deps" | grep -q -i swift; then fail "$binary loads a Swift library"; fi
    if echo "$deps" | grep -q "not found"; then fail "$binary has unresolved libraries"; fi
    for want in libdtd.so.1 "$@"; do
        local path
        path="$(echo "$deps" | awk -v lib="$want" '$1 == lib { print $3 }')"
        case "$(realpath -s "${path:-/nonexistent}")" in
            "$(realpath -s "$under")"/*) ;;
            *) fail "$binary does not load $want from $under" ;;
        esac
    done
}

start=$(timer)
prefix="$work/prefix"
mkdir -p "$prefix/include" "$prefix/lib"          # a prefix in use, as /usr/local is
echo "not libdtd's" > "$prefix/lib/README.other"
before="$(snapshot "$prefix")"

t=$(timer); say "1. make -C bindings/c install PREFIX=$prefix"
make -s -C bindings/c install PREFIX="$prefix" | tail -n 1
[ -L "$prefix/lib/libdtd.so.1" ] && [ -L "$prefix/lib/libdtd.so" ] && [ -f "$prefix/lib/libdtd.so.1.0.0" ] \
    || fail "the library and its links are not installed"
lap "$t"

t=$(timer); say "2. C with pkg-config, outside the repository"
mkdir "$work/c" && cp bindings/c/api_tour.c "$work/c/"
(cd "$work/c" && "${bare[@]}" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" sh -c \
    'cc -std=c99 -Wall -Werror api_tour.c $(pkg-config --cflags --libs libdtd) -o api_tour && ./api_tour > out.txt') \
    || fail "api_tour built with pkg-config failed"
tail -n 1 "$work/c/out.txt"
check_ldd "$work/c/api_tour" "$prefix/lib"
lap "$t"

t=$(timer); say "3. CMake: find_package(dtd 1 REQUIRED)"
mkdir "$work/cmake" && cp bindings/c/api_tour.c "$work/cmake/"
cat > "$work/cmake/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.16)
project(uses_dtd C)
find_package(dtd 1 REQUIRED)
add_executable(api_tour api_tour.c)
target_link_libraries(api_tour PRIVATE dtd::dtd)
EOF
(cd "$work/cmake" && "${bare[@]}" sh -c "cmake -S . -B build -DCMAKE_PREFIX_PATH='$prefix' > cmake.log \
    && cmake --build build > build.log && ./build/api_tour > out.txt") || fail "the CMake project failed"
tail -n 1 "$work/cmake/out.txt"
sed -i 's/find_package(dtd 1 REQUIRED)/find_package(dtd 2 REQUIRED)/' "$work/cmake/CMakeLists.txt"
if (cd "$work/cmake" && "${bare[@]}" cmake -S . -B build2 -DCMAKE_PREFIX_PATH="$prefix" > /dev/null 2>&1); then
    fail "find_package(dtd 2) accepted libdtd 1.0.0"
fi
lap "$t"

t=$(timer); say "4. Go: go test ./... in bindings/go against the prefix, offline"
# A build cache of its own: Go's shared cache keeps the cgo link flags of an earlier run's prefix
# (a deleted temporary directory), and the link then fails with "cannot find -ldtd".
(cd bindings/go && "${bare[@]}" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" GOPROXY=off GOFLAGS=-mod=readonly \
    GOCACHE="$work/go-build" sh -c 'go vet ./... && go test -count=1 ./...') || fail "the Go binding's tests failed"
lap "$t"

t=$(timer); say "5. Swift: bindings/swift/ExplainMLP depends on DTDCore by path"
swift build --package-path bindings/swift/ExplainMLP 2>&1 | tail -n 1
"$(swift build --package-path bindings/swift/ExplainMLP --show-bin-path)/ExplainMLP" || fail "ExplainMLP failed"
lap "$t"

t=$(timer); say "6. the release archive"
bash bindings/c/release.sh "$work/release" | tail -n 2
archive="$(cd "$work/release" && ls libdtd-*-linux-*.tar.gz)"
(cd "$work/release" && sha256sum -c "$archive.sha256") || fail "checksum"
mkdir "$work/unpacked" && tar -xzf "$work/release/$archive" -C "$work/unpacked"
root="$work/unpacked/${archive%.tar.gz}"
for f in README.md LICENSE licenses/BLIS.txt include/dtd.h lib/libblis.so.4 lib/pkgconfig/libdtd.pc \
         lib/cmake/dtd/dtdConfig.cmake lib/cmake/dtd/dtdConfigVersion.cmake examples/api_tour.c; do
    [ -f "$root/$f" ] || fail "the archive lacks $f"
done
mkdir "$work/c2" && cp bindings/c/threads.c "$work/c2/"
(cd "$work/c2" && "${bare[@]}" PKG_CONFIG_PATH="$root/lib/pkgconfig" sh -c \
    'cc -std=c99 -pthread threads.c $(pkg-config --cflags --libs libdtd) -o threads && ./threads > out.txt') \
    || fail "threads.c against the archive failed"
tail -n 1 "$work/c2/out.txt"
check_ldd "$work/c2/threads" "$root/lib" libblis.so.4
lap "$t"

t=$(timer); say "7. make uninstall leaves the prefix as it was"
make -s -C bindings/c uninstall PREFIX="$prefix"
after="$(snapshot "$prefix")"
if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "the prefix differs after uninstall"
fi
lap "$t"
printf 'install check: all passed'; lap "$start"
