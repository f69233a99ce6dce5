import Foundation
import Testing
@testable import DTDCore

/// Rules and rule sets reject bad input with the right `DTDError.Kind` and a message that names
/// the layer and the argument (`Include/dtd.h`: nothing a caller passes crashes the process;
/// a dense/conv layer without a rule is an error).
@Suite("Rule validation")
struct RuleValidationTests {
    /// An invalid rule, the error it must raise, and a word its message must contain.
    struct InvalidRule: Sendable, CustomTestStringConvertible {
        let rule: Rule
        let kind: DTDError.Kind
        let argument: String
        var testDescription: String { "\(rule)" }
    }

    static let invalidRules: [InvalidRule] = [
        .init(rule: .epsilon(-1e-3), kind: .invalidArgument, argument: "epsilon"),
        .init(rule: .epsilon(.nan), kind: .nonFinite, argument: "epsilon"),
        .init(rule: .epsilon(.infinity), kind: .nonFinite, argument: "epsilon"),
        .init(rule: .zPlus(stabilizer: -1), kind: .invalidArgument, argument: "stabilizer"),
        .init(rule: .wSquare(stabilizer: .infinity), kind: .nonFinite, argument: "stabilizer"),
        .init(rule: .flat(stabilizer: -0.5), kind: .invalidArgument, argument: "stabilizer"),
        .init(rule: .alphaBeta(alpha: 2, beta: 0.5), kind: .invalidArgument, argument: "alpha - beta must be 1"),
        .init(rule: .alphaBeta(alpha: 1, beta: 1), kind: .invalidArgument, argument: "alpha - beta must be 1"),
        .init(rule: .alphaBeta(alpha: -1, beta: -2), kind: .invalidArgument, argument: "alpha"),
        .init(rule: .alphaBeta(alpha: 0.5, beta: -0.5), kind: .invalidArgument, argument: "beta"),
        .init(rule: .alphaBeta(alpha: .nan, beta: 1), kind: .nonFinite, argument: "alpha"),
        .init(rule: .alphaBeta(alpha: 2, beta: 1, stabilizer: -1), kind: .invalidArgument, argument: "stabilizer"),
        .init(rule: .gamma(-0.25), kind: .invalidArgument, argument: "gamma"),
        .init(rule: .gamma(.infinity), kind: .nonFinite, argument: "gamma"),
        .init(rule: .gamma(0.25, stabilizer: -1e-6), kind: .invalidArgument, argument: "stabilizer"),
        .init(rule: .zBox(low: .scalar(1), high: .scalar(-1)), kind: .invalidArgument, argument: "low must be <= high"),
        .init(rule: .zBox(low: .perElement([0, 0, 2, 0, 0, 0, 0, 0]), high: .scalar(1)), kind: .invalidArgument,
              argument: "low must be <= high"),
        .init(rule: .zBox(low: .scalar(.nan), high: .scalar(1)), kind: .nonFinite, argument: "low"),
        .init(rule: .zBox(low: .scalar(0), high: .scalar(-.infinity)), kind: .nonFinite, argument: "high"),
        .init(rule: .zBox(low: .scalar(0), high: .scalar(1), stabilizer: -1), kind: .invalidArgument, argument: "stabilizer"),
        // Bounds arrays must fit the layer input, (8) here.
        .init(rule: .zBox(low: .perElement([0, 0, 0]), high: .scalar(1)), kind: .shapeMismatch, argument: "low has 3 values"),
        .init(rule: .zBox(low: .scalar(0), high: .perElement([Double](repeating: 1, count: 9))), kind: .shapeMismatch,
              argument: "high has 9 values"),
        .init(rule: .zBox(low: .perChannel([0, 0]), high: .scalar(1)), kind: .shapeMismatch, argument: "low has 2 values"),
    ]

    /// dense(0) relu dense(2) relu dense(4); layer 2 has 8 inputs.
    static let mlp = RandomNetworks.mlp("mlp 5-8-6-3", [5, 8, 6, 3], .mixed, seed: 51)

    @Test(arguments: invalidRules)
    func rejectsInvalidRuleParameters(_ invalid: InvalidRule) throws {
        let network = try Self.mlp.build(Double.self)
        var set = try RuleSet(for: network)
        expectDTDError(invalid.kind, mentioning: ["layer 2", invalid.argument]) {
            try set.set(invalid.rule, layer: 2, in: network)
        }
        #expect(set.rule(at: 2) == nil, "a failed set leaves the layer without a rule")
    }

