import Testing
@testable import DTDCore

/// The z^B (box) rule: s = R / stab(Wa + b − (W⁺l + b⁺) − (W⁻h + b⁻)); a ⊙ Wᵀs − l ⊙ W⁺ᵀs − h ⊙ W⁻ᵀs.
@Suite("zbox rule")
struct ZBoxRuleTests {
    /// b − b⁺ − b⁻ = 0, so the bias cancels from the denominator and zbox is the same in both
    /// bias modes (the rule table, `Include/dtd.h` section 5).
    @Test(arguments: RandomNetworks.all)
    func isTheSameInBothBiasModes(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 200)
        let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 201)
        let include = try network.lrp(spec, x, batch: 2, seed: seed,
                                      rules: spec.uniformRules(.zBox(low: .scalar(-1), high: .scalar(1), bias: .include)))
        let exclude = try network.lrp(spec, x, batch: 2, seed: seed,
                                      rules: spec.uniformRules(.zBox(low: .scalar(-1), high: .scalar(1), bias: .exclude)))
        expectClose(include, exclude, tolerance: 1e-12)
    }

    /// Bounds given per channel are the per-element bounds with each channel's value repeated over
    /// its plane; scalar bounds are the per-element bounds with one value everywhere.
    @Test func boundFormsAgree() throws {
        let spec = RandomNetworks.cnns[0]
        let network = try spec.build(Double.self)
        let (channels, count) = (spec.inputShape[0], spec.inputCount)
        let plane = count / channels
        let low = (0..<channels).map { -0.5 - Double($0) }, high = (0..<channels).map { 0.25 + Double($0) }
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 210)
        let seed = RandomNetworks.seeds(2 * network.outputCount, seed: 211)
        func run(_ box: Rule) throws -> [Double] {
            var rules = spec.uniformRules(.epsilon(1e-6))
            rules[0] = box
            return try network.lrp(spec, x, batch: 2, seed: seed, rules: rules)
        }
        expectClose(try run(.zBox(low: .perChannel(low), high: .perChannel(high))),
                    try run(.zBox(low: .perElement((0..<count).map { low[$0 / plane] }),
                                  high: .perElement((0..<count).map { high[$0 / plane] }))), tolerance: 1e-14, "per channel")
        expectClose(try run(.zBox(low: .scalar(-2), high: .scalar(3))),
                    try run(.zBox(low: .perElement([Double](repeating: -2, count: count)),
                                  high: .perElement([Double](repeating: 3, count: count)))), tolerance: 1e-14, "scalar")
    }
}
