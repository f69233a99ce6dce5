import CDTD
import DTDCore

// MARK: - 3. Network handle: graph layers, asymmetric padding, layer sources

/// The most sources one route or add may list (a larger count is an argument error, not an
/// allocation the caller's number controls).
private let maxSources = 1 << 16

/// A route's or add's `from` list.
private func sources(_ from: UnsafePointer<Int64>?, _ count: Int64) throws(DTDError) -> [Int] {
    let n = try Argument.size(count, "count")
    guard n <= maxSources else { throw DTDError(.size, "count = \(n) exceeds the limit of \(maxSources) sources") }
    let values = try inputView(from, count, "from")
    return values.map { Int($0) }
}

/// Appends a route. The corresponding Swift API is `Network.addRoute(from:)`.
@c @implementation
public func dtd_network_add_route(_ network: OpaquePointer?, _ from: UnsafePointer<Int64>?, _ count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let list = try sources(from, count)
        try handle.buildAny({ (n: inout Network<Float>) throws(DTDError) in try n.addRoute(from: list) },
                            { (n: inout Network<Double>) throws(DTDError) in try n.addRoute(from: list) })
    }
}

/// Appends an add. The corresponding Swift API is `Network.addAdd(from:)`.
@c @implementation
public func dtd_network_add_add(_ network: OpaquePointer?, _ from: UnsafePointer<Int64>?, _ count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let list = try sources(from, count)
        try handle.buildAny({ (n: inout Network<Float>) throws(DTDError) in try n.addAdd(from: list) },
                            { (n: inout Network<Double>) throws(DTDError) in try n.addAdd(from: list) })
    }
}

/// Appends an identity. The corresponding Swift API is `Network.addIdentity()`.
@c @implementation
public func dtd_network_add_identity(_ network: OpaquePointer?) -> dtd_status {
    guarded { () throws(DTDError) in
        try Argument.network(network).buildAny({ $0.addIdentity() }, { $0.addIdentity() })
    }
}

/// Appends an adaptive average pool. The corresponding Swift API is `Network.addAdaptiveAvgPool2d(outputSize:)`.
@c @implementation
public func dtd_network_add_adaptive_avgpool2d(_ network: OpaquePointer?, _ out_h: Int64, _ out_w: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let size = (try Argument.size(out_h, "out_h"), try Argument.size(out_w, "out_w"))
        try handle.buildAny({ (n: inout Network<Float>) throws(DTDError) in try n.addAdaptiveAvgPool2d(outputSize: size) },
                            { (n: inout Network<Double>) throws(DTDError) in try n.addAdaptiveAvgPool2d(outputSize: size) })
    }
}

/// Padding on each side from the C arguments.
private func padding(_ top: Int64, _ bottom: Int64, _ left: Int64, _ right: Int64) throws(DTDError) -> Padding {
    Padding(top: try Argument.count(top, "pad_top"), bottom: try Argument.count(bottom, "pad_bottom"),
            left: try Argument.count(left, "pad_left"), right: try Argument.count(right, "pad_right"))
}

func addPaddedConv2d<T: BoundaryScalar>(_ network: OpaquePointer?, _ weight: UnsafePointer<T>?, _ weightCount: Int64,
                                        _ outChannels: Int64, _ inChannels: Int64, _ kernelH: Int64, _ kernelW: Int64,
                                        _ bias: UnsafePointer<T>?, _ biasCount: Int64, _ strideH: Int64, _ strideW: Int64,
                                        _ pads: (Int64, Int64, Int64, Int64), _ dilH: Int64, _ dilW: Int64) throws(DTDError) {
    let handle = try Argument.network(network)
    let w = try inputView(weight, weightCount, "weight")
    let b = try optionalInputView(bias, biasCount, "bias")
    let sizes = [("out_channels", outChannels), ("in_channels", inChannels), ("kernel_h", kernelH), ("kernel_w", kernelW),
                 ("stride_h", strideH), ("stride_w", strideW), ("dilation_h", dilH), ("dilation_w", dilW)]
    var values: [Int] = []
    for (name, value) in sizes { values.append(try Argument.size(value, name)) }
    let pad = try padding(pads.0, pads.1, pads.2, pads.3)
    try handle.build(T.self) { (net: inout Network<T>) throws(DTDError) in
        if let b {
            try net.addConv2d(weight: w.span, outChannels: values[0], inChannels: values[1], kernel: (values[2], values[3]),
                              bias: b.span, stride: (values[4], values[5]), padding: pad, dilation: (values[6], values[7]))
        } else {
            try net.addConv2d(weight: w.span, outChannels: values[0], inChannels: values[1], kernel: (values[2], values[3]),
                              bias: nil, stride: (values[4], values[5]), padding: pad, dilation: (values[6], values[7]))
        }
    }
}