    /// Boundary values that are valid: ε = 0, γ = 0, α = 1 and β = 0, low = high.
    @Test func acceptsBoundaryParameters() throws {
        let network = try Self.mlp.build(Double.self)
        var set = try RuleSet(for: network)
        for rule in [Rule.epsilon(0), .gamma(0), .alphaBeta(alpha: 1, beta: 0), .zBox(low: .scalar(0.5), high: .scalar(0.5)),
                     .zPlus(stabilizer: 0), .zBox(low: .perChannel([Double](repeating: 0, count: 8)), high: .scalar(1))] {
            try set.set(rule, layer: 2, in: network)
            #expect(set.rule(at: 2)?.description == rule.description)
        }
    }

    /// Which zbox bound is given as an empty array.
    enum EmptyBound: String, Codable, Sendable, CaseIterable {
        case lowPerElement, lowPerChannel, highPerElement, highPerChannel

        var rule: Rule {
            switch self {
            case .lowPerElement: .zBox(low: .perElement([]), high: .scalar(1))
            case .lowPerChannel: .zBox(low: .perChannel([]), high: .scalar(1))
            case .highPerElement: .zBox(low: .scalar(0), high: .perElement([]))
            case .highPerChannel: .zBox(low: .scalar(0), high: .perChannel([]))
            }
        }
    }

    /// True if setting the rule on layer 2 of the MLP throws `.shapeMismatch` naming layer 2.
    static func rejectsEmptyBound(_ bound: EmptyBound) -> Bool {
        do {
            let network = try mlp.build(Double.self)
            var set = try RuleSet(for: network)
            try set.set(bound.rule, layer: 2, in: network)
            return false
        } catch {
            guard let error = error as? DTDError else { return false }
            return error.kind == .shapeMismatch && error.message.contains("layer 2")
        }
    }

