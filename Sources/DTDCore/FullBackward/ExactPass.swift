/// Full-backward DTD with every root searched exactly inside its region (`Include/dtd.h` section 8).
///
/// Dense layers are decomposed top-down. At layer l, with input a and the roots above held
/// fixed, each unit's relevance is affine on the region P_l (`RelevanceFunctions`), so
/// - a unit with R_j(a) <= 1e-9 f is skipped (its relevance dropped and reported);
/// - m_j = min over P_l of R_j is an LP (-infinity if unbounded), u_j = m_j if m_j > 1e-9 f,
///   else 0 (the relevance the region cannot explain);
/// - the root is the point of {a' in P_l : R_j(a') <= u_j + delta} nearest to a, a convex QP
///   (delta = 0 if u_j = 0, else 1e-9 max(1, u_j); should 0 < m_j <= 1e-9 f, the bound is m_j);
///   a unit with alpha_j = 0 keeps a as its root and u_j = R_j(a);
/// - the messages alpha_ji (a_i - root_ji) pass gamma'_i = sum_j alpha_ji and
///   kappa'_i = sum_j alpha_ji root_ji to the layer below; R^0 = gamma' (.) x - kappa'.
/// The ledger f = sum R^0 + sum_l (sum_decomposed R_j(root_j) + sum_skipped R_j(a)) then holds
/// up to rounding, since alpha_j . (a - root_j) = R_j(a) - R_j(root_j).
struct ExactPass {
    let chain: DenseChain
    let query: FullBackwardQuery
    let solver: ClpSolver

    /// The decomposition of one sample `x` (validated: finite, >= the lower bound, f_k(x) > 0).
    func run(_ x: [Double], sample: Int, keepRoots: Bool) throws(DTDError) -> FullBackwardSample {
        let (pre, post) = chain.forward(x)
        let top = chain.layers.count - 1
        let k = query.target
        let f = pre[top][k]
        let threshold = 1e-9 * f
        var unitsByLayer = [[FullBackwardUnit]](repeating: [], count: chain.layers.count)
        var rootsByLayer = [[Double]](repeating: [], count: chain.layers.count)
        var gamma = [1.0], kappa = [0.0]
        var calls = 0

        for p in stride(from: top, through: 0, by: -1) {
            let layer = chain.layers[p]
            let a = post[p], n = layer.inputs
            let units = p == top ? [k] : Array(0..<layer.outputs)
            let functions = RelevanceFunctions(layer: layer, units: units, preactivation: pre[p], gamma: gamma, kappa: kappa)
            var region: LinearConstraints?
            var nextGamma = [Double](repeating: 0, count: n), nextKappa = [Double](repeating: 0, count: n)
            var records: [FullBackwardUnit] = [], roots: [Double] = []
            records.reserveCapacity(units.count)
            if keepRoots { roots.reserveCapacity(units.count * n) }

            for (position, j) in units.enumerated() {
                let r = functions.value(position, at: a)
                var record = FullBackwardUnit(layer: layer.index, unit: j, denseIndex: p, flags: [], relevance: r,
                                              lpMin: .nan, unresolved: 0, rootDistance: .nan)
                if r <= threshold {
                    record.flags = .skipped
                    records.append(record)
                    if keepRoots { roots.append(contentsOf: repeatElement(Double.nan, count: n)) }
                    continue
                }
                var root = a
                if functions.isConstant(position) {
                    record.flags = [.inactive, .unresolved]
                    record.lpMin = r
                } else {
                    let constraints: LinearConstraints
                    if let built = region {
                        constraints = built
                    } else {
                        constraints = RegionConstraints(chain: chain, position: p, target: k, preactivations: pre,
                                                        lowerBound: p == 0 ? query.inputLower : 0).linear()
                        region = constraints
                    }
                    let alpha = functions.alpha[position], beta = functions.beta[position]
                    calls += 1
                    let minimum: Double
                    var lpPoint: [Double]? = nil
                    switch solver.minimize(alpha, over: constraints) {
                    case .optimal(let value, let point): minimum = value + beta; lpPoint = point
                    case .unbounded: minimum = -.infinity
                    case let outcome:
                        throw unsolved("LP (smallest relevance)", outcome, sample: sample, layer: layer.index, unit: j)
                    }
                    record.lpMin = minimum
                    if minimum == -.infinity { record.flags.insert(.unbounded) }
                    let unresolved = minimum > threshold ? minimum : 0
                    if unresolved > 0 { record.flags.insert(.unresolved) }
                    let bound = unresolved > 0 ? unresolved + 1e-9 * max(1, unresolved) : max(0, minimum)
                    if r > bound {
                        root = try nearestRoot(to: a, in: constraints, alpha: alpha, bound: bound - beta, feasible: lpPoint,
                                               calls: &calls, sample: sample, layer: layer.index, unit: j)
                    }
                }
                let alpha = functions.alpha[position]
                var distance = 0.0
                for i in 0..<n {
                    let d = a[i] - root[i]
                    distance += d * d
                    nextGamma[i] += alpha[i]
                    nextKappa[i] += alpha[i] * root[i]
                }
                record.unresolved = functions.value(position, at: root)
                record.rootDistance = distance.squareRoot()
                records.append(record)
                if keepRoots { roots.append(contentsOf: root) }
            }
            unitsByLayer[p] = records
            rootsByLayer[p] = roots
            gamma = nextGamma
            kappa = nextKappa
        }

        let input = (0..<x.count).map { gamma[$0] * x[$0] - kappa[$0] }
        return FullBackwardSample(output: f, units: unitsByLayer.flatMap { $0 }, inputRelevance: input, inputSlope: gamma,
                                  roots: keepRoots ? rootsByLayer.flatMap { $0 } : [], solverCalls: calls, rootSearches: 0)
    }

