// Package dtd is the Go binding of libdtd: Layer-wise Relevance Propagation (LRP) and Deep
// Taylor Decomposition (DTD) for ReLU networks, with an audit of the DTD root points (Sixt &
// Landgraf, "A Rigorous Study of the Deep Taylor Decomposition", TMLR 2022).
//
// It calls libdtd's C API through cgo; the comments of Include/dtd.h are the reference for the
// semantics of every method here (each method names its C function). A [Network] holds float32
// or float64 weights: its type parameter picks the _f32 or _f64 entry points, so the element
// type can never mismatch. [Rules] assigns an LRP rule to each dense or conv layer.
//
// # Data layout
//
// Slices are flat, row-major and use PyTorch's layouts: dense weights (out, in), conv weights
// (Cout, Cin, kH, kW), activations (N, D) or (N, C, H, W) with the batch first. The batch size
// of a call is len(input) / InputSize(). Weights are copied when a layer is added; no slice is
// kept after a call returns. Results are new slices.
//
// # Errors
//
// A failed call returns an [*Error] carrying libdtd's [Status] and its message, which names the
// argument, the layer and the shapes involved. Every Status is also the sentinel for its code:
//
//	if errors.Is(err, dtd.ErrShapeMismatch) { ... }
//
// # Lifetime and threads
//
// Networks and rule sets hold C handles. Close frees them at once; a finalizer frees them when
// an unreachable value is collected, so forgetting Close leaks nothing for long. A fully built
// network and rule set may be used from any number of goroutines at once; building (Add*,
// Set*) and Close must not overlap any other use of the same value.
//
// # Finding libdtd
//
// By default cgo asks pkg-config for libdtd: install it with `make -C bindings/c install
// PREFIX=...` or unpack the release archive, and point PKG_CONFIG_PATH at its lib/pkgconfig
// (not needed for /usr or /usr/local). The build tag dtd_repo links the repository's
// `swift build -c release` output instead. See README.md.
package dtd

// #include <stdlib.h>
// #include <dtd.h>
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Float is the element type of a network: float32 or float64.
type Float interface {
	float32 | float64
}

// Version is libdtd's version string, e.g. "1.0.0" (dtd_version_string).
func Version() string { return C.GoString(C.dtd_version_string()) }

// ABIVersion is the ABI generation of the loaded libdtd (dtd_abi_version); this binding requires
// the one it was built against, [HeaderABIVersion].
func ABIVersion() int { return int(C.dtd_abi_version()) }

// HeaderABIVersion is the ABI generation of the dtd.h this binding was compiled with
// (DTD_ABI_VERSION).
const HeaderABIVersion = C.DTD_ABI_VERSION

// ErrABI reports that the loaded libdtd implements another ABI generation than the header this
// binding was compiled with (DTD_CHECK_ABI failed). NewNetwork returns it, wrapped.
var ErrABI = errors.New("dtd: libdtd ABI mismatch")

var (
	abiOnce  sync.Once
	abiError error
)

// checkABI is DTD_CHECK_ABI(), evaluated once per process.
func checkABI() error {
	abiOnce.Do(func() {
		if loaded := ABIVersion(); loaded != HeaderABIVersion {
			abiError = fmt.Errorf("%w: the loaded library has ABI %d, this binding was built for ABI %d",
				ErrABI, loaded, HeaderABIVersion)
		}
	})
	return abiError
}

// call runs one libdtd call and turns a failed status into an *Error. The message is
// thread-local in libdtd, so the goroutine stays on its thread until it has been read.
func call(op string, f func() C.dtd_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	status := f()
	if status == C.DTD_OK {
		return nil
	}
	return &Error{Op: op, Status: Status(status), Message: C.GoString(C.dtd_last_error_message())}
}

// is32 reports whether T is float32 (else float64).
func is32[T Float]() bool {
	var zero T
	_, ok := any(zero).(float32)
	return ok
}

// ptr is the address of a slice's first element, or nil for an empty slice (libdtd then
// reports the missing buffer with its name).
func ptr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

// f32 and f64 view a slice's memory as the C element type of the _f32 / _f64 entry points.
func f32(p unsafe.Pointer) *C.float  { return (*C.float)(p) }
func f64(p unsafe.Pointer) *C.double { return (*C.double)(p) }

// i64 converts a Go int to the C API's int64_t.
func i64(v int) C.int64_t { return C.int64_t(v) }
