/// Whether a rule's denominators include the layer bias.
public enum BiasMode: Int32, Sendable, CustomStringConvertible {
    /// The bias takes part (Zennit's default).
    case include = 0
    /// The bias is set to zero inside the rule (Zennit's `zero_params=['bias']`, the DTD form).
    case exclude = 1

    public var description: String { self == .include ? "include" : "exclude" }
}

/// The rule kinds, with the raw values of the header's `DTD_RULE_*`.
public enum RuleKind: Int32, Sendable, CustomStringConvertible {
    case none = 0, epsilon, zPlus, alphaBeta, gamma, wSquare, flat, zBox

    public var description: String {
        switch self {
        case .none: "none"
        case .epsilon: "epsilon"
        case .zPlus: "zplus"
        case .alphaBeta: "alphabeta"
        case .gamma: "gamma"
        case .wSquare: "wsquare"
        case .flat: "flat"
        case .zBox: "zbox"
        }
    }
}

/// The z^B rule's bounds: one value, one per channel of the layer input, or one per element.
public enum Bounds: Sendable {
    case scalar(Double)
    /// One value per input channel (conv) or feature (dense).
    case perChannel([Double])
    /// One value per element of the layer input.
    case perElement([Double])
}

/// An LRP rule for one dense or conv layer. Notation: the layer maps a to z = W a + b, R arrives
/// at its output, stab(d) = d + s sign(d) with sign(0) = +1 and the stabiliser s, W+ = max(W, 0),
/// W- = min(W, 0), likewise a+, a-, b+, b-. A stabilised denominator of exactly 0 gives a share of 0.
/// The formulas are Zennit 0.5.1's, including its treatment of negative inputs (see
/// `Documentation.docc/References.md`). Each case's terms are in `Rule+Terms.swift`.
public enum Rule: Sendable {
    /// a (.) W^T (R / stab(z)), with epsilon as the stabiliser; epsilon = 0 is LRP-0.
    /// Default epsilon 1e-6. DTD root rule only for epsilon = 0 (direction v = a).
    case epsilon(Double, bias: BiasMode = .include)
    /// s = R / stab(W+ a+ + b+ + W- a-); a+ (.) W+^T s + a- (.) W-^T s. Root direction
    /// v_i = a_i [a_i w_ij > 0]; conserves relevance exactly with bias excluded.
    case zPlus(stabilizer: Double = 1e-6, bias: BiasMode = .include)
    /// alpha (z+ part) - beta (s- = R / stab(W- a+ + b- + W+ a-); a+ (.) W-^T s- + a- (.) W+^T s-),
    /// alpha - beta = 1, both >= 0. Two partial roots (along the positive and negative contributions).
    case alphaBeta(alpha: Double, beta: Double, stabilizer: Double = 1e-6, bias: BiasMode = .include)
    /// Generalised gamma: W+g = W + gamma W+, W-g = W + gamma W-;
    /// s+ = [z > 0] R / stab(W+g a+ + b + gamma b+ + W-g a-), s- = [z < 0] R / stab(W-g a+ + b + gamma b- + W+g a-);
    /// a+ (.) W+g^T s+ + a- (.) W-g^T s+ + a+ (.) W-g^T s- + a- (.) W+g^T s-. The gate uses the true z.
    /// gamma = 0 is LRP-0 with a stabiliser; gamma -> infinity tends to z+. Default gamma 0.25.
    case gamma(Double, stabilizer: Double = 1e-6, bias: BiasMode = .include)
    /// (W^2)^T (R / stab(W^2 1 + b^2)): ignores the input values. Root direction v = w_j.
    case wSquare(stabilizer: Double = 1e-6, bias: BiasMode = .include)
    /// 1^T (R / stab(1 1)): weights and inputs set to one, bias always dropped. Not a root rule.
    case flat(stabilizer: Double = 1e-6)
    /// s = R / stab(z - (W+ l + b+) - (W- h + b-)); a (.) W^T s - l (.) W+^T s - h (.) W-^T s.
    /// The same in both bias modes. Root direction v_i = a_i - l_i [w_ij > 0] - h_i [w_ij < 0].
    case zBox(low: Bounds, high: Bounds, stabilizer: Double = 1e-6, bias: BiasMode = .include)

    /// The rule's kind (the header's rule code).
    public var kind: RuleKind {
        switch self {
        case .epsilon: .epsilon
        case .zPlus: .zPlus
        case .alphaBeta: .alphaBeta
        case .gamma: .gamma
        case .wSquare: .wSquare
        case .flat: .flat
        case .zBox: .zBox
        }
    }

    /// The value added to a denominator's magnitude (epsilon for the epsilon rule).
    public var stabilizer: Double {
        switch self {
        case .epsilon(let e, _): e
        case .zPlus(let s, _), .alphaBeta(_, _, let s, _), .gamma(_, let s, _), .wSquare(let s, _),
             .flat(let s), .zBox(_, _, let s, _): s
        }
    }

    /// Whether the rule's denominators include the layer bias (flat: never).
    public var biasMode: BiasMode {
        switch self {
        case .epsilon(_, let b), .zPlus(_, let b), .alphaBeta(_, _, _, let b), .gamma(_, _, let b),
             .wSquare(_, let b), .zBox(_, _, _, let b): b
        case .flat: .exclude
        }
    }

