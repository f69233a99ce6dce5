import Testing
@testable import DTDCore

/// The propagation step shared by every rule (forward → stabilise and divide → transpose →
/// multiply) and the backward pass around it: zero denominators, precision, batching, and what
/// non-linear layers do with relevance.
@Suite("Propagation step")
struct PropagationStepTests {
    /// "A stabilised denominator that is exactly 0 gives a share of 0, never NaN" (`Include/dtd.h`
    /// section 5; possible only with ε = 0). One neuron, a = [1, 1], R = 1, no bias, no stabiliser, and
    /// a weight row that zeroes some rule's denominator; the expected results by hand:
    /// - epsilon, W = [1, −1]: z = 0 → [0, 0];
    /// - z+, W = [−1, −1]: W⁺a⁺ = 0 → [0, 0];
    /// - alpha-beta(2, 1), W = [−1, −1]: the α branch divides by W⁺a⁺ = 0 and gives nothing; the
    ///   β branch has W⁻a⁺ = −2 and gives −β·a_i·w_i·R/(−2) = −0.5 each → [−0.5, −0.5];
    /// - alpha-beta(2, 1), W = [1, 1]: α gives 2·a_i·w_i·R/2 = 1 each, β divides by W⁻a⁺ = 0 → [1, 1];
    /// - gamma, W = [1, −1]: z = 0 closes both gates → [0, 0];
    /// - w², W = [0, 0]: W²·1 = 0 → [0, 0];
    /// - zbox(l = 1, h = 2), W = [1, 1]: Wa − W⁺l − W⁻h = 2 − 2 − 0 = 0 → [0, 0].
    @Test(arguments: [
        (Rule.epsilon(0), [1.0, -1], [0.0, 0]),
        (.zPlus(stabilizer: 0, bias: .exclude), [-1, -1], [0, 0]),
        (.alphaBeta(alpha: 2, beta: 1, stabilizer: 0, bias: .exclude), [-1, -1], [-0.5, -0.5]),
        (.alphaBeta(alpha: 2, beta: 1, stabilizer: 0, bias: .exclude), [1, 1], [1, 1]),
        (.gamma(0.5, stabilizer: 0, bias: .exclude), [1, -1], [0, 0]),
        (.wSquare(stabilizer: 0, bias: .exclude), [0, 0], [0, 0]),
        (.zBox(low: .scalar(1), high: .scalar(2), stabilizer: 0), [1, 1], [0, 0]),
    ])
    func zeroDenominatorGivesAShareOfZero(_ rule: Rule, _ weight: [Double], _ expected: [Double]) throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: weight, outFeatures: 1, inFeatures: 2, bias: nil)
        let relevance = try network.lrp([1, 1], batch: 1, outputRelevance: [1], rules: RuleSet(for: network, everyLinearLayer: rule))
        #expect(relevance == expected)
    }

    /// ReLU and flatten pass relevance on unchanged — even onto units the ReLU switched off, which
    /// the gradient would zero.
    @Test func reluAndFlattenPassRelevanceUnchanged() throws {
        var network = try Network<Double>(inputShape: .image(channels: 1, height: 1, width: 3))
        network.addReLU()
        network.addFlatten()
        let x: [Double] = [-1, 2, 0], seed: [Double] = [3, 4, 5]
        #expect(try network.lrp(x, batch: 1, outputRelevance: seed, rules: RuleSet(for: network)) == seed)
        #expect(try network.gradient(x, batch: 1, outputRelevance: seed) == [0, 4, 0])
    }

    /// float32 agrees with float64 on the same random networks (float32 within about 1e-4
    /// relative), for every rule.
    @Test(arguments: Rule.allTestCases)
    func float32AgreesWithFloat64(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let x = RandomNetworks.inputs(spec, batch: 3, seed: 1000 + UInt64(k))
            let single = try spec.build(Float.self), double = try spec.build(Double.self)
            let seed = RandomNetworks.seeds(3 * double.outputCount, seed: 1100 + UInt64(k))
            let rules = spec.uniformRules(rule)
            expectClose(try single.lrp(spec, x, batch: 3, seed: seed, rules: rules),
                        try double.lrp(spec, x, batch: 3, seed: seed, rules: rules), tolerance: 1e-4, "\(spec)")
        }
    }

    /// A batch of N gives, sample by sample, what N single calls give: for LRP with every rule
    /// (the batch mixes samples with and without negative inputs, so branches over a⁻ that one
    /// sample needs and another does not are exercised).
    @Test(arguments: Rule.allTestCases)
    func batchOfNEqualsNSingleCalls(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let batch = 4, inCount = spec.inputCount, outCount = network.outputCount
            var x = RandomNetworks.inputs(spec, batch: batch, seed: 1200 + UInt64(k))
            for i in 0..<inCount { x[i] = abs(x[i]) }  // sample 0 has no negative input
            let seed = RandomNetworks.seeds(batch * outCount, seed: 1300 + UInt64(k))
            let rules = try spec.ruleSet(spec.uniformRules(rule), for: network)
            let batched = try network.lrp(x, batch: batch, outputRelevance: seed, rules: rules)
            for n in 0..<batch {
                let single = try network.lrp(Array(x[(n * inCount)..<((n + 1) * inCount)]), batch: 1,
                                             outputRelevance: Array(seed[(n * outCount)..<((n + 1) * outCount)]), rules: rules)
                expectClose(Array(batched[(n * inCount)..<((n + 1) * inCount)]), single, tolerance: 1e-12, "\(spec) sample \(n)")
            }
        }
    }

    /// The same for forward, gradient and gradient × input.
    @Test(arguments: RandomNetworks.all)
    func batchOfNEqualsNSingleCallsForForwardAndGradient(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let batch = 5, inCount = spec.inputCount, outCount = network.outputCount
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 1400)
        let seed = RandomNetworks.seeds(batch * outCount, seed: 1401)
        let forward = try network.forward(x, batch: batch)
        let gradient = try network.gradient(x, batch: batch, outputRelevance: seed)
        let gradientTimesInput = try network.gradientTimesInput(x, batch: batch, outputRelevance: seed)
        for n in 0..<batch {
            let xn = Array(x[(n * inCount)..<((n + 1) * inCount)]), rn = Array(seed[(n * outCount)..<((n + 1) * outCount)])
            let inputs = (n * inCount)..<((n + 1) * inCount)
            expectClose(Array(forward[(n * outCount)..<((n + 1) * outCount)]), try network.forward(xn, batch: 1), tolerance: 1e-12, "forward")
            expectClose(Array(gradient[inputs]), try network.gradient(xn, batch: 1, outputRelevance: rn), tolerance: 1e-12, "gradient")
            expectClose(Array(gradientTimesInput[inputs]), try network.gradientTimesInput(xn, batch: 1, outputRelevance: rn),
                        tolerance: 1e-12, "gradient x input")
        }
    }

    /// A rule set is read-only: the same set serves repeated calls and gives the same result.
    @Test func repeatedCallsGiveTheSameResult() throws {
        let spec = RandomNetworks.cnns[1]
        let network = try spec.build(Double.self)
        let rules = try spec.ruleSet(spec.uniformRules(.gamma(0.25)), for: network)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 1500)
        let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 1501)
        let first = try network.lrp(x, batch: 2, outputRelevance: seed, rules: rules)
        _ = try network.lrp(RandomNetworks.inputs(spec, batch: 3, seed: 1502), batch: 3,
                            outputRelevance: RandomNetworks.seeds(3 * network.outputCount, seed: 1503), rules: rules)
        #expect(try network.lrp(x, batch: 2, outputRelevance: seed, rules: rules) == first)
    }
}
