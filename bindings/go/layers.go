package dtd

// #include <dtd.h>
import "C"

import (
	"fmt"
	"runtime"
)

// AddDense appends z = W a + b (dtd_network_add_dense_f32/_f64). weight is (outFeatures,
// inFeatures), row-major; bias has outFeatures elements, or is nil for no bias. The current
// activation must be flat with inFeatures elements (add a flatten after conv or pooling).
func (n *Network[T]) AddDense(weight []T, outFeatures, inFeatures int, bias []T) error {
	defer runtime.KeepAlive(n)
	w, b := ptr(weight), ptr(bias)
	if is32[T]() {
		return call("dtd_network_add_dense_f32", func() C.dtd_status {
			return C.dtd_network_add_dense_f32(n.h(), f32(w), i64(len(weight)), i64(outFeatures), i64(inFeatures),
				f32(b), i64(len(bias)))
		})
	}
	return call("dtd_network_add_dense_f64", func() C.dtd_status {
		return C.dtd_network_add_dense_f64(n.h(), f64(w), i64(len(weight)), i64(outFeatures), i64(inFeatures),
			f64(b), i64(len(bias)))
	})
}

// Conv2DOptions are a convolution's stride, zero padding and dilation, each {height, width}.
// The zero value is PyTorch's default: stride 1, no padding, dilation 1 (a zero Stride or
// Dilation component means 1).
type Conv2DOptions struct {
	Stride   [2]int // >= 1; 0 means 1
	Padding  [2]int // zero padding on each side, >= 0
	Dilation [2]int // >= 1; 0 means 1
}

// orOne replaces zero components by 1.
func orOne(v [2]int) [2]int {
	for i := range v {
		if v[i] == 0 {
			v[i] = 1
		}
	}
	return v
}

// AddConv2D appends a 2-D convolution (cross-correlation, as PyTorch's Conv2d with groups = 1)
// with zero padding (dtd_network_add_conv2d_f32/_f64). weight is (outChannels, inChannels,
// kernelH, kernelW); bias has outChannels elements, or is nil. The current activation must be
// (C, H, W) with C = inChannels.
func (n *Network[T]) AddConv2D(weight []T, outChannels, inChannels, kernelH, kernelW int, bias []T,
	options Conv2DOptions) error {
	defer runtime.KeepAlive(n)
	stride, dilation, padding := orOne(options.Stride), orOne(options.Dilation), options.Padding
	w, b := ptr(weight), ptr(bias)
	if is32[T]() {
		return call("dtd_network_add_conv2d_f32", func() C.dtd_status {
			return C.dtd_network_add_conv2d_f32(n.h(), f32(w), i64(len(weight)), i64(outChannels), i64(inChannels),
				i64(kernelH), i64(kernelW), f32(b), i64(len(bias)), i64(stride[0]), i64(stride[1]),
				i64(padding[0]), i64(padding[1]), i64(dilation[0]), i64(dilation[1]))
		})
	}
	return call("dtd_network_add_conv2d_f64", func() C.dtd_status {
		return C.dtd_network_add_conv2d_f64(n.h(), f64(w), i64(len(weight)), i64(outChannels), i64(inChannels),
			i64(kernelH), i64(kernelW), f64(b), i64(len(bias)), i64(stride[0]), i64(stride[1]),
			i64(padding[0]), i64(padding[1]), i64(dilation[0]), i64(dilation[1]))
	})
}

// AddReLU appends max(0, z) (dtd_network_add_relu).
func (n *Network[T]) AddReLU() error {
	defer runtime.KeepAlive(n)
	return call("dtd_network_add_relu", func() C.dtd_status { return C.dtd_network_add_relu(n.h()) })
}

// AddFlatten appends the reshape of (C, H, W) to (C*H*W) (dtd_network_add_flatten).
func (n *Network[T]) AddFlatten() error {
	defer runtime.KeepAlive(n)
	return call("dtd_network_add_flatten", func() C.dtd_status { return C.dtd_network_add_flatten(n.h()) })
}

// PoolOptions are a pooling layer's stride and padding, each {height, width}. A zero Stride
// component means the kernel size (PyTorch's default); padding defaults to 0. ExcludePadding
// (average pooling only) leaves padded cells out of the divisor, PyTorch's
// count_include_pad=False.
type PoolOptions struct {
	Stride         [2]int // >= 1; 0 means the kernel size
	Padding        [2]int // 0 <= padding <= kernel / 2
	ExcludePadding bool   // average pooling: leave padded cells out of the divisor
}

// strideOr returns the stride with zero components replaced by the kernel's.
func (o PoolOptions) strideOr(kernelH, kernelW int) [2]int {
	s := o.Stride
	if s[0] == 0 {
		s[0] = kernelH
	}
	if s[1] == 0 {
		s[1] = kernelW
	}
	return s
}

// AddMaxPool2D appends PyTorch's MaxPool2d (dtd_network_add_maxpool2d): padding counts as
// -infinity, ties go to the first maximum in row-major window order.
func (n *Network[T]) AddMaxPool2D(kernelH, kernelW int, options PoolOptions) error {
	defer runtime.KeepAlive(n)
	s, p := options.strideOr(kernelH, kernelW), options.Padding
	return call("dtd_network_add_maxpool2d", func() C.dtd_status {
		return C.dtd_network_add_maxpool2d(n.h(), i64(kernelH), i64(kernelW), i64(s[0]), i64(s[1]),
			i64(p[0]), i64(p[1]))
	})
}

// AddAvgPool2D appends PyTorch's AvgPool2d (dtd_network_add_avgpool2d).
func (n *Network[T]) AddAvgPool2D(kernelH, kernelW int, options PoolOptions) error {
	defer runtime.KeepAlive(n)
	s, p := options.strideOr(kernelH, kernelW), options.Padding
	includePad := C.int32_t(1)
	if options.ExcludePadding {
		includePad = 0
	}
	return call("dtd_network_add_avgpool2d", func() C.dtd_status {
		return C.dtd_network_add_avgpool2d(n.h(), i64(kernelH), i64(kernelW), i64(s[0]), i64(s[1]),
			i64(p[0]), i64(p[1]), includePad)
	})
}

// AddBatchNorm appends eval-mode batch normalisation, folded at once into the preceding dense
// or conv layer (dtd_network_add_batchnorm_f32/_f64). The four slices hold one value per
// feature or channel, and must have the same length.
func (n *Network[T]) AddBatchNorm(gamma, beta, runningMean, runningVar []T, eps float64) error {
	defer runtime.KeepAlive(n)
	count := len(gamma)
	// The C call takes one count for four buffers: unequal lengths would make it read past one.
	if len(beta) != count || len(runningMean) != count || len(runningVar) != count {
		return &Error{Op: "Network.AddBatchNorm", Status: ErrShapeMismatch, Message: fmt.Sprintf(
			"gamma, beta, running_mean and running_var must have one length; got %d, %d, %d and %d",
			len(gamma), len(beta), len(runningMean), len(runningVar))}
	}
	g, b, m, v := ptr(gamma), ptr(beta), ptr(runningMean), ptr(runningVar)
	if is32[T]() {
		return call("dtd_network_add_batchnorm_f32", func() C.dtd_status {
			return C.dtd_network_add_batchnorm_f32(n.h(), f32(g), f32(b), f32(m), f32(v), i64(count), C.double(eps))
		})
	}
	return call("dtd_network_add_batchnorm_f64", func() C.dtd_status {
		return C.dtd_network_add_batchnorm_f64(n.h(), f64(g), f64(b), f64(m), f64(v), i64(count), C.double(eps))
	})
}
