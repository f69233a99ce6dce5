import Testing
@testable import DTDCore

/// The alpha-beta rule: α · (z+ part) − β · (the negative contributions' part), α − β = 1 (`Include/dtd.h` section 5).
@Suite("Alpha-beta rule")
struct AlphaBetaRuleTests {
    /// α = 1, β = 0 leaves only the z+ part: alphabeta(1, 0) equals z+ with the same stabiliser
    /// and bias mode, for non-negative inputs (and, by the table, for any inputs).
    @Test(arguments: [(0.0, BiasMode.exclude), (1e-6, .include), (0.1, .include)])
    func alphaOneBetaZeroEqualsZPlus(_ stabilizer: Double, _ bias: BiasMode) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            for range in [0.0...1.0, -1.0...1.0] {
                let x = RandomNetworks.inputs(spec, batch: 3, seed: 90 + UInt64(k), range: range)
                let seed = RandomNetworks.seeds(3 * network.outputCount, seed: 100 + UInt64(k))
                let alphaBeta = try network.lrp(spec, x, batch: 3, seed: seed,
                                                rules: spec.uniformRules(.alphaBeta(alpha: 1, beta: 0, stabilizer: stabilizer, bias: bias)))
                let zPlus = try network.lrp(spec, x, batch: 3, seed: seed, rules: spec.uniformRules(.zPlus(stabilizer: stabilizer, bias: bias)))
                expectClose(alphaBeta, zPlus, tolerance: 1e-12, "\(spec), inputs in \(range)")
            }
        }
    }

    /// With the bias excluded and no stabiliser each group hands out exactly what it divides, so a
    /// layer passes on α R − β R = R: alpha-beta conserves relevance per layer (checked in the
    /// ledger, on samples where nothing is dropped).
    @Test(arguments: [(2.0, 1.0), (3.0, 2.0)])
    func conservesRelevancePerLayerWhenBiasIsExcluded(_ alpha: Double, _ beta: Double) throws {
        var checked = 0
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let rules = try spec.ruleSet(spec.uniformRules(.alphaBeta(alpha: alpha, beta: beta, stabilizer: 0, bias: .exclude)),
                                         for: network)
            let x = RandomNetworks.inputs(spec, batch: 1, seed: 110 + UInt64(k))
            let seed = RandomNetworks.seeds(network.outputCount, seed: 120 + UInt64(k))
            let (_, ledger) = try network.lrpWithLedger(x, batch: 1, outputRelevance: seed, rules: rules)
            for entry in ledger where spec.layers[entry.layer].isLinear && entry.dropped == 0 {
                checked += 1
                expectClose(entry.relevanceIn, entry.relevanceOut, tolerance: 1e-10, "\(spec) layer \(entry.layer)")
            }
        }
        #expect(checked >= 10)
    }
}
