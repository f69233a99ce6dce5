import Testing
@testable import DTDCore

/// The equivalence lemma (`Include/dtd.h` section 6, `Rules/Rule+Terms.swift`): the root form of the relevance,
/// R_{i←j} = c_j w_ij (a_i − ã_ij) = R_j w_ij v_ij / (w_jᵀv_j), summed over j, equals the layer
/// rule's propagation with bias mode exclude and no stabiliser — for every root rule, for either
/// placement (the roots move, the relevance does not).
@Suite("Equivalence lemma")
struct EquivalenceLemmaTests {
    /// `rootFormRelevance` (built by the engine from the root points themselves) against the naive
    /// oracle's propagation of the bias-free, unstabilised rule (Reference/NaiveLRP.swift), fed with
    /// the naive top-down relevance R at the layer's output; 1e-12 relative per sample, on the first
    /// and a middle layer of every random MLP and CNN (average pooling included), both placements.
    @Test(arguments: DTDNetworks.rootRules)
    func rootFormEqualsTheBiasFreePropagation(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            for layer in spec.firstAndMiddleLinearLayers {
                for placement in [Placement.hyperplane, .relevance] {
                    let query = RootQuery(layer: layer, target: k % 2, placement: placement)
                    let c = try DTDCase(spec, rule: rule, query: query, batch: 2, seed: 2000 + UInt64(k))
                    let actual = try c.network.rootFormRelevance(c.x, batch: c.batch, rules: c.ruleSet, query: query)
                    let map = try #require(c.naive.affine(at: layer))
                    for n in 0..<c.batch {
                        // A neuron with 0 < |w_jᵀv_j| <= tol has no root (its relevance is dropped) while
                        // the unstabilised rule still divides by it: the lemma is about the other neurons.
                        let roots = c.naiveRoots(n)
                        try #require(!roots.contains { ($0.wv ?? 0) != 0 && abs($0.wv ?? 0) <= query.tolerance },
                                     "\(spec): a neuron sits at the no-root tolerance; pick another seed")
                        let xn = c.sample(n)
                        let output = c.naive.forward(xn)
                        var seed = [Double](repeating: 0, count: output.count)
                        seed[query.target] = output[query.target]
                        let r = c.naive.relevance(xn, seed: seed, rules: NaiveDTD.rootForms(c.rules), above: layer)
                        let expected = NaiveLRP.relevance(NaiveDTD.rootForm(rule), layer: map, input: c.layerInput(n), relevance: r)
                        expectClose(actual.row(n, size: map.inputCount), expected, tolerance: 1e-12,
                                    "\(spec) layer \(layer) \(placement) sample \(n)")
                    }
                }
            }
        }
    }

    /// At the first layer, the root form reached from f_k(x)·e_k through root forms everywhere is
    /// the engine's own LRP with each rule replaced by its root form (bias exclude, no stabiliser).
    @Test(arguments: DTDNetworks.rootRules)
    func firstLayerRootFormEqualsLRPWithRootForms(_ rule: Rule) throws {
        for (k, spec) in DTDNetworks.all.enumerated() {
            let query = RootQuery(layer: 0, target: 0, placement: .relevance)
            let c = try DTDCase(spec, rule: rule, query: query, batch: 3, seed: 2100 + UInt64(k))
            let forms = try spec.ruleSet(spec.uniformRules(NaiveDTD.rootForm(rule)), for: c.network)
            let outputs = try c.network.forward(c.x, batch: c.batch)
            let seed = outputs.indices.map { $0 % c.network.outputCount == 0 ? outputs[$0] : 0 }
            let expected = try c.network.lrp(c.x, batch: c.batch, outputRelevance: seed, rules: forms)
            let actual = try c.network.rootFormRelevance(c.x, batch: c.batch, rules: c.ruleSet, query: query)
            for n in 0..<c.batch {
                expectClose(actual.row(n, size: spec.inputCount), expected.row(n, size: spec.inputCount), tolerance: 1e-12,
                            "\(spec) sample \(n)")
            }
        }
    }
}