    /// The QP root: the point of `constraints` with alpha . a' <= bound nearest to `a`. Should the
    /// solver find the set empty (a bound at the LP minimum, within its tolerance), or return a
    /// point that fails the check (the set is then a sliver, e.g. a hyperplane when the bound is
    /// the LP minimum), the bound is relaxed by 1e-9 max(1, |bound|) once.
    ///
    /// `feasible`, a point of the set (the LP's minimiser), bounds the answer: it lies within
    /// |feasible - a| of `a`, so that box is added as column bounds. It changes no answer and
    /// keeps CLP's primal QP, which returned far-off points as "optimal" on free columns, on a
    /// bounded problem.
    private func nearestRoot(to a: [Double], in constraints: LinearConstraints, alpha: [Double], bound: Double,
                             feasible: [Double]?, calls: inout Int, sample: Int, layer: Int,
                             unit: Int) throws(DTDError) -> [Double] {
        var boxed = constraints
        if let feasible {
            var squares = 0.0
            for i in 0..<a.count { squares += (feasible[i] - a[i]) * (feasible[i] - a[i]) }
            let radius = squares.squareRoot() * (1 + 1e-9) + 1e-9 * max(1, a.reduce(0) { max($0, abs($1)) })
            if radius.isFinite {
                boxed = LinearConstraints(matrix: constraints.matrix, rows: constraints.rows, columns: constraints.columns,
                                          rowLower: constraints.rowLower, rowUpper: constraints.rowUpper,
                                          columnLower: (0..<a.count).map { max(constraints.columnLower[$0], a[$0] - radius) },
                                          columnUpper: (0..<a.count).map { min(constraints.columnUpper[$0], a[$0] + radius) })
            }
        }
        var last = SolverOutcome.infeasible
        for relax in [0.0, 1e-9 * max(1, abs(bound))] {
            calls += 1
            let set = boxed.adding(row: alpha, lower: -.infinity, upper: bound + relax)
            last = solver.nearestPoint(to: a, over: set)
            switch last {
            case .optimal(_, let point): return RootPolish.refine(point, toward: a, in: set)
            case .infeasible, .failed(status: 0): continue
            case .unbounded, .failed: break
            }
            break
        }
        throw unsolved("QP (nearest root)", last, sample: sample, layer: layer, unit: unit)
    }

    private func unsolved(_ what: String, _ outcome: SolverOutcome, sample: Int, layer: Int, unit: Int) -> DTDError {
        DTDError(.internal, "CLP (\(solver.library)) did not solve the \(what) of sample \(sample), layer \(layer), unit \(unit): \(outcome.summary)")
    }
}
