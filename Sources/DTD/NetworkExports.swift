import CDTD
import DTDCore

// MARK: - 3. Network handle
//
// Each export: validate arguments, wrap buffers into views, call DTDCore, map the result to a
// status through `guarded { }`.

/// Creates an empty network. The corresponding Swift API is `Network.init(inputShape:)`.
@c @implementation
public func dtd_network_create(_ dtype: dtd_dtype, _ input_shape: UnsafePointer<Int64>?, _ input_rank: Int64,
                               _ out_network: UnsafeMutablePointer<OpaquePointer?>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let out = try Argument.output(out_network, "out_network")
        out.pointee = nil
        guard let type = ElementType(rawValue: dtype) else {
            throw DTDError(.invalidArgument, "dtype = \(dtype) is neither DTD_DTYPE_FLOAT32 (1) nor DTD_DTYPE_FLOAT64 (2)")
        }
        guard input_rank == 1 || input_rank == 3 else {
            throw DTDError(.invalidArgument, "input_rank must be 1 (D) or 3 (C, H, W), got \(input_rank)")
        }
        let dims = try inputView(input_shape, input_rank, "input_shape")
        var sizes: [Int] = []
        for (i, d) in dims.enumerated() {
            guard d > 0 else { throw DTDError(.size, "input_shape[\(i)] must be positive, got \(d)") }
            sizes.append(Int(d))
        }
        let shape = Shape(sizes)
        let handle: NetworkHandle
        switch type {
        case .float32: handle = NetworkHandle(.float32(try Network<Float>(inputShape: shape)))
        case .float64: handle = NetworkHandle(.float64(try Network<Double>(inputShape: shape)))
        }
        out.pointee = try HandleRegistry.register(handle)
    }
}

/// Frees a network; NULL is a no-op, and any other pointer that is not a live network is left
/// alone with the reason in the error message.
@c @implementation
public func dtd_network_destroy(_ network: OpaquePointer?) {
    destroyHandle(network, as: NetworkHandle.self, "dtd_network_destroy", "network")
}

// MARK: Dense

func addDense<T: BoundaryScalar>(_ network: OpaquePointer?, _ weight: UnsafePointer<T>?, _ weightCount: Int64,
                                 _ outFeatures: Int64, _ inFeatures: Int64,
                                 _ bias: UnsafePointer<T>?, _ biasCount: Int64) throws(DTDError) {
    let handle = try Argument.network(network)
    let w = try inputView(weight, weightCount, "weight")
    let b = try optionalInputView(bias, biasCount, "bias")
    let out = try Argument.size(outFeatures, "out_features")
    let input = try Argument.size(inFeatures, "in_features")
    try handle.build(T.self) { (net: inout Network<T>) throws(DTDError) in
        if let b {
            try net.addDense(weight: w.span, outFeatures: out, inFeatures: input, bias: b.span)
        } else {
            try net.addDense(weight: w.span, outFeatures: out, inFeatures: input, bias: nil)
        }
    }
}

/// Appends a dense layer. The corresponding Swift API is `Network.addDense(weight:outFeatures:inFeatures:bias:)`.
@c @implementation
public func dtd_network_add_dense_f32(_ network: OpaquePointer?, _ weight: UnsafePointer<Float>?, _ weight_count: Int64,
                                      _ out_features: Int64, _ in_features: Int64,
                                      _ bias: UnsafePointer<Float>?, _ bias_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in try addDense(network, weight, weight_count, out_features, in_features, bias, bias_count) }
}

@c @implementation
public func dtd_network_add_dense_f64(_ network: OpaquePointer?, _ weight: UnsafePointer<Double>?, _ weight_count: Int64,
                                      _ out_features: Int64, _ in_features: Int64,
                                      _ bias: UnsafePointer<Double>?, _ bias_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in try addDense(network, weight, weight_count, out_features, in_features, bias, bias_count) }
}

// MARK: Conv2d

