// MARK: - Rules as data
//
// Following Zennit's BasicHook, each rule is a list of groups; a group is a sum of terms
// (modified input x modified weight), shares one denominator and gate, and contributes with one
// coefficient. The propagation step is then the same for every rule:
//   D_g = sum_t sign_t W_t in_t + bias_g,  s_g = gate_g R / stab(D_g),
//   R_in = sum_g coef_g sum_t sign_t in_t (.) W_t^T s_g.
// z^B is one group of three terms, alpha-beta two groups of two.

/// Which version of the layer input a term multiplies.
enum InputChoice: Hashable, Sendable {
    case activation, positive, negative, low, high, ones

    /// Whether the term's input is the same for every sample (so its forward product is precomputed).
    var isConstant: Bool {
        switch self {
        case .low, .high, .ones: true
        case .activation, .positive, .negative: false
        }
    }
}

/// Which version of the weights (and the matching version of the bias) a term uses.
enum WeightChoice: Hashable, Sendable {
    case plain, positive, negative, squared, ones
    /// W + gamma W+ and W + gamma W-.
    case gammaPositive, gammaNegative

    /// The same modification applied to one parameter value.
    func modify(_ w: Double, gamma: Double) -> Double {
        switch self {
        case .plain: w
        case .positive: max(w, 0)
        case .negative: min(w, 0)
        case .squared: w * w
        case .ones: 1
        case .gammaPositive: w + gamma * max(w, 0)
        case .gammaNegative: w + gamma * min(w, 0)
        }
    }
}

/// Which outputs a group's shares reach.
enum Gate: Sendable {
    case all
    /// Only neurons whose true z = W a + b is > 0 (gamma's first group).
    case positiveOutput
    /// Only neurons whose true z is < 0 (gamma's second group).
    case negativeOutput
}

struct TermSpec: Sendable {
    let input: InputChoice
    let weight: WeightChoice
    let sign: Double
}

struct GroupSpec: Sendable {
    let coefficient: Double
    let gate: Gate
    /// The modification of the bias in this group's denominator, or nil for no bias.
    let bias: WeightChoice?
    let terms: [TermSpec]
}

extension Rule {
    /// The rule as groups of terms, honouring the bias mode.
    var groups: [GroupSpec] {
        let withBias = biasMode == .include
        func bias(_ choice: WeightChoice) -> WeightChoice? { withBias ? choice : nil }
        switch self {
        case .epsilon:
            return [GroupSpec(coefficient: 1, gate: .all, bias: bias(.plain),
                              terms: [TermSpec(input: .activation, weight: .plain, sign: 1)])]
        case .zPlus:
            return [Self.positiveGroup(coefficient: 1, bias: bias(.positive))]
        case .alphaBeta(let alpha, let beta, _, _):
            return [
                Self.positiveGroup(coefficient: alpha, bias: bias(.positive)),
                GroupSpec(coefficient: -beta, gate: .all, bias: bias(.negative),
                          terms: [TermSpec(input: .positive, weight: .negative, sign: 1),
                                  TermSpec(input: .negative, weight: .positive, sign: 1)]),
            ]
        case .gamma:
            return [
                GroupSpec(coefficient: 1, gate: .positiveOutput, bias: bias(.gammaPositive),
                          terms: [TermSpec(input: .positive, weight: .gammaPositive, sign: 1),
                                  TermSpec(input: .negative, weight: .gammaNegative, sign: 1)]),
                GroupSpec(coefficient: 1, gate: .negativeOutput, bias: bias(.gammaNegative),
                          terms: [TermSpec(input: .positive, weight: .gammaNegative, sign: 1),
                                  TermSpec(input: .negative, weight: .gammaPositive, sign: 1)]),
            ]
        case .wSquare:
            return [GroupSpec(coefficient: 1, gate: .all, bias: bias(.squared),
                              terms: [TermSpec(input: .ones, weight: .squared, sign: 1)])]
        case .flat:
            return [GroupSpec(coefficient: 1, gate: .all, bias: nil,
                              terms: [TermSpec(input: .ones, weight: .ones, sign: 1)])]
        case .zBox:
            // (W a + b) - (W+ l + b+) - (W- h + b-): the biases cancel, in both modes.
            return [GroupSpec(coefficient: 1, gate: .all, bias: nil,
                              terms: [TermSpec(input: .activation, weight: .plain, sign: 1),
                                      TermSpec(input: .low, weight: .positive, sign: -1),
                                      TermSpec(input: .high, weight: .negative, sign: -1)])]
        }
    }

    /// a+ with W+ and a- with W-: the positive contributions (z+ and alpha-beta's alpha group).
    private static func positiveGroup(coefficient: Double, bias: WeightChoice?) -> GroupSpec {
        GroupSpec(coefficient: coefficient, gate: .all, bias: bias,
                  terms: [TermSpec(input: .positive, weight: .positive, sign: 1),
                          TermSpec(input: .negative, weight: .negative, sign: 1)])
    }

    /// gamma's gamma (0 for the other rules), used by the weight modifications.
    var gammaValue: Double {
        if case .gamma(let g, _, _) = self { g } else { 0 }
    }
}
