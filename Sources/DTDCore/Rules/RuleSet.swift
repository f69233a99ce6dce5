/// One rule per dense/conv layer of one network, prepared (modified weights precomputed) as
/// each rule is set. Building mutates the set; a fully set `RuleSet` is immutable and `Sendable`
/// and may serve any number of concurrent LRP calls.
public struct RuleSet<T: DTDScalar>: Sendable {
    /// The network revision this set was made for.
    public let fingerprint: Network<T>.Fingerprint
    /// The kinds of the network's layers, by index.
    public let layerKinds: [LayerKind]
    private(set) var prepared: [PreparedRule<T>?]
    /// The rule of each average pool, adaptive average pool and add that has one (else
    /// `PoolRule.standard`).
    private(set) var poolRules: [PoolRule?]

    /// An empty rule set for `network`.
    public init(for network: Network<T>) throws(DTDError) {
        try network.checkNotEmpty()
        fingerprint = network.fingerprint
        layerKinds = network.layers.map(\.kind)
        prepared = Array(repeating: nil, count: network.layers.count)
        poolRules = Array(repeating: nil, count: network.layers.count)
    }

    /// An empty rule set with `rule` on every dense/conv layer (the study's protocol).
    public init(for network: Network<T>, everyLinearLayer rule: Rule) throws(DTDError) {
        try self.init(for: network)
        for (index, kind) in layerKinds.enumerated() where kind == .dense || kind == .conv2d {
            try set(rule, layer: index, in: network)
        }
    }

    /// Assigns `rule` to layer `layer`, replacing any earlier rule. Dense and conv layers take
    /// every rule; average pools, adaptive average pools and adds take epsilon (selecting their
    /// norm rule, `PoolRule.norm`) or flat (`PoolRule.flat`).
    /// - Throws: `.networkMismatch`, `.layerIndex`, `.rule` (the layer takes no such rule), and
    ///   the rule's parameter errors. On failure the set is unchanged.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public mutating func set(_ rule: Rule, layer: Int, in network: Network<T>) throws(DTDError) {
        try checkUsable(with: network)
        try network.checkLayerIndex(layer)
        let kind = network.layers[layer].kind
        if kind.takesPoolRule {
            poolRules[layer] = try PoolRule(rule, layer: layer, kind: kind)
            return
        }
        guard let linear = network.layers[layer].linear else {
            var detail = ""
            if case .batchNorm(_, let folded) = network.layers[layer] { detail = " (it is folded into layer \(folded); set the rule there)" }
            throw DTDError(.rule, "layer \(layer) is \(kind), which has no weights for a rule\(detail)")
        }
        prepared[layer] = try PreparedRule(rule: rule, layer: linear, layerIndex: layer)
    }

    /// Assigns a named preset to every dense/conv layer. On failure no rule changes.
    public mutating func set(_ composite: Composite, parameters: Composite.Parameters = .init(),
                             in network: Network<T>) throws(DTDError) {
        try parameters.validate(for: composite)
        var copy = self
        for (layer, rule) in composite.assignment(layerKinds: layerKinds, parameters: parameters) {
            try copy.set(rule, layer: layer, in: network)
        }
        self = copy
    }

    /// The rule of layer `layer`, or nil (for a pooling or add layer: the epsilon or flat rule
    /// it was given).
    public func rule(at layer: Int) -> Rule? {
        guard layer >= 0, layer < prepared.count else { return nil }
        return prepared[layer]?.rule ?? poolRules[layer]?.rule
    }

    /// The pooling rule of layer `layer`: the one set, or `PoolRule.standard`.
    public func poolRule(at layer: Int) -> PoolRule {
        guard layer >= 0, layer < poolRules.count else { return .standard }
        return poolRules[layer] ?? .standard
    }

    /// Throws `.networkMismatch` unless this set was made for exactly `network`'s layer list.
    public func checkUsable(with network: Network<T>) throws(DTDError) {
        guard fingerprint == network.fingerprint else {
            throw DTDError(.networkMismatch, "the rule set was made for another network, or for this one before it changed (rule set: \(layerKinds.count) layers, network: \(network.layers.count) layers); create a new rule set")
        }
    }

    /// The prepared rule of linear layer `layer`.
    /// - Throws: `.rule` naming the layer when it has no rule.
    func preparedRule(at layer: Int) throws(DTDError) -> PreparedRule<T> {
        guard let rule = prepared[layer] else {
            throw DTDError(.rule, "layer \(layer) (\(layerKinds[layer])) has no rule; set one (libdtd never guesses a rule)")
        }
        return rule
    }
}
