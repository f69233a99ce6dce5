import Testing
@testable import DTDCore

/// Rank-1 convergence (`Include/dtd.h` section 7; Sixt, Granz & Landgraf, ICML 2020): propagating different output
/// relevance vectors with z+ through a deep ReLU network gives ever more similar relevance vectors
/// as depth grows — the mean pairwise cosine similarity (CSC) tends to 1 — while gradient × input
/// (LRP-0) keeps them apart. The CSC values are also recomputed from the naive oracle's LRP.
@Suite("Rank-1 convergence")
struct RankOneConvergenceTests {
    /// A 10-dense-layer ReLU MLP, 12 → 16 (×9) → 10, biases of both signs.
    static let deep = RandomNetworks.mlp("deep mlp 12-16x9-10, mixed biases", [12] + Array(repeating: 16, count: 9) + [10],
                                         .mixed, seed: 31)
    static let batch = 3, seedsPerSample = 4

    /// Per sample, the one-hot seeds of classes 0, 3, 6 and 9 (explaining four different classes;
    /// orthogonal, so their own CSC is 0): `(batch, seeds, outputs)`.
    static let seeds: [Double] = (0..<batch).flatMap { _ in
        (0..<seedsPerSample).flatMap { s in (0..<10).map { $0 == 3 * s ? 1.0 : 0 } }
    }

    static func csc(_ rule: Rule) throws -> [Double] {
        let network = try deep.build(Double.self)
        let rules = try RuleSet(for: network, everyLinearLayer: rule)
        let x = RandomNetworks.inputs(deep, batch: batch, seed: 7000)
        var csc = [Double](repeating: .nan, count: network.layers.count + 1)
        var out = csc.mutableSpan
        try network.rankOneSimilarity(input: x.span, batch: batch, rules: rules, seedsPerSample: seedsPerSample,
                                      seeds: seeds.span, csc: &out)
        _ = consume out
        return csc
    }

    /// The mean over samples of the mean pairwise cosine of `vectors(n, s)`, from first principles.
    static func meanPairwiseCosine(_ vectors: (Int, Int) -> [Double]) -> Double {
        var total = 0.0
        for n in 0..<batch {
            var sum = 0.0, pairs = 0.0
            for s in 0..<seedsPerSample {
                for t in (s + 1)..<seedsPerSample {
                    let u = vectors(n, s), v = vectors(n, t)
                    let dot = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
                    let norms = (u.reduce(0) { $0 + $1 * $1 } * v.reduce(0) { $0 + $1 * $1 }).squareRoot()
                    sum += norms > 0 ? dot / norms : 0
                    pairs += 1
                }
            }
            total += sum / pairs
        }
        return total / Double(batch)
    }

    /// csc[0] (the input) and csc[last] (the seeds themselves) recomputed from the naive LRP of
    /// each seed, to 1e-10.
    @Test(arguments: [Rule.zPlus(), .epsilon(0)])
    func similarityIsTheMeanPairwiseCosine(_ rule: Rule) throws {
        let csc = try Self.csc(rule)
        let naive = NaiveNetwork(Self.deep)
        let x = RandomNetworks.inputs(Self.deep, batch: Self.batch, seed: 7000)
        let rules = Self.deep.uniformRules(rule)
        let seed = { (n: Int, s: Int) in Self.seeds.row(n * Self.seedsPerSample + s, size: 10) }
        let atInput = Self.meanPairwiseCosine { n, s in naive.lrp(x.row(n, size: 12), seed: seed(n, s), rules: rules) }
        expectClose(csc[0], atInput, tolerance: 1e-10, "\(rule): csc at the input")
        expectClose(csc[csc.count - 1], Self.meanPairwiseCosine(seed), tolerance: 1e-12, "\(rule): csc of the seeds")
    }

    /// z+: from orthogonal seeds (CSC 0), the CSC at the input of each dense layer rises as the
    /// relevance goes down (from the top layer to the input, up to 1e-6 per step) and is above 0.99
    /// at the input; LRP-0's (gradient × input) stays below 0.9 at the input, far below z+'s.
    @Test func zPlusConvergesToRankOneAndGradientTimesInputDoesNot() throws {
        let zPlus = try Self.csc(.zPlus()), lrpZero = try Self.csc(.epsilon(0))
        let dense = Self.deep.linearLayerIndices
        #expect(dense.count >= 8)
        #expect(zPlus[zPlus.count - 1] == 0 && lrpZero[lrpZero.count - 1] == 0, "orthogonal seeds")
        let down = dense.reversed().map { zPlus[$0] }
        for (upper, lower) in zip(down, down.dropFirst()) {
            #expect(lower >= upper - 1e-6, "z+ csc at the dense inputs, top to bottom: \(down)")
        }
        #expect(zPlus[0] > 0.99, "z+ csc \(zPlus)")
        #expect(lrpZero[0] < 0.9 && lrpZero[0] < zPlus[0] - 0.1, "LRP-0 csc \(lrpZero), z+ \(zPlus)")
    }
}
