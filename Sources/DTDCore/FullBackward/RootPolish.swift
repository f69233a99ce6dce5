/// Refines a QP root to the exact projection onto the face the solver ended on.
///
/// CLP's quadratic primal simplex stops when its reduced gradient is within tolerance, which
/// fixes the objective to ~1e-12 but can leave the point ~1e-7 off along a flat direction of a
/// nearly degenerate face. The exact nearest point of a polyhedron to a is the projection of a
/// onto the affine hull of the optimal face, so: take the constraints active at the solver's
/// point (within a relative 1e-9), fix the variables at their active bounds, and project a onto
/// {active rows = their bounds} by modified Gram-Schmidt (dependent rows dropped). The refined
/// point replaces the solver's only if it is feasible and no farther from a; otherwise the
/// solver's point stands. This is linear algebra on the solver's answer, not a QP method.
enum RootPolish {
    static func refine(_ solution: [Double], toward a: [Double], in set: LinearConstraints) -> [Double] {
        let n = set.columns
        let scale = max(1, solution.reduce(0) { max($0, abs($1)) })
        func near(_ value: Double, _ bound: Double) -> Bool {
            bound.isFinite && abs(value - bound) <= 1e-9 * max(scale, abs(bound))
        }
        // Variables at an active bound are fixed there.
        var fixed = [Double?](repeating: nil, count: n)
        for i in 0..<n {
            if near(solution[i], set.columnLower[i]) { fixed[i] = set.columnLower[i] }
            else if near(solution[i], set.columnUpper[i]) { fixed[i] = set.columnUpper[i] }
        }
        let free = (0..<n).filter { fixed[$0] == nil }
        // Active rows as equations on the free variables, orthonormalised.
        let values = set.rowValues(at: solution)
        var basis: [[Double]] = [], targets: [Double] = []
        for r in 0..<set.rows {
            let bound: Double
            if near(values[r], set.rowLower[r]) { bound = set.rowLower[r] }
            else if near(values[r], set.rowUpper[r]) { bound = set.rowUpper[r] }
            else { continue }
            let g = Array(set.row(r))
            var target = bound
            for i in 0..<n { if let v = fixed[i] { target -= g[i] * v } }
            var e = free.map { g[$0] }
            let norm0 = e.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm0 > 0 else { continue }
            for (q, t) in zip(basis, targets) {
                var dot = 0.0
                for k in 0..<e.count { dot += q[k] * e[k] }
                for k in 0..<e.count { e[k] -= dot * q[k] }
                target -= dot * t
            }
            let norm = e.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 1e-10 * norm0 else { continue }   // dependent on the rows already taken
            basis.append(e.map { $0 / norm })
            targets.append(target / norm)
        }
        // y = a_F + sum_q (t_q - q . a_F) q.
        var y = free.map { a[$0] }
        let aF = y
        for (q, t) in zip(basis, targets) {
            var dot = 0.0
            for k in 0..<q.count { dot += q[k] * aF[k] }
            for k in 0..<q.count { y[k] += (t - dot) * q[k] }
        }
        var refined = solution
        for i in 0..<n { if let v = fixed[i] { refined[i] = v } }
        for (k, i) in free.enumerated() { refined[i] = y[k] }
        // Accept only a feasible point that is no farther from a.
        let tolerance = 1e-12 * scale
        for i in 0..<n where refined[i] < set.columnLower[i] - tolerance || refined[i] > set.columnUpper[i] + tolerance {
            return solution
        }
        let rows = set.rowValues(at: refined)
        for r in 0..<set.rows {
            let slackTolerance = 1e-12 * max(scale, abs(set.rowLower[r].isFinite ? set.rowLower[r] : 0),
                                             abs(set.rowUpper[r].isFinite ? set.rowUpper[r] : 0))
            if rows[r] < set.rowLower[r] - slackTolerance || rows[r] > set.rowUpper[r] + slackTolerance { return solution }
        }
        func distance(_ p: [Double]) -> Double { (0..<n).reduce(0) { $0 + (p[$1] - a[$1]) * (p[$1] - a[$1]) } }
        return distance(refined) <= distance(solution) * (1 + 1e-12) + 1e-30 ? refined : solution
    }
}
