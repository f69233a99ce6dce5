/// The direction v_j along which a neuron's DTD root moves, derived from its rule's groups
/// (`Rule+Terms.swift`): v_ij = sum_t sign_t in_t(a_i) factor_t(w_ij) over the terms of the
/// group that carries the neuron's relevance. This gives `Include/dtd.h`'s table (section 6):
///   LRP-0 (epsilon 0)  v_i = a_i
///   z+                 v_i = a_i [a_i w_ij > 0]
///   gamma              v_i = a_i (1 + gamma [a_i w_ij > 0]) for z_j > 0, a_i (1 + gamma [a_i w_ij < 0]) for z_j < 0
///   w^2                v_i = w_ij
///   zbox               v_i = a_i - l_i [w_ij > 0] - h_i [w_ij < 0]
///   alpha-beta         partial 0: a_i [a_i w_ij > 0] (carries alpha R_j); partial 1: a_i [a_i w_ij < 0] (carries -beta R_j)
/// The root form of the relevance, R_{i<-j} = R_j w_ij v_ij / (w_j^T v_j), then equals each rule's
/// propagation with bias excluded and no stabiliser (the equivalence lemma; tested).
struct RootDirection {
    let partials: [RootPartial]
    let gamma: Double

    init(rule: Rule) {
        partials = rule.rootPartials
        gamma = rule.gammaValue
    }

    /// Roots per neuron: 2 for alpha-beta, else 1.
    var count: Int { partials.count }

    /// The share of R_j that partial root `partial` carries at true output `z`: the coefficient
    /// of the group the gate picks (of the first group when none does: there is then no root).
    func relevanceFactor(partial: Int, z: Double) -> Double {
        let choice = partials[partial]
        return (choice.group(for: z) ?? choice.groups.first)?.coefficient ?? 1
    }

    /// Writes v for one neuron into `v` (patch space) and returns w^T v, or nil when the rule
    /// defines no root here (gamma at z = 0, all-one weights, z^B without bounds).
    /// - Parameters:
    ///   - a: the neuron's input patch; `valid[0, k]` is false where the patch covers padding.
    ///   - w: the neuron's weight row.
    ///   - low, high: z^B bounds on the patch (nil for other rules).
    func direction(partial: Int, a: BatchView<Double>, w: BatchView<Double>, low: BatchView<Double>?,
                   high: BatchView<Double>?, valid: BatchView<Bool>?, z: Double, v: MutableBatchView<Double>) -> Double? {
        guard let group = partials[partial].group(for: z), let first = group.terms.first else { return nil }
        let readsBounds = group.terms.contains { $0.input == .low || $0.input == .high }
        if readsBounds, low == nil || high == nil { return nil }
        for k in 0..<v.count {
            let l = low?[k] ?? 0, h = high?[k] ?? 0
            guard let f = first.weight.directionFactor(w[k], gamma: gamma) else { return nil }
            var vk = first.sign * first.input.rootValue(a[k], low: l, high: h) * f
            for term in group.terms.dropFirst() {
                guard let f = term.weight.directionFactor(w[k], gamma: gamma) else { return nil }
                vk += term.sign * term.input.rootValue(a[k], low: l, high: h) * f
            }
            v[k] = vk
        }
        if let valid {
            for k in 0..<v.count where !valid[k] { v[k] = 0 }
        }
        var wv = 0.0
        for k in 0..<v.count { wv += w[k] * v[k] }
        return wv
    }
}
