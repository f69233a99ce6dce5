import Testing
@testable import DTDCore

/// The z+ rule: s = R / stab(W⁺a⁺ + b⁺ + W⁻a⁻); a⁺ ⊙ W⁺ᵀs + a⁻ ⊙ W⁻ᵀs (`Include/dtd.h` section 5).
@Suite("z+ rule")
struct ZPlusRuleTests {
    /// With the bias excluded and no stabiliser, each layer divides R_j by exactly the sum of the
    /// contributions it hands out, so it conserves relevance to rounding — wherever it has no zero
    /// denominator (its ledger entry shows nothing dropped; a dead hidden layer makes the next
    /// one's denominators 0). Whole samples with no drop at all conserve from output to input
    /// (unless average pooling, which keeps its 1e-6 stabiliser, is in the way).
    @Test(arguments: RandomNetworks.all)
    func conservesRelevanceExactlyWhenBiasIsExcluded(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let rules = try spec.ruleSet(spec.uniformRules(.zPlus(stabilizer: 0, bias: .exclude)), for: network)
        let hasAveragePooling = spec.layers.contains { if case .avgPool2d = $0 { true } else { false } }
        var layersChecked = 0, layersSeen = 0
        for n in 0..<12 {
            let x = RandomNetworks.inputs(spec, batch: 1, seed: 30 + UInt64(n), range: n < 6 ? 0...1 : -1...1)
            let seed = RandomNetworks.seeds(network.outputCount, seed: 40 + UInt64(n))
            let (relevance, ledger) = try network.lrpWithLedger(x, batch: 1, outputRelevance: seed, rules: rules)
            let linear = ledger.filter { spec.layers[$0.layer].isLinear }
            layersSeen += linear.count
            for entry in linear where entry.dropped == 0 {
                layersChecked += 1
                #expect(entry.absorbedBias == 0 && entry.absorbedStabilizer == 0, "layer \(entry.layer)")
                expectClose(entry.relevanceIn, entry.relevanceOut, tolerance: 1e-12, "layer \(entry.layer) conserves")
            }
            if !hasAveragePooling, linear.allSatisfy({ $0.dropped == 0 }) {
                expectClose(relevance.total, seed.total, tolerance: 1e-12, "network conserves")
            }
        }
        #expect(layersChecked * 2 >= layersSeen, "only \(layersChecked) of \(layersSeen) layers had no zero denominator")
    }

    /// Non-negative inputs and seeds give non-negative relevance everywhere: every share and every
    /// contribution a⁺W⁺ is ≥ 0 (and so is b⁺ in mode include). For every stabiliser and bias mode.
    @Test(arguments: [Rule.zPlus(stabilizer: 0, bias: .exclude), .zPlus(stabilizer: 1e-6, bias: .exclude),
                      .zPlus(stabilizer: 1e-6, bias: .include)])
    func isNonNegativeForNonNegativeInputsAndSeeds(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let x = RandomNetworks.inputs(spec, batch: 4, seed: 50 + UInt64(k), range: 0...1)
            let seed = RandomNetworks.seeds(4 * network.outputCount, seed: 60 + UInt64(k), range: 0...1)
            let relevance = try network.lrp(spec, x, batch: 4, seed: seed, rules: spec.uniformRules(rule))
            #expect(relevance.allSatisfy { $0 >= 0 }, "\(spec): min \(relevance.min() ?? 0)")
            #expect(relevance.contains { $0 > 0 }, "\(spec): not all zero")
        }
    }

    /// Negative inputs do not break it: a⁻W⁻ ≥ 0 too, so z+ stays non-negative for inputs of
    /// both signs (the a⁻ ⊙ W⁻ᵀs branch of the rule table, `Include/dtd.h` section 5).
    @Test func isNonNegativeForMixedSignInputsAndNonNegativeSeeds() throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let x = RandomNetworks.inputs(spec, batch: 4, seed: 70 + UInt64(k))
            #expect(x.contains { $0 < 0 })
            let seed = RandomNetworks.seeds(4 * network.outputCount, seed: 80 + UInt64(k), range: 0...1)
            let relevance = try network.lrp(spec, x, batch: 4, seed: seed, rules: spec.uniformRules(.zPlus()))
            #expect(relevance.allSatisfy { $0 >= 0 }, "\(spec): min \(relevance.min() ?? 0)")
        }
    }
}
