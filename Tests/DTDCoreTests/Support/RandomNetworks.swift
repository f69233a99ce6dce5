@testable import DTDCore

/// The sign pattern of a random network's biases.
enum BiasSigns: Sendable {
    case none, mixed, positive, negative

    func draw(_ count: Int, _ rng: inout SplitMix64) -> [Double]? {
        switch self {
        case .none: nil
        case .mixed: rng.uniform(count, in: -0.5...0.5)
        case .positive: rng.uniform(count, in: 0.05...0.5)
        case .negative: rng.uniform(count, in: -0.5...(-0.05))
        }
    }
}

/// Builds a `NetworkSpec` with seeded random parameters, tracking the activation shape so each
/// layer fits the one before (PyTorch's output-size formula for conv and pooling). Each method
/// returns the extended builder, so a network reads as one chain.
struct RandomNetworkBuilder {
    private(set) var spec: NetworkSpec
    private(set) var shape: [Int]
    private var rng: SplitMix64

    init(name: String, inputShape: [Int], seed: UInt64) {
        spec = NetworkSpec(name: name, inputShape: inputShape)
        shape = inputShape
        rng = SplitMix64(seed: seed)
    }

    func dense(_ out: Int, bias: BiasSigns = .mixed) -> Self {
        var next = self
        let inFeatures = shape[0]
        let weight = next.rng.uniform(out * inFeatures, in: -1...1)
        let b = bias.draw(out, &next.rng)
        next.spec.layers.append(.dense(weight: weight, outFeatures: out, inFeatures: inFeatures, bias: b))
        next.shape = [out]
        return next
    }

    func conv(_ out: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                       dilation: (Int, Int) = (1, 1), bias: BiasSigns = .mixed) -> Self {
        var next = self
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let weight = next.rng.uniform(out * c * kernel.0 * kernel.1, in: -1...1)
        let b = bias.draw(out, &next.rng)
        next.spec.layers.append(.conv2d(ConvSpec(weight: weight, outChannels: out, inChannels: c, kernel: kernel,
                                                 bias: b, stride: stride, padding: padding, dilation: dilation)))
        next.shape = [out,
                      (h + 2 * padding.0 - dilation.0 * (kernel.0 - 1) - 1) / stride.0 + 1,
                      (w + 2 * padding.1 - dilation.1 * (kernel.1 - 1) - 1) / stride.1 + 1]
        return next
    }

    func relu() -> Self {
        var next = self
        next.spec.layers.append(.relu)
        return next
    }

    func flatten() -> Self {
        var next = self
        next.spec.layers.append(.flatten)
        next.shape = [shape.reduce(1, *)]
        return next
    }

    func maxPool(_ kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0)) -> Self {
        var next = self
        next.spec.layers.append(.maxPool2d(kernel: kernel, stride: stride, padding: padding))
        next.shape = poolShape(kernel, stride, padding)
        return next
    }

    func avgPool(_ kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
                          countIncludePad: Bool = true) -> Self {
        var next = self
        next.spec.layers.append(.avgPool2d(kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad))
        next.shape = poolShape(kernel, stride, padding)
        return next
    }

    private func poolShape(_ kernel: (Int, Int), _ stride: (Int, Int), _ padding: (Int, Int)) -> [Int] {
        poolShape(kernel, stride, Padding(padding))
    }

    private func poolShape(_ kernel: (Int, Int), _ stride: (Int, Int), _ padding: Padding) -> [Int] {
        [shape[0],
         (shape[1] + padding.top + padding.bottom - kernel.0) / stride.0 + 1,
         (shape[2] + padding.left + padding.right - kernel.1) / stride.1 + 1]
    }

    // MARK: Graph layers and the layers of users' models

    /// The index the next layer gets.
    var next: Int { spec.layers.count }

    /// The output shape of layer `index` (-1: the input).
    func shape(of index: Int) -> [Int] { spec.activationShapes[index + 1] }

    func conv(_ out: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1), sides: Padding, bias: BiasSigns = .mixed) -> Self {
        var next = self
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let weight = next.rng.uniform(out * c * kernel.0 * kernel.1, in: -1...1)
        next.spec.layers.append(.conv2d(ConvSpec(weight: weight, outChannels: out, inChannels: c, kernel: kernel,
                                                 bias: bias.draw(out, &next.rng), stride: stride, sides: sides)))
        next.shape = [out, (h + sides.top + sides.bottom - kernel.0) / stride.0 + 1,
                      (w + sides.left + sides.right - kernel.1) / stride.1 + 1]
        return next
    }

    func maxPool(_ kernel: (Int, Int), stride: (Int, Int), sides: Padding) -> Self {
        var next = self
        next.spec.layers.append(.paddedMaxPool2d(kernel: kernel, stride: stride, padding: sides))
        next.shape = poolShape(kernel, stride, sides)
        return next
    }

    func avgPool(_ kernel: (Int, Int), stride: (Int, Int), sides: Padding, countIncludePad: Bool) -> Self {
        var next = self
        next.spec.layers.append(.paddedAvgPool2d(kernel: kernel, stride: stride, padding: sides, countIncludePad: countIncludePad))
        next.shape = poolShape(kernel, stride, sides)
        return next
    }

    func adaptiveAvgPool(_ size: (Int, Int)) -> Self {
        var next = self
        next.spec.layers.append(.adaptiveAvgPool2d(outputSize: size))
        next.shape = [shape[0], size.0, size.1]
        return next
    }

    /// Eval-mode batch-norm with random statistics (variance in [0.5, 2]).
    func batchNorm(eps: Double = 1e-5) -> Self {
        var next = self
        let c = shape[0]
        next.spec.layers.append(.batchNorm(gamma: next.rng.uniform(c, in: 0.5...1.5), beta: next.rng.uniform(c, in: -0.3...0.3),
                                           mean: next.rng.uniform(c, in: -0.3...0.3), variance: next.rng.uniform(c, in: 0.5...2),
                                           eps: eps))
        return next
    }

    func identity() -> Self {
        var next = self
        next.spec.layers.append(.identity)
        return next
    }

    func route(_ sources: [Int]) -> Self {
        var next = self
        next.spec.layers.append(.route(sources))
        next.shape = next.spec.activationShapes.last ?? shape
        return next
    }

    func add(_ sources: [Int]) -> Self {
        var next = self
        next.spec.layers.append(.add(sources))
        return next
    }
}

