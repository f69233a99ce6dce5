import CDTD
import DTDCore

// MARK: - 5. Rules and composites

/// Creates an empty rule set for a network. The corresponding Swift API is `RuleSet.init(for:)`.
@c @implementation
public func dtd_rules_create(_ network: OpaquePointer?, _ out_rules: UnsafeMutablePointer<OpaquePointer?>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let out = try Argument.output(out_rules, "out_rules")
        out.pointee = nil
        let handle = try Argument.network(network)
        let rules: RulesHandle
        switch handle.model {
        case .float32(let n): rules = RulesHandle(.float32(try RuleSet(for: n), n))
        case .float64(let n): rules = RulesHandle(.float64(try RuleSet(for: n), n))
        }
        out.pointee = try HandleRegistry.register(rules)
    }
}

/// Frees a rule set; NULL is a no-op, and any other pointer that is not a live rule set is left
/// alone with the reason in the error message.
@c @implementation
public func dtd_rules_destroy(_ rules: OpaquePointer?) {
    destroyHandle(rules, as: RulesHandle.self, "dtd_rules_destroy", "rules")
}

/// Validates the layer and assigns `rule`. The corresponding Swift API is `RuleSet.set(_:layer:in:)`.
func setRule(_ pointer: OpaquePointer?, _ layer: Int64, _ rule: () throws(DTDError) -> Rule) throws(DTDError) {
    let handle = try Argument.rules(pointer)
    let value = try rule()
    let index = try layerIndex(layer, handle)
    try handle.update({ (set: inout RuleSet<Float>, net: Network<Float>) throws(DTDError) in try set.set(value, layer: index, in: net) },
                      { (set: inout RuleSet<Double>, net: Network<Double>) throws(DTDError) in try set.set(value, layer: index, in: net) })
}

private func layerIndex(_ layer: Int64, _ handle: RulesHandle) throws(DTDError) -> Int {
    let count: Int
    switch handle.model {
    case .float32(let r, _): count = r.layerKinds.count
    case .float64(let r, _): count = r.layerKinds.count
    }
    guard layer >= 0, layer < Int64(count) else {
        throw DTDError(.layerIndex, "layer = \(layer) is outside [0, \(count)) for a network of \(count) layers")
    }
    return Int(layer)
}

@c @implementation
public func dtd_rules_set_epsilon(_ rules: OpaquePointer?, _ layer: Int64, _ epsilon: Double, _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in try setRule(rules, layer) { () throws(DTDError) in .epsilon(epsilon, bias: try Argument.biasMode(bias)) } }
}

@c @implementation
public func dtd_rules_set_zplus(_ rules: OpaquePointer?, _ layer: Int64, _ stabilizer: Double, _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in try setRule(rules, layer) { () throws(DTDError) in .zPlus(stabilizer: stabilizer, bias: try Argument.biasMode(bias)) } }
}

@c @implementation
public func dtd_rules_set_alphabeta(_ rules: OpaquePointer?, _ layer: Int64, _ alpha: Double, _ beta: Double,
                                    _ stabilizer: Double, _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in
        try setRule(rules, layer) { () throws(DTDError) in
            .alphaBeta(alpha: alpha, beta: beta, stabilizer: stabilizer, bias: try Argument.biasMode(bias))
        }
    }
}

@c @implementation
public func dtd_rules_set_gamma(_ rules: OpaquePointer?, _ layer: Int64, _ gamma: Double, _ stabilizer: Double,
                                _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in
        try setRule(rules, layer) { () throws(DTDError) in .gamma(gamma, stabilizer: stabilizer, bias: try Argument.biasMode(bias)) }
    }
}

@c @implementation
public func dtd_rules_set_wsquare(_ rules: OpaquePointer?, _ layer: Int64, _ stabilizer: Double, _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in try setRule(rules, layer) { () throws(DTDError) in .wSquare(stabilizer: stabilizer, bias: try Argument.biasMode(bias)) } }
}

@c @implementation
public func dtd_rules_set_flat(_ rules: OpaquePointer?, _ layer: Int64, _ stabilizer: Double) -> dtd_status {
    guarded { () throws(DTDError) in try setRule(rules, layer) { .flat(stabilizer: stabilizer) } }
}

@c @implementation
public func dtd_rules_set_zbox(_ rules: OpaquePointer?, _ layer: Int64, _ low: Double, _ high: Double,
                               _ stabilizer: Double, _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in
        try setRule(rules, layer) { () throws(DTDError) in
            .zBox(low: .scalar(low), high: .scalar(high), stabilizer: stabilizer, bias: try Argument.biasMode(bias))
        }
    }
}