/// Appends a conv2d with padding per side. The corresponding Swift API is
/// `Network.addConv2d(weight:outChannels:inChannels:kernel:bias:stride:padding:dilation:)` with a `Padding`.
@c @implementation
public func dtd_network_add_conv2d_padded_f32(_ network: OpaquePointer?, _ weight: UnsafePointer<Float>?, _ weight_count: Int64,
                                              _ out_channels: Int64, _ in_channels: Int64, _ kernel_h: Int64, _ kernel_w: Int64,
                                              _ bias: UnsafePointer<Float>?, _ bias_count: Int64,
                                              _ stride_h: Int64, _ stride_w: Int64,
                                              _ pad_top: Int64, _ pad_bottom: Int64, _ pad_left: Int64, _ pad_right: Int64,
                                              _ dilation_h: Int64, _ dilation_w: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try addPaddedConv2d(network, weight, weight_count, out_channels, in_channels, kernel_h, kernel_w, bias, bias_count,
                            stride_h, stride_w, (pad_top, pad_bottom, pad_left, pad_right), dilation_h, dilation_w)
    }
}

@c @implementation
public func dtd_network_add_conv2d_padded_f64(_ network: OpaquePointer?, _ weight: UnsafePointer<Double>?, _ weight_count: Int64,
                                              _ out_channels: Int64, _ in_channels: Int64, _ kernel_h: Int64, _ kernel_w: Int64,
                                              _ bias: UnsafePointer<Double>?, _ bias_count: Int64,
                                              _ stride_h: Int64, _ stride_w: Int64,
                                              _ pad_top: Int64, _ pad_bottom: Int64, _ pad_left: Int64, _ pad_right: Int64,
                                              _ dilation_h: Int64, _ dilation_w: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try addPaddedConv2d(network, weight, weight_count, out_channels, in_channels, kernel_h, kernel_w, bias, bias_count,
                            stride_h, stride_w, (pad_top, pad_bottom, pad_left, pad_right), dilation_h, dilation_w)
    }
}

/// Appends a max-pool with padding per side. The corresponding Swift API is
/// `Network.addMaxPool2d(kernel:stride:padding:)` with a `Padding`.
@c @implementation
public func dtd_network_add_maxpool2d_padded(_ network: OpaquePointer?, _ kernel_h: Int64, _ kernel_w: Int64,
                                             _ stride_h: Int64, _ stride_w: Int64,
                                             _ pad_top: Int64, _ pad_bottom: Int64, _ pad_left: Int64, _ pad_right: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let p = try poolArguments(kernel_h, kernel_w, stride_h, stride_w, 0, 0)
        let pad = try padding(pad_top, pad_bottom, pad_left, pad_right)
        try handle.buildAny({ (n: inout Network<Float>) throws(DTDError) in try n.addMaxPool2d(kernel: p.kernel, stride: p.stride, padding: pad) },
                            { (n: inout Network<Double>) throws(DTDError) in try n.addMaxPool2d(kernel: p.kernel, stride: p.stride, padding: pad) })
    }
}

/// Appends an avg-pool with padding per side. The corresponding Swift API is
/// `Network.addAvgPool2d(kernel:stride:padding:countIncludePad:)` with a `Padding`.
@c @implementation
public func dtd_network_add_avgpool2d_padded(_ network: OpaquePointer?, _ kernel_h: Int64, _ kernel_w: Int64,
                                             _ stride_h: Int64, _ stride_w: Int64,
                                             _ pad_top: Int64, _ pad_bottom: Int64, _ pad_left: Int64, _ pad_right: Int64,
                                             _ count_include_pad: Int32) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let p = try poolArguments(kernel_h, kernel_w, stride_h, stride_w, 0, 0)
        let pad = try padding(pad_top, pad_bottom, pad_left, pad_right)
        let include = count_include_pad != 0
        try handle.buildAny(
            { (n: inout Network<Float>) throws(DTDError) in try n.addAvgPool2d(kernel: p.kernel, stride: p.stride, padding: pad, countIncludePad: include) },
            { (n: inout Network<Double>) throws(DTDError) in try n.addAvgPool2d(kernel: p.kernel, stride: p.stride, padding: pad, countIncludePad: include) })
    }
}

/// The layers a layer reads. The corresponding Swift API is `Network.operands(of:)`.
@c @implementation
public func dtd_network_layer_sources(_ network: OpaquePointer?, _ layer: Int64, _ out_from: UnsafeMutablePointer<Int64>?,
                                      _ capacity: Int64, _ out_count: UnsafeMutablePointer<Int64>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        guard capacity >= 0 else { throw DTDError(.size, "capacity must be >= 0, got \(capacity)") }
        // NULL with capacity 0 asks for the count alone.
        let fromOut = try optionalOutputView(out_from, capacity, "out_from") ?? UnsafeMutableBufferPointer(start: nil, count: 0)
        let countOut = try Argument.output(out_count, "out_count")
        let index = try Argument.layer(layer, of: handle)
        let operands: [Int]
        switch handle.model {
        case .float32(let n): operands = n.operands(of: index)
        case .float64(let n): operands = n.operands(of: index)
        }
        countOut.pointee = Int64(operands.count)
        guard fromOut.count >= operands.count else {
            throw DTDError(.bufferTooSmall, "out_from holds \(fromOut.count) values, layer \(index) reads \(operands.count) outputs")
        }
        for (i, source) in operands.enumerated() { fromOut[i] = Int64(source) }
    }
}
