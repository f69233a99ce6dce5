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
        [shape[0],
         (shape[1] + 2 * padding.0 - kernel.0) / stride.0 + 1,
         (shape[2] + 2 * padding.1 - kernel.1) / stride.1 + 1]
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
