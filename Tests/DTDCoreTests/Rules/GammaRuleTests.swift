import Testing
@testable import DTDCore

/// The generalised gamma rule (`Include/dtd.h` section 5): the positive and negative contributions are boosted by
/// γ, and the gate 1[z > 0] / 1[z < 0] on the true output z = Wa + b picks the branch.
@Suite("Gamma rule")
struct GammaRuleTests {
    /// What holds exactly at γ = 0: both branches' denominators reduce to z (or Wa with the bias
    /// excluded), so gamma(0, stabilizer s) equals epsilon(s) with the same bias mode — on every
    /// neuron whose true output is non-zero. (At z = 0 gamma passes nothing; see below.)
    @Test(arguments: [(1e-6, BiasMode.include), (1e-6, .exclude), (0.1, .include), (0.0, .exclude)])
    func gammaZeroEqualsEpsilonWithTheSameStabiliser(_ stabilizer: Double, _ bias: BiasMode) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let x = RandomNetworks.inputs(spec, batch: 3, seed: 130 + UInt64(k))
            let seed = RandomNetworks.seeds(3 * network.outputCount, seed: 140 + UInt64(k))
            let gamma = try network.lrp(spec, x, batch: 3, seed: seed, rules: spec.uniformRules(.gamma(0, stabilizer: stabilizer, bias: bias)))
            let epsilon = try network.lrp(spec, x, batch: 3, seed: seed, rules: spec.uniformRules(.epsilon(stabilizer, bias: bias)))
            expectClose(gamma, epsilon, tolerance: 1e-10, "\(spec)")
        }
    }

    /// Where they differ: a neuron with z = 0 exactly. W = [1, −1], a = [1, 1]: epsilon(0.5)
    /// divides by stab(0) = +0.5 and gives [2, −2]; gamma(0, 0.5) closes both gates, passes
    /// nothing, and the ledger books the whole R = 1 as dropped.
    @Test func gammaPassesNothingAtZeroOutput() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, -1], outFeatures: 1, inFeatures: 2, bias: nil)
        let epsilon = try network.lrp([1, 1], batch: 1, outputRelevance: [1], rules: RuleSet(for: network, everyLinearLayer: .epsilon(0.5)))
        #expect(epsilon == [2, -2])
        let (gamma, ledger) = try network.lrpWithLedger([1, 1], batch: 1, outputRelevance: [1],
                                                        rules: RuleSet(for: network, everyLinearLayer: .gamma(0, stabilizer: 0.5)))
        #expect(gamma == [0, 0])
        #expect(ledger.first?.dropped == 1)
    }

    /// As γ grows, W + γW⁺ is dominated by γW⁺ and the positive branch tends to z+ (`Include/dtd.h` section 5,
    /// Rule.gamma's doc). That branch is the only one used when relevance reaches only neurons with
    /// z > 0: in a ReLU network every rule hands an inactive unit (a = 0) nothing, so seeding only
    /// the positive outputs suffices. The MLP without ReLUs is left out: its negative hidden
    /// units take gamma's other branch.
    ///
    /// One more condition, for bias mode exclude: z+ must have no zero denominator. A neuron can
    /// have z > 0 through its bias alone while W⁺a⁺ + W⁻a⁻ = 0; z+ then drops its relevance, but
    /// gamma divides by Wa + γ·0 = Wa ≠ 0 and passes it on, at every γ. Samples where z+'s
    /// ledger shows dropped relevance are therefore not compared (and must be few).
    /// gamma(1e6) must be within 1e-4 of z+, while gamma(1) is not.
    @Test(arguments: [BiasMode.include, .exclude])
    func largeGammaTendsToZPlus(_ bias: BiasMode) throws {
        let withReLUs = RandomNetworks.all.filter { spec in spec.layers.contains { if case .relu = $0 { true } else { false } } }
        var compared = 0, total = 0
        for (k, spec) in withReLUs.enumerated() {
            let network = try spec.build(Double.self)
            let zPlusRules = try spec.ruleSet(spec.uniformRules(.zPlus(stabilizer: 0, bias: bias)), for: network)
            for n in 0..<3 {
                total += 1
                let x = RandomNetworks.inputs(spec, batch: 1, seed: 150 + UInt64(10 * k + n))
                let outputs = try network.forward(x, batch: 1)
                let seed = zip(RandomNetworks.seeds(outputs.count, seed: 160 + UInt64(10 * k + n), range: 0.1...1), outputs)
                    .map { $1 > 0 ? $0 : 0 }
                let (zPlus, ledger) = try network.lrpWithLedger(x, batch: 1, outputRelevance: seed, rules: zPlusRules)
                guard ledger.allSatisfy({ !spec.layers[$0.layer].isLinear || $0.dropped == 0 }) else { continue }
                compared += 1
                let large = try network.lrp(spec, x, batch: 1, seed: seed, rules: spec.uniformRules(.gamma(1e6, stabilizer: 0, bias: bias)))
                let small = try network.lrp(spec, x, batch: 1, seed: seed, rules: spec.uniformRules(.gamma(1, stabilizer: 0, bias: bias)))
                #expect(relativeError(large, zPlus) < 1e-4, "\(spec) #\(n): gamma(1e6) vs z+ \(relativeError(large, zPlus))")
                if zPlus.contains(where: { $0 != 0 }) {
                    #expect(relativeError(small, zPlus) > 1e-3, "\(spec) #\(n): gamma(1) is not yet z+")
                }
            }
        }
        #expect(compared * 3 >= total * 2, "only \(compared) of \(total) samples had no zero z+ denominator")
        if bias == .include { #expect(compared == total, "with the bias included z+ never divides by zero where z > 0") }
    }
}
