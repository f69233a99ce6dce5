/// The size of one layer's region P_l for one sample.
public struct RegionSize: Sendable {
    /// Position of the dense layer in the network's layer list.
    public var layer: Int
    /// Rows of P_l after dropping all-zero ones (the hinges that bound it).
    public var constraints: Int
    /// min_u |z_u(a)| / ||grad z_u||: the distance from a to its nearest hinge (infinity without rows).
    public var hingeDistance: Double
    /// Per-coordinate box of P_l (exact: by LP, +-infinity when unbounded; sampled: the box of
    /// the root candidates of the search at a).
    public var low: [Double]
    public var high: [Double]
    /// The box of P_l within |a' - a|_inf <= 1 (sampled: the same as `low`/`high`).
    public var lowClipped: [Double]
    public var highClipped: [Double]
    /// LPs solved.
    public var solverCalls: Int

    /// Coordinates whose box is unbounded on either side.
    public var unboundedCoordinates: Int { zip(low, high).filter { $0.isInfinite || $1.isInfinite }.count }
    /// Mean of high - low (infinity when any coordinate is unbounded).
    public var meanWidth: Double { Self.meanWidth(low, high) }
    /// Mean of the clipped box's widths.
    public var meanWidthClipped: Double { Self.meanWidth(lowClipped, highClipped) }

    static func meanWidth(_ low: [Double], _ high: [Double]) -> Double {
        guard !low.isEmpty else { return 0 }
        return zip(low, high).reduce(0) { $0 + ($1.1 - $1.0) } / Double(low.count)
    }
}

extension RegionSize {
    /// The exact region size of dense layer `position` for one sample: the hinge distance and
    /// the per-coordinate box of P_l by LP (min then max of each coordinate, 2 LPs each), also
    /// within |a' - a|_inf <= 1 (2 more).
    static func exact(chain: DenseChain, position p: Int, query: FullBackwardQuery, preactivations: [[Double]],
                      input a: [Double], solver: ClpSolver, sample: Int) throws(DTDError) -> RegionSize {
        let lower = p == 0 ? query.inputLower : 0
        let region = RegionConstraints(chain: chain, position: p, target: query.target, preactivations: preactivations,
                                       lowerBound: lower)
        let n = region.columns
        let whole = region.linear()
        let clipped = region.linear(low: a.map { max(lower, $0 - 1) }, high: a.map { $0 + 1 })
        var boxes = [[Double]](repeating: [Double](repeating: 0, count: n), count: 4)
        var calls = 0
        // A coordinate no row constrains spans its column bounds (no LP: CLP's dual simplex called
        // such a free, empty column "infeasible").
        let constrained = (0..<n).map { i in (0..<region.rows).contains { whole.row($0)[whole.row($0).startIndex + i] != 0 } }
        for (b, constraints) in [whole, clipped].enumerated() {
            for i in 0..<n {
                if !constrained[i] {
                    boxes[2 * b][i] = constraints.columnLower[i]
                    boxes[2 * b + 1][i] = constraints.columnUpper[i]
                    continue
                }
                for (side, sign) in [(0, 1.0), (1, -1.0)] {
                    var objective = [Double](repeating: 0, count: n)
                    objective[i] = sign
                    calls += 1
                    let value: Double
                    let outcome = solver.minimize(objective, over: constraints)
                    switch outcome {
                    case .optimal(_, let point): value = point[i]
                    case .unbounded: value = -sign * .infinity
                    case .infeasible, .failed:
                        throw DTDError(.internal, "CLP (\(solver.library)) did not solve the box LP of sample \(sample), layer \(chain.layers[p].index), coordinate \(i): \(outcome.summary)")
                    }
                    boxes[2 * b + side][i] = value
                }
            }
        }
        return RegionSize(layer: chain.layers[p].index, constraints: region.rows, hingeDistance: region.hingeDistance,
                          low: boxes[0], high: boxes[1], lowClipped: boxes[2], highClipped: boxes[3], solverCalls: calls)
    }
}
