// MARK: - Building a network layer by layer
//
// Every `add` validates its arguments against the current output shape and either appends the
// layer or throws, leaving the network exactly as it was.

extension Network {
    /// Appends a dense layer z = W a + b.
    /// - Parameters:
    ///   - weight: `(outFeatures, inFeatures)`, row-major, copied.
    ///   - outFeatures: output size, > 0.
    ///   - inFeatures: input size, > 0; must equal the current (flat) output size.
    ///   - bias: `outFeatures` values, copied, or nil.
    /// - Throws: `DTDError` `.size`, `.overflow`, `.shapeMismatch` (a non-flat input, wrong
    ///   counts), `.nonFinite` (a weight or bias), `.outOfMemory`. The network is unchanged on failure.
    public mutating func addDense(weight: Span<T>, outFeatures: Int, inFeatures: Int, bias: Span<T>?) throws(DTDError) {
        let index = layers.count
        let name = "layer \(index) (dense)"
        try Limits.checkSize(outFeatures, "\(name): out_features")
        try Limits.checkSize(inFeatures, "\(name): in_features")
        let current = outputShape
        guard current.rank == 1 else {
            throw DTDError(.shapeMismatch, "\(name): needs a flat input, the current shape is \(current); add flatten first")
        }
        guard current.count == inFeatures else {
            throw DTDError(.shapeMismatch, "\(name): in_features = \(inFeatures) does not match the current shape \(current)")
        }
        let weightCount = try Limits.product(outFeatures, inFeatures, "\(name): weight (\(outFeatures), \(inFeatures))")
        let geometry = LinearLayer<T>.Geometry.dense(inFeatures: inFeatures, outFeatures: outFeatures)
        let layer = try Self.makeLinear(geometry: geometry, name: name, weight: weight, weightCount: weightCount,
                                        weightShape: "(\(outFeatures), \(inFeatures))", bias: bias, outChannels: outFeatures)
        append(.linear(layer))
    }

    /// Appends a 2-D convolution (groups = 1) with zero padding.
    /// - Parameters:
    ///   - weight: `(outChannels, inChannels, kernel.0, kernel.1)`, copied.
    ///   - outChannels, inChannels: channel counts, > 0; `inChannels` must match the current shape.
    ///   - kernel: `(kH, kW)`, > 0.
    ///   - bias: `outChannels` values, copied, or nil.
    ///   - stride, padding, dilation: per axis (stride and dilation > 0, padding >= 0).
    /// - Throws: `DTDError` `.size`, `.overflow`, `.shapeMismatch` (a flat input, a kernel larger
    ///   than the padded input, wrong counts), `.nonFinite`, `.outOfMemory`. The network is
    ///   unchanged on failure.
    public mutating func addConv2d(weight: Span<T>, outChannels: Int, inChannels: Int,
                                   kernel: (Int, Int), bias: Span<T>?,
                                   stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                   dilation: (Int, Int) = (1, 1)) throws(DTDError) {
        let index = layers.count
        let name = "layer \(index) (conv2d)"
        try Limits.checkSize(inChannels, "\(name): in_channels")
        let current = outputShape
        if current.isImage, current.channels != inChannels {
            throw DTDError(.shapeMismatch, "\(name): in_channels = \(inChannels) does not match the current shape \(current)")
        }
        let geometry = try ConvGeometry(input: current, outChannels: outChannels, kernel: kernel, stride: stride,
                                        padding: padding, dilation: dilation, layer: index)
        let weightCount = geometry.outChannels * geometry.patchSize
        let layer = try Self.makeLinear(
            geometry: .conv(geometry), name: name, weight: weight, weightCount: weightCount,
            weightShape: "(\(outChannels), \(inChannels), \(kernel.0), \(kernel.1))", bias: bias, outChannels: outChannels)
        append(.linear(layer))
    }

    /// Appends max(0, z) (NaN stays NaN).
    public mutating func addReLU() {
        append(.relu(outputShape))
    }

