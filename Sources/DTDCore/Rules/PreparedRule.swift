/// A rule bound to one layer, with everything that does not depend on the input computed once:
/// the modified weights (W+, W-, W^2, W + gamma W+, ...), the modified bias expanded to the
/// layer's output, the bound images of z^B, the forward products of constant inputs (the whole
/// denominator of w^2 and flat, the l/h part of z^B), and the choices the propagation step would
/// otherwise make per call: where each group's denominator comes from, which transposes are
/// broadcasts, whether the input's sign parts matter, and the fused forward product.
struct PreparedRule<T: DTDScalar>: Sendable {
    /// One term of a group: sign * W_t in_t.
    struct Term: Sendable {
        let input: InputChoice
        let weight: Storage<T>
        let sign: T
        /// The transpose is a broadcast sum, no product: all weights are one (flat) and the
        /// fast paths are on.
        let transposeIsBroadcast: Bool
        /// The weights flipped for a convolution's transpose (`LinearLayer.transposedKernel`).
        let transposedWeight: Storage<T>?
    }

    /// Where a group's denominator comes from.
    enum Denominator: Sendable, Equatable {
        /// The forward pass's z itself: the group is exactly W a + b (or W a with no bias to
        /// drop), so no product is needed. z - b would cancel badly in float32 when |b| >> |W a|.
        case forwardOutput
        /// The sum of the terms' products, the constant part and the bias.
        case products
    }

    /// Terms sharing one denominator, gate and coefficient (`GroupSpec`).
    struct Group: Sendable {
        let coefficient: T
        let gate: Gate
        /// Terms whose input depends on the sample.
        let terms: [Term]
        /// Terms whose input is constant (ones, l, h); their products are in `constantPart`.
        let constantTerms: [Term]
        /// Sum of sign W_t in_t over the constant terms, one sample's output, or nil.
        let constantPart: Storage<T>?
        /// The group's bias, expanded to one sample's output, or nil.
        let bias: Storage<T>?
        let denominator: Denominator
    }

    let rule: Rule
    let layerIndex: Int
    let stabilizer: T
    let groups: [Group]
    /// Whether the layer has a bias (the root form must then compute W a itself).
    let hasBias: Bool
    /// Denominators with |d| <= this give a share of 0. Zero for LRP; the root tolerance for the
    /// root forms of the top-down pass, whose denominators are w_j^T v_j: a neuron without a root
    /// passes nothing down (`Include/dtd.h`, section 6).
    let dropTolerance: T
    /// z^B's bounds as images of the layer input, and the all-ones image.
    let low: Storage<T>?, high: Storage<T>?, ones: Storage<T>?
    /// Whether a term reads the positive or negative part of the input, so the sign scan pays
    /// (false with the fast paths off: every branch then runs).
    let usesInputSigns: Bool
    /// For a conv layer whose first group, on a non-negative input, is the single product
    /// W_d a (z+, alpha-beta, gamma): [W; W_d] stacked, so the forward pass computes z and that
    /// product from one im2col in one GEMM (`ForwardTrace` keeps it for the propagation step).
    let fusedWeight: Storage<T>?

