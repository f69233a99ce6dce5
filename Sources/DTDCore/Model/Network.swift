/// A feed-forward ReLU network: an input shape and a list of layers.
///
/// A `Network` is a value: building returns or mutates a copy, and a built network is immutable
/// and `Sendable`, so any number of threads may explain with it at once. Layer indices are
/// positions in `layers` (ReLU, pooling, flatten and batch-norm included), the indices the rules
/// and the audit use.
public struct Network<T: DTDScalar>: Sendable {
    /// Shape of one input sample.
    public let inputShape: Shape
    /// The layers, in order.
    public internal(set) var layers: [Layer<T>] = []
    /// Identifies this exact layer list, so a rule set can tell whether it was prepared for it.
    public internal(set) var fingerprint = Fingerprint()

    /// A fresh token for every layer list: every added layer, in any copy, makes a new one, so
    /// two networks grown apart from one base never share a fingerprint. Rule sets hold the
    /// token itself, so its identity cannot be reused while they exist.
    public struct Fingerprint: Equatable, Sendable {
        private final class Token: Sendable {}
        private let token = Token()

        public static func == (lhs: Fingerprint, rhs: Fingerprint) -> Bool { lhs.token === rhs.token }
    }

    /// An empty network for inputs of `inputShape` ((D) or (C, H, W)).
    public init(inputShape: Shape) throws(DTDError) {
        guard inputShape.rank == 1 || inputShape.rank == 3 else {
            throw DTDError(.invalidArgument, "input_rank must be 1 (D) or 3 (C, H, W), got \(inputShape.rank)")
        }
        for (i, d) in inputShape.dims.enumerated() { try Limits.checkSize(d, "input_shape[\(i)]") }
        let count = try Limits.product(inputShape.dims, "input_shape")
        guard count <= Limits.maxDimension else {
            throw DTDError(.size, "input_shape \(inputShape) has \(count) elements, above the limit \(Limits.maxDimension)")
        }
        self.inputShape = inputShape
    }

    /// This network with every convolution's forward output on im2col: tests compare the two
    /// lowerings in one process (the rule sets of this network stay valid for it).
    func withoutWinograd() -> Network {
        var copy = self
        copy.layers = layers.map { layer in
            if case .linear(let l) = layer { .linear(l.withoutWinograd()) } else { layer }
        }
        return copy
    }

    /// Shape of one output sample (the input shape for an empty network).
    public var outputShape: Shape { layers.last?.outputShape ?? inputShape }
    /// Elements per input sample.
    public var inputCount: Int { inputShape.count }
    /// Elements per output sample.
    public var outputCount: Int { outputShape.count }

    /// The activation shape after layer `index`, or the input shape for `index == -1`.
    public func shape(after index: Int) throws(DTDError) -> Shape {
        if index == -1 { return inputShape }
        try checkLayerIndex(index, "layer (or -1 for the input)")
        return layers[index].outputShape
    }

    /// Throws `.emptyNetwork` when there is nothing to run.
    public func checkNotEmpty() throws(DTDError) {
        guard !layers.isEmpty else { throw DTDError(.emptyNetwork, "the network has no layers; add layers before running it") }
    }

    /// Throws `.layerIndex` unless `index` names a layer.
    public func checkLayerIndex(_ index: Int, _ name: String = "layer") throws(DTDError) {
        guard index >= 0, index < layers.count else {
            throw DTDError(.layerIndex, "\(name) = \(index) is outside [0, \(layers.count)) for a network of \(layers.count) layers")
        }
    }

    mutating func append(_ layer: Layer<T>) {
        layers.append(layer)
        fingerprint = Fingerprint()
    }
}
