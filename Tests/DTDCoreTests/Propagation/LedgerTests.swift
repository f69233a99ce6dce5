import Testing
@testable import DTDCore

/// The conservation ledger (`Include/dtd.h` section 4, `dtd_ledger_entry`): per layer and sample,
/// relevance_out = relevance_in + absorbed_bias + absorbed_stabilizer + dropped.
@Suite("Conservation ledger")
struct LedgerTests {
    /// `out − (in + bias + stabiliser + dropped)` relative to the largest of the five.
    static func imbalance(_ e: LedgerEntry) -> Double {
        let parts = [e.relevanceOut, e.relevanceIn, e.absorbedBias, e.absorbedStabilizer, e.dropped]
        let scale = parts.map(abs).max() ?? 0
        let residual = e.relevanceOut - (e.relevanceIn + e.absorbedBias + e.absorbedStabilizer + e.dropped)
        return scale > 0 ? abs(residual) / scale : abs(residual)
    }

    /// For every rule (both bias modes, several stabilisers) on every random network — average
    /// pooling included — every entry balances to 1e-10, names its own layer, and the entries
    /// chain: each layer's relevance_in is the next lower layer's relevance_out, the top layer
    /// receives the seed and layer 0 hands out the returned relevance.
    @Test(arguments: Rule.allTestCases)
    func balancesEveryLayerAndSample(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let batch = 2, layers = spec.layers.count
            let x = RandomNetworks.inputs(spec, batch: batch, seed: 600 + UInt64(k))
            let seed = RandomNetworks.seeds(batch * network.outputCount, seed: 700 + UInt64(k))
            let rules = try spec.ruleSet(spec.uniformRules(rule), for: network)
            let (relevance, ledger) = try network.lrpWithLedger(x, batch: batch, outputRelevance: seed, rules: rules)
            try #require(ledger.count == batch * layers)
            for n in 0..<batch {
                let entries = Array(ledger[(n * layers)..<((n + 1) * layers)])
                for (l, e) in entries.enumerated() {
                    #expect(e.layer == l)
                    #expect(Self.imbalance(e) <= 1e-10, "\(spec) sample \(n) layer \(l): \(e)")
                    if l > 0 { expectClose(entries[l - 1].relevanceOut, e.relevanceIn, tolerance: 1e-12, "\(spec) chain at \(l)") }
                }
                let out = network.outputCount, inCount = spec.inputCount
                expectClose(entries[layers - 1].relevanceOut, Array(seed[(n * out)..<((n + 1) * out)]).total, tolerance: 1e-12, "seed")
                expectClose(entries[0].relevanceIn, Array(relevance[(n * inCount)..<((n + 1) * inCount)]).total, tolerance: 1e-12,
                            "input relevance")
            }
        }
    }

    /// With the bias excluded and a zero stabiliser, nothing can be absorbed: the bias and
    /// stabiliser parts of every dense/conv entry are exactly 0.
    @Test(arguments: [Rule.epsilon(0, bias: .exclude), .zPlus(stabilizer: 0, bias: .exclude),
                      .alphaBeta(alpha: 2, beta: 1, stabilizer: 0, bias: .exclude), .gamma(0.25, stabilizer: 0, bias: .exclude),
                      .wSquare(stabilizer: 0, bias: .exclude), .flat(stabilizer: 0),
                      .zBox(low: .scalar(-1), high: .scalar(1), stabilizer: 0, bias: .exclude)])
    func biasAndStabiliserPartsVanishWithBiasExcludedAndNoStabiliser(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let x = RandomNetworks.inputs(spec, batch: 2, seed: 800 + UInt64(k))
            let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 900 + UInt64(k))
            let (_, ledger) = try network.lrpWithLedger(x, batch: 2, outputRelevance: seed,
                                                        rules: spec.ruleSet(spec.uniformRules(rule), for: network))
            for e in ledger where spec.layers[e.layer].isLinear {
                #expect(e.absorbedBias == 0 && e.absorbedStabilizer == 0, "\(spec) layer \(e.layer): \(e)")
            }
        }
    }

    /// By hand, one neuron: W = [1, 1], b = 2, a = [1, 1], so z = 4; R = 8.
    /// LRP-0 (bias include): s = 2, the inputs get 2 + 2 = 4 and the bias takes b·s = 4.
    /// epsilon(1): s = 8/5, the inputs get 16/5, the bias 2·8/5 = 16/5, the stabiliser 1·8/5 = 8/5.
    @Test func booksBiasAndStabiliserByHand() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, 1], outFeatures: 1, inFeatures: 2, bias: [2])
        let (r0, l0) = try network.lrpWithLedger([1, 1], batch: 1, outputRelevance: [8], rules: RuleSet(for: network, everyLinearLayer: .epsilon(0)))
        #expect(r0 == [2, 2])
        #expect(l0[0].relevanceOut == 8 && l0[0].relevanceIn == 4 && l0[0].absorbedBias == 4)
        #expect(l0[0].absorbedStabilizer == 0 && l0[0].dropped == 0)

        let (r1, l1) = try network.lrpWithLedger([1, 1], batch: 1, outputRelevance: [8], rules: RuleSet(for: network, everyLinearLayer: .epsilon(1)))
        expectClose(r1, [1.6, 1.6], tolerance: 1e-15)
        expectClose(l1[0].relevanceIn, 3.2, tolerance: 1e-15, "in")
        expectClose(l1[0].absorbedBias, 3.2, tolerance: 1e-15, "bias")
        expectClose(l1[0].absorbedStabilizer, 1.6, tolerance: 1e-15, "stabiliser")
        #expect(abs(l1[0].dropped) <= 1e-15)
    }

    /// Gamma's gate closes on a neuron whose true output is exactly 0, and its relevance shows up
    /// in `dropped`. W = [[1, −1], [1, 1]], a = [1, 1]: z = [0, 2]; R = [3, 5]. Neuron 2 passes
    /// all of its 5 (bias excluded, no stabiliser); neuron 1's 3 is dropped.
    @Test func gammaZeroOutputNeuronsShowUpAsDropped() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, -1, 1, 1], outFeatures: 2, inFeatures: 2, bias: nil)
        let (relevance, ledger) = try network.lrpWithLedger([1, 1], batch: 1, outputRelevance: [3, 5],
                                                            rules: RuleSet(for: network, everyLinearLayer: .gamma(0.5, stabilizer: 0, bias: .exclude)))
        expectClose(relevance, [2.5, 2.5], tolerance: 1e-15)
        #expect(ledger[0].dropped == 3)
        expectClose(ledger[0].relevanceIn, 5, tolerance: 1e-15, "in")
    }

    /// A zero denominator (ε = 0, z = 0) gives a share of 0, and the ledger books R as dropped.
    @Test func zeroDenominatorsShowUpAsDropped() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, -1], outFeatures: 1, inFeatures: 2, bias: nil)
        let (relevance, ledger) = try network.lrpWithLedger([1, 1], batch: 1, outputRelevance: [7],
                                                            rules: RuleSet(for: network, everyLinearLayer: .epsilon(0)))
        #expect(relevance == [0, 0])
        #expect(ledger[0].dropped == 7 && ledger[0].relevanceIn == 0)
    }

    /// Average pooling: ε = 1e-6 absorbs R·ε/(z + ε), the rest goes to the inputs. One 2×2 window
    /// over [1, 2, 3, 4] (z = 2.5) with R = 5. ReLU, flatten and max-pool pass everything on.
    @Test func averagePoolingBooksItsStabiliser() throws {
        var network = try Network<Double>(inputShape: .image(channels: 1, height: 2, width: 2))
        try network.addAvgPool2d(kernel: (2, 2), stride: (2, 2))
        network.addReLU()
        try network.addMaxPool2d(kernel: (1, 1), stride: (1, 1))
        network.addFlatten()
        let (_, ledger) = try network.lrpWithLedger([1, 2, 3, 4], batch: 1, outputRelevance: [5], rules: RuleSet(for: network))
        expectClose(ledger[0].relevanceIn, 5 * 2.5 / (2.5 + 1e-6), tolerance: 1e-15, "avg-pool in")
        expectClose(ledger[0].absorbedStabilizer, 5 * 1e-6 / (2.5 + 1e-6), tolerance: 1e-12, "avg-pool stabiliser")
        #expect(abs(ledger[0].dropped) <= 1e-15 && ledger[0].absorbedBias == 0)
        for e in ledger.dropFirst() {
            #expect(e.relevanceIn == 5 && e.relevanceOut == 5 && e.absorbedBias == 0 && e.absorbedStabilizer == 0 && e.dropped == 0)
        }
    }
}