func addConv2d<T: BoundaryScalar>(_ network: OpaquePointer?, _ weight: UnsafePointer<T>?, _ weightCount: Int64,
                                  _ outChannels: Int64, _ inChannels: Int64, _ kernelH: Int64, _ kernelW: Int64,
                                  _ bias: UnsafePointer<T>?, _ biasCount: Int64,
                                  _ strideH: Int64, _ strideW: Int64, _ padH: Int64, _ padW: Int64,
                                  _ dilH: Int64, _ dilW: Int64) throws(DTDError) {
    let handle = try Argument.network(network)
    let w = try inputView(weight, weightCount, "weight")
    let b = try optionalInputView(bias, biasCount, "bias")
    let sizes = [("out_channels", outChannels), ("in_channels", inChannels), ("kernel_h", kernelH), ("kernel_w", kernelW),
                 ("stride_h", strideH), ("stride_w", strideW), ("dilation_h", dilH), ("dilation_w", dilW)]
    var values: [Int] = []
    for (name, value) in sizes { values.append(try Argument.size(value, name)) }
    let ph = try Argument.count(padH, "padding_h"), pw = try Argument.count(padW, "padding_w")
    try handle.build(T.self) { (net: inout Network<T>) throws(DTDError) in
        if let b {
            try net.addConv2d(weight: w.span, outChannels: values[0], inChannels: values[1], kernel: (values[2], values[3]),
                              bias: b.span, stride: (values[4], values[5]), padding: (ph, pw), dilation: (values[6], values[7]))
        } else {
            try net.addConv2d(weight: w.span, outChannels: values[0], inChannels: values[1], kernel: (values[2], values[3]),
                              bias: nil, stride: (values[4], values[5]), padding: (ph, pw), dilation: (values[6], values[7]))
        }
    }
}

/// Appends a conv2d layer. The corresponding Swift API is `Network.addConv2d(weight:outChannels:inChannels:kernel:bias:stride:padding:dilation:)`.
@c @implementation
public func dtd_network_add_conv2d_f32(_ network: OpaquePointer?, _ weight: UnsafePointer<Float>?, _ weight_count: Int64,
                                       _ out_channels: Int64, _ in_channels: Int64, _ kernel_h: Int64, _ kernel_w: Int64,
                                       _ bias: UnsafePointer<Float>?, _ bias_count: Int64,
                                       _ stride_h: Int64, _ stride_w: Int64, _ padding_h: Int64, _ padding_w: Int64,
                                       _ dilation_h: Int64, _ dilation_w: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try addConv2d(network, weight, weight_count, out_channels, in_channels, kernel_h, kernel_w, bias, bias_count,
                      stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w)
    }
}

@c @implementation
public func dtd_network_add_conv2d_f64(_ network: OpaquePointer?, _ weight: UnsafePointer<Double>?, _ weight_count: Int64,
                                       _ out_channels: Int64, _ in_channels: Int64, _ kernel_h: Int64, _ kernel_w: Int64,
                                       _ bias: UnsafePointer<Double>?, _ bias_count: Int64,
                                       _ stride_h: Int64, _ stride_w: Int64, _ padding_h: Int64, _ padding_w: Int64,
                                       _ dilation_h: Int64, _ dilation_w: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try addConv2d(network, weight, weight_count, out_channels, in_channels, kernel_h, kernel_w, bias, bias_count,
                      stride_h, stride_w, padding_h, padding_w, dilation_h, dilation_w)
    }
}

// MARK: Parameter-free layers

/// Appends a ReLU. The corresponding Swift API is `Network.addReLU()`.
@c @implementation
public func dtd_network_add_relu(_ network: OpaquePointer?) -> dtd_status {
    guarded { () throws(DTDError) in
        try Argument.network(network).buildAny({ $0.addReLU() }, { $0.addReLU() })
    }
}

/// Appends a flatten. The corresponding Swift API is `Network.addFlatten()`.
@c @implementation
public func dtd_network_add_flatten(_ network: OpaquePointer?) -> dtd_status {
    guarded { () throws(DTDError) in
        try Argument.network(network).buildAny({ $0.addFlatten() }, { $0.addFlatten() })
    }
}

