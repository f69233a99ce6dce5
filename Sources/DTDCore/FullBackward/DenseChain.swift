/// The network seen by full-backward DTD: a chain of dense layers, each followed by a ReLU, with
/// weights and biases in float64 (`Include/dtd.h` section 8).
///
/// This is the only full-backward code that reads a `Network`'s internals; everything else
/// works on these arrays.
public struct DenseChain: Sendable {
    /// One dense layer and the ReLU after it.
    public struct Layer: Sendable {
        /// Position of the dense layer in the network's layer list.
        public let index: Int
        public let inputs: Int
        public let outputs: Int
        /// W, (outputs, inputs) row-major (a folded batch norm included).
        public let weight: [Double]
        /// b, `outputs` elements (zeros for a layer without bias).
        public let bias: [Double]

        public init(index: Int, inputs: Int, outputs: Int, weight: [Double], bias: [Double]) {
            self.index = index
            self.inputs = inputs
            self.outputs = outputs
            self.weight = weight
            self.bias = bias
        }

        /// z = W a + b.
        public func preactivation(_ a: [Double]) -> [Double] {
            var z = bias
            for j in 0..<outputs {
                var s = 0.0
                let row = j * inputs
                for i in 0..<inputs { s += weight[row + i] * a[i] }
                z[j] += s
            }
            return z
        }
    }

    public let layers: [Layer]
    /// Elements of one input sample.
    public var inputCount: Int { layers.first?.inputs ?? 0 }
    /// Elements of the output (the last layer's units).
    public var outputCount: Int { layers.last?.outputs ?? 0 }

    /// Reads `network`, which must be dense, [batchnorm,] relu, repeated (a batch norm is folded
    /// into its dense layer and is the identity).
    /// - Throws: `.emptyNetwork`; `.unsupported` naming the first layer that breaks the pattern.
    public init<T: DTDScalar>(_ network: Network<T>) throws(DTDError) {
        try network.checkNotEmpty()
        let pattern = "full-backward DTD needs a chain of dense layers, each followed by a ReLU"
        var layers: [Layer] = []
        var pending: (index: Int, linear: LinearLayer<T>)?
        for (index, layer) in network.layers.enumerated() {
            switch layer {
            case .linear(let linear) where !linear.isConv:
                if let open = pending {
                    throw DTDError(.unsupported, "\(pattern); layer \(index) (dense) follows the dense layer \(open.index) without a ReLU between them")
                }
                pending = (index, linear)
            case .batchNorm where pending != nil:
                continue
            case .relu:
                guard let open = pending else {
                    throw DTDError(.unsupported, "\(pattern); layer \(index) (relu) does not follow a dense layer")
                }
                let w = open.linear.weight.map { Double($0) }
                let b = open.linear.bias.map { $0.map { Double($0) } }
                    ?? [Double](repeating: 0, count: open.linear.outChannels)
                layers.append(Layer(index: open.index, inputs: open.linear.fanIn, outputs: open.linear.outChannels,
                                    weight: w, bias: b))
                pending = nil
            default:
                throw DTDError(.unsupported, "\(pattern); layer \(index) is \(layer.kind)")
            }
        }
        if let open = pending {
            throw DTDError(.unsupported, "\(pattern); the network ends with layer \(open.index) (dense) without a ReLU after it")
        }
        self.layers = layers
    }

    /// Builds a chain from raw layers (tests).
    public init(layers: [Layer]) { self.layers = layers }

    /// The forward trace of one sample: pre-activations z^l and activations a^l = max(z^l, 0)
    /// of every layer; `activations[0]` is x itself, `activations[l + 1]` the output of layer l.
    public func forward(_ x: [Double]) -> (preactivations: [[Double]], activations: [[Double]]) {
        var pre: [[Double]] = []
        var post: [[Double]] = [x]
        pre.reserveCapacity(layers.count)
        post.reserveCapacity(layers.count + 1)
        for layer in layers {
            let z = layer.preactivation(post[post.count - 1])
            pre.append(z)
            post.append(z.map { max($0, 0) })
        }
        return (pre, post)
    }
}