    /// Appends a reshape to a flat activation.
    public mutating func addFlatten() {
        append(.flatten(input: outputShape))
    }

    /// Appends PyTorch's MaxPool2d (padding counts as -infinity; the first maximum wins).
    /// - Parameters:
    ///   - kernel: `(kH, kW)`, > 0.
    ///   - stride: per axis, > 0 (PyTorch's default is the kernel).
    ///   - padding: per axis, at most half the kernel.
    /// - Throws: `DTDError` `.shapeMismatch` (a flat input, a window larger than the padded
    ///   input), `.size`, `.invalidArgument` (padding). The network is unchanged on failure.
    public mutating func addMaxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0)) throws(DTDError) {
        let geometry = try PoolGeometry(input: outputShape, kernel: kernel, stride: stride, padding: padding,
                                        countIncludePad: true, layer: layers.count, kind: "maxpool2d")
        append(.maxPool2d(geometry))
    }

    /// Appends PyTorch's AvgPool2d.
    /// - Parameters:
    ///   - kernel, stride, padding: as for `addMaxPool2d`.
    ///   - countIncludePad: whether padded cells count in a window's divisor (PyTorch's default).
    /// - Throws: `DTDError` as `addMaxPool2d`.
    public mutating func addAvgPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
                                      countIncludePad: Bool = true) throws(DTDError) {
        let geometry = try PoolGeometry(input: outputShape, kernel: kernel, stride: stride, padding: padding,
                                        countIncludePad: countIncludePad, layer: layers.count, kind: "avgpool2d")
        append(.avgPool2d(geometry))
    }

    /// Appends eval-mode batch normalisation, folded into the preceding dense/conv layer:
    /// W' = W * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta.
    /// - Parameters:
    ///   - gamma, beta, runningMean, runningVar: one value per output channel of the previous layer.
    ///   - eps: >= 0, finite.
    /// - Throws: `DTDError` `.layerOrder` (no dense/conv layer right before), `.shapeMismatch`,
    ///   `.nonFinite`, `.invalidArgument` (var + eps <= 0). The network is unchanged on failure.
    public mutating func addBatchNorm(gamma: Span<T>, beta: Span<T>, runningMean: Span<T>, runningVar: Span<T>,
                                      eps: Double) throws(DTDError) {
        let index = layers.count
        let name = "layer \(index) (batchnorm)"
        guard let previousIndex = layers.indices.last, let target = layers[previousIndex].linear else {
            let previous = layers.last.map { "layer \(layers.count - 1) is \($0.kind)" } ?? "the network is empty"
            throw DTDError(.layerOrder, "\(name): batch-norm must directly follow a dense or conv2d layer to be folded; \(previous)")
        }
        let count = gamma.count
        func check(_ buffer: borrowing Span<T>, _ argument: String) throws(DTDError) {
            guard buffer.count == count else {
                throw DTDError(.shapeMismatch, "\(name): \(argument) has \(buffer.count) elements, gamma has \(count)")
            }
        }
        try check(beta, "beta")
        try check(runningMean, "running_mean")
        try check(runningVar, "running_var")
        guard count == target.outChannels else {
            throw DTDError(.shapeMismatch,
                "\(name): count = \(count) does not match the \(target.outChannels) output channels of layer \(previousIndex) (\(layers[previousIndex].kind), output \(target.outputShape))")
        }
        guard eps.isFinite else { throw DTDError(.nonFinite, "\(name): eps is \(eps)") }
        guard eps >= 0 else { throw DTDError(.invalidArgument, "\(name): eps must be >= 0, got \(eps)") }
        try Self.checkFinite(gamma, "\(name): gamma")
        try Self.checkFinite(beta, "\(name): beta")
        try Self.checkFinite(runningMean, "\(name): running_mean")
        try Self.checkFinite(runningVar, "\(name): running_var")
        var scale = [Double]()
        for c in 0..<count {
            let denominator = Double(runningVar[c]) + eps
            guard denominator > 0 else {
                throw DTDError(.invalidArgument, "\(name): running_var[\(c)] + eps = \(denominator) must be > 0")
            }
            scale.append(Double(gamma[c]) / denominator.squareRoot())
        }
        let fan = target.fanIn
        let weight = try Storage<T>(count: target.weight.count)
        let bias = try Storage<T>(count: count)
        for c in 0..<count {
            let s = scale[c]
            for i in 0..<fan { weight[c * fan + i] = T(Double(target.weight[c * fan + i]) * s) }
            let b = target.bias.map { Double($0[c]) } ?? 0
            bias[c] = T((b - Double(runningMean[c])) * s + Double(beta[c]))
        }
        for i in 0..<weight.count where !weight[i].isFinite {
            throw DTDError(.nonFinite, "\(name): folding gives a non-finite weight at \(i) (gamma / sqrt(var + eps) too large)")
        }
        layers[previousIndex] = .linear(try LinearLayer(geometry: target.geometry, weight: weight, bias: bias))
        append(.batchNorm(outputShape, foldedInto: previousIndex))
    }

    // MARK: Array conveniences (Swift callers and tests)

    /// `addDense(weight:outFeatures:inFeatures:bias:)` on arrays.
    public mutating func addDense(weight: [T], outFeatures: Int, inFeatures: Int, bias: [T]?) throws(DTDError) {
        if let bias {
            try addDense(weight: weight.span, outFeatures: outFeatures, inFeatures: inFeatures, bias: bias.span)
        } else {
            try addDense(weight: weight.span, outFeatures: outFeatures, inFeatures: inFeatures, bias: nil)
        }
    }

    /// `addConv2d(weight:outChannels:inChannels:kernel:bias:stride:padding:dilation:)` on arrays.
    public mutating func addConv2d(weight: [T], outChannels: Int, inChannels: Int, kernel: (Int, Int), bias: [T]?,
                                   stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                   dilation: (Int, Int) = (1, 1)) throws(DTDError) {
        if let bias {
            try addConv2d(weight: weight.span, outChannels: outChannels, inChannels: inChannels, kernel: kernel,
                          bias: bias.span, stride: stride, padding: padding, dilation: dilation)
        } else {
            try addConv2d(weight: weight.span, outChannels: outChannels, inChannels: inChannels, kernel: kernel,
                          bias: nil, stride: stride, padding: padding, dilation: dilation)
        }
    }

    /// `addBatchNorm(gamma:beta:runningMean:runningVar:eps:)` on arrays.
    public mutating func addBatchNorm(gamma: [T], beta: [T], runningMean: [T], runningVar: [T], eps: Double) throws(DTDError) {
        try addBatchNorm(gamma: gamma.span, beta: beta.span, runningMean: runningMean.span, runningVar: runningVar.span,
                         eps: eps)
    }

    // MARK: Shared validation

    /// Throws `.nonFinite` naming the first non-finite value of `values`.
    private static func checkFinite(_ values: borrowing Span<T>, _ name: String) throws(DTDError) {
        for i in values.indices where !values[i].isFinite {
            throw DTDError(.nonFinite, "\(name)[\(i)] is \(values[i])")
        }
    }

    private static func makeLinear(geometry: LinearLayer<T>.Geometry, name: String, weight: Span<T>,
                                   weightCount: Int, weightShape: String, bias: Span<T>?,
                                   outChannels: Int) throws(DTDError) -> LinearLayer<T> {
        guard weight.count == weightCount else {
            throw DTDError(.shapeMismatch, "\(name): weight has \(weight.count) elements, the shape \(weightShape) needs \(weightCount)")
        }
        if let count = bias?.count, count != outChannels {
            throw DTDError(.shapeMismatch, "\(name): bias has \(count) elements, the layer has \(outChannels) outputs")
        }
        try checkFinite(weight, "\(name): weight")
        if let bias { try checkFinite(bias, "\(name): bias") }
        let w = try Storage<T>(copying: weight)
        var b: Storage<T>?
        if let bias { b = try Storage<T>(copying: bias) }
        return try LinearLayer(geometry: geometry, weight: w, bias: b)
    }
}