func poolArguments(_ kh: Int64, _ kw: Int64, _ sh: Int64, _ sw: Int64, _ ph: Int64, _ pw: Int64) throws(DTDError)
    -> (kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int)) {
    let kernel = (try Argument.size(kh, "kernel_h"), try Argument.size(kw, "kernel_w"))
    let stride = (try Argument.size(sh, "stride_h"), try Argument.size(sw, "stride_w"))
    let padding = (try Argument.count(ph, "padding_h"), try Argument.count(pw, "padding_w"))
    return (kernel, stride, padding)
}

/// Appends a max-pool. The corresponding Swift API is `Network.addMaxPool2d(kernel:stride:padding:)`.
@c @implementation
public func dtd_network_add_maxpool2d(_ network: OpaquePointer?, _ kernel_h: Int64, _ kernel_w: Int64,
                                      _ stride_h: Int64, _ stride_w: Int64, _ padding_h: Int64, _ padding_w: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let p = try poolArguments(kernel_h, kernel_w, stride_h, stride_w, padding_h, padding_w)
        try handle.buildAny({ (n: inout Network<Float>) throws(DTDError) in try n.addMaxPool2d(kernel: p.kernel, stride: p.stride, padding: p.padding) },
                            { (n: inout Network<Double>) throws(DTDError) in try n.addMaxPool2d(kernel: p.kernel, stride: p.stride, padding: p.padding) })
    }
}

/// Appends an avg-pool. The corresponding Swift API is `Network.addAvgPool2d(kernel:stride:padding:countIncludePad:)`.
@c @implementation
public func dtd_network_add_avgpool2d(_ network: OpaquePointer?, _ kernel_h: Int64, _ kernel_w: Int64,
                                      _ stride_h: Int64, _ stride_w: Int64, _ padding_h: Int64, _ padding_w: Int64,
                                      _ count_include_pad: Int32) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let p = try poolArguments(kernel_h, kernel_w, stride_h, stride_w, padding_h, padding_w)
        let include = count_include_pad != 0
        try handle.buildAny(
            { (n: inout Network<Float>) throws(DTDError) in try n.addAvgPool2d(kernel: p.kernel, stride: p.stride, padding: p.padding, countIncludePad: include) },
            { (n: inout Network<Double>) throws(DTDError) in try n.addAvgPool2d(kernel: p.kernel, stride: p.stride, padding: p.padding, countIncludePad: include) })
    }
}

// MARK: Batch-norm

func addBatchNorm<T: BoundaryScalar>(_ network: OpaquePointer?, _ gamma: UnsafePointer<T>?, _ beta: UnsafePointer<T>?,
                                     _ mean: UnsafePointer<T>?, _ variance: UnsafePointer<T>?, _ count: Int64,
                                     _ eps: Double) throws(DTDError) {
    let handle = try Argument.network(network)
    _ = try Argument.size(count, "count")
    let g = try inputView(gamma, count, "gamma"), b = try inputView(beta, count, "beta")
    let m = try inputView(mean, count, "running_mean"), v = try inputView(variance, count, "running_var")
    try handle.build(T.self) { (net: inout Network<T>) throws(DTDError) in
        try net.addBatchNorm(gamma: g.span, beta: b.span, runningMean: m.span, runningVar: v.span, eps: eps)
    }
}

/// Appends a batch-norm folded into the preceding dense/conv layer. The corresponding Swift API
/// is `Network.addBatchNorm(gamma:beta:runningMean:runningVar:eps:)`.
@c @implementation
public func dtd_network_add_batchnorm_f32(_ network: OpaquePointer?, _ gamma: UnsafePointer<Float>?, _ beta: UnsafePointer<Float>?,
                                          _ running_mean: UnsafePointer<Float>?, _ running_var: UnsafePointer<Float>?,
                                          _ count: Int64, _ eps: Double) -> dtd_status {
    guarded { () throws(DTDError) in try addBatchNorm(network, gamma, beta, running_mean, running_var, count, eps) }
}

@c @implementation
public func dtd_network_add_batchnorm_f64(_ network: OpaquePointer?, _ gamma: UnsafePointer<Double>?, _ beta: UnsafePointer<Double>?,
                                          _ running_mean: UnsafePointer<Double>?, _ running_var: UnsafePointer<Double>?,
                                          _ count: Int64, _ eps: Double) -> dtd_status {
    guarded { () throws(DTDError) in try addBatchNorm(network, gamma, beta, running_mean, running_var, count, eps) }
}

