import Testing
@testable import DTDCore

/// T2 (`Include/dtd.h` section 7; Sixt & Landgraf 2022, Theorem 2): constant roots give gradient × input. LRP-0
/// with the bias included is x ⊙ ∇f(x) on any ReLU network, and a constant first-layer root x̃
/// gives ∇f(x) ⊙ (x − x̃). Gradients come from the naive oracle; float64; random MLPs and CNNs with
/// max pooling or none (average pooling keeps a 1e-6 stabiliser in LRP, so it is left out).
@Suite("T2: constant roots give gradient × input")
struct GradientTimesInputTests {
    /// Runs `gradientTimesInputDistance` on arrays.
    static func distances(_ network: Network<Double>, _ x: [Double], batch: Int, seed: [Double], rules: RuleSet<Double>) throws -> [Double] {
        var result = [Double](repeating: .nan, count: batch)
        var distances = result.mutableSpan
        try network.gradientTimesInputDistance(input: x.span, batch: batch, outputRelevance: seed.span, rules: rules,
                                               distances: &distances)
        _ = consume distances
        return result
    }

    /// Gradient × input of the seed divided by the output, x ⊙ ∇f(x)ᵀ(r / f(x)), from the naive
    /// oracle: what LRP-0 must equal for any seed r (LRP is linear in r).
    static func naiveGradientTimesInput(_ spec: NetworkSpec, _ x: [Double], seed: [Double]) -> [Double] {
        let naive = NaiveNetwork(spec)
        let outCount = seed.count / (x.count / spec.inputCount)
        return (0..<(x.count / spec.inputCount)).flatMap { n in
            let xn = x.row(n, size: spec.inputCount), f = naive.forward(xn)
            let scaled = (0..<outCount).map { f[$0] == 0 ? 0 : seed[n * outCount + $0] / f[$0] }
            return zip(xn, naive.gradient(xn, seed: scaled)).map { $0 * $1 }
        }
    }

    /// LRP-0 (epsilon 0, bias include) against gradient × input: the engine's distance is ≤ 1e-10
    /// per sample, and the LRP result itself is the naive x ⊙ ∇f(x)ᵀ(r / f) to 1e-10, for the usual
    /// seed f_k(x)·e_k and for an arbitrary seed of both signs.
    @Test(arguments: DTDNetworks.all)
    func lrpZeroIsGradientTimesInput(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let rules = try RuleSet(for: network, everyLinearLayer: .epsilon(0, bias: .include))
        let batch = 4
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 5000)
        let outputs = try network.forward(x, batch: batch)
        let explainOne = outputs.indices.map { $0 % network.outputCount == 1 ? outputs[$0] : 0 }
        let arbitrary = RandomNetworks.seeds(outputs.count, seed: 5001)
        for (name, seed) in [("f_1 e_1", explainOne), ("arbitrary", arbitrary)] {
            let d = try Self.distances(network, x, batch: batch, seed: seed, rules: rules)
            #expect(d.allSatisfy { $0 <= 1e-10 }, "\(spec), seed \(name): distances \(d)")
            let relevance = try network.lrp(x, batch: batch, outputRelevance: seed, rules: rules)
            let expected = Self.naiveGradientTimesInput(spec, x, seed: seed)
            for n in 0..<batch {
                expectClose(relevance.row(n, size: spec.inputCount), expected.row(n, size: spec.inputCount), tolerance: 1e-10,
                            "\(spec), seed \(name), sample \(n)")
            }
        }
    }

    /// Any other rule is measurably not gradient × input: zplus's distance is clearly nonzero
    /// (> 0.01 for the worst sample of every network), and each reported distance is
    /// ‖LRP − G‖ / ‖G‖ recomputed from `lrp` and the naive G, to 1e-9. (Eight samples: with its
    /// negative biases, one MLP is dead — f constant, G = LRP = 0 — on half of them.)
    @Test(arguments: DTDNetworks.all)
    func zPlusIsMeasurablyNotGradientTimesInput(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let rules = try RuleSet(for: network, everyLinearLayer: .zPlus())
        let batch = 8
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 5100)
        let outputs = try network.forward(x, batch: batch)
        let seed = outputs.indices.map { $0 % network.outputCount == 0 ? outputs[$0] : 0 }
        let d = try Self.distances(network, x, batch: batch, seed: seed, rules: rules)
        let relevance = try network.lrp(x, batch: batch, outputRelevance: seed, rules: rules)
        let g = Self.naiveGradientTimesInput(spec, x, seed: seed)
        for n in 0..<batch {
            let r = relevance.row(n, size: spec.inputCount), gn = g.row(n, size: spec.inputCount)
            let difference = zip(r, gn).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
            let norm = gn.reduce(0) { $0 + $1 * $1 }.squareRoot()
            expectClose(d[n], norm > 0 ? difference / norm : difference, tolerance: 1e-9, "\(spec) sample \(n)")
        }
        #expect((d.max() ?? 0) > 0.01, "\(spec): zplus distances \(d)")
    }

    /// A constant root x̃ gives ∇f(x)ᵀr ⊙ (x − x̃) (the naive gradient times the difference), for one
    /// root shared by the batch and for one root per sample; x̃ = 0 gives gradient × input itself,
    /// i.e. LRP-0.
    @Test(arguments: DTDNetworks.all)
    func constantRootExplanationIsGradientTimesDifference(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let batch = 3, count = spec.inputCount
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 5200)
        let seed = RandomNetworks.seeds(batch * network.outputCount, seed: 5201)
        let shared = RandomNetworks.inputs(spec, batch: 1, seed: 5202)
        let perSample = RandomNetworks.inputs(spec, batch: batch, seed: 5203)
        let naive = NaiveNetwork(spec)
        let gradient = naive.gradient(batch: x, seed: seed, inputCount: count)
        for (name, root) in [("shared", shared), ("per sample", perSample), ("zero", [Double](repeating: 0, count: count))] {
            var result = [Double](repeating: .nan, count: batch * count)
            var out = result.mutableSpan
            try network.constantRootExplanation(input: x.span, batch: batch, root: root.span, outputRelevance: seed.span,
                                                result: &out)
            _ = consume out
            let expected = (0..<(batch * count)).map { gradient[$0] * (x[$0] - root[root.count == count ? $0 % count : $0]) }
            expectClose(result, expected, tolerance: 1e-12, "\(spec), \(name) root")
            if name == "zero" {
                expectClose(result, try network.gradientTimesInput(x, batch: batch, outputRelevance: seed), tolerance: 1e-12,
                            "\(spec): x̃ = 0 is gradient × input")
            }
        }
    }
}
