/// The linear region P_l of dense layer l's input a (`Include/dtd.h` section 8): the points a' >= lo at
/// which every ReLU of layers l..L (of layer L: the target unit only) keeps its state at a.
///
/// Each such unit u has a pre-activation that is affine in a' once the ReLUs between keep their
/// states: z_u(a') = M_u a' + c_u, composed through the input's on/off pattern. With s_u = +1
/// iff z_u(a) > 0 (else -1), P_l = {a' >= lo : s_u (M_u a' + c_u) >= 0 for every u}. Rows whose
/// coefficients are all 0 are dropped (their sign never changes). `rows` are stored already
/// signed and divided by their largest coefficient m_u: row u is s_u M_u / m_u, `offsets[u]` is
/// s_u c_u / m_u.
struct RegionConstraints {
    /// Number of rows (hinges that bound the region).
    let rows: Int
    /// Input size of the layer.
    let columns: Int
    /// s_u M_u / m_u, row-major.
    let matrix: [Double]
    /// s_u c_u / m_u.
    let offsets: [Double]
    /// |z_u(a)| / ||M_u|| per row.
    let hingeDistances: [Double]
    /// Lower bound of every coordinate of a'.
    let lowerBound: Double

    /// Coefficients below this fraction of their row's largest are 0 (see `init`).
    static var negligible: Double { 1e-200 }

    /// - Parameters:
    ///   - position: the dense layer's position in `chain` (0 = first).
    ///   - preactivations: the sample's forward trace (`DenseChain.forward`).
    init(chain: DenseChain, position: Int, target: Int, preactivations: [[Double]], lowerBound: Double) {
        let layers = chain.layers
        let n = layers[position].inputs
        var matrix: [Double] = [], offsets: [Double] = [], distances: [Double] = []
        // M, c: the pre-activations of the current layer as affine functions of a'.
        var m = layers[position].weight, c = layers[position].bias
        for q in position..<layers.count {
            let layer = layers[q]
            if q > position {
                // z^q = W^q D^(q-1) (M a' + c) + b^q.
                let previous = preactivations[q - 1]
                var next = [Double](repeating: 0, count: layer.outputs * n)
                var nextOffset = layer.bias
                for j in 0..<layer.outputs {
                    for i in 0..<layer.inputs where previous[i] > 0 {
                        let w = layer.weight[j * layer.inputs + i]
                        if w == 0 { continue }
                        nextOffset[j] += w * c[i]
                        for col in 0..<n { next[j * n + col] += w * m[i * n + col] }
                    }
                }
                m = next
                c = nextOffset
            }
            let units = q == layers.count - 1 ? target..<(target + 1) : 0..<layer.outputs
            for u in units {
                let row = m[(u * n)..<(u * n + n)]
                // Each row is stored divided by its largest coefficient (the same half-space), so
                // the solver never sees denormal coefficients, which made CLP call a feasible
                // region infeasible (Tests/fuzz/regressions/full-backward-unbounded-box).
                var scale = 0.0
                for v in row { scale = max(scale, abs(v)) }
                guard scale > 0, scale.isFinite else { continue }
                let z = preactivations[q][u]
                let sign: Double = z > 0 ? 1 : -1
                let offset = sign * c[u] / scale
                // |c| / scale beyond the double range: the row keeps its sign at every representable point.
                if offset == .infinity { continue }
                var squares = 0.0
                for v in row {
                    // A coefficient below 1e-200 of the row's largest moves the hinge by more than
                    // 1e200 along its coordinate: reported as unbounded.
                    let normalized = abs(v) < Self.negligible * scale ? 0 : sign * v / scale
                    matrix.append(normalized)
                    squares += normalized * normalized
                }
                offsets.append(offset)
                distances.append(abs(z) / (scale * squares.squareRoot()))
            }
        }
        self.rows = offsets.count
        self.columns = n
        self.matrix = matrix
        self.offsets = offsets
        self.hingeDistances = distances
        self.lowerBound = lowerBound
    }

    /// min_u |z_u(a)| / ||M_u||: the distance from a to its nearest hinge (infinity without rows).
    var hingeDistance: Double { hingeDistances.min() ?? .infinity }

    /// s_u (M_u a' + c_u) per row; all >= 0 exactly on the region (with a' >= lo).
    func slack(_ point: [Double]) -> [Double] {
        (0..<rows).map { r in
            var s = offsets[r]
            for i in 0..<columns { s += matrix[r * columns + i] * point[i] }
            return s
        }
    }

    /// The region as solver constraints, optionally intersected with the box [low, high].
    func linear(low: [Double]? = nil, high: [Double]? = nil) -> LinearConstraints {
        LinearConstraints(matrix: matrix, rows: rows, columns: columns, rowLower: offsets.map { -$0 },
                          rowUpper: [Double](repeating: .infinity, count: rows),
                          columnLower: low ?? [Double](repeating: lowerBound, count: columns),
                          columnUpper: high ?? [Double](repeating: .infinity, count: columns))
    }
}
