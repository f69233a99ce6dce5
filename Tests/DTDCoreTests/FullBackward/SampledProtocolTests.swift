import Testing
@testable import DTDCore

/// The study's sampled procedure (`Include/dtd.h` section 8 "Study protocol") on the study's network: it
/// reproduces the artefacts the exact method removes.
@Suite("Full-backward DTD: the study's sampled protocol")
struct SampledProtocolTests {
    /// 25 inputs of each block.
    static func subject() throws -> (Network<Double>, [[Double]]) {
        let study = try StudyFixture.load()
        let inputs = study.blocks.flatMap { block in (0..<25).map { r in Array(block.inputs[(r * 10)..<(r * 10 + 10)]) } }
        return (try study.network.build(Double.self), inputs)
    }

    static func run(_ method: FullBackwardMethod, seed: UInt64 = 0) throws -> (FullBackward, [FullBackwardSample]) {
        let (network, inputs) = try subject()
        let problem = try FullBackward(network: network, query: FullBackwardQuery(target: 0, method: method, seed: seed))
        return (problem, try problem.decompose(inputs, keepRoots: true))
    }

    /// Negative "unresolved" relevance (roots that overshoot) in every hidden layer, and the top
    /// unit reported unresolved although its bias is <= 0 (the exact value is 0).
    @Test(arguments: [FullBackwardMethod.sampled, .bisect])
    func reproducesTheStudysArtefacts(_ method: FullBackwardMethod) throws {
        let (problem, samples) = try Self.run(method)
        for p in 0..<(problem.chain.layers.count - 1) {
            let decomposed = samples.flatMap { s in s.units.filter { $0.denseIndex == p && !$0.flags.contains(.skipped) }.map { ($0, s.output) } }
            let negative = decomposed.filter { $0.0.unresolved < -1e-9 * $0.1 }.count
            let share = Double(negative) / Double(decomposed.count)
            print("\(method) dense layer \(p): \(negative) of \(decomposed.count) unresolved values negative (\(share))")
            #expect(share > 0.25, "dense layer \(p): only \(negative) of \(decomposed.count) negative")
        }
        let topUnresolved = samples.filter { $0.units.last?.flags.contains(.unresolved) == true }.count
        #expect(Double(topUnresolved) >= 0.9 * Double(samples.count), "top unit unresolved for \(topUnresolved) of \(samples.count)")
        #expect(samples.allSatisfy { $0.solverCalls == 0 && $0.rootSearches >= problem.chain.layers.count })
    }

    /// Every root is a candidate within distance 1 of its input (the search radius), clamped to
    /// the lower bound; the sampled roots sit at s = 1 - i/9 of their direction, so their
    /// distances are at most 1.
    @Test func rootsLieWithinTheSearchRadius() throws {
        let (problem, samples) = try Self.run(.sampled)
        let (_, inputs) = try Self.subject()
        for (n, sample) in samples.enumerated() {
            let (_, post) = problem.chain.forward(inputs[n])
            var offset = 0
            for unit in sample.units {
                let width = problem.chain.layers[unit.denseIndex].inputs
                defer { offset += width }
                if unit.flags.contains(.skipped) { continue }
                #expect(unit.rootDistance <= 1 + 1e-12)
                let a = post[unit.denseIndex]
                for i in 0..<width { #expect(sample.roots[offset + i] >= 0 && abs(sample.roots[offset + i] - a[i]) <= 1 + 1e-12) }
            }
        }
    }

    /// The same seed gives the same result; another seed other directions.
    @Test func isReproducibleFromItsSeed() throws {
        let (_, first) = try Self.run(.sampled, seed: 7)
        let (_, again) = try Self.run(.sampled, seed: 7)
        let (_, other) = try Self.run(.sampled, seed: 8)
        func bits(_ s: FullBackwardSample) -> [UInt64] {
            (s.roots + s.inputRelevance + s.units.flatMap { [$0.relevance, $0.unresolved, $0.rootDistance, Double($0.flags.rawValue)] })
                .map(\.bitPattern)
        }
        #expect(zip(first, again).allSatisfy { bits($0) == bits($1) })
        #expect(zip(first, other).contains { bits($0) != bits($1) })
    }

    /// The sampled region size is the box of the candidates: within distance 1 of a (both boxes).
    @Test func regionSizeIsTheCandidatesBox() throws {
        let (network, inputs) = try Self.subject()
        let problem = try FullBackward(network: network, query: FullBackwardQuery(target: 0, method: .sampled))
        let regions = try problem.regions(Array(inputs.prefix(10)))
        for (n, sizes) in regions.enumerated() {
            let (_, post) = problem.chain.forward(inputs[n])
            for (p, size) in sizes.enumerated() {
                #expect(size.low == size.lowClipped && size.high == size.highClipped && size.solverCalls == 0)
                for i in 0..<post[p].count {
                    #expect(size.low[i] >= post[p][i] - 1 - 1e-12 && size.high[i] <= post[p][i] + 1 + 1e-12 && size.low[i] <= size.high[i])
                }
            }
        }
    }

    /// The generator: unit directions, independent streams per (seed, sample, layer, search).
    @Test func studyRandomGivesUnitDirectionsPerStream() {
        var a = StudyRandom(seed: 0, sample: 0, layer: 0, search: 0)
        var b = StudyRandom(seed: 0, sample: 0, layer: 0, search: 0)
        var c = StudyRandom(seed: 0, sample: 1, layer: 0, search: 0)
        let v = a.direction(10), w = b.direction(10), u = c.direction(10)
        #expect(v == w && v != u)
        #expect(abs(v.reduce(0) { $0 + $1 * $1 } - 1) < 1e-14)
        // SplitMix64's first output from state 0 (a published test value of the finaliser).
        #expect(StudyRandom.mix(0x9E37_79B9_7F4A_7C15) == 0xE220_A839_7B1D_CDAF)
    }
}
