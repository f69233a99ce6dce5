/// A rule bound to one layer, with everything that does not depend on the input computed once:
/// the modified weights (W+, W-, W^2, W + gamma W+, ...), the modified bias expanded to the
/// layer's output, the bound images of z^B and the forward products of constant inputs (the
/// whole denominator of w^2 and flat, the l/h part of z^B).
struct PreparedRule<T: DTDScalar>: Sendable {
    struct Term: Sendable {
        let input: InputChoice
        let weight: Storage<T>
        let sign: T
        /// All weights are one (flat): the transpose is a broadcast sum, no product.
        let onesWeight: Bool
        /// The weights flipped for a convolution's transpose (`LinearLayer.transposedKernel`).
        let transposedWeight: Storage<T>?
    }

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
        /// The denominator is the forward pass's z itself, so no product is needed.
        let isPlainProduct: Bool
    }

    let rule: Rule
    let layerIndex: Int
    let stabilizer: T
    let groups: [Group]
    /// Whether the layer has a bias (the root form must then compute W a itself).
    let hasBias: Bool
    /// Denominators with |d| <= this give a share of 0. Zero for LRP; the root tolerance for the
    /// root forms of the top-down pass, whose denominators are w_j^T v_j: a neuron without a root
    /// passes nothing down (DESIGN §5).
    let dropTolerance: T
    /// z^B's bounds as images of the layer input, and the all-ones image.
    let low: Storage<T>?, high: Storage<T>?, ones: Storage<T>?
    /// For a conv layer whose first group, on a non-negative input, is the single product
    /// W_d a (z+, alpha-beta, gamma): [W; W_d] stacked, so the forward pass computes z and that
    /// product from one im2col in one GEMM (`ForwardTrace` keeps it for the propagation step).
    let fusedWeight: Storage<T>?

    /// Prepares `rule` for `layer` (at index `layerIndex`).
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
        let gamma = rule.gammaValue

        var weights: [WeightChoice: Storage<T>] = [.plain: layer.weight]
        var transposed: [WeightChoice: Storage<T>] = [:]
        if let plain = layer.transposedWeight { transposed[.plain] = plain }
        func transposedWeight(_ choice: WeightChoice) throws(DTDError) -> Storage<T>? {
            guard choice != .ones else { return nil }
            if let t = transposed[choice] { return t }
            guard let t = try LinearLayer<T>.transposedKernel(of: try weight(choice), geometry: layer.geometry) else { return nil }
            transposed[choice] = t
            return t
        }
        func weight(_ choice: WeightChoice) throws(DTDError) -> Storage<T> {
            if let w = weights[choice] { return w }
            let source = layer.weight
            let w = try Storage<T>(count: source.count)
            for i in 0..<source.count {
                let value = T(choice.modify(Double(source[i]), gamma: gamma))
                guard value.isFinite else {
                    throw DTDError(.nonFinite, "layer \(layerIndex) (\(rule.kind)): the modified weight \(i) overflows \(T.elementType) (weight \(source[i]))")
                }
                w.mutablePointer[i] = value
            }
            weights[choice] = w
            return w
        }

        let inputs = Set(specs.flatMap { $0.terms.map(\.input) })
        let onesImage = inputs.contains(.ones) ? try Storage<T>(count: layer.inputCount) { _ in 1 } : nil
        var lowImage: Storage<T>?, highImage: Storage<T>?
        if case .zBox(let l, let h, _, _) = rule {
            lowImage = try Self.image(l, layer: layer, layerIndex: layerIndex, name: "low")
            highImage = try Self.image(h, layer: layer, layerIndex: layerIndex, name: "high")
        }
        self.ones = onesImage
        self.low = lowImage
        self.high = highImage

        var groups: [Group] = []
        for spec in specs {
            var terms: [Term] = [], constants: [Term] = []
            for t in spec.terms {
                let term = Term(input: t.input, weight: try weight(t.weight), sign: T(t.sign), onesWeight: t.weight == .ones,
                                transposedWeight: try transposedWeight(t.weight))
                if t.input.isConstant { constants.append(term) } else { terms.append(term) }
            }
            var constantPart: Storage<T>?
            if !constants.isEmpty {
                let part = try Storage<T>(count: layer.outputCount)
                for (i, term) in constants.enumerated() {
                    guard let image = Self.constantImage(term.input, low: lowImage, high: highImage, ones: onesImage) else {
                        throw DTDError(.internal, "layer \(layerIndex): no image for constant input \(term.input)")
                    }
                    try layer.apply(weight: term.weight, input: image.pointer, batch: 1, output: part.mutablePointer,
                                    scale: term.sign, accumulate: i > 0, scratch: scratch)
                }
                constantPart = part
            }
            var bias: Storage<T>?
            if let choice = spec.bias, let layerBias = layer.bias {
                let expanded = try Storage<T>(count: layer.outputCount)
                let p = layer.positions
                for c in 0..<layer.outChannels {
                    let value = T(choice.modify(Double(layerBias[c]), gamma: gamma))
                    guard value.isFinite else {
                        throw DTDError(.nonFinite, "layer \(layerIndex) (\(rule.kind)): the modified bias \(c) overflows \(T.elementType) (bias \(layerBias[c]))")
                    }
                    for q in 0..<p { expanded.mutablePointer[c * p + q] = value }
                }
                bias = expanded
            }
            // The denominator is the forward pass's z when it is exactly W a + b (or W a with no
            // bias to drop); z - b would cancel badly in float32 when |b| >> |W a|.
            let plain = constants.isEmpty && terms.count == 1 && terms[0].input == .activation
                && spec.terms[0].weight == .plain && spec.terms[0].sign == 1 && spec.gate == .all
                && (spec.bias == .plain || layer.bias == nil)
            groups.append(Group(coefficient: T(spec.coefficient), gate: spec.gate, terms: terms, constantTerms: constants,
                                constantPart: constantPart, bias: bias, isPlainProduct: plain))
        }
        self.groups = groups
        self.fusedWeight = try Self.fusedWeight(groups, layer: layer)
    }

    /// [W; W_d] when group 0 is one product with a non-negative input's a+ (or a) on a conv layer.
    private static func fusedWeight(_ groups: [Group], layer: LinearLayer<T>) throws(DTDError) -> Storage<T>? {
        guard layer.isConv, 2 * layer.outChannels <= Limits.maxDimension, let first = groups.first,
              first.constantTerms.isEmpty else { return nil }
        let live = first.terms.filter { $0.input != .negative }
        guard live.count == 1, live[0].sign == 1, live[0].input != .activation || live[0].weight !== layer.weight else { return nil }
        let w = layer.weight, d = live[0].weight
        let stacked = try Storage<T>(uninitializedCount: w.count + d.count)
        stacked.mutablePointer.update(from: w.pointer, count: w.count)
        (stacked.mutablePointer + w.count).update(from: d.pointer, count: d.count)
        return stacked
    }

    /// The weights of the fused denominator (group 0's single product), if any.
    var fusedDenominatorWeight: Storage<T>? {
        guard fusedWeight != nil else { return nil }
        return groups.first?.terms.first { $0.input != .negative }?.weight
    }

    private init(rule: Rule, layerIndex: Int, stabilizer: T, groups: [Group], hasBias: Bool, dropTolerance: T,
                 low: Storage<T>?, high: Storage<T>?, ones: Storage<T>?) {
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
                  constantPart: $0.constantPart, bias: nil, isPlainProduct: $0.isPlainProduct && !hasBias)
        }
        return PreparedRule(rule: form, layerIndex: layerIndex, stabilizer: 0, groups: groups, hasBias: hasBias,
                            dropTolerance: T(tolerance), low: low, high: high, ones: ones)
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
