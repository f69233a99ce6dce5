import Testing
@testable import DTDCore

/// Eval-mode batch norm y = γ (z − μ) / sqrt(σ² + eps) + β is folded into the preceding dense or
/// conv layer at build time ("canonization", `Include/dtd.h` section 3): the folded network must compute what the
/// unfolded one would, rules go on the folded layer, and bad parameters are rejected.
@Suite("Batch-norm folding")
struct BatchNormFoldingTests {
    struct Norm {
        var gamma: [Double], beta: [Double], mean: [Double], variance: [Double], eps: Double

        /// γ (z − μ) / sqrt(σ² + eps) + β on channel c.
        func apply(_ z: Double, channel c: Int) -> Double {
            gamma[c] * (z - mean[c]) / (variance[c] + eps).squareRoot() + beta[c]
        }

        static func random(_ count: Int, seed: UInt64) -> Norm {
            var rng = SplitMix64(seed: seed)
            return Norm(gamma: rng.uniform(count, in: -2...2), beta: rng.uniform(count, in: -1...1),
                        mean: rng.uniform(count, in: -0.5...0.5), variance: rng.uniform(count, in: 0.1...3), eps: 1e-5)
        }
    }

    /// dense(4 → 3, bias or not) then batch norm, against z = W x + b and the formula, by hand.
    @Test(arguments: [true, false])
    func foldedDenseComputesTheUnfoldedForward(_ withBias: Bool) throws {
        var rng = SplitMix64(seed: 1)
        let w = rng.uniform(12, in: -1...1), b = withBias ? rng.uniform(3, in: -1...1) : nil
        let norm = Norm.random(3, seed: 2)
        var network = try Network<Double>(inputShape: .flat(4))
        try network.addDense(weight: w, outFeatures: 3, inFeatures: 4, bias: b)
        try network.addBatchNorm(gamma: norm.gamma, beta: norm.beta, runningMean: norm.mean, runningVar: norm.variance, eps: norm.eps)
        #expect(network.layers.map(\.kind) == [.dense, .batchNorm])

        let x = rng.uniform(3 * 4, in: -1...1)
        var expected: [Double] = []
        for n in 0..<3 {
            for j in 0..<3 {
                var z = b?[j] ?? 0
                for i in 0..<4 { z += w[j * 4 + i] * x[n * 4 + i] }
                expected.append(norm.apply(z, channel: j))
            }
        }
        expectClose(try network.forward(x, batch: 3), expected, tolerance: 1e-13, "float64")
        var single = try Network<Float>(inputShape: .flat(4))
        try single.addDense(weight: w.converted(to: Float.self), outFeatures: 3, inFeatures: 4, bias: b?.converted(to: Float.self))
        try single.addBatchNorm(gamma: norm.gamma.converted(to: Float.self), beta: norm.beta.converted(to: Float.self),
                                runningMean: norm.mean.converted(to: Float.self), runningVar: norm.variance.converted(to: Float.self),
                                eps: norm.eps)
        expectClose(try single.forward(x.converted(to: Float.self), batch: 3), expected, tolerance: 1e-5, "float32")
    }

    /// conv(2 → 3 channels, padding 1, stride 2) then batch norm per channel, then ReLU and
    /// flatten, against the naive convolution (Reference/NaiveLRP.swift) and the formula.
    @Test func foldedConvComputesTheUnfoldedForward() throws {
        var rng = SplitMix64(seed: 3)
        let conv = ConvSpec(weight: rng.uniform(3 * 2 * 3 * 3, in: -1...1), outChannels: 3, inChannels: 2, kernel: (3, 3),
                            bias: rng.uniform(3, in: -1...1), stride: (2, 2), padding: (1, 1))
        let norm = Norm.random(3, seed: 4)
        var network = try Network<Double>(inputShape: .image(channels: 2, height: 5, width: 5))
        try network.addConv2d(weight: conv.weight, outChannels: 3, inChannels: 2, kernel: (3, 3), bias: conv.bias,
                              stride: (2, 2), padding: (1, 1))
        try network.addBatchNorm(gamma: norm.gamma, beta: norm.beta, runningMean: norm.mean, runningVar: norm.variance, eps: norm.eps)
        network.addReLU()
        network.addFlatten()

        let affine = NaiveAffine(conv: conv, inputShape: [2, 5, 5])
        let positions = affine.outputCount / 3
        let x = rng.uniform(2 * 50, in: -1...1)
        var expected: [Double] = []
        for n in 0..<2 {
            let z = NaiveLRP.sum(affine.forward({ $0 }, Array(x[(n * 50)..<((n + 1) * 50)])), affine.bias)
            expected += z.enumerated().map { max(norm.apply($1, channel: $0 / positions), 0) }
        }
        expectClose(try network.forward(x, batch: 2), expected, tolerance: 1e-13)
    }