/// The seeded random networks the oracle and property tests run on: MLPs of several depths and
/// widths with biases of every sign (one with no ReLU between its layers, so negative activations
/// reach the deeper layers), and CNNs with strided, padded and dilated convolutions, max- and
/// average-pooling (with and without counting padding) and flatten.
enum RandomNetworks {
    static let mlps: [NetworkSpec] = [
        mlp("mlp 5-7-6-3, mixed biases", [5, 7, 6, 3], .mixed, seed: 11),
        mlp("mlp 4-9-3, positive biases", [4, 9, 3], .positive, seed: 12),
        mlp("mlp 6-5-5-5-2, negative biases", [6, 5, 5, 5, 2], .negative, seed: 13),
        mlp("mlp 3-4-2, no biases", [3, 4, 2], .none, seed: 14),
        {
            let b = RandomNetworkBuilder(name: "mlp 5-4-3 without ReLU, mixed biases", inputShape: [5], seed: 15)
            return b.dense(4).dense(3).spec
        }(),
    ]

    static let cnns: [NetworkSpec] = [
        {
            let b = RandomNetworkBuilder(name: "cnn conv-maxpool(pad)-conv(stride 2)-dense", inputShape: [2, 6, 6], seed: 21)
            return b.conv(3, kernel: (3, 3), padding: (1, 1)).relu().maxPool((3, 3), stride: (2, 2), padding: (1, 1))
                .conv(4, kernel: (2, 2), stride: (2, 2), padding: (1, 1), bias: .negative).relu()
                .flatten().dense(5).relu().dense(3).spec
        }(),
        {
            let b = RandomNetworkBuilder(name: "cnn conv-avgpool(exclude pad)-conv(no bias, dilated)-dense", inputShape: [1, 7, 7], seed: 22)
            return b.conv(3, kernel: (3, 2), padding: (1, 0), bias: .positive).relu()
                .avgPool((2, 2), stride: (1, 1), padding: (1, 1), countIncludePad: false)
                .conv(2, kernel: (2, 2), stride: (2, 1), dilation: (2, 1), bias: .none).relu()
                .flatten().dense(4).spec
        }(),
        {
            let b = RandomNetworkBuilder(name: "cnn conv-avgpool(include pad)-conv-dense", inputShape: [2, 5, 5], seed: 23)
            return b.conv(3, kernel: (3, 3), padding: (1, 1)).relu()
                .avgPool((2, 2), stride: (2, 2), padding: (1, 1), countIncludePad: true)
                .conv(2, kernel: (2, 2)).relu().flatten().dense(3).spec
        }(),
        RandomNetworkBuilder(name: "cnn conv(pad)-conv(stride 2)-dense, no pooling", inputShape: [2, 5, 5], seed: 24)
            .conv(3, kernel: (3, 3), padding: (1, 1)).relu().conv(2, kernel: (2, 2), stride: (2, 2), bias: .negative).relu()
            .flatten().dense(3).spec,
        wide,
    ]

    /// 3x3 stride-1 convolutions with 16-17 channels, paddings 1, 0 and 2 and odd sizes: the
    /// products the engine lowers with Winograd's F(2x2, 3x3) (forward, transpose and the fused
    /// z+ stack), with partial edge tiles.
    static let wide: NetworkSpec = RandomNetworkBuilder(name: "cnn wide 3x3 convs (Winograd)", inputShape: [16, 5, 5], seed: 25)
        .conv(16, kernel: (3, 3), padding: (1, 1)).relu().conv(17, kernel: (3, 3)).relu()
        .conv(16, kernel: (3, 3), padding: (2, 2), bias: .none).relu().maxPool((2, 2), stride: (2, 2))
        .flatten().dense(3).spec

