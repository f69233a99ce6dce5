// MARK: - Rules as data
//
// Following Zennit's BasicHook, each rule is a list of groups; a group is a sum of terms
// (modified input x modified weight), shares one denominator and gate, and contributes with one
// coefficient. The propagation step is then the same for every rule:
//   D_g = sum_t sign_t W_t in_t + bias_g,  s_g = gate_g R / stab(D_g),
//   R_in = sum_g coef_g sum_t sign_t in_t (.) W_t^T s_g.
// z^B is one group of three terms, alpha-beta two groups of two.
//
// The same data gives each rule's DTD roots (Include/dtd.h, section 6): with the bias excluded
// and no stabiliser, R_{i<-j} = R_j w_ij v_ij / (w_j^T v_j) for the direction
//   v_ij = sum_t sign_t in_t(a_i) factor_t(w_ij)
// of the group that carries neuron j's relevance, where each weight choice knows its factor
// (W_t = factor_t(w) w). A group without a gate is one (partial) root carrying coef_g R_j;
// gated groups are alternatives, one root whose group the gate picks. A new rule is therefore
// defined once, here, and its roots follow.

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

    /// The term's input at one element, for a root direction: a, a [a > 0], a [a < 0], the
    /// z^B bounds l and h, or 1.
    @inline(__always)
    func rootValue(_ a: Double, low: Double, high: Double) -> Double {
        switch self {
        case .activation: a
        case .positive: a > 0 ? a : 0
        case .negative: a < 0 ? a : 0
        case .low: low
        case .high: high
        case .ones: 1
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

    /// The factor f with modified weight = f(w) w, the term's share of a root direction:
    /// plain 1, W+ [w > 0], W- [w < 0], W^2 w, W + gamma W+ 1 + gamma [w > 0], W + gamma W-
    /// 1 + gamma [w < 0]; nil for all-one weights (flat), which define no root.
    @inline(__always)
    func directionFactor(_ w: Double, gamma: Double) -> Double? {
        switch self {
        case .plain: 1
        case .positive: w > 0 ? 1 : 0
        case .negative: w < 0 ? 1 : 0
        case .squared: w
        case .ones: nil
        case .gammaPositive: 1 + (w > 0 ? gamma : 0)
        case .gammaNegative: 1 + (w < 0 ? gamma : 0)
        }
    }
}

/// Which outputs a group's shares reach.
enum Gate: Sendable, Equatable {
    case all
    /// Only neurons whose true z = W a + b is > 0 (gamma's first group).
    case positiveOutput
    /// Only neurons whose true z is < 0 (gamma's second group).
    case negativeOutput

    /// Whether the gate is open for a neuron whose true output is `z` (closed at z = 0 and NaN
    /// unless it is `.all`).
    @inline(__always)
    func admits<T: BinaryFloatingPoint>(_ z: T) -> Bool {
        switch self {
        case .all: true
        case .positiveOutput: z > 0
        case .negativeOutput: z < 0
        }
    }
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

    /// The DTD roots of one neuron, from the groups: each ungated group is a (partial) root;
    /// the gated groups together are one more, whose group the gate picks. One for most rules,
    /// two for alpha-beta.
    var rootPartials: [RootPartial] {
        let specs = groups
        var partials: [RootPartial] = []
        var gatedAdded = false
        for spec in specs {
            if spec.gate == .all {
                partials.append(RootPartial(groups: [spec]))
            } else if !gatedAdded {
                partials.append(RootPartial(groups: specs.filter { $0.gate != .all }))
                gatedAdded = true
            }
        }
        return partials
    }
}

/// One DTD root of a neuron: its direction and the share of R_j it carries come from the group
/// the neuron's true output z_j selects among `groups` (a single ungated group selects itself).
struct RootPartial: Sendable {
    let groups: [GroupSpec]

    /// The group whose gate admits `z`, or nil (gamma at z = 0: no root).
    func group(for z: Double) -> GroupSpec? {
        groups.first { $0.gate.admits(z) }
    }
}
