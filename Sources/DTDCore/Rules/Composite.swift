/// Named rule presets (Zennit's composites), assigned by layer index so every layer's rule is
/// visible to the user.
///
/// "Feature" layers are the conv layers if the network has any (Zennit's mapping by layer type),
/// otherwise every dense layer but the last; the remaining dense layers are "classifier" layers
/// and get epsilon. A pure MLP therefore gets the layered LRP of Montavon et al. (2019) rather
/// than epsilon everywhere, which is what Zennit's type-based mapping would give it.
public enum Composite: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// z+ on feature layers, epsilon on classifier layers.
    case epsilonPlus = 1
    /// As `epsilonPlus`, with flat on the first dense/conv layer.
    case epsilonPlusFlat = 2
    /// zbox(low, high) on the first dense/conv layer, gamma on the other feature layers, epsilon on classifier layers.
    case epsilonGammaBox = 3
    /// alphabeta(2, 1) on feature layers, epsilon on classifier layers.
    case epsilonAlpha2Beta1 = 4
    /// As `epsilonAlpha2Beta1`, with flat on the first dense/conv layer.
    case epsilonAlpha2Beta1Flat = 5

    public var description: String {
        switch self {
        case .epsilonPlus: "epsilon_plus"
        case .epsilonPlusFlat: "epsilon_plus_flat"
        case .epsilonGammaBox: "epsilon_gamma_box"
        case .epsilonAlpha2Beta1: "epsilon_alpha2_beta1"
        case .epsilonAlpha2Beta1Flat: "epsilon_alpha2_beta1_flat"
        }
    }

    /// The preset's parameters (Zennit's defaults).
    public struct Parameters: Sendable {
        /// Epsilon of the classifier layers.
        public var epsilon: Double = 1e-6
        /// Gamma of `epsilonGammaBox`.
        public var gamma: Double = 0.25
        /// The z^B bounds of `epsilonGammaBox`.
        public var low: Double = 0
        public var high: Double = 1
        /// The stabiliser of the non-epsilon rules (Zennit's default).
        public var stabilizer: Double = 1e-6

        /// Parameters; Zennit's defaults unless given.
        public init(epsilon: Double = 1e-6, gamma: Double = 0.25, low: Double = 0, high: Double = 1) {
            self.epsilon = epsilon
            self.gamma = gamma
            self.low = low
            self.high = high
        }

        /// Checks the parameters the preset reads, whether or not this network uses them.
        public func validate(for composite: Composite) throws(DTDError) {
            func check(_ value: Double, _ name: String) throws(DTDError) {
                guard value.isFinite else { throw DTDError(.nonFinite, "composite \(composite): \(name) is \(value)") }
            }
            try check(epsilon, "epsilon")
            guard epsilon >= 0 else { throw DTDError(.invalidArgument, "composite \(composite): epsilon must be >= 0, got \(epsilon)") }
            guard composite == .epsilonGammaBox else { return }
            try check(gamma, "gamma")
            try check(low, "low")
            try check(high, "high")
            guard gamma >= 0 else { throw DTDError(.invalidArgument, "composite \(composite): gamma must be >= 0, got \(gamma)") }
            guard low <= high else { throw DTDError(.invalidArgument, "composite \(composite): low must be <= high, got low = \(low) > high = \(high)") }
        }
    }

    /// The rule for every dense/conv layer of a network whose layer kinds are `kinds`.
    public func assignment(layerKinds kinds: [LayerKind], parameters p: Parameters) -> [(layer: Int, rule: Rule)] {
        let linear = kinds.indices.filter { kinds[$0] == .dense || kinds[$0] == .conv2d }
        guard let first = linear.first else { return [] }
        let hasConv = kinds.contains(.conv2d)
        let feature: Set<Int> = hasConv
            ? Set(linear.filter { kinds[$0] == .conv2d })
            : Set(linear.dropLast())
        let s = p.stabilizer
        let lower: Rule
        switch self {
        case .epsilonPlus, .epsilonPlusFlat: lower = .zPlus(stabilizer: s)
        case .epsilonGammaBox: lower = .gamma(p.gamma, stabilizer: s)
        case .epsilonAlpha2Beta1, .epsilonAlpha2Beta1Flat: lower = .alphaBeta(alpha: 2, beta: 1, stabilizer: s)
        }
        let firstRule: Rule?
        switch self {
        case .epsilonPlusFlat, .epsilonAlpha2Beta1Flat: firstRule = .flat(stabilizer: s)
        case .epsilonGammaBox: firstRule = .zBox(low: .scalar(p.low), high: .scalar(p.high), stabilizer: s)
        case .epsilonPlus, .epsilonAlpha2Beta1: firstRule = nil
        }
        return linear.map { index in
            if index == first, let firstRule { return (index, firstRule) }
            return (index, feature.contains(index) ? lower : .epsilon(p.epsilon))
        }
    }
}
