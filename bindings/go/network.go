package dtd

// #include <dtd.h>
import "C"

import (
	"fmt"
	"runtime"
)

// Network is a feed-forward ReLU network: an input shape and a list of layers, built from flat
// slices. T (float32 or float64) is its element type. Layer indices, used by rules and roots,
// are positions in the layer list, ReLU, pooling, flatten and batch-norm layers included.
//
// A network is built with the Add* methods and then only read; a built network may be shared
// by any number of goroutines. Close frees it (a finalizer does so otherwise).
type Network[T Float] struct {
	handle *C.dtd_network
}

// LayerKind is the kind of a layer (dtd_layer_kind).
type LayerKind int32

// The layer kinds of Include/dtd.h.
const (
	LayerDense     LayerKind = C.DTD_LAYER_DENSE
	LayerConv2D    LayerKind = C.DTD_LAYER_CONV2D
	LayerReLU      LayerKind = C.DTD_LAYER_RELU
	LayerMaxPool2D LayerKind = C.DTD_LAYER_MAXPOOL2D
	LayerAvgPool2D LayerKind = C.DTD_LAYER_AVGPOOL2D
	LayerFlatten   LayerKind = C.DTD_LAYER_FLATTEN
	LayerBatchNorm LayerKind = C.DTD_LAYER_BATCHNORM // folded into the preceding dense/conv layer
)

// String names the kind as the JSON model format does ("dense", "conv2d", ...).
func (k LayerKind) String() string {
	switch k {
	case LayerDense:
		return "dense"
	case LayerConv2D:
		return "conv2d"
	case LayerReLU:
		return "relu"
	case LayerMaxPool2D:
		return "maxpool2d"
	case LayerAvgPool2D:
		return "avgpool2d"
	case LayerFlatten:
		return "flatten"
	case LayerBatchNorm:
		return "batchnorm"
	}
	return fmt.Sprintf("LayerKind(%d)", int32(k))
}

// NewNetwork is an empty network for inputs of one shape, (D) or (C, H, W)
// (dtd_network_create). It fails with ErrABI (wrapped) if the loaded libdtd implements another
// ABI than the header this package was built with.
func NewNetwork[T Float](inputShape ...int) (*Network[T], error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	dtype := C.dtd_dtype(C.DTD_DTYPE_FLOAT64)
	if is32[T]() {
		dtype = C.DTD_DTYPE_FLOAT32
	}
	shape := make([]C.int64_t, len(inputShape))
	for i, d := range inputShape {
		shape[i] = i64(d)
	}
	var handle *C.dtd_network
	err := call("dtd_network_create", func() C.dtd_status {
		return C.dtd_network_create(dtype, (*C.int64_t)(ptr(shape)), i64(len(shape)), &handle)
	})
	if err != nil {
		return nil, err
	}
	n := &Network[T]{handle: handle}
	runtime.SetFinalizer(n, (*Network[T]).Close)
	return n, nil
}

// Close frees the network (dtd_network_destroy). It always returns nil; closing twice is
// harmless. Rule sets made for the network stay valid values but fail with ErrNetworkMismatch
// when used with another network. Close must not overlap any other use of the network.
func (n *Network[T]) Close() error {
	if n == nil {
		return nil
	}
	if n.handle != nil {
		C.dtd_network_destroy(n.handle)
		n.handle = nil
	}
	runtime.SetFinalizer(n, nil)
	return nil
}

// h is the C handle, nil for a nil or closed network (libdtd then reports a NULL network).
func (n *Network[T]) h() *C.dtd_network {
	if n == nil {
		return nil
	}
	return n.handle
}

// size reads one of the network's int64 properties; 0 on a closed network.
func (n *Network[T]) size(get func(*C.dtd_network, *C.int64_t) C.dtd_status) int {
	defer runtime.KeepAlive(n)
	if n.h() == nil {
		return 0
	}
	var v C.int64_t
	if get(n.handle, &v) != C.DTD_OK {
		return 0
	}
	return int(v)
}

// InputSize is the number of elements of one input sample (dtd_network_input_size); 0 once
// the network is closed.
func (n *Network[T]) InputSize() int {
	return n.size(func(h *C.dtd_network, v *C.int64_t) C.dtd_status { return C.dtd_network_input_size(h, v) })
}

// OutputSize is the number of elements of one output sample, the input size while the network
// has no layers (dtd_network_output_size); 0 once the network is closed.
func (n *Network[T]) OutputSize() int {
	return n.size(func(h *C.dtd_network, v *C.int64_t) C.dtd_status { return C.dtd_network_output_size(h, v) })
}

// LayerCount is the number of layers added so far, batch-norm included
// (dtd_network_layer_count); 0 once the network is closed.
func (n *Network[T]) LayerCount() int {
	return n.size(func(h *C.dtd_network, v *C.int64_t) C.dtd_status { return C.dtd_network_layer_count(h, v) })
}

// LayerKind is the kind of layer `layer` (dtd_network_layer_kind).
func (n *Network[T]) LayerKind(layer int) (LayerKind, error) {
	defer runtime.KeepAlive(n)
	var kind C.dtd_layer_kind
	err := call("dtd_network_layer_kind", func() C.dtd_status {
		return C.dtd_network_layer_kind(n.h(), i64(layer), &kind)
	})
	return LayerKind(kind), err
}

// LayerShape is the activation shape after layer `layer`, (D) or (C, H, W); layer -1 gives
// the input shape (dtd_network_layer_shape).
func (n *Network[T]) LayerShape(layer int) ([]int, error) {
	defer runtime.KeepAlive(n)
	var shape [C.DTD_MAX_RANK]C.int64_t
	var rank C.int64_t
	err := call("dtd_network_layer_shape", func() C.dtd_status {
		return C.dtd_network_layer_shape(n.h(), i64(layer), &shape[0], C.DTD_MAX_RANK, &rank)
	})
	if err != nil {
		return nil, err
	}
	out := make([]int, int(rank))
	for i := range out {
		out[i] = int(shape[i])
	}
	return out, nil
}

// batch is the number of samples in input: len(input) / InputSize(), which must divide exactly.
func (n *Network[T]) batch(op string, input []T) (int, error) {
	if n.h() == nil {
		return 0, &Error{Op: op, Status: ErrNullPointer, Message: "the network is nil or closed"}
	}
	size := n.InputSize()
	if size == 0 || len(input) == 0 || len(input)%size != 0 {
		return 0, &Error{Op: op, Status: ErrShapeMismatch, Message: fmt.Sprintf(
			"input has %d elements, not a positive multiple of the network's input size %d", len(input), size)}
	}
	return len(input) / size, nil
}
