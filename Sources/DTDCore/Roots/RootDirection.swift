/// The direction v_j along which a rule's DTD root moves, per DESIGN §5:
///   LRP-0 (epsilon 0)  v_i = a_i
///   z+                 v_i = a_i [a_i w_ij > 0]
///   gamma              v_i = a_i (1 + gamma [a_i w_ij > 0]) for z_j > 0, a_i (1 + gamma [a_i w_ij < 0]) for z_j < 0
///   w^2                v_i = w_ij
///   zbox               v_i = a_i - l_i [w_ij > 0] - h_i [w_ij < 0]
///   alpha-beta         partial 0: a_i [a_i w_ij > 0] (carries alpha R_j); partial 1: a_i [a_i w_ij < 0] (carries -beta R_j)
/// The root form of the relevance, R_{i<-j} = R_j w_ij v_ij / (w_j^T v_j), equals each rule's
/// propagation with bias excluded and no stabiliser (the equivalence lemma; tested).
struct RootDirection {
    let rule: Rule

    /// Number of roots per neuron: 2 for alpha-beta, else 1.
    var partials: Int { if case .alphaBeta = rule { 2 } else { 1 } }

    /// The share of R_j that partial root `partial` carries.
    func relevanceFactor(partial: Int) -> Double {
        if case .alphaBeta(let alpha, let beta, _, _) = rule { return partial == 0 ? alpha : -beta }
        return 1
    }

    /// Writes v for one neuron into `v` (patch space, `count` entries) and returns w^T v, or nil
    /// when the rule defines no root here (gamma at z = 0).
    /// - Parameters:
    ///   - a: the neuron's input patch; `valid[k]` is false where the patch covers padding.
    ///   - w: the neuron's weight row.
    ///   - low, high: zbox bounds on the patch (nil for other rules).
    func direction(partial: Int, a: UnsafePointer<Double>, w: UnsafePointer<Double>, low: UnsafePointer<Double>?,
                   high: UnsafePointer<Double>?, valid: UnsafePointer<Bool>?, count: Int, z: Double,
                   v: UnsafeMutablePointer<Double>) -> Double? {
        switch rule {
        case .epsilon:
            for k in 0..<count { v[k] = a[k] }
        case .zPlus:
            for k in 0..<count { v[k] = a[k] * w[k] > 0 ? a[k] : 0 }
        case .alphaBeta:
            if partial == 0 {
                for k in 0..<count { v[k] = a[k] * w[k] > 0 ? a[k] : 0 }
            } else {
                for k in 0..<count { v[k] = a[k] * w[k] < 0 ? a[k] : 0 }
            }
        case .gamma(let gamma, _, _):
            if z > 0 {
                for k in 0..<count { v[k] = a[k] * (1 + (a[k] * w[k] > 0 ? gamma : 0)) }
            } else if z < 0 {
                for k in 0..<count { v[k] = a[k] * (1 + (a[k] * w[k] < 0 ? gamma : 0)) }
            } else {
                return nil
            }
        case .wSquare:
            for k in 0..<count { v[k] = w[k] }
        case .zBox:
            guard let low, let high else { return nil }
            for k in 0..<count { v[k] = a[k] - (w[k] > 0 ? low[k] : 0) - (w[k] < 0 ? high[k] : 0) }
        case .flat:
            return nil
        }
        if let valid {
            for k in 0..<count where !valid[k] { v[k] = 0 }
        }
        var wv = 0.0
        for k in 0..<count { wv += w[k] * v[k] }
        return wv
    }
}
