import Testing
@testable import DTDCore

/// The epsilon rule a ⊙ Wᵀ(R / stab(z)), stab(z) = z + ε·sign(z), sign(0) = +1 (`Include/dtd.h` section 5).
@Suite("Epsilon rule")
struct EpsilonRuleTests {
    /// T2 (`Include/dtd.h` section 7): LRP-0 (ε = 0, bias include) equals x ⊙ ∇f(x) for any ReLU network whose
    /// pooling is max-pooling (which LRP routes exactly like the gradient). LRP is seeded with the
    /// outputs themselves, R = c ⊙ f(x) (for c = e_k the usual "explain output k" seed), and
    /// gradient × input with c, since LRP-0 divides each output's relevance by its value.
    @Test(arguments: RandomNetworks.mlps + RandomNetworks.cnnsWithoutAveragePooling)
    func lrpZeroEqualsGradientTimesInput(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let batch = 3
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 1)
        let c = RandomNetworks.seeds(batch * network.outputCount, seed: 2)
        let seed = NaiveLRP.times(c, try network.forward(x, batch: batch))
        let lrp = try network.lrp(spec, x, batch: batch, seed: seed, rules: spec.uniformRules(.epsilon(0, bias: .include)))
        let gradientTimesInput = try network.gradientTimesInput(x, batch: batch, outputRelevance: c)
        expectClose(lrp, gradientTimesInput, tolerance: 1e-10, "LRP-0 vs gradient x input")
    }

    /// The same for "explain output k": seed f_k(x)·e_k from `targetSeed` against gradient × input
    /// seeded with e_k, for every output k.
    @Test(arguments: RandomNetworks.mlps + RandomNetworks.cnnsWithoutAveragePooling)
    func lrpZeroOfTargetSeedEqualsGradientTimesInput(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let rules = try RuleSet(for: network, everyLinearLayer: .epsilon(0))
        let x = RandomNetworks.inputs(spec, batch: 1, seed: 3)
        for k in 0..<network.outputCount {
            var seed = [Double](repeating: 0, count: network.outputCount)
            let targets = [Int64(k)]
            var output = seed.mutableSpan
            try network.targetSeed(input: x.span, batch: 1, targets: targets.span, seed: &output)
            _ = consume output
            var unit = [Double](repeating: 0, count: network.outputCount)
            unit[k] = 1
            expectClose(try network.lrp(x, batch: 1, outputRelevance: seed, rules: rules),
                        try network.gradientTimesInput(x, batch: 1, outputRelevance: unit), tolerance: 1e-10, "output \(k)")
        }
    }

    /// With the bias excluded and ε = 0 every layer passes on all it receives, so the input
    /// relevance sums to the output relevance — provided no denominator is zero. A sample whose
    /// ledger shows dropped relevance (a dead hidden layer makes the next layer's Wa exactly 0)
    /// does not meet that condition and is not counted; most samples must meet it.
    @Test(arguments: RandomNetworks.mlps + RandomNetworks.cnnsWithoutAveragePooling)
    func conservesRelevanceWhenBiasIsExcludedAndEpsilonIsZero(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let rules = try spec.ruleSet(spec.uniformRules(.epsilon(0, bias: .exclude)), for: network)
        var checked = 0
        for n in 0..<8 {
            let x = RandomNetworks.inputs(spec, batch: 1, seed: 10 + UInt64(n))
            let seed = RandomNetworks.seeds(network.outputCount, seed: 20 + UInt64(n))
            let (relevance, ledger) = try network.lrpWithLedger(x, batch: 1, outputRelevance: seed, rules: rules)
            guard ledger.allSatisfy({ $0.dropped == 0 }) else { continue }
            checked += 1
            let scale = max(relevance.map(abs).total, seed.map(abs).total)
            #expect(abs(relevance.total - seed.total) <= 1e-10 * scale, "sum in \(relevance.total) vs sum out \(seed.total)")
        }
        #expect(checked >= 4, "only \(checked) of 8 samples had no zero denominator")
    }

    /// The analytic case: x = [1, 2, 3], W1 = 2·ones(3, 3), ReLU, W2 = 3·ones(1, 3), no biases, so
    /// z1 = [12, 12, 12] and f(x) = 108. Seeded with f(x), LRP-0 gives R1 = [36, 36, 36] and then
    /// x_i · Σ_j 2 · 36 / 12 = 18 x_i = [18, 36, 54], exactly. With ε > 0 each layer scales the
    /// result by z / (z + ε): 108 / (108 + ε) at the top, 12 / (12 + ε) below.
    @Test func handFixtureGivesEighteenThirtySixFiftyFour() throws {
        try checkHandFixture(Double.self, tolerance: 1e-15)
        try checkHandFixture(Float.self, tolerance: 1e-6)
    }

    private func checkHandFixture<T: DTDScalar>(_: T.Type, tolerance: Double) throws {
        var network = try Network<T>(inputShape: .flat(3))
        try network.addDense(weight: [T](repeating: 2, count: 9), outFeatures: 3, inFeatures: 3, bias: nil)
        network.addReLU()
        try network.addDense(weight: [3, 3, 3], outFeatures: 1, inFeatures: 3, bias: nil)
        let x: [T] = [1, 2, 3]
        #expect(try network.forward(x, batch: 1) == [108])

        let lrpZero = try network.lrp(x, batch: 1, outputRelevance: [108], rules: RuleSet(for: network, everyLinearLayer: .epsilon(0)))
        #expect(lrpZero == [18, 36, 54], "LRP-0, \(T.self)")

        let epsilon = 1e-9
        let lrpEpsilon = try network.lrp(x, batch: 1, outputRelevance: [108], rules: RuleSet(for: network, everyLinearLayer: .epsilon(epsilon)))
        let shrink = 108 / (108 + epsilon) * 12 / (12 + epsilon)
        expectClose(lrpEpsilon, [18 * shrink, 36 * shrink, 54 * shrink], tolerance: tolerance, "LRP-epsilon 1e-9, \(T.self)")
        #expect(relativeError(lrpEpsilon, [18.0, 36, 54]) <= 1e-6, "within 1e-6 of the ε = 0 result")

        #expect(try network.gradientTimesInput(x, batch: 1, outputRelevance: [1]) == [18, 36, 54], "gradient x input, \(T.self)")
    }

    /// sign(0) = +1: W = [1, −1], a = [1, 1] gives z = 0, so stab(0) = +ε and the shares are
    /// a_i w_i R / ε = [R/ε, −R/ε]. With R = 1, ε = 0.5 that is [2, −2] (sign(0) = −1 would
    /// give [−2, 2], sign(0) = 0 a division by zero).
    @Test func stabiliserTreatsZeroAsPositive() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, -1], outFeatures: 1, inFeatures: 2, bias: nil)
        let rules = try RuleSet(for: network, everyLinearLayer: .epsilon(0.5))
        #expect(try network.forward([1, 1], batch: 1) == [0])
        #expect(try network.lrp([1, 1], batch: 1, outputRelevance: [1], rules: rules) == [2, -2])
        // The same through a bias: W = [1, 1], b = −2 makes z = 0 with bias include.
        var biased = try Network<Double>(inputShape: .flat(2))
        try biased.addDense(weight: [1, 1], outFeatures: 1, inFeatures: 2, bias: [-2])
        let biasedRules = try RuleSet(for: biased, everyLinearLayer: .epsilon(0.5))
        #expect(try biased.lrp([1, 1], batch: 1, outputRelevance: [1], rules: biasedRules) == [2, 2])
    }
}
