import DTDCore

/// Maps an element type to the matching model inside a handle, so each `_f32`/`_f64` pair of
/// exports shares one generic implementation.
protocol BoundaryScalar: DTDScalar {
    static func network(_ handle: NetworkHandle) throws(DTDError) -> Network<Self>
    static func store(_ network: Network<Self>, in handle: NetworkHandle)
    static func rules(_ handle: RulesHandle) throws(DTDError) -> (RuleSet<Self>, Network<Self>)
    static func store(_ rules: RuleSet<Self>, _ network: Network<Self>, in handle: RulesHandle)
}

extension Float: BoundaryScalar {
    static func network(_ handle: NetworkHandle) throws(DTDError) -> Network<Float> {
        guard case .float32(let n) = handle.model else { throw dtypeMismatch(handle, expected: .float32) }
        return n
    }
    static func store(_ network: Network<Float>, in handle: NetworkHandle) { handle.model = .float32(network) }
    static func rules(_ handle: RulesHandle) throws(DTDError) -> (RuleSet<Float>, Network<Float>) {
        guard case .float32(let r, let n) = handle.model else {
            throw DTDError(.dtype, "rules were made for a float64 network; call the _f64 variant")
        }
        return (r, n)
    }
    static func store(_ rules: RuleSet<Float>, _ network: Network<Float>, in handle: RulesHandle) { handle.model = .float32(rules, network) }
}

extension Double: BoundaryScalar {
    static func network(_ handle: NetworkHandle) throws(DTDError) -> Network<Double> {
        guard case .float64(let n) = handle.model else { throw dtypeMismatch(handle, expected: .float64) }
        return n
    }
    static func store(_ network: Network<Double>, in handle: NetworkHandle) { handle.model = .float64(network) }
    static func rules(_ handle: RulesHandle) throws(DTDError) -> (RuleSet<Double>, Network<Double>) {
        guard case .float64(let r, let n) = handle.model else {
            throw DTDError(.dtype, "rules were made for a float32 network; call the _f32 variant")
        }
        return (r, n)
    }
    static func store(_ rules: RuleSet<Double>, _ network: Network<Double>, in handle: RulesHandle) { handle.model = .float64(rules, network) }
}

extension NetworkHandle {
    /// Applies a building step to a copy of the network and stores it only on success, so a
    /// failed `add` leaves the handle exactly as it was.
    func build<T: BoundaryScalar>(_ type: T.Type, _ step: (inout Network<T>) throws(DTDError) -> Void) throws(DTDError) {
        var network = try T.network(self)
        try step(&network)
        T.store(network, in: self)
    }

    /// Applies a step that does not depend on the element type.
    func buildAny(_ step: (inout Network<Float>) throws(DTDError) -> Void,
                  _ step64: (inout Network<Double>) throws(DTDError) -> Void) throws(DTDError) {
        switch model {
        case .float32: try build(Float.self, step)
        case .float64: try build(Double.self, step64)
        }
    }
}

extension RulesHandle {
    /// Applies a step to a copy of the rule set and stores it only on success.
    func update(_ step32: (inout RuleSet<Float>, Network<Float>) throws(DTDError) -> Void,
                _ step64: (inout RuleSet<Double>, Network<Double>) throws(DTDError) -> Void) throws(DTDError) {
        switch model {
        case .float32(var rules, let network):
            try step32(&rules, network)
            model = .float32(rules, network)
        case .float64(var rules, let network):
            try step64(&rules, network)
            model = .float64(rules, network)
        }
    }
}

/// The rule set of `handle` checked for use with `network`'s current layer list.
func rules<T: BoundaryScalar>(_ pointer: OpaquePointer?, for network: Network<T>) throws(DTDError) -> RuleSet<T> {
    let (set, _) = try T.rules(try Argument.rules(pointer))
    try set.checkUsable(with: network)
    return set
}
