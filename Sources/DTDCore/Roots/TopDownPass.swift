// MARK: - The study's top-down pass

extension Network {
    /// The root forms (bias excluded, no stabiliser) of the rules of every dense/conv layer above
    /// `layer`, indexed by layer; neurons with |w_j^T v_j| <= `tolerance` have no root and drop
    /// their relevance.
    /// - Throws: `.rule` naming the first upper layer without a rule or with a non-root rule.
    func upperRootForms(rules: RuleSet<T>, above layer: Int, tolerance: Double) throws(DTDError) -> [PreparedRule<T>?] {
        var forms = [PreparedRule<T>?](repeating: nil, count: layers.count)
        for index in (layer + 1)..<layers.count where layers[index].linear != nil {
            forms[index] = try rules.preparedRule(at: index).rootForm(tolerance: tolerance)
        }
        return forms
    }

    /// The relevance arriving at the output of `layer` for the seed f_k(x) e_k, propagated from
    /// the output with each upper layer's rule in root form (the study's train-free pass at the
    /// actual activations). Returns `(batch, layer output size)` values.
    func topDownRelevance(_ trace: ForwardTrace<T>, forms: [PreparedRule<T>?], layer: Int, target: Int,
                          scratch: Scratch<T>) throws(DTDError) -> Storage<T> {
        let batch = trace.batch
        let seed = try Storage<T>(count: batch * outputCount)
        let seedView = seed.mutableView(batch: batch, count: outputCount)
        for n in 0..<batch { seedView[n, target] = trace.output[n, target] }
        if layer == layers.count - 1 { return seed }
        let count = layers[layer].outputShape.count
        let result = try Storage<T>(count: batch * count)
        try relevancePass(trace, seed: seedView.readOnly, rules: forms, from: layer + 1,
                          into: result.mutableView(batch: batch, count: count), ledger: nil, scratch: scratch)
        withExtendedLifetime(seed) {}
        return result
    }
}