    /// Folding is canonization: LRP through dense + batch norm equals LRP through one dense layer
    /// with the folded weights W' = W γ / sqrt(σ² + eps) and bias b' = (b − μ) γ / sqrt(σ² + eps) + β,
    /// folded here by hand.
    @Test(arguments: [Rule.epsilon(1e-6), .zPlus(), .gamma(0.25), .alphaBeta(alpha: 2, beta: 1)])
    func lrpSeesTheFoldedLayer(_ rule: Rule) throws {
        var rng = SplitMix64(seed: 5)
        let w = rng.uniform(5 * 4, in: -1...1), b = rng.uniform(5, in: -1...1)
        let w2 = rng.uniform(2 * 5, in: -1...1), b2 = rng.uniform(2, in: -0.5...0.5)
        let norm = Norm.random(5, seed: 6)
        var network = try Network<Double>(inputShape: .flat(4))
        try network.addDense(weight: w, outFeatures: 5, inFeatures: 4, bias: b)
        try network.addBatchNorm(gamma: norm.gamma, beta: norm.beta, runningMean: norm.mean, runningVar: norm.variance, eps: norm.eps)
        network.addReLU()
        try network.addDense(weight: w2, outFeatures: 2, inFeatures: 5, bias: b2)

        var foldedWeight = w, foldedBias = b
        for c in 0..<5 {
            let scale = norm.gamma[c] / (norm.variance[c] + norm.eps).squareRoot()
            for i in 0..<4 { foldedWeight[c * 4 + i] = w[c * 4 + i] * scale }
            foldedBias[c] = (b[c] - norm.mean[c]) * scale + norm.beta[c]
        }
        let folded = NetworkSpec(name: "folded by hand", inputShape: [4], layers: [
            .dense(weight: foldedWeight, outFeatures: 5, inFeatures: 4, bias: foldedBias), .relu,
            .dense(weight: w2, outFeatures: 2, inFeatures: 5, bias: b2),
        ])
        let x = rng.uniform(3 * 4, in: -1...1), seed = rng.uniform(3 * 2, in: -1...1)
        let rules = try RuleSet(for: network, everyLinearLayer: rule)
        #expect(rules.rule(at: 1) == nil, "no rule on the batch-norm layer")
        let expected = try folded.build(Double.self).lrp(folded, x, batch: 3, seed: seed, rules: folded.uniformRules(rule))
        expectClose(try network.lrp(x, batch: 3, outputRelevance: seed, rules: rules), expected, tolerance: 1e-12)
    }

