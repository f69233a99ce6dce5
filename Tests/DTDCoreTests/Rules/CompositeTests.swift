import Testing
@testable import DTDCore

/// Composites assign a rule to each dense/conv layer by index, with the mapping documented in
/// Sources/DTDCore/Rules/Composite.swift: "feature" layers are the conv layers if there are any,
/// otherwise every dense layer but the last; the other dense layers are "classifier" layers and
/// get epsilon; the `Flat` presets put flat, and epsilon_gamma_box puts zbox, on the first
/// dense/conv layer. The expected tables below are written out by hand from that text.
@Suite("Composites")
struct CompositeTests {
    /// dense(0) relu dense(2) relu dense(4): feature layers 0 and 2, classifier layer 4.
    static let mlp = RandomNetworks.mlp("mlp 4-6-5-3", [4, 6, 5, 3], .mixed, seed: 41)
    /// conv(0) relu maxpool conv(3) relu flatten dense(6) relu dense(8): feature layers 0 and 3,
    /// classifier layers 6 and 8.
    static let cnn = RandomNetworkBuilder(name: "cnn", inputShape: [2, 6, 6], seed: 42)
        .conv(3, kernel: (3, 3), padding: (1, 1)).relu().maxPool((2, 2), stride: (2, 2))
        .conv(4, kernel: (2, 2)).relu().flatten().dense(5).relu().dense(3).spec

    static func expected(_ composite: Composite, _ spec: NetworkSpec, _ p: Composite.Parameters) -> [Int: Rule] {
        let s = p.stabilizer
        let eps = Rule.epsilon(p.epsilon), zPlus = Rule.zPlus(stabilizer: s), flat = Rule.flat(stabilizer: s)
        let gamma = Rule.gamma(p.gamma, stabilizer: s), alphaBeta = Rule.alphaBeta(alpha: 2, beta: 1, stabilizer: s)
        let box = Rule.zBox(low: .scalar(p.low), high: .scalar(p.high), stabilizer: s)
        let isMLP = spec.name == mlp.name
        switch (composite, isMLP) {
        case (.epsilonPlus, true): return [0: zPlus, 2: zPlus, 4: eps]
        case (.epsilonPlusFlat, true): return [0: flat, 2: zPlus, 4: eps]
        case (.epsilonGammaBox, true): return [0: box, 2: gamma, 4: eps]
        case (.epsilonAlpha2Beta1, true): return [0: alphaBeta, 2: alphaBeta, 4: eps]
        case (.epsilonAlpha2Beta1Flat, true): return [0: flat, 2: alphaBeta, 4: eps]
        case (.epsilonPlus, false): return [0: zPlus, 3: zPlus, 6: eps, 8: eps]
        case (.epsilonPlusFlat, false): return [0: flat, 3: zPlus, 6: eps, 8: eps]
        case (.epsilonGammaBox, false): return [0: box, 3: gamma, 6: eps, 8: eps]
        case (.epsilonAlpha2Beta1, false): return [0: alphaBeta, 3: alphaBeta, 6: eps, 8: eps]
        case (.epsilonAlpha2Beta1Flat, false): return [0: flat, 3: alphaBeta, 6: eps, 8: eps]
        }
    }

    static let parameterSets: [Composite.Parameters] = [.init(), .init(epsilon: 0.1, gamma: 0.5, low: -1, high: 2)]

    @Test(arguments: Composite.allCases, [mlp, cnn])
    func assignsTheDocumentedRuleToEachLayer(_ composite: Composite, _ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        for parameters in Self.parameterSets {
            var set = try RuleSet(for: network)
            try set.set(composite, parameters: parameters, in: network)
            let expected = Self.expected(composite, spec, parameters)
            for layer in spec.layers.indices {
                #expect(set.rule(at: layer)?.description == expected[layer]?.description, "\(composite) layer \(layer)")
            }
        }
    }

    /// A composite's relevance is that of its rules set one by one.
    @Test(arguments: Composite.allCases, [mlp, cnn])
    func explainsLikeItsRulesSetByHand(_ composite: Composite, _ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        var set = try RuleSet(for: network)
        try set.set(composite, in: network)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 43, range: 0...1)
        let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 44)
        let byComposite = try network.lrp(x, batch: 2, outputRelevance: seed, rules: set)
        let byHand = try network.lrp(spec, x, batch: 2, seed: seed, rules: Self.expected(composite, spec, .init()))
        #expect(byComposite == byHand)
    }

    /// The defaults are Zennit's: epsilon 1e-6, gamma 0.25, box [0, 1], stabiliser 1e-6.
    @Test func defaultParametersAreZennits() {
        let p = Composite.Parameters()
        #expect(p.epsilon == 1e-6 && p.gamma == 0.25 && p.low == 0 && p.high == 1 && p.stabilizer == 1e-6)
    }

    /// A composite whose parameters are invalid changes no rule ("on failure no rule changes").
    @Test func failedCompositeLeavesTheRuleSetUnchanged() throws {
        let spec = Self.mlp
        let network = try spec.build(Double.self)
        var set = try RuleSet(for: network)
        try set.set(.epsilonPlus, in: network)
        let before = spec.layers.indices.map { set.rule(at: $0)?.description }
        expectDTDError(.invalidArgument, mentioning: ["epsilon_alpha2_beta1", "epsilon"]) {
            try set.set(.epsilonAlpha2Beta1, parameters: .init(epsilon: -1), in: network)
        }
        #expect(spec.layers.indices.map { set.rule(at: $0)?.description } == before)
    }
}