/// z^B bounds from a buffer: 1 value, one per channel, or one per element of the layer input.
func bounds<T: BoundaryScalar>(_ pointer: UnsafePointer<T>?, _ count: Int64, _ name: String, layer: Int64,
                               handle: RulesHandle) throws(DTDError) -> Bounds {
    let values = try inputView(pointer, count, name)
    let index = try layerIndex(layer, handle)
    let (_, network) = try T.rules(handle)
    let shape = network.layers[index].inputShape
    // The count is checked before any element is read: the caller vouches only for `count` of them.
    let n = values.count
    guard n == 1 || n == shape.count || (shape.isImage && n == shape.channels) else {
        throw DTDError(.shapeMismatch, "layer \(layer) (zbox): \(name)_count = \(n) is neither 1, the \(shape.channels) channels nor the \(shape.count) elements of the layer input \(shape)")
    }
    let doubles = values.map(Double.init)
    if n == 1 { return .scalar(doubles[0]) }
    if n == shape.count { return .perElement(doubles) }
    return .perChannel(doubles)
}

func setZBoxBounds<T: BoundaryScalar>(_ rules: OpaquePointer?, _ layer: Int64, _ low: UnsafePointer<T>?, _ lowCount: Int64,
                                      _ high: UnsafePointer<T>?, _ highCount: Int64, _ stabilizer: Double,
                                      _ bias: dtd_bias_mode) throws(DTDError) {
    let handle = try Argument.rules(rules)
    let l = try bounds(low, lowCount, "low", layer: layer, handle: handle)
    let h = try bounds(high, highCount, "high", layer: layer, handle: handle)
    try setRule(rules, layer) { () throws(DTDError) in .zBox(low: l, high: h, stabilizer: stabilizer, bias: try Argument.biasMode(bias)) }
}

@c @implementation
public func dtd_rules_set_zbox_bounds_f32(_ rules: OpaquePointer?, _ layer: Int64, _ low: UnsafePointer<Float>?, _ low_count: Int64,
                                          _ high: UnsafePointer<Float>?, _ high_count: Int64, _ stabilizer: Double,
                                          _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in try setZBoxBounds(rules, layer, low, low_count, high, high_count, stabilizer, bias) }
}

@c @implementation
public func dtd_rules_set_zbox_bounds_f64(_ rules: OpaquePointer?, _ layer: Int64, _ low: UnsafePointer<Double>?, _ low_count: Int64,
                                          _ high: UnsafePointer<Double>?, _ high_count: Int64, _ stabilizer: Double,
                                          _ bias: dtd_bias_mode) -> dtd_status {
    guarded { () throws(DTDError) in try setZBoxBounds(rules, layer, low, low_count, high, high_count, stabilizer, bias) }
}

/// Assigns a named preset. The corresponding Swift API is `RuleSet.set(_:parameters:in:)`.
@c @implementation
public func dtd_rules_set_composite(_ rules: OpaquePointer?, _ composite: dtd_composite, _ epsilon: Double, _ gamma: Double,
                                    _ low: Double, _ high: Double) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.rules(rules)
        guard let preset = Composite(rawValue: composite) else {
            throw DTDError(.invalidArgument, "composite = \(composite) is not a DTD_COMPOSITE_* value (1...\(Composite.allCases.count))")
        }
        // Parameters a preset does not read are ignored; the others are checked by the rules.
        var parameters = Composite.Parameters(epsilon: epsilon)
        if preset == .epsilonGammaBox {
            parameters.gamma = gamma
            parameters.low = low
            parameters.high = high
        }
        try handle.update({ (set: inout RuleSet<Float>, net: Network<Float>) throws(DTDError) in try set.set(preset, parameters: parameters, in: net) },
                          { (set: inout RuleSet<Double>, net: Network<Double>) throws(DTDError) in try set.set(preset, parameters: parameters, in: net) })
    }
}

/// The rule kind of a layer. The corresponding Swift API is `RuleSet.rule(at:)`.
@c @implementation
public func dtd_rules_kind(_ rules: OpaquePointer?, _ layer: Int64, _ out_kind: UnsafeMutablePointer<dtd_rule_kind>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.rules(rules)
        let out = try Argument.output(out_kind, "out_kind")
        let index = try layerIndex(layer, handle)
        let rule: Rule?
        switch handle.model {
        case .float32(let r, _): rule = r.rule(at: index)
        case .float64(let r, _): rule = r.rule(at: index)
        }
        out.pointee = (rule?.kind ?? .none).rawValue
    }
}
