/// The relevance of a layer's units as affine functions of the layer input on its region
/// (`Include/dtd.h` section 8): with the roots of the layers above held fixed,
///   R_j(a') = alpha_j . a' + beta_j,  alpha_j = gamma_j D_j w_j,  beta_j = gamma_j D_j b_j - kappa_j,
/// where D_j = 1[z_j(a) > 0] and gamma, kappa come from the decomposition above (at the top,
/// gamma_k = 1, kappa_k = 0: R_k is the output itself).
struct RelevanceFunctions {
    /// The decomposed units (all units; at the top layer the target only).
    let units: [Int]
    /// alpha, one row of the layer's input size per unit.
    let alpha: [[Double]]
    let beta: [Double]

    init(layer: DenseChain.Layer, units: [Int], preactivation: [Double], gamma: [Double], kappa: [Double]) {
        var alpha: [[Double]] = [], beta: [Double] = []
        alpha.reserveCapacity(units.count)
        for (position, j) in units.enumerated() {
            let g = preactivation[j] > 0 ? gamma[position] : 0
            if g == 0 {
                alpha.append([Double](repeating: 0, count: layer.inputs))
                beta.append(-kappa[position])
            } else {
                let row = j * layer.inputs
                alpha.append((0..<layer.inputs).map { g * layer.weight[row + $0] })
                beta.append(g * layer.bias[j] - kappa[position])
            }
        }
        self.units = units
        self.alpha = alpha
        self.beta = beta
    }

    /// R_j at `point` (`position` indexes `units`).
    func value(_ position: Int, at point: [Double]) -> Double {
        var s = beta[position]
        let a = alpha[position]
        for i in 0..<a.count { s += a[i] * point[i] }
        return s
    }

    /// Whether R_j is constant (alpha_j = 0).
    func isConstant(_ position: Int) -> Bool { alpha[position].allSatisfy { $0 == 0 } }
}
