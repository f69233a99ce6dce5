import Testing
@testable import DTDCore

/// w² and flat replace the input by ones (`Include/dtd.h` section 5): their relevance depends on the weights and
/// the seed only. Through a network of such layers, ReLUs and flatten (no pooling, whose routing
/// or averaging depends on the input), two different inputs with the same seed must give
/// identical relevance — while the epsilon rule, which uses the input, does not.
@Suite("w-square and flat rules")
struct InputIndependentRuleTests {
    /// The MLPs and the CNN without pooling.
    static let networks = RandomNetworks.mlps + RandomNetworks.cnns.filter { spec in
        !spec.layers.contains { if case .maxPool2d = $0 { true } else if case .avgPool2d = $0 { true } else { false } }
    }

    @Test(arguments: [Rule.wSquare(stabilizer: 1e-6, bias: .include), .wSquare(stabilizer: 0, bias: .exclude), .flat(stabilizer: 1e-6)])
    func ignoresTheInputValues(_ rule: Rule) throws {
        #expect(Self.networks.count == RandomNetworks.mlps.count + 1)
        for (k, spec) in Self.networks.enumerated() {
            let network = try spec.build(Double.self)
            let seed = RandomNetworks.seeds(network.outputCount, seed: 170 + UInt64(k))
            let first = RandomNetworks.inputs(spec, batch: 1, seed: 180 + UInt64(k))
            let second = RandomNetworks.inputs(spec, batch: 1, seed: 190 + UInt64(k), range: -3...3)
            let rules = spec.uniformRules(rule)
            #expect(try network.lrp(spec, first, batch: 1, seed: seed, rules: rules)
                    == network.lrp(spec, second, batch: 1, seed: seed, rules: rules), "\(spec)")
            let epsilon = spec.uniformRules(.epsilon(1e-6))
            #expect(try network.lrp(spec, first, batch: 1, seed: seed, rules: epsilon)
                    != network.lrp(spec, second, batch: 1, seed: seed, rules: epsilon), "\(spec): epsilon does depend on the input")
        }
    }
}