// MARK: Queries

/// The network's element type.
@c @implementation
public func dtd_network_dtype(_ network: OpaquePointer?, _ out_dtype: UnsafeMutablePointer<dtd_dtype>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        try Argument.output(out_dtype, "out_dtype").pointee = handle.elementType.rawValue
    }
}

/// The number of layers.
@c @implementation
public func dtd_network_layer_count(_ network: OpaquePointer?, _ out_count: UnsafeMutablePointer<Int64>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        try Argument.output(out_count, "out_count").pointee = Int64(handle.layerCount)
    }
}

/// Elements per input sample.
@c @implementation
public func dtd_network_input_size(_ network: OpaquePointer?, _ out_size: UnsafeMutablePointer<Int64>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        try Argument.output(out_size, "out_size").pointee = Int64(try handle.shape(after: -1).count)
    }
}

/// Elements per output sample.
@c @implementation
public func dtd_network_output_size(_ network: OpaquePointer?, _ out_size: UnsafeMutablePointer<Int64>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        try Argument.output(out_size, "out_size").pointee = Int64(try handle.shape(after: handle.layerCount - 1).count)
    }
}

/// The kind of one layer.
@c @implementation
public func dtd_network_layer_kind(_ network: OpaquePointer?, _ layer: Int64, _ out_kind: UnsafeMutablePointer<dtd_layer_kind>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let out = try Argument.output(out_kind, "out_kind")
        let index = try Argument.layer(layer, of: handle)
        out.pointee = handle.layerKind(index).rawValue
    }
}

/// The activation shape after a layer (or the input's for -1).
@c @implementation
public func dtd_network_layer_shape(_ network: OpaquePointer?, _ layer: Int64, _ out_shape: UnsafeMutablePointer<Int64>?,
                                    _ capacity: Int64, _ out_rank: UnsafeMutablePointer<Int64>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        guard capacity >= 0 else { throw DTDError(.size, "capacity must be >= 0, got \(capacity)") }
        let shapeOut = try outputView(out_shape, capacity, "out_shape")
        let rankOut = try Argument.output(out_rank, "out_rank")
        let index = layer == -1 ? -1 : try Argument.layer(layer, of: handle, "layer (or -1 for the input)")
        let shape = try handle.shape(after: index)
        guard shapeOut.count >= shape.rank else {
            throw DTDError(.bufferTooSmall, "out_shape holds \(shapeOut.count) values, the shape \(shape) has rank \(shape.rank)")
        }
        for (i, d) in shape.dims.enumerated() { shapeOut[i] = Int64(d) }
        rankOut.pointee = Int64(shape.rank)
    }
}

extension NetworkHandle {
    func shape(after index: Int) throws(DTDError) -> Shape {
        switch model {
        case .float32(let n): try n.shape(after: index)
        case .float64(let n): try n.shape(after: index)
        }
    }

    func layerKind(_ index: Int) -> LayerKind {
        switch model {
        case .float32(let n): n.layers[index].kind
        case .float64(let n): n.layers[index].kind
        }
    }
}

// MARK: Forward

func forward<T: BoundaryScalar>(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
                                _ output: UnsafeMutablePointer<T>?, _ outputCount: Int64) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let n = try Argument.size(batch, "batch")
    let x = try inputView(input, inputCount, "input")
    var y = try outputView(output, outputCount, "output").mutableSpan
    try net.forward(input: x.span, batch: n, output: &y)
}

/// f(x) for a batch. The corresponding Swift API is `Network.forward(input:batch:output:)`.
@c @implementation
public func dtd_network_forward_f32(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                    _ output: UnsafeMutablePointer<Float>?, _ output_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try forward(network, batch, input, input_count, output, output_count) }
}

@c @implementation
public func dtd_network_forward_f64(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                    _ output: UnsafeMutablePointer<Double>?, _ output_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try forward(network, batch, input, input_count, output, output_count) }
}