    /// CNNs without average pooling (LRP routes through max-pooling exactly like the gradient,
    /// while average pooling keeps a 1e-6 stabiliser).
    static var cnnsWithoutAveragePooling: [NetworkSpec] {
        cnns.filter { spec in !spec.layers.contains { if case .avgPool2d = $0 { true } else { false } } }
    }

    static var all: [NetworkSpec] { mlps + cnns }

    /// Networks with graph layers and the layers of users' models: a small ResNet (batch-norms,
    /// identity blocks, a stride-2 block whose downsample path is a route), a DenseNet-style net
    /// (concatenations including the network input, an asymmetrically padded average pool, an
    /// adaptive pool with overlapping bins), an MLP with skips (an add of several sources, x + x),
    /// and a CNN with ONNX-style asymmetric padding on conv and both pools.
    static let graphs: [NetworkSpec] = [
        {
            var b = RandomNetworkBuilder(name: "graph resnet (identity + downsample blocks)", inputShape: [3, 8, 8], seed: 31)
            b = b.conv(4, kernel: (3, 3), padding: (1, 1), bias: .none).batchNorm().relu()
                .maxPool((3, 3), stride: (2, 2), padding: (1, 1))
            let first = b.next - 1
            b = b.conv(4, kernel: (3, 3), padding: (1, 1), bias: .none).batchNorm().relu()
                .conv(4, kernel: (3, 3), padding: (1, 1), bias: .none).batchNorm().add([first]).relu()
            let second = b.next - 1
            b = b.conv(6, kernel: (3, 3), stride: (2, 2), padding: (1, 1), bias: .none).batchNorm().relu()
                .conv(6, kernel: (3, 3), padding: (1, 1), bias: .none).batchNorm()
            let main = b.next - 1
            b = b.route([second]).conv(6, kernel: (1, 1), stride: (2, 2), bias: .none).batchNorm().add([main]).relu()
            return b.adaptiveAvgPool((1, 1)).flatten().dense(3).spec
        }(),
        {
            var b = RandomNetworkBuilder(name: "graph densenet (concats, padded avg-pool, overlapping adaptive pool)",
                                         inputShape: [2, 6, 6], seed: 32)
            b = b.conv(3, kernel: (3, 3), padding: (1, 1)).relu()
            let features = b.next - 1
            b = b.route([-1, features]).conv(4, kernel: (1, 1), bias: .none).batchNorm().relu()
                .conv(3, kernel: (3, 3), padding: (1, 1)).relu()
            let grown = b.next - 1
            b = b.route([grown, features, grown])
                .avgPool((2, 2), stride: (1, 1), sides: Padding(top: 0, bottom: 1, left: 1, right: 0), countIncludePad: false)
            return b.adaptiveAvgPool((4, 4)).flatten().identity().dense(3).spec
        }(),
        {
            var b = RandomNetworkBuilder(name: "graph mlp (skips, x + x, identity)", inputShape: [6], seed: 33)
            b = b.dense(7).batchNorm().relu()
            let stem = b.next - 1
            b = b.dense(7).relu().identity().dense(7).batchNorm().add([stem]).relu()
            let block = b.next - 1
            b = b.dense(7).relu().add([stem, block])
            b = b.add([b.next - 1])  // x + x: the previous output read twice
            return b.dense(5).relu().dense(3).spec
        }(),
        RandomNetworkBuilder(name: "cnn with asymmetric padding (conv, max-pool, avg-pool)", inputShape: [2, 7, 6], seed: 34)
            .conv(3, kernel: (3, 2), sides: Padding(top: 0, bottom: 2, left: 1, right: 0)).relu()
            .maxPool((2, 3), stride: (2, 1), sides: Padding(top: 1, bottom: 0, left: 0, right: 2))
            .conv(3, kernel: (2, 2), sides: Padding(top: 1, bottom: 0, left: 1, right: 1), bias: .negative).relu()
            .avgPool((3, 2), stride: (1, 2), sides: Padding(top: 2, bottom: 0, left: 0, right: 1), countIncludePad: true)
            .flatten().dense(4).spec,
    ]

    /// A ReLU MLP with the given layer widths (input first).
    static func mlp(_ name: String, _ widths: [Int], _ bias: BiasSigns, seed: UInt64) -> NetworkSpec {
        var b = RandomNetworkBuilder(name: name, inputShape: [widths[0]], seed: seed)
        for (k, width) in widths.dropFirst().enumerated() {
            b = b.dense(width, bias: bias)
            if k < widths.count - 2 { b = b.relu() }
        }
        return b.spec
    }

    /// `batch` seeded input samples for `spec`, uniform in `range`.
    static func inputs(_ spec: NetworkSpec, batch: Int, seed: UInt64, range: ClosedRange<Double> = -1...1) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return rng.uniform(batch * spec.inputCount, in: range)
    }

    /// `count` seeded output relevances (an "arbitrary" seed, as in the Zennit fixtures).
    static func seeds(_ count: Int, seed: UInt64, range: ClosedRange<Double> = -1...1) -> [Double] {
        var rng = SplitMix64(seed: seed)
        return rng.uniform(count, in: range)
    }
}
