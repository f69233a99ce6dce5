// MARK: - Building a network layer by layer
//
// Every `add` validates its arguments against the current output shape and either appends the
// layer or throws, leaving the network exactly as it was.

extension Network {
    /// Appends a dense layer z = W a + b.
    /// - Parameters:
    ///   - weight: `(outFeatures, inFeatures)`, row-major, copied.
    ///   - bias: `outFeatures` values, copied, or nil.
    public mutating func addDense(weight: UnsafeBufferPointer<T>, outFeatures: Int, inFeatures: Int,
                                  bias: UnsafeBufferPointer<T>?) throws(DTDError) {
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
    /// - Parameter weight: `(outChannels, inChannels, kernel.0, kernel.1)`, copied.
    public mutating func addConv2d(weight: UnsafeBufferPointer<T>, outChannels: Int, inChannels: Int,
                                   kernel: (Int, Int), bias: UnsafeBufferPointer<T>?,
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

    /// Appends max(0, z).
    public mutating func addReLU() {
        append(.relu(outputShape))
    }

    /// Appends a reshape to a flat activation.
    public mutating func addFlatten() {
        append(.flatten(input: outputShape))
    }

    /// Appends PyTorch's MaxPool2d (padding counts as -infinity; the first maximum wins).
    public mutating func addMaxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0)) throws(DTDError) {
        let geometry = try PoolGeometry(input: outputShape, kernel: kernel, stride: stride, padding: padding,
                                        countIncludePad: true, layer: layers.count, kind: "maxpool2d")
        append(.maxPool2d(geometry))
    }

    /// Appends PyTorch's AvgPool2d.
    public mutating func addAvgPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
                                      countIncludePad: Bool = true) throws(DTDError) {
        let geometry = try PoolGeometry(input: outputShape, kernel: kernel, stride: stride, padding: padding,
                                        countIncludePad: countIncludePad, layer: layers.count, kind: "avgpool2d")
        append(.avgPool2d(geometry))
    }

    /// Appends eval-mode batch normalisation, folded into the preceding dense/conv layer:
    /// W' = W * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta.
    public mutating func addBatchNorm(gamma: UnsafeBufferPointer<T>, beta: UnsafeBufferPointer<T>,
                                      runningMean: UnsafeBufferPointer<T>, runningVar: UnsafeBufferPointer<T>,
                                      eps: Double) throws(DTDError) {
        let index = layers.count
        let name = "layer \(index) (batchnorm)"
        guard let previousIndex = layers.indices.last, let target = layers[previousIndex].linear else {
            let previous = layers.last.map { "layer \(layers.count - 1) is \($0.kind)" } ?? "the network is empty"
            throw DTDError(.layerOrder, "\(name): batch-norm must directly follow a dense or conv2d layer to be folded; \(previous)")
        }
        let count = gamma.count
        for (argument, buffer) in [("beta", beta), ("running_mean", runningMean), ("running_var", runningVar)] where buffer.count != count {
            throw DTDError(.shapeMismatch, "\(name): \(argument) has \(buffer.count) elements, gamma has \(count)")
        }
        guard count == target.outChannels else {
            throw DTDError(.shapeMismatch,
                "\(name): count = \(count) does not match the \(target.outChannels) output channels of layer \(previousIndex) (\(layers[previousIndex].kind), output \(target.outputShape))")
        }
        guard eps.isFinite else { throw DTDError(.nonFinite, "\(name): eps is \(eps)") }
        guard eps >= 0 else { throw DTDError(.invalidArgument, "\(name): eps must be >= 0, got \(eps)") }
        for (argument, buffer) in [("gamma", gamma), ("beta", beta), ("running_mean", runningMean), ("running_var", runningVar)] {
            if let bad = buffer.firstIndex(where: { !$0.isFinite }) {
                throw DTDError(.nonFinite, "\(name): \(argument)[\(bad)] is \(buffer[bad])")
            }
        }
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
            for i in 0..<fan { weight.mutablePointer[c * fan + i] = T(Double(target.weight[c * fan + i]) * s) }
            let b = target.bias.map { Double($0[c]) } ?? 0
            bias.mutablePointer[c] = T((b - Double(runningMean[c])) * s + Double(beta[c]))
        }
        for i in 0..<weight.count where !weight[i].isFinite {
            throw DTDError(.nonFinite, "\(name): folding gives a non-finite weight at \(i) (gamma / sqrt(var + eps) too large)")
        }
        layers[previousIndex] = .linear(try LinearLayer(geometry: target.geometry, weight: weight, bias: bias))
        append(.batchNorm(outputShape, foldedInto: previousIndex))
    }

    // MARK: Array conveniences (Swift callers and tests)

    public mutating func addDense(weight: [T], outFeatures: Int, inFeatures: Int, bias: [T]?) throws(DTDError) {
        let w = try Storage(weight), b = try Self.storage(bias)
        try addDense(weight: w.buffer, outFeatures: outFeatures, inFeatures: inFeatures, bias: b?.buffer)
    }

    public mutating func addConv2d(weight: [T], outChannels: Int, inChannels: Int, kernel: (Int, Int), bias: [T]?,
                                   stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                   dilation: (Int, Int) = (1, 1)) throws(DTDError) {
        let w = try Storage(weight), b = try Self.storage(bias)
        try addConv2d(weight: w.buffer, outChannels: outChannels, inChannels: inChannels, kernel: kernel,
                      bias: b?.buffer, stride: stride, padding: padding, dilation: dilation)
    }

    public mutating func addBatchNorm(gamma: [T], beta: [T], runningMean: [T], runningVar: [T], eps: Double) throws(DTDError) {
        let g = try Storage(gamma), b = try Storage(beta), m = try Storage(runningMean), v = try Storage(runningVar)
        try addBatchNorm(gamma: g.buffer, beta: b.buffer, runningMean: m.buffer, runningVar: v.buffer, eps: eps)
    }

    private static func storage(_ values: [T]?) throws(DTDError) -> Storage<T>? {
        guard let values else { return nil }
        return try Storage(values)
    }

    // MARK: Shared validation

    private static func makeLinear(geometry: LinearLayer<T>.Geometry, name: String, weight: UnsafeBufferPointer<T>,
                                   weightCount: Int, weightShape: String, bias: UnsafeBufferPointer<T>?,
                                   outChannels: Int) throws(DTDError) -> LinearLayer<T> {
        guard weight.count == weightCount else {
            throw DTDError(.shapeMismatch, "\(name): weight has \(weight.count) elements, the shape \(weightShape) needs \(weightCount)")
        }
        if let bias, bias.count != outChannels {
            throw DTDError(.shapeMismatch, "\(name): bias has \(bias.count) elements, the layer has \(outChannels) outputs")
        }
        if let bad = weight.firstIndex(where: { !$0.isFinite }) {
            throw DTDError(.nonFinite, "\(name): weight[\(bad)] is \(weight[bad])")
        }
        if let bias, let bad = bias.firstIndex(where: { !$0.isFinite }) {
            throw DTDError(.nonFinite, "\(name): bias[\(bad)] is \(bias[bad])")
        }
        let w = try Storage<T>(copying: weight)
        let b = try bias.map { (b: UnsafeBufferPointer<T>) throws(DTDError) -> Storage<T> in try Storage<T>(copying: b) }
        return try LinearLayer(geometry: geometry, weight: w, bias: b)
    }
}
