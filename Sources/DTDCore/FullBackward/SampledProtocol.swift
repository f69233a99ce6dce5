/// Full-backward DTD as the study's code ran it (`Include/dtd.h` section 8, "Study protocol"), for
/// comparison with `ExactPass` on the same inputs.
///
/// Notation: dense layer l (0-based position) has input p; g_l is the network from that input
/// to output k; R^(l)(p) is the vector of relevances of layer l's units (at the top: [relu z_k])
/// evaluated *recursively*: forward p to q = relu(W_l p + b_l), look up the roots of layer l + 1
/// for q's region, and sum the messages c_m (.) (q - root_m) of the units m of layer l + 1 whose
/// relevance at q is > 0 (units with R <= 0 are skipped at that point).
///
/// Root search of layer l at a point a (run once per region, "roots cached per region"):
/// - the region key is grad g_l(a) rounded to 5 decimals;
/// - `directions` random unit directions v (`StudyRandom`, one stream per search); along each,
///   the points max(a + s v, lo) for s = 1 - i/9, i = 0..9 (lo = the query's input bound at the
///   first layer, else 0); a point p is valid iff |grad g_l(p) - grad g_l(a)|_i <=
///   1e-5 + 1e-3 |grad g_l(p)|_i for all i; the farthest valid point is the direction's
///   candidate (`bisect`: then 10 bisection steps between it and the next farther grid point);
/// - unit j's root is the candidate with the smallest R^(l)_j (the first on ties), its slope
///   c_j = grad R^(l)_j at the root (ReLU'(0) = 0), and R^(l)_j(root) its unresolved relevance,
///   which may be negative.
/// The decomposition at x then takes, layer by layer from the top, the cached roots of a's
/// region: units with R_j(a) <= 0 are skipped, the others pass c_j (.) (a - root_j) down. The
/// region size is the per-coordinate box of the candidates of the search at a.
final class SampledPass {
    private struct Entry {
        var roots: [[Double]]
        var slopes: [[Double]]
        var rootRelevance: [Double]
        var candidates: [[Double]]
    }

    private let chain: DenseChain
    private let query: FullBackwardQuery
    private let sample: Int
    private var caches: [[[Int64]: Entry]]
    private var searches: [Int]

    init(chain: DenseChain, query: FullBackwardQuery, sample: Int) {
        self.chain = chain
        self.query = query
        self.sample = sample
        caches = Array(repeating: [:], count: chain.layers.count)
        searches = Array(repeating: 0, count: chain.layers.count)
    }

    private var top: Int { chain.layers.count - 1 }

    // MARK: - The decomposition

    func run(_ x: [Double], keepRoots: Bool) -> FullBackwardSample {
        let (pre, post) = chain.forward(x)
        let k = query.target
        let f = pre[top][k]
        let threshold = 1e-9 * f
        var unitsByLayer = [[FullBackwardUnit]](repeating: [], count: chain.layers.count)
        var rootsByLayer = [[Double]](repeating: [], count: chain.layers.count)
        var input = [Double](repeating: 0, count: x.count), slope = input
        for p in stride(from: top, through: 0, by: -1) {
            let layer = chain.layers[p]
            let a = post[p], n = layer.inputs
            let entry = lookup(p, a)
            let relevance = self.relevance(p, a)
            var messages = [Double](repeating: 0, count: n), slopes = messages
            var records: [FullBackwardUnit] = [], roots: [Double] = []
            for position in 0..<relevance.count {
                let j = p == top ? k : position
                var record = FullBackwardUnit(layer: layer.index, unit: j, denseIndex: p, flags: [], relevance: relevance[position],
                                              lpMin: .nan, unresolved: 0, rootDistance: .nan)
                guard relevance[position] > 0 else {
                    record.flags = .skipped
                    records.append(record)
                    if keepRoots { roots.append(contentsOf: repeatElement(Double.nan, count: n)) }
                    continue
                }
                let root = entry.roots[position], slope = entry.slopes[position]
                var distance = 0.0
                for i in 0..<n {
                    let d = a[i] - root[i]
                    distance += d * d
                    messages[i] += slope[i] * d
                    slopes[i] += slope[i]
                }
                record.unresolved = entry.rootRelevance[position]
                record.rootDistance = distance.squareRoot()
                if record.unresolved > threshold { record.flags.insert(.unresolved) }
                if slope.allSatisfy({ $0 == 0 }) { record.flags.insert(.inactive) }
                records.append(record)
                if keepRoots { roots.append(contentsOf: root) }
            }
            unitsByLayer[p] = records
            rootsByLayer[p] = roots
            if p == 0 { (input, slope) = (messages, slopes) }
        }
        return FullBackwardSample(output: f, units: unitsByLayer.flatMap { $0 }, inputRelevance: input, inputSlope: slope,
                                  roots: keepRoots ? rootsByLayer.flatMap { $0 } : [], solverCalls: 0,
                                  rootSearches: searches.reduce(0, +))
    }

    /// The candidates of the root search at `a` for dense layer `p` (the sampled region size);
    /// the same points the decomposition's first search of that layer uses.
    func candidates(_ p: Int, at a: [Double]) -> [[Double]] { search(p, at: a, number: 0) }

    // MARK: - The recursive relevance and its gradient

    /// R^(l)(point): the relevance of layer l's decomposed units (top: the target only).
    private func relevance(_ l: Int, _ point: [Double]) -> [Double] {
        let z = chain.layers[l].preactivation(point)
        if l == top { return [max(z[query.target], 0)] }
        return inputRelevance(l + 1, z.map { max($0, 0) })
    }

