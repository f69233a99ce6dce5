/// How LRP splits relevance at an average pool, an adaptive average pool or an add: the layers
/// whose weights are fixed by their shape. Zennit's composites give them `Norm`, which is also
/// libdtd's default; iNNvestigate's DeepTaylor and innsight's conservation tests assume the
/// uniform split (`flat`).
public enum PoolRule: Sendable, Equatable {
    /// a (.) P^T (R / stab(z)): the epsilon rule with the layer's own weights (Zennit's `Norm`);
    /// at an add, operand k receives x_k (.) R / stab(sum of the operands).
    case norm(stabilizer: Double)
    /// Weights and inputs set to one: each output's relevance split equally over the in-bounds
    /// cells of its window (R / stab(count)), or over an add's operands (R / stab(operands)).
    case flat(stabilizer: Double)

    /// Norm with stabiliser 1e-6, used where the rule set names no rule.
    public static let standard = PoolRule.norm(stabilizer: 1e-6)

    /// The pooling rule `rule` selects for layer `layer` (of `kind`): epsilon selects norm, flat
    /// selects flat.
    /// - Throws: `.rule` for any other rule, and the rule's own parameter errors.
    init(_ rule: Rule, layer: Int, kind: LayerKind) throws(DTDError) {
        try rule.validate(layer: layer)
        switch rule {
        case .epsilon(let epsilon, _): self = .norm(stabilizer: epsilon)
        case .flat(let stabilizer): self = .flat(stabilizer: stabilizer)
        default:
            throw DTDError(.rule, "layer \(layer) is \(kind), which takes epsilon (its norm rule) or flat, not \(rule.kind)")
        }
    }

    /// The rule as the header reports it (epsilon for norm).
    var rule: Rule {
        switch self {
        case .norm(let s): .epsilon(s)
        case .flat(let s): .flat(stabilizer: s)
        }
    }
}
