package dtd

// #include <dtd.h>
import "C"

import "strings"

// Status is a libdtd status code (dtd_status). Codes are append-only and never renumbered.
//
// A Status is also an error: each Err* constant is the sentinel that errors.Is matches against
// an [*Error] of that code.
type Status int32

// The status codes of Include/dtd.h, section 2.
const (
	OK                 Status = C.DTD_OK                     // success
	ErrNullPointer     Status = C.DTD_ERROR_NULL_POINTER     // a required pointer argument is NULL
	ErrInvalidArgument Status = C.DTD_ERROR_INVALID_ARGUMENT // a value is outside its domain, or a stale handle
	ErrSize            Status = C.DTD_ERROR_SIZE             // a size or count is zero, negative or too large
	ErrOverflow        Status = C.DTD_ERROR_OVERFLOW         // a product of sizes does not fit in int64
	ErrShapeMismatch   Status = C.DTD_ERROR_SHAPE_MISMATCH   // a count or layer parameter does not fit the shapes
	ErrBufferTooSmall  Status = C.DTD_ERROR_BUFFER_TOO_SMALL // an input buffer holds fewer elements than required
	ErrLayerIndex      Status = C.DTD_ERROR_LAYER_INDEX      // a layer index is outside [0, layer count)
	ErrDType           Status = C.DTD_ERROR_DTYPE            // float32/float64 mismatch
	ErrEmptyNetwork    Status = C.DTD_ERROR_EMPTY_NETWORK    // the network has no layers
	ErrRule            Status = C.DTD_ERROR_RULE             // a missing rule, or a rule that cannot be used here
	ErrNonFinite       Status = C.DTD_ERROR_NON_FINITE       // a weight, bias or parameter is NaN or infinite
	ErrLayerOrder      Status = C.DTD_ERROR_LAYER_ORDER      // the layer cannot follow the previous one
	ErrNetworkMismatch Status = C.DTD_ERROR_NETWORK_MISMATCH // rules used with another (or a changed) network
	ErrOutOfRange      Status = C.DTD_ERROR_OUT_OF_RANGE     // a target, neuron range or tolerance is out of range
	ErrOutOfMemory     Status = C.DTD_ERROR_OUT_OF_MEMORY    // memory could not be allocated
	ErrUnsupported     Status = C.DTD_ERROR_UNSUPPORTED      // a valid request this version does not implement
	ErrInternal        Status = C.DTD_ERROR_INTERNAL         // a broken internal invariant; please report it
)

// String is libdtd's short description of the code (dtd_status_string), e.g. "shape mismatch".
func (s Status) String() string { return C.GoString(C.dtd_status_string(C.dtd_status(s))) }

// Error makes a Status usable as a sentinel error; the text is its description, as String's.
func (s Status) Error() string { return s.String() }

// Error is a failed libdtd call: the status it returned and the message it left
// (dtd_last_error_message), which names the argument, the layer and the shapes involved.
type Error struct {
	// Op is the C function that failed (e.g. "dtd_network_add_dense_f64"), or the method of
	// this package for the few checks the binding makes itself (e.g. "Network.Forward").
	Op string
	// Status is the code; errors.Is(err, Status) compares against it.
	Status Status
	// Message is libdtd's explanation.
	Message string
}

// Error formats the failure as "dtd: <op>: <message> (<status>)". libdtd's messages already
// begin with the C function's name, which is then not repeated.
func (e *Error) Error() string {
	text := e.Message
	if !strings.HasPrefix(text, e.Op+":") {
		text = e.Op + ": " + text
	}
	return "dtd: " + text + " (" + e.Status.String() + ")"
}

// Unwrap returns the Status, so that errors.Is(err, dtd.ErrShapeMismatch) matches.
func (e *Error) Unwrap() error { return e.Status }