    /// A rule on the batch-norm layer is refused, pointing at the layer it was folded into.
    @Test func rejectsARuleOnTheBatchNormLayer() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, 2, 3, 4], outFeatures: 2, inFeatures: 2, bias: nil)
        try network.addBatchNorm(gamma: [1, 2], beta: [0, 1], runningMean: [0, 0], runningVar: [1, 1], eps: 0)
        var set = try RuleSet(for: network)
        expectDTDError(.rule, mentioning: ["layer 1", "batchnorm", "folded into layer 0"]) { try set.set(.epsilon(0), layer: 1, in: network) }
        #expect(set.rule(at: 1) == nil)
    }

    // MARK: Bad parameters

    /// A batch-norm that must be refused, with the error kind and what the message names.
    struct BadNorm: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let gamma: [Double], beta: [Double], mean: [Double], variance: [Double], eps: Double
        let kind: DTDError.Kind
        let mentions: [String]
    }

    static let badNorms: [BadNorm] = [
        .init(testDescription: "var + eps < 0", gamma: [1, 1, 1], beta: [0, 0, 0], mean: [0, 0, 0], variance: [1, -1, 1], eps: 0.5,
              kind: .invalidArgument, mentions: ["layer 1 (batchnorm)", "running_var[1] + eps"]),
        .init(testDescription: "var + eps = 0", gamma: [1, 1, 1], beta: [0, 0, 0], mean: [0, 0, 0], variance: [1, 1, 0], eps: 0,
              kind: .invalidArgument, mentions: ["layer 1 (batchnorm)", "running_var[2] + eps"]),
        .init(testDescription: "negative eps", gamma: [1, 1, 1], beta: [0, 0, 0], mean: [0, 0, 0], variance: [1, 1, 1], eps: -1e-5,
              kind: .invalidArgument, mentions: ["layer 1 (batchnorm)", "eps"]),
        .init(testDescription: "NaN eps", gamma: [1, 1, 1], beta: [0, 0, 0], mean: [0, 0, 0], variance: [1, 1, 1], eps: .nan,
              kind: .nonFinite, mentions: ["layer 1 (batchnorm)", "eps"]),
        .init(testDescription: "NaN gamma", gamma: [1, .nan, 1], beta: [0, 0, 0], mean: [0, 0, 0], variance: [1, 1, 1], eps: 1e-5,
              kind: .nonFinite, mentions: ["layer 1 (batchnorm)", "gamma[1]"]),
        .init(testDescription: "infinite running mean", gamma: [1, 1, 1], beta: [0, 0, 0], mean: [0, 0, .infinity], variance: [1, 1, 1],
              eps: 1e-5, kind: .nonFinite, mentions: ["layer 1 (batchnorm)", "running_mean[2]"]),
        .init(testDescription: "beta of the wrong size", gamma: [1, 1, 1], beta: [0, 0], mean: [0, 0, 0], variance: [1, 1, 1], eps: 1e-5,
              kind: .shapeMismatch, mentions: ["layer 1 (batchnorm)", "beta has 2 elements"]),
        .init(testDescription: "count not the layer's outputs", gamma: [1, 1], beta: [0, 0], mean: [0, 0], variance: [1, 1], eps: 1e-5,
              kind: .shapeMismatch, mentions: ["layer 1 (batchnorm)", "count = 2", "3 output channels"]),
        .init(testDescription: "folded weight overflows", gamma: [1, 1e300, 1], beta: [0, 0, 0], mean: [0, 0, 0], variance: [1, 1e-300, 1],
              eps: 0, kind: .nonFinite, mentions: ["layer 1 (batchnorm)", "non-finite weight"]),
    ]

    /// Each is refused after dense(2 → 3), and the network is unchanged.
    @Test(arguments: badNorms)
    func rejectsBadParametersAndLeavesTheNetworkUnchanged(_ bad: BadNorm) throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, -2, 3, -4, 5, -6], outFeatures: 3, inFeatures: 2, bias: [0.5, 0, -0.5])
        let (count, fingerprint, output) = (network.layers.count, network.fingerprint, try network.forward([1, 2], batch: 1))
        expectDTDError(bad.kind, mentioning: bad.mentions) {
            try network.addBatchNorm(gamma: bad.gamma, beta: bad.beta, runningMean: bad.mean, runningVar: bad.variance, eps: bad.eps)
        }
        #expect(network.layers.count == count && network.fingerprint == fingerprint)
        #expect(try network.forward([1, 2], batch: 1) == output, "the dense layer was not re-folded")
    }

    /// Batch norm must directly follow a dense or conv layer: not first, not after ReLU, pooling,
    /// flatten or another batch norm.
    @Test func rejectsBatchNormThatDoesNotFollowADenseOrConvLayer() throws {
        var empty = try Network<Double>(inputShape: .image(channels: 2, height: 4, width: 4))
        expectDTDError(.layerOrder, mentioning: ["layer 0 (batchnorm)", "empty"]) {
            try empty.addBatchNorm(gamma: [1, 1], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1], eps: 0)
        }
        var network = try Network<Double>(inputShape: .image(channels: 2, height: 4, width: 4))
        try network.addConv2d(weight: [Double](repeating: 0.5, count: 2 * 2 * 1 * 1), outChannels: 2, inChannels: 2, kernel: (1, 1), bias: nil)
        try network.addBatchNorm(gamma: [1, 1], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1], eps: 0)
        expectDTDError(.layerOrder, mentioning: ["layer 2 (batchnorm)", "layer 1 is batchnorm"]) {
            try network.addBatchNorm(gamma: [1, 1], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1], eps: 0)
        }
        try network.addMaxPool2d(kernel: (2, 2), stride: (2, 2))
        expectDTDError(.layerOrder, mentioning: ["layer 3 (batchnorm)", "layer 2 is maxpool2d"]) {
            try network.addBatchNorm(gamma: [1, 1], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1], eps: 0)
        }
        network.addFlatten()
        expectDTDError(.layerOrder, mentioning: ["layer 4 (batchnorm)", "layer 3 is flatten"]) {
            try network.addBatchNorm(gamma: [1, 1, 1, 1, 1, 1, 1, 1], beta: [Double](repeating: 0, count: 8),
                                     runningMean: [Double](repeating: 0, count: 8), runningVar: [Double](repeating: 1, count: 8), eps: 0)
        }
    }
}
