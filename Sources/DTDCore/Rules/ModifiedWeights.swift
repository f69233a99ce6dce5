/// The modified copies of one layer's weights a rule needs, each made once (a class, so the
/// groups of one rule share the cache).
final class ModifiedWeights<T: DTDScalar> {
    private let layer: LinearLayer<T>
    private let rule: Rule
    private let layerIndex: Int
    private var weights: [WeightChoice: Storage<T>]
    private var transposedWeights: [WeightChoice: Storage<T>] = [:]

    init(layer: LinearLayer<T>, rule: Rule, layerIndex: Int) {
        self.layer = layer
        self.rule = rule
        self.layerIndex = layerIndex
        self.weights = [.plain: layer.weight]
        if let plain = layer.transposedWeight { transposedWeights[.plain] = plain }
    }

    /// The weights modified by `choice` (W itself for `.plain`).
    func weight(_ choice: WeightChoice) throws(DTDError) -> Storage<T> {
        if let w = weights[choice] { return w }
        let source = layer.weight
        let w = try Storage<T>(count: source.count) { (i) throws(DTDError) in
            try modified(choice, source[i], parameter: "weight", index: i)
        }
        weights[choice] = w
        return w
    }

    /// The flipped kernel of `weight(choice)` when the layer runs its transpose as a convolution
    /// (`LinearLayer.transposedKernel`); nil for dense layers, for other convolutions and for
    /// all-one weights (a broadcast with the fast paths on, col2im without).
    func transposed(_ choice: WeightChoice) throws(DTDError) -> Storage<T>? {
        guard choice != .ones else { return nil }
        if let t = transposedWeights[choice] { return t }
        guard let t = try LinearLayer<T>.transposedKernel(of: try weight(choice), geometry: layer.geometry) else { return nil }
        transposedWeights[choice] = t
        return t
    }

    /// Value `index` of the layer's `parameter` ("weight" or "bias") modified by `choice`.
    /// - Throws: `.nonFinite` when the result overflows `T`.
    func modified(_ choice: WeightChoice, _ value: T, parameter: String, index: Int) throws(DTDError) -> T {
        let result = T(choice.modify(Double(value), gamma: rule.gammaValue))
        guard result.isFinite else {
            throw DTDError(.nonFinite, "layer \(layerIndex) (\(rule.kind)): the modified \(parameter) \(index) overflows \(T.elementType) (\(parameter) \(value))")
        }
        return result
    }
}
