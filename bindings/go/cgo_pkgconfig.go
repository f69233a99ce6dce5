//go:build !dtd_repo

package dtd

// By default libdtd is found with pkg-config: an install made with `make -C bindings/c install`
// (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig unless the prefix is /usr or /usr/local), or the
// unpacked release archive (PKG_CONFIG_PATH=<archive>/lib/pkgconfig). Its libdtd.pc adds an rpath,
// so test binaries find libdtd.so.1 without LD_LIBRARY_PATH.

// #cgo pkg-config: libdtd
import "C"