    /// An empty bounds array does not fit any layer: a `.shapeMismatch`, never an out-of-range
    /// trap while the bounds are compared (`Include/dtd.h` conventions). Run in a child process (exit test).
    @Test(arguments: EmptyBound.allCases)
    func rejectsEmptyBoundsWithoutTrapping(_ bound: EmptyBound) async {
        await #expect(processExitsWith: .success) { [bound] in
            if !RuleValidationTests.rejectsEmptyBound(bound) { exit(1) }
        }
    }

    /// Bounds are finite Doubles, but −1e39 does not exist in float32. A float32 network must
    /// either refuse such a bound, naming it, or still give finite relevance — never NaN
    /// silently (`Include/dtd.h` conventions: non-finite values are rejected or propagate).
    @Test(arguments: [Rule.zBox(low: .scalar(-1e39), high: .scalar(1)), .zBox(low: .scalar(0), high: .perElement([1, 1e39]))])
    func boundsBeyondFloat32AreRejectedOrGiveFiniteRelevance(_ rule: Rule) throws {
        var network = try Network<Float>(inputShape: .flat(2))
        try network.addDense(weight: [1, -2, 3, 4], outFeatures: 2, inFeatures: 2, bias: [0.5, -0.5])
        let outcome = Result { () throws -> [Float] in
            var set = try RuleSet(for: network)
            try set.set(rule, layer: 0, in: network)
            return try network.lrp([1, 2], batch: 1, outputRelevance: [1, 1], rules: set)
        }
        switch outcome {
        case .success(let relevance):
            #expect(relevance.allSatisfy { $0.isFinite }, "relevance \(relevance) from finite inputs and parameters")
        case .failure(let error):
            let message = (error as? DTDError)?.message ?? "not a DTDError: \(error)"
            #expect(message.contains("layer 0") && (message.contains("low") || message.contains("high")), "\(message)")
        }
    }

    /// A per-channel box on a conv layer must have one value per input channel.
    @Test func rejectsPerChannelBoundsOfTheWrongCountOnConv() throws {
        let spec = RandomNetworks.cnns[0]
        let network = try spec.build(Double.self)
        var set = try RuleSet(for: network)
        expectDTDError(.shapeMismatch, mentioning: ["layer 0", "high has 3 values", "2 channels"]) {
            try set.set(.zBox(low: .scalar(0), high: .perChannel([1, 1, 1])), layer: 0, in: network)
        }
    }

    /// A failed `set` keeps the rule the layer had ("on failure the set is unchanged").
    @Test func failedSetKeepsThePreviousRule() throws {
        let network = try Self.mlp.build(Double.self)
        var set = try RuleSet(for: network)
        try set.set(.gamma(0.5), layer: 2, in: network)
        expectDTDError(.invalidArgument) { try set.set(.gamma(-1), layer: 2, in: network) }
        #expect(set.rule(at: 2)?.description == Rule.gamma(0.5).description)
    }

    @Test(arguments: [1, 3, 5])
    func rejectsARuleOnALayerWithoutWeights(_ layer: Int) throws {
        let network = try Self.mlp.build(Double.self)
        var set = try RuleSet(for: network)
        let kind = layer == 5 ? "out of range" : "relu"
        if layer == 5 {
            expectDTDError(.layerIndex, mentioning: ["5", "[0, 5)"]) { try set.set(.epsilon(0), layer: layer, in: network) }
        } else {
            expectDTDError(.rule, mentioning: ["layer \(layer)", kind, "no weights"]) { try set.set(.epsilon(0), layer: layer, in: network) }
        }
    }

    @Test(arguments: [-1, 5, 1_000_000])
    func rejectsALayerIndexOutOfRange(_ layer: Int) throws {
        let network = try Self.mlp.build(Double.self)
        var set = try RuleSet(for: network)
        expectDTDError(.layerIndex, mentioning: ["\(layer)", "[0, 5)"]) { try set.set(.epsilon(0), layer: layer, in: network) }
        #expect(set.rule(at: layer) == nil)
    }

    /// LRP names the first dense/conv layer that has no rule.
    @Test func lrpRejectsADenseLayerWithoutARule() throws {
        let network = try Self.mlp.build(Double.self)
        var set = try RuleSet(for: network)
        try set.set(.epsilon(0), layer: 0, in: network)
        try set.set(.epsilon(0), layer: 4, in: network)
        let x = RandomNetworks.inputs(Self.mlp, batch: 1, seed: 1)
        expectDTDError(.rule, mentioning: ["layer 2", "dense", "no rule"]) {
            _ = try network.lrp(x, batch: 1, outputRelevance: [1, 0, 0], rules: set)
        }
    }

    @Test func lrpRejectsAConvLayerWithoutARule() throws {
        let spec = RandomNetworks.cnns[0]
        let network = try spec.build(Double.self)
        var set = try RuleSet(for: network)
        for layer in spec.linearLayerIndices.dropFirst() { try set.set(.zPlus(), layer: layer, in: network) }
        let x = RandomNetworks.inputs(spec, batch: 1, seed: 1)
        expectDTDError(.rule, mentioning: ["layer 0", "conv2d", "no rule"]) {
            _ = try network.lrp(x, batch: 1, outputRelevance: [Double](repeating: 1, count: network.outputCount), rules: set)
        }
    }

    /// A rule set made before a layer was added is refused, by LRP and by `set`.
    @Test func ruleSetIsRejectedAfterTheNetworkGainsALayer() throws {
        var network = try Self.mlp.build(Double.self)
        let set = try RuleSet(for: network, everyLinearLayer: .epsilon(0))
        network.addReLU()
        let x = RandomNetworks.inputs(Self.mlp, batch: 1, seed: 1)
        expectDTDError(.networkMismatch, mentioning: ["5 layers", "6"]) {
            _ = try network.lrp(x, batch: 1, outputRelevance: [1, 0, 0], rules: set)
        }
        var stale = set
        expectDTDError(.networkMismatch) { try stale.set(.zPlus(), layer: 0, in: network) }
    }

    /// Two networks grown from one base network by different layers are different networks, and a
    /// rule set prepared for one (whose modified weights are precomputed from its layers) must not
    /// be accepted by the other. Here both add a dense layer of the same shape, with different
    /// weights, so a wrongly accepted set would silently explain the sibling with the wrong weights.
    @Test func ruleSetOfASiblingNetworkIsRejected() throws {
        let base = try Self.mlp.build(Double.self)
        var first = base, second = base
        first.addReLU()
        try first.addDense(weight: [1, 2, 3, 4, 5, 6], outFeatures: 2, inFeatures: 3, bias: nil)
        second.addReLU()
        try second.addDense(weight: [-6, 5, -4, 3, -2, 1], outFeatures: 2, inFeatures: 3, bias: nil)
        let set = try RuleSet(for: first, everyLinearLayer: .epsilon(0))
        let x = RandomNetworks.inputs(Self.mlp, batch: 1, seed: 1)
        expectDTDError(.networkMismatch) {
            _ = try second.lrp(x, batch: 1, outputRelevance: [1, 1], rules: set)
        }
    }

    @Test func ruleSetForAnEmptyNetworkIsRejected() throws {
        let network = try Network<Double>(inputShape: .flat(3))
        expectDTDError(.emptyNetwork, mentioning: ["no layers"]) { _ = try RuleSet(for: network) }
        expectDTDError(.emptyNetwork) { _ = try RuleSet(for: network, everyLinearLayer: .zPlus()) }
    }
}
