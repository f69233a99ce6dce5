//go:build dtd_repo

package dtd

// With the build tag dtd_repo (go test -tags dtd_repo ./...), the package uses the repository's
// own header and `swift build -c release` output instead of an install; the soname link
// .build/release/libdtd.so.1 must exist (make -C bindings/c creates it).

// #cgo CFLAGS: -I${SRCDIR}/../../Include
// #cgo LDFLAGS: -L${SRCDIR}/../../.build/release -Wl,-rpath,${SRCDIR}/../../.build/release -ldtd
import "C"
