import Testing
@testable import DTDCore

/// forward(x), gradient Jᵀr (ReLU′(0) = 0, max-pool to the first maximum) and x ⊙ Jᵀr (`Include/dtd.h` section 4).
@Suite("Forward and gradient")
struct ForwardAndGradientTests {
    @Test(arguments: RandomNetworks.all)
    func forwardAndGradientMatchTheNaiveNetwork(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let naive = NaiveNetwork(spec)
        let x = RandomNetworks.inputs(spec, batch: 3, seed: 1600)
        let seed = RandomNetworks.seeds(3 * network.outputCount, seed: 1601)
        expectClose(try network.forward(x, batch: 3), naive.forward(batch: x, inputCount: spec.inputCount), tolerance: 1e-13, "forward")
        expectClose(try network.gradient(x, batch: 3, outputRelevance: seed),
                    naive.gradient(batch: x, seed: seed, inputCount: spec.inputCount), tolerance: 1e-13, "gradient")
    }

    /// gradient × input is exactly the input times the gradient, element by element.
    @Test(arguments: RandomNetworks.all)
    func gradientTimesInputIsTheInputTimesTheGradient(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 1700)
        let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 1701)
        let gradient = try network.gradient(x, batch: 2, outputRelevance: seed)
        #expect(try network.gradientTimesInput(x, batch: 2, outputRelevance: seed) == NaiveLRP.times(x, gradient))
    }

    /// ReLU′(0) = 0 (PyTorch's convention): f(x) = relu(x₁ − x₂) at x = (1, 1) has gradient
    /// (0, 0), and a bare ReLU passes gradient only where its input is > 0.
    @Test func reluDerivativeAtZeroIsZero() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, -1], outFeatures: 1, inFeatures: 2, bias: nil)
        network.addReLU()
        #expect(try network.gradient([1, 1], batch: 1, outputRelevance: [1]) == [0, 0])
        #expect(try network.gradient([2, 1], batch: 1, outputRelevance: [1]) == [1, -1])

        var relu = try Network<Double>(inputShape: .flat(3))
        relu.addReLU()
        #expect(try relu.gradient([0, 1, -1], batch: 1, outputRelevance: [5, 6, 7]) == [0, 6, 0])
    }

    /// NaN in the input propagates to the output, as in PyTorch (ReLU keeps NaN, a NaN wins its
    /// max-pool window) — it does not trap and is not silently replaced.
    @Test func nanInputsPropagateToTheOutput() throws {
        for spec in [RandomNetworks.mlps[0], RandomNetworks.cnns[0]] {
            let network = try spec.build(Double.self)
            var x = RandomNetworks.inputs(spec, batch: 1, seed: 1800)
            x[0] = .nan
            #expect(try network.forward(x, batch: 1).contains { $0.isNaN }, "\(spec)")
        }
    }

    /// `targetSeed` writes f_k(x) at k and 0 elsewhere, per sample.
    @Test func targetSeedIsTheTargetOutputTimesItsUnitVector() throws {
        let spec = RandomNetworks.mlps[0]
        let network = try spec.build(Double.self)
        let x = RandomNetworks.inputs(spec, batch: 3, seed: 1900)
        let outputs = try network.forward(x, batch: 3)
        let targets: [Int64] = [2, 0, 1]
        var seed = [Double](repeating: .nan, count: 9)
        var out = seed.mutableSpan
        try network.targetSeed(input: x.span, batch: 3, targets: targets.span, seed: &out)
        _ = consume out
        let expected = (0..<9).map { $0 % 3 == Int(targets[$0 / 3]) ? outputs[$0] : 0 }
        #expect(seed == expected)
    }
}