    /// Whether DTD defines a root for this rule (epsilon = 0, z+, alpha-beta, gamma, w^2, zbox):
    /// every weight choice of its terms has a direction factor (flat's all-one weights have
    /// none), and epsilon's stabiliser, which is part of the rule, is 0.
    public var hasRoots: Bool {
        if case .epsilon(let e, _) = self, e != 0 { return false }
        return groups.allSatisfy { group in
            group.terms.allSatisfy { $0.weight.directionFactor(1, gamma: gammaValue) != nil }
        }
    }

    /// The rule's root form: bias excluded and no stabiliser (the DTD form of the top-down pass).
    /// - Throws: `.rule` for epsilon > 0 and flat, which are not root rules.
    public func rootForm(layer: Int) throws(DTDError) -> Rule {
        guard hasRoots else {
            throw DTDError(.rule, "layer \(layer): \(self) is not a DTD root rule (epsilon > 0 and flat have no roots); use epsilon 0, zplus, alphabeta, gamma, wsquare or zbox")
        }
        switch self {
        case .epsilon: return .epsilon(0, bias: .exclude)
        case .zPlus: return .zPlus(stabilizer: 0, bias: .exclude)
        case .alphaBeta(let a, let b, _, _): return .alphaBeta(alpha: a, beta: b, stabilizer: 0, bias: .exclude)
        case .gamma(let g, _, _): return .gamma(g, stabilizer: 0, bias: .exclude)
        case .wSquare: return .wSquare(stabilizer: 0, bias: .exclude)
        case .zBox(let l, let h, _, _): return .zBox(low: l, high: h, stabilizer: 0, bias: .exclude)
        case .flat: return self
        }
    }

    /// Checks every parameter against its domain.
    public func validate(layer: Int) throws(DTDError) {
        let name = "layer \(layer) (\(kind))"
        func finite(_ value: Double, _ what: String) throws(DTDError) {
            guard value.isFinite else { throw DTDError(.nonFinite, "\(name): \(what) is \(value)") }
        }
        func nonNegative(_ value: Double, _ what: String) throws(DTDError) {
            try finite(value, what)
            guard value >= 0 else { throw DTDError(.invalidArgument, "\(name): \(what) must be >= 0, got \(value)") }
        }
        switch self {
        case .epsilon(let e, _):
            try nonNegative(e, "epsilon")
        case .zPlus(let s, _), .wSquare(let s, _), .flat(let s):
            try nonNegative(s, "stabilizer")
        case .alphaBeta(let alpha, let beta, let s, _):
            try nonNegative(alpha, "alpha")
            try nonNegative(beta, "beta")
            try nonNegative(s, "stabilizer")
            guard alpha - beta == 1 else {
                throw DTDError(.invalidArgument, "\(name): alpha - beta must be 1, got alpha = \(alpha), beta = \(beta)")
            }
        case .gamma(let g, let s, _):
            try nonNegative(g, "gamma")
            try nonNegative(s, "stabilizer")
        case .zBox(let low, let high, let s, _):
            try nonNegative(s, "stabilizer")
            let lows = low.values, highs = high.values
            guard !lows.isEmpty, !highs.isEmpty else {
                throw DTDError(.shapeMismatch, "\(name): low and high need at least one value each (got \(lows.count) and \(highs.count))")
            }
            for (i, v) in lows.enumerated() { try finite(v, "low[\(i)]") }
            for (i, v) in highs.enumerated() { try finite(v, "high[\(i)]") }
            if lows.count == highs.count || lows.count == 1 || highs.count == 1 {
                let n = max(lows.count, highs.count)
                for i in 0..<n {
                    let l = lows[lows.count == 1 ? 0 : i], h = highs[highs.count == 1 ? 0 : i]
                    guard l <= h else {
                        throw DTDError(.invalidArgument, "\(name): low must be <= high, got low = \(l) > high = \(h) at \(i)")
                    }
                }
            }
        }
    }
}

extension Bounds {
    /// The stored values (one for a scalar).
    var values: [Double] {
        switch self {
        case .scalar(let v): [v]
        case .perChannel(let v), .perElement(let v): v
        }
    }
}

extension Rule: CustomStringConvertible {
    public var description: String {
        switch self {
        case .epsilon(let e, let b): "epsilon(\(e), bias: \(b))"
        case .zPlus(let s, let b): "zplus(stabilizer: \(s), bias: \(b))"
        case .alphaBeta(let a, let beta, let s, let b): "alphabeta(\(a), \(beta), stabilizer: \(s), bias: \(b))"
        case .gamma(let g, let s, let b): "gamma(\(g), stabilizer: \(s), bias: \(b))"
        case .wSquare(let s, let b): "wsquare(stabilizer: \(s), bias: \(b))"
        case .flat(let s): "flat(stabilizer: \(s))"
        case .zBox(let l, let h, let s, let b): "zbox(low: \(l.summary), high: \(h.summary), stabilizer: \(s), bias: \(b))"
        }
    }
}

extension Bounds {
    var summary: String {
        switch self {
        case .scalar(let v): "\(v)"
        case .perChannel(let v): "\(v.count) per channel"
        case .perElement(let v): "\(v.count) per element"
        }
    }
}
