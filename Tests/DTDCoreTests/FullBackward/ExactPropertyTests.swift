import Testing
@testable import DTDCore

/// `Include/dtd.h` section 8's properties of the exact method, checked from the outside with plain loops
/// (`NaiveFullBackward`) on the study's network and on seeded random dense chains.
@Suite("Full-backward DTD: exact properties", .enabled(if: ClpSolver.isAvailable, "needs COIN-OR CLP (coinor-libclp1)"))
struct ExactPropertyTests {
    struct Subject: Sendable, CustomStringConvertible {
        let spec: NetworkSpec
        let target: Int
        let inputs: [[Double]]
        let inputLower: Double
        var description: String { "\(spec.name) (lower bound \(inputLower))" }
    }

    /// The study's network on 20 inputs of each block, and random chains (mixed and positive
    /// biases, inputs of either sign with an unbounded input domain).
    static let subjects: [Subject] = {
        var subjects: [Subject] = []
        if let study = try? StudyFixture.load() {
            let inputs = study.blocks.flatMap { block in
                (0..<20).map { r in Array(block.inputs[(r * 10)..<(r * 10 + 10)]) }
            }
            subjects.append(Subject(spec: study.network, target: 0, inputs: inputs, inputLower: 0))
        }
        for (seed, widths, bias, lower) in [(UInt64(15), [5, 6, 4, 3], BiasSigns.mixed, 0.0),
                                            (12, [4, 8, 2], .positive, 0.0),
                                            (13, [6, 5, 5, 5, 2], .mixed, -Double.infinity)] {
            var builder = RandomNetworkBuilder(name: "random chain \(widths)", inputShape: [widths[0]], seed: seed)
            for w in widths.dropFirst() { builder = builder.dense(w, bias: bias).relu() }
            var rng = SplitMix64(seed: seed &+ 100)
            let naive = builder.spec
            var inputs: [[Double]] = []
            for _ in 0..<5000 where inputs.count < 30 {
                let x = lower == 0 ? rng.uniform(widths[0], in: 0...2) : rng.uniform(widths[0], in: -2...2)
                if let network = try? naive.build(Double.self), let f = try? network.forwardOne(x), f[0] > 0.05 {
                    inputs.append(x)
                }
            }
            subjects.append(Subject(spec: naive, target: 0, inputs: inputs, inputLower: lower))
        }
        return subjects
    }()

    /// Each subject's decomposition, computed once for all the tests below.
    static let runs: [String: Result<(FullBackward, [FullBackwardSample]), any Error>] = {
        var runs: [String: Result<(FullBackward, [FullBackwardSample]), any Error>] = [:]
        for s in subjects {
            runs[s.description] = Result { () throws in
                let network = try s.spec.build(Double.self)
                let problem = try FullBackward(network: network, query: FullBackwardQuery(target: s.target, inputLower: s.inputLower))
                return (problem, try problem.decompose(s.inputs, keepRoots: true))
            }
        }
        return runs
    }()

    static func run(_ s: Subject) throws -> (FullBackward, [FullBackwardSample]) {
        #expect(s.inputs.count >= 30, "\(s): too few inputs with f > 0.05")
        return try #require(runs[s.description]).get()
    }

    /// f = sum R^0 + sum of the relevance left at the roots + sum of the skipped relevance, to 1e-9 f,
    /// summed here from the unit records (not the engine's own sums).
    @Test(arguments: subjects)
    func ledgerClosesToRounding(_ s: Subject) throws {
        let (_, samples) = try Self.run(s)
        for (n, sample) in samples.enumerated() {
            var total = sample.inputRelevance.reduce(0, +)
            for unit in sample.units { total += unit.flags.contains(.skipped) ? unit.relevance : unit.unresolved }
            #expect(abs(sample.output - total) <= 1e-9 * sample.output, "sample \(n): f \(sample.output), sum \(total)")
            #expect(abs(sample.ledgerError) <= 1e-9 * sample.output)
        }
    }

    /// Every root lies in the closure of the input's linear region (every ReLU above keeps its state).
    @Test(arguments: subjects)
    func everyRootLiesInTheClosureOfTheRegion(_ s: Subject) throws {
        let (problem, samples) = try Self.run(s)
        for (n, sample) in samples.enumerated() {
            let naive = NaiveFullBackward(spec: s.spec, target: s.target, x: s.inputs[n], sample: sample)
            for (l, roots) in naive.roots.enumerated() {
                for (u, root) in roots.enumerated() {
                    guard let root else { continue }
                    let lower = l == 0 ? s.inputLower : 0
                    #expect(naive.inClosureOfRegion(l, root, lowerBound: lower), "sample \(n), layer \(problem.chain.layers[l].index), unit \(u)")
                }
            }
        }
    }