    /// The relevance layer m's decomposition passes to its input q (one value per input unit).
    private func inputRelevance(_ m: Int, _ q: [Double]) -> [Double] {
        let entry = lookup(m, q)
        let relevance = self.relevance(m, q)
        var out = [Double](repeating: 0, count: q.count)
        for position in 0..<relevance.count where relevance[position] > 0 {
            let root = entry.roots[position], slope = entry.slopes[position]
            for i in 0..<q.count { out[i] += slope[i] * (q[i] - root[i]) }
        }
        return out
    }

    /// grad of R^(l)_position at `point`, the cached roots above held fixed (ReLU'(0) = 0).
    private func relevanceGradient(_ l: Int, _ position: Int, at point: [Double]) -> [Double] {
        let layer = chain.layers[l]
        let z = layer.preactivation(point)
        let j = l == top ? query.target : position
        var coefficient = 1.0
        if l < top {
            let q = z.map { max($0, 0) }
            let entry = lookup(l + 1, q)
            let upper = relevance(l + 1, q)
            coefficient = 0
            for m in 0..<upper.count where upper[m] > 0 { coefficient += entry.slopes[m][j] }
        }
        guard z[j] > 0, coefficient != 0 else { return [Double](repeating: 0, count: layer.inputs) }
        return (0..<layer.inputs).map { coefficient * layer.weight[j * layer.inputs + $0] }
    }

    // MARK: - Roots per region

    /// grad g_l(point): the gradient of output k with respect to layer l's input.
    private func gradient(_ l: Int, _ point: [Double]) -> [Double] {
        var active: [[Bool]] = []
        var current = point
        for q in l...top {
            let z = chain.layers[q].preactivation(current)
            active.append(z.map { $0 > 0 })
            current = z.map { max($0, 0) }
        }
        var grad = [Double](repeating: 0, count: chain.layers[top].outputs)
        grad[query.target] = 1
        for q in stride(from: top, through: l, by: -1) {
            let layer = chain.layers[q]
            let on = active[q - l]
            var down = [Double](repeating: 0, count: layer.inputs)
            for j in 0..<layer.outputs where on[j] && grad[j] != 0 {
                let g = grad[j], row = j * layer.inputs
                for i in 0..<layer.inputs { down[i] += g * layer.weight[row + i] }
            }
            grad = down
        }
        return grad
    }

    private func lookup(_ l: Int, _ point: [Double]) -> Entry {
        let key = gradient(l, point).map { Int64(($0 * 1e5).rounded(.toNearestOrEven)) }
        if let entry = caches[l][key] { return entry }
        let candidates = search(l, at: point, number: searches[l])
        searches[l] += 1
        let values = candidates.map { relevance(l, $0) }
        let units = l == top ? 1 : chain.layers[l].outputs
        var entry = Entry(roots: [], slopes: [], rootRelevance: [], candidates: candidates)
        for position in 0..<units {
            var best = 0
            for c in 1..<values.count where values[c][position] < values[best][position] { best = c }
            entry.roots.append(candidates[best])
            entry.rootRelevance.append(values[best][position])
        }
        for position in 0..<units {
            entry.slopes.append(relevanceGradient(l, position, at: entry.roots[position]))
        }
        caches[l][key] = entry
        return entry
    }

    /// The candidates of root search `number` of layer l at `a`: one per random direction.
    private func search(_ l: Int, at a: [Double], number: Int) -> [[Double]] {
        var random = StudyRandom(seed: query.seed, sample: sample, layer: l, search: number)
        let lower = l == 0 ? query.inputLower : 0
        let reference = gradient(l, a)
        func point(_ v: [Double], _ s: Double) -> [Double] { (0..<a.count).map { max(a[$0] + s * v[$0], lower) } }
        func valid(_ p: [Double]) -> Bool {
            let g = gradient(l, p)
            for i in 0..<g.count where !(abs(g[i] - reference[i]) <= 1e-5 + 1e-3 * abs(g[i])) { return false }
            return true
        }
        let grid = (0..<10).map { 1 - Double($0) / 9 }
        var candidates: [[Double]] = []
        candidates.reserveCapacity(query.directions)
        for _ in 0..<query.directions {
            let v = random.direction(a.count)
            var chosen = grid.count - 1   // s = 0 (the point a itself) is always valid
            for (i, s) in grid.enumerated() where valid(point(v, s)) {
                chosen = i
                break
            }
            var s = grid[chosen]
            if query.method == .bisect, chosen > 0 {
                var low = grid[chosen], high = grid[chosen - 1]
                for _ in 0..<10 {
                    let middle = (low + high) / 2
                    if valid(point(v, middle)) { low = middle } else { high = middle }
                }
                s = low
            }
            candidates.append(point(v, s))
        }
        return candidates
    }
}

extension RegionSize {
    /// The sampled region size of dense layer `position`: the exact hinge distance and the
    /// per-coordinate box of the study's root candidates at a (both boxes: every candidate lies
    /// within distance 1 of a).
    static func sampled(chain: DenseChain, position p: Int, query: FullBackwardQuery, preactivations: [[Double]],
                        input a: [Double], sample: Int) -> RegionSize {
        let region = RegionConstraints(chain: chain, position: p, target: query.target, preactivations: preactivations,
                                       lowerBound: p == 0 ? query.inputLower : 0)
        let candidates = SampledPass(chain: chain, query: query, sample: sample).candidates(p, at: a)
        var low = candidates.first ?? a, high = low
        for c in candidates {
            for i in 0..<a.count {
                low[i] = min(low[i], c[i])
                high[i] = max(high[i], c[i])
            }
        }
        return RegionSize(layer: chain.layers[p].index, constraints: region.rows, hingeDistance: region.hingeDistance,
                          low: low, high: high, lowClipped: low, highClipped: high, solverCalls: 0)
    }
}
