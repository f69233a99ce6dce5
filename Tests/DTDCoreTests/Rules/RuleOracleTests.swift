import Testing
@testable import DTDCore

/// The engine against the naive loop-based oracle of Reference/NaiveLRP.swift (written from the
/// rule table of `Include/dtd.h` section 5, not from the engine), in float64, to 1e-10 relative.
///
/// Each rule — with both bias modes and several stabilisers, zero included — runs on every layer of
/// every seeded random network: MLPs of several depths and widths with biases of both signs (one
/// without ReLUs, so the deeper layers see negative inputs too), and CNNs with strided, padded
/// and dilated convolutions and max/average pooling. Inputs and output relevances have both signs.
@Suite("Rules against the naive oracle")
struct RuleOracleTests {
    @Test(arguments: Rule.allTestCases)
    func matchesTheOracleOnEveryLayer(_ rule: Rule) throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let naive = NaiveNetwork(spec)
            let batch = 3
            let x = RandomNetworks.inputs(spec, batch: batch, seed: 100 + UInt64(k))
            let seed = RandomNetworks.seeds(batch * network.outputCount, seed: 200 + UInt64(k))
            let rules = spec.uniformRules(rule)
            let expected = naive.lrp(batch: x, seed: seed, rules: rules, inputCount: spec.inputCount)
            expectClose(try network.lrp(spec, x, batch: batch, seed: seed, rules: rules), expected,
                        tolerance: 1e-10, "\(rule) on \(spec)")
        }
    }

    /// A different rule on each layer: the engine must apply each to its own layer.
    @Test func matchesTheOracleWithMixedRules() throws {
        for (k, spec) in RandomNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let linear = spec.linearLayerIndices
            var rules: [Int: Rule] = [:]
            for (position, layer) in linear.enumerated() { rules[layer] = Rule.allTestCases[(position * 7 + k) % Rule.allTestCases.count] }
            let x = RandomNetworks.inputs(spec, batch: 2, seed: 300 + UInt64(k))
            let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 400 + UInt64(k))
            let expected = NaiveNetwork(spec).lrp(batch: x, seed: seed, rules: rules, inputCount: spec.inputCount)
            expectClose(try network.lrp(spec, x, batch: 2, seed: seed, rules: rules), expected, tolerance: 1e-10, "\(spec)")
        }
    }

    /// zbox with bounds given per channel and per element (one value, one per channel or one
    /// per element of the layer input, `dtd_rules_set_zbox_bounds_f32`) on the first layer of an MLP and of a CNN (where the box must not
    /// extend into the conv's padding).
    @Test(arguments: [RandomNetworks.mlps[0], RandomNetworks.cnns[0]])
    func zBoxArrayBoundsMatchTheOracle(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let first = try #require(spec.linearLayerIndices.first)
        let channels = spec.inputShape[0], count = spec.inputCount
        var rng = SplitMix64(seed: 77)
        let lowChannels = rng.uniform(channels, in: -2...(-0.5)), highChannels = rng.uniform(channels, in: 0.5...2)
        let lowElements = rng.uniform(count, in: -2...(-0.5)), highElements = rng.uniform(count, in: 0...2)
        let boxes: [Rule] = [
            .zBox(low: .perChannel(lowChannels), high: .perChannel(highChannels), stabilizer: 1e-6, bias: .include),
            .zBox(low: .perElement(lowElements), high: .perElement(highElements), stabilizer: 0, bias: .exclude),
            .zBox(low: .scalar(-1), high: .perElement(highElements), stabilizer: 1e-6, bias: .include),
        ]
        for box in boxes {
            var rules = spec.uniformRules(.epsilon(1e-6))
            rules[first] = box
            let x = RandomNetworks.inputs(spec, batch: 2, seed: 500)
            let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 501)
            let expected = NaiveNetwork(spec).lrp(batch: x, seed: seed, rules: rules, inputCount: spec.inputCount)
            expectClose(try network.lrp(spec, x, batch: 2, seed: seed, rules: rules), expected, tolerance: 1e-10, "\(box)")
        }
    }
}