    /// Prepares `rule` for `layer` (at index `layerIndex`).
    /// - Throws: the rule's parameter errors (`Rule.validate`), `.nonFinite` when a modified
    ///   weight or bias overflows `T`, `.shapeMismatch` for z^B bounds of the wrong size,
    ///   `.outOfMemory`.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    init(rule: Rule, layer: LinearLayer<T>, layerIndex: Int, scratch: Scratch<T> = Scratch()) throws(DTDError) {
        try rule.validate(layer: layerIndex)
        self.rule = rule
        self.layerIndex = layerIndex
        self.stabilizer = T(rule.stabilizer)
        self.hasBias = layer.bias != nil
        self.dropTolerance = 0
        let specs = rule.groups
        let inputs = Set(specs.flatMap { $0.terms.map(\.input) })
        self.ones = inputs.contains(.ones) ? try Storage<T>(count: layer.inputCount) { _ in 1 } : nil
        if case .zBox(let l, let h, _, _) = rule {
            self.low = try Self.image(l, layer: layer, layerIndex: layerIndex, name: "low")
            self.high = try Self.image(h, layer: layer, layerIndex: layerIndex, name: "high")
        } else {
            self.low = nil
            self.high = nil
        }
        let weights = ModifiedWeights(layer: layer, rule: rule, layerIndex: layerIndex)
        var groups: [Group] = []
        for spec in specs {
            groups.append(try Self.group(spec, layer: layer, weights: weights, low: low, high: high, ones: ones,
                                         scratch: scratch))
        }
        self.groups = groups
        self.usesInputSigns = Environment.fastPaths && inputs.contains { $0 == .positive || $0 == .negative }
        self.fusedWeight = try Self.fusedWeight(groups, layer: layer)
    }

    // MARK: Parts of the preparation

    /// One group: its terms with their weights, the forward product of its constant terms, its
    /// expanded bias and its denominator's source.
    private static func group(_ spec: GroupSpec, layer: LinearLayer<T>, weights: ModifiedWeights<T>,
                              low: Storage<T>?, high: Storage<T>?, ones: Storage<T>?,
                              scratch: Scratch<T>) throws(DTDError) -> Group {
        var terms: [Term] = [], constants: [Term] = []
        for t in spec.terms {
            let term = Term(input: t.input, weight: try weights.weight(t.weight), sign: T(t.sign),
                            transposeIsBroadcast: t.weight == .ones && Environment.fastPaths,
                            transposedWeight: try weights.transposed(t.weight))
            if t.input.isConstant { constants.append(term) } else { terms.append(term) }
        }
        let plain = Environment.fastPaths && constants.isEmpty && terms.count == 1 && terms[0].input == .activation
            && spec.terms[0].weight == .plain && spec.terms[0].sign == 1 && spec.gate == .all
            && (spec.bias == .plain || layer.bias == nil)
        return Group(coefficient: T(spec.coefficient), gate: spec.gate, terms: terms, constantTerms: constants,
                     constantPart: try constantPart(constants, layer: layer, low: low, high: high, ones: ones, scratch: scratch),
                     bias: try expandedBias(spec.bias, layer: layer, weights: weights),
                     denominator: plain ? .forwardOutput : .products)
    }

    /// Sum of sign W_t in_t over the constant terms, for one sample, or nil when there are none.
    private static func constantPart(_ constants: [Term], layer: LinearLayer<T>, low: Storage<T>?, high: Storage<T>?,
                                     ones: Storage<T>?, scratch: Scratch<T>) throws(DTDError) -> Storage<T>? {
        guard !constants.isEmpty else { return nil }
        let part = try Storage<T>(count: layer.outputCount)
        for (i, term) in constants.enumerated() {
            guard let image = constantImage(term.input, low: low, high: high, ones: ones) else {
                throw DTDError(.internal, "no image for constant input \(term.input)")
            }
            try layer.apply(weight: term.weight, input: image.view, output: part.mutableView, scale: term.sign,
                            accumulate: i > 0, scratch: scratch)
        }
        return part
    }

    /// The group's modified bias, one value per output neuron, or nil (no bias in this group or
    /// none in the layer).
    private static func expandedBias(_ choice: WeightChoice?, layer: LinearLayer<T>,
                                     weights: ModifiedWeights<T>) throws(DTDError) -> Storage<T>? {
        guard let choice, let layerBias = layer.bias else { return nil }
        let expanded = try Storage<T>(count: layer.outputCount)
        let p = layer.positions
        for c in 0..<layer.outChannels {
            let value = try weights.modified(choice, layerBias[c], parameter: "bias", index: c)
            for q in 0..<p { expanded[c * p + q] = value }
        }
        return expanded
    }

    /// [W; W_d] when group 0 is one product with a non-negative input's a+ (or a) on a conv
    /// layer, and the fast paths are on.
    private static func fusedWeight(_ groups: [Group], layer: LinearLayer<T>) throws(DTDError) -> Storage<T>? {
        guard Environment.fastPaths, layer.isConv, 2 * layer.outChannels <= Limits.maxDimension, let first = groups.first,
              first.constantTerms.isEmpty else { return nil }
        let live = first.terms.filter { $0.input != .negative }
        guard live.count == 1, live[0].sign == 1, live[0].input != .activation || live[0].weight !== layer.weight else { return nil }
        let w = layer.weight, d = live[0].weight
        return try Storage<T>(count: w.count + d.count) { i in i < w.count ? w[i] : d[i - w.count] }
    }

    private init(rule: Rule, layerIndex: Int, stabilizer: T, groups: [Group], hasBias: Bool, dropTolerance: T,
                 low: Storage<T>?, high: Storage<T>?, ones: Storage<T>?, usesInputSigns: Bool) {
        self.hasBias = hasBias
        self.dropTolerance = dropTolerance
        self.fusedWeight = nil
        self.rule = rule
        self.layerIndex = layerIndex
        self.stabilizer = stabilizer
        self.groups = groups
        self.low = low
        self.high = high
        self.ones = ones
        self.usesInputSigns = usesInputSigns
    }

    /// The image a constant-input term multiplies.
    func constantImage(_ input: InputChoice) -> Storage<T>? {
        Self.constantImage(input, low: low, high: high, ones: ones)
    }

    private static func constantImage(_ input: InputChoice, low: Storage<T>?, high: Storage<T>?, ones: Storage<T>?) -> Storage<T>? {
        switch input {
        case .low: low
        case .high: high
        case .ones: ones
        case .activation, .positive, .negative: nil
        }
    }

    /// The root form: bias excluded and no stabiliser, sharing the prepared weights; neurons whose
    /// root denominator w_j^T v_j is within `tolerance` of 0 have no root and pass nothing.
    /// - Throws: `.rule` when the rule has no roots (epsilon > 0, flat).
    func rootForm(tolerance: Double = 0) throws(DTDError) -> PreparedRule<T> {
        let form = try rule.rootForm(layer: layerIndex)
        let groups = groups.map {
            Group(coefficient: $0.coefficient, gate: $0.gate, terms: $0.terms, constantTerms: $0.constantTerms,
                  constantPart: $0.constantPart, bias: nil,
                  denominator: hasBias && $0.denominator == .forwardOutput ? .products : $0.denominator)
        }
        return PreparedRule(rule: form, layerIndex: layerIndex, stabilizer: 0, groups: groups, hasBias: hasBias,
                            dropTolerance: T(tolerance), low: low, high: high, ones: ones, usesInputSigns: usesInputSigns)
    }

    /// z^B bounds as one sample's layer-input image.
    private static func image(_ bounds: Bounds, layer: LinearLayer<T>, layerIndex: Int, name: String) throws(DTDError) -> Storage<T> {
        let shape = layer.inputShape
        let count = shape.count
        for (i, v) in bounds.values.enumerated() where !T(v).isFinite {
            throw DTDError(.nonFinite, "layer \(layerIndex) (zbox): \(name)[\(i)] = \(v) is not finite in \(T.elementType)")
        }
        switch bounds {
        case .scalar(let v):
            return try Storage<T>(count: count) { _ in T(v) }
        case .perChannel(let values):
            guard values.count == shape.channels else {
                throw DTDError(.shapeMismatch, "layer \(layerIndex) (zbox): \(name) has \(values.count) values; the layer input \(shape) has \(shape.channels) channels")
            }
            let plane = count / shape.channels
            return try Storage<T>(count: count) { T(values[$0 / plane]) }
        case .perElement(let values):
            guard values.count == count else {
                throw DTDError(.shapeMismatch, "layer \(layerIndex) (zbox): \(name) has \(values.count) values; the layer input \(shape) has \(count) elements")
            }
            return try Storage<T>(count: count) { T(values[$0]) }
        }
    }
}