    /// The genuine recursive relevance (real ReLUs, roots above fixed) equals the affine value at
    /// the input, at the root and at their midpoint.
    @Test(arguments: subjects)
    func genuineRelevanceIsAffineOnTheSegment(_ s: Subject) throws {
        let (_, samples) = try Self.run(s)
        for (n, sample) in samples.enumerated() {
            let naive = NaiveFullBackward(spec: s.spec, target: s.target, x: s.inputs[n], sample: sample)
            let tolerance = 1e-9 * sample.output
            var record = 0
            for (l, roots) in naive.roots.enumerated() {
                for (u, root) in roots.enumerated() {
                    let unit = sample.units[record]
                    record += 1
                    let a = naive.inputs[l]
                    #expect(abs(naive.relevance(l, u, at: a) - unit.relevance) <= tolerance, "sample \(n) layer \(l) unit \(u): R(a)")
                    guard let root else { continue }
                    let middle = zip(a, root).map { ($0 + $1) / 2 }
                    #expect(abs(naive.relevance(l, u, at: root) - unit.unresolved) <= tolerance, "sample \(n) layer \(l) unit \(u): R(root)")
                    #expect(abs(naive.relevance(l, u, at: middle) - (unit.relevance + unit.unresolved) / 2) <= tolerance,
                            "sample \(n) layer \(l) unit \(u): R(midpoint)")
                }
            }
        }
    }

    /// T2: with no active unit skipped, the slope of R^0 in x is the gradient of f_k.
    @Test(arguments: subjects)
    func inputSlopeIsTheGradientWhenNothingActiveIsSkipped(_ s: Subject) throws {
        let (problem, samples) = try Self.run(s)
        var checked = 0
        for (n, sample) in samples.enumerated() {
            let (pre, _) = problem.chain.forward(s.inputs[n])
            let activeSkipped = sample.units.contains { $0.flags.contains(.skipped) && pre[$0.denseIndex][$0.unit] > 0 }
            if activeSkipped { continue }
            checked += 1
            let naive = NaiveFullBackward(spec: s.spec, target: s.target, x: s.inputs[n], sample: sample)
            let gradient = naive.outputGradient()
            let scale = max(1e-12, gradient.map(abs).max() ?? 0)
            for i in 0..<gradient.count {
                #expect(abs(sample.inputSlope[i] - gradient[i]) <= 1e-9 * scale, "sample \(n), input \(i)")
            }
        }
        #expect(checked > 0, "no sample without a skipped active unit")
    }

    /// The top unit is resolved (u = 0) whenever its bias is <= 0: z_k reaches 0 on the region.
    @Test func topUnitIsResolvedWhenItsBiasIsNotPositive() throws {
        for s in Self.subjects {
            let (problem, samples) = try Self.run(s)
            let top = problem.chain.layers[problem.chain.layers.count - 1]
            guard top.bias[s.target] <= 0 else { continue }
            for sample in samples {
                let unit = try #require(sample.units.last)
                #expect(!unit.flags.contains(.unresolved) && unit.lpMin <= 1e-9 * sample.output && abs(unit.unresolved) <= 1e-9 * sample.output,
                        "\(s): top unit \(unit)")
            }
        }
    }

    /// The region sizes: a lies in its own box, the clipped box lies within distance 1 of a, and
    /// the hinge distance is no larger than the distance to any root that left the open region.
    @Test(arguments: subjects)
    func regionBoxesContainTheInput(_ s: Subject) throws {
        let network = try s.spec.build(Double.self)
        let problem = try FullBackward(network: network, query: FullBackwardQuery(target: s.target, inputLower: s.inputLower))
        let regions = try problem.regions(Array(s.inputs.prefix(8)))
        for (n, sizes) in regions.enumerated() {
            let (_, post) = problem.chain.forward(s.inputs[n])
            for (p, size) in sizes.enumerated() {
                let a = post[p]
                #expect(size.hingeDistance > 0)
                for i in 0..<a.count {
                    #expect(size.low[i] <= a[i] + 1e-9 && a[i] <= size.high[i] + 1e-9)
                    #expect(size.lowClipped[i] >= size.low[i] - 1e-9 && size.highClipped[i] <= size.high[i] + 1e-9)
                    #expect(size.lowClipped[i] >= a[i] - 1 - 1e-9 && size.highClipped[i] <= a[i] + 1 + 1e-9)
                }
            }
        }
    }
}

extension Network where T == Double {
    /// f(x) of one sample (tests).
    func forwardOne(_ x: [Double]) throws -> [Double] {
        let chain = try DenseChain(self)
        return chain.forward(x).activations[chain.layers.count]
    }
}
