import Testing
@testable import DTDCore

/// Every case of `full_backward_cases.json` (24 inputs of the study's network, computed with
/// HiGHS from `Include/dtd.h` section 8 by someone else) against the exact method, with the fixture's
/// tolerances: relevances and unresolved values within 1e-6 f, roots within 1e-6, skip and
/// unbounded flags identical, region boxes within 1e-6.
@Suite("Full-backward DTD: the reference cases", .enabled(if: ClpSolver.isAvailable, "needs COIN-OR CLP (coinor-libclp1)"))
struct ReferenceCasesTests {
    static func problem<T: DTDScalar>(_: T.Type) throws -> (FullBackward, FullBackwardFixture) {
        let study = try StudyFixture.load()
        let network = try study.network.build(T.self)
        let problem = try FullBackward(network: network, query: FullBackwardQuery(target: study.explainedOutput))
        return (problem, try FullBackwardFixture.load())
    }

    @Test func everyCaseAgreesInFloat64() throws {
        let (problem, fixture) = try Self.problem(Double.self)
        try Self.compare(problem, fixture)
    }

    /// The study's weights and inputs are float32 values: a float32 network gives the same float64 problem.
    @Test func everyCaseAgreesInFloat32() throws {
        let (problem, fixture) = try Self.problem(Float.self)
        try Self.compare(problem, fixture)
    }

    static func compare(_ problem: FullBackward, _ fixture: FullBackwardFixture) throws {
        #expect(fixture.cases.count == 24)
        let samples = try problem.decompose(fixture.cases.map(\.input), keepRoots: true)
        let regions = try problem.regions(fixture.cases.map(\.input))
        var worst = (relevance: 0.0, unresolved: 0.0, lp: 0.0, root: 0.0, distance: 0.0, input: 0.0, box: 0.0)
        for (c, (sample, region)) in zip(fixture.cases, zip(samples, regions)) {
            let name = "\(c.block) \(c.index)"
            #expect(abs(sample.output - c.f) <= 1e-12 * c.f, "\(name): f")
            #expect(sample.units.count == c.layers.map(\.count).reduce(0, +), "\(name): unit records")
            var offset = 0, rootOffset = 0
            for (p, reference) in c.layers.enumerated() {
                let n = problem.chain.layers[p].inputs
                for ref in reference {
                    let unit = sample.units[offset]
                    offset += 1
                    defer { rootOffset += n }
                    let label = "\(name) layer \(p + 1) unit \(ref.unit)"
                    #expect(unit.unit == ref.unit && unit.denseIndex == p, "\(label): order")
                    #expect(unit.flags.contains(.skipped) == ref.skipped, "\(label): skipped")
                    worst.relevance = max(worst.relevance, abs(unit.relevance - ref.relevance) / c.f)
                    guard !ref.skipped, let lp = ref.lpMin, let u = ref.unresolved, let root = ref.root,
                          let distance = ref.rootDistance else { continue }
                    #expect((unit.lpMin == -.infinity) == (lp == -.infinity), "\(label): unbounded flag")
                    #expect(unit.flags.contains(.unbounded) == (lp == -.infinity), "\(label): unbounded bit")
                    if lp.isFinite { worst.lp = max(worst.lp, abs(unit.lpMin - lp) / c.f) }
                    worst.unresolved = max(worst.unresolved, abs(unit.unresolved - u) / c.f)
                    worst.distance = max(worst.distance, abs(unit.rootDistance - distance))
                    for i in 0..<n { worst.root = max(worst.root, abs(sample.roots[rootOffset + i] - root[i])) }
                }
                let size = region[p]
                #expect(size.layer == problem.chain.layers[p].index)
                for i in 0..<n {
                    let width = size.high[i] - size.low[i], clipped = size.highClipped[i] - size.lowClipped[i]
                    #expect(width.isInfinite == c.widths[p][i].isInfinite, "\(name) layer \(p + 1): unbounded box coordinate \(i)")
                    if width.isFinite { worst.box = max(worst.box, abs(width - c.widths[p][i])) }
                    worst.box = max(worst.box, abs(clipped - c.clippedWidths[p][i]))
                }
            }
            for i in 0..<c.inputRelevance.count {
                worst.input = max(worst.input, abs(sample.inputRelevance[i] - c.inputRelevance[i]) / c.f)
            }
        }
        print("full-backward reference agreement: R \(worst.relevance), u \(worst.unresolved), lp \(worst.lp) (/f); "
              + "roots \(worst.root), distances \(worst.distance), R0 \(worst.input) (/f), boxes \(worst.box)")
        #expect(worst.relevance <= 1e-6 && worst.unresolved <= 1e-6 && worst.lp <= 1e-6 && worst.input <= 1e-6)
        #expect(worst.root <= 1e-6 && worst.distance <= 1e-6 && worst.box <= 1e-6)
    }
}
