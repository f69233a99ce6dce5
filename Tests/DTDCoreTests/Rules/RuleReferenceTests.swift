import Testing
@testable import DTDCore

/// Golden vectors from Zennit 0.5.1 (float64, PyTorch): every case of every fixture file — LRP
/// with its per-layer rules, gradient and gradient × input — on dense MLPs and CNNs with conv,
/// max/avg pooling (with and without padding), a bias-free conv and flatten. Both the forward
/// output and the input relevance must agree, to 1e-9 relative in float64 (DESIGN §8) and to
/// 1e-4 in float32 (DESIGN §4). These are the only external reference for the rules as a whole.
@Suite("Zennit reference vectors")
struct RuleReferenceTests {
    /// The element types the engine computes in, with the agreement each must reach.
    enum Precision: String, Sendable, CaseIterable {
        case float64, float32
        var tolerance: Double { self == .float64 ? 1e-9 : 1e-4 }
    }

    @Test func everyFixtureFileHasItsTwentyEightCases() throws {
        let fixtures = try ZennitFixture.all.get()
        #expect(fixtures.count == 5)
        for file in ZennitFixture.fileNames {
            #expect(fixtures[file]?.cases.count == 28, "\(file)")
        }
        #expect(ZennitCaseID.all.count == 140)
    }

    @Test(arguments: ZennitCaseID.all, Precision.allCases)
    func matchesZennit(_ id: ZennitCaseID, precision: Precision) throws {
        let fixture = try ZennitFixture.named(id.file)
        let c = try #require(fixture.cases.indices.contains(id.index) ? fixture.cases[id.index] : nil)
        switch precision {
        case .float64: try check(Double.self, fixture.network, c, tolerance: precision.tolerance)
        case .float32: try check(Float.self, fixture.network, c, tolerance: precision.tolerance)
        }
    }

    private func check<T: DTDScalar>(_: T.Type, _ spec: NetworkSpec, _ c: ZennitCase, tolerance: Double) throws {
        let network = try spec.build(T.self)
        let x = c.input.converted(to: T.self), r = c.outputRelevance.converted(to: T.self)
        expectClose(try network.forward(x, batch: c.batch), c.expectedOutput, tolerance: tolerance, "forward output")

        let relevance: [T]
        switch c.method {
        case .lrp:
            #expect(Set(c.rules.keys) == Set(spec.linearLayerIndices), "the case names a rule for every dense/conv layer")
            relevance = try network.lrp(x, batch: c.batch, outputRelevance: r, rules: spec.ruleSet(c.rules, for: network))
        case .gradient:
            relevance = try network.gradient(x, batch: c.batch, outputRelevance: r)
        case .gradientTimesInput:
            relevance = try network.gradientTimesInput(x, batch: c.batch, outputRelevance: r)
        }
        expectClose(relevance, c.expectedRelevance, tolerance: tolerance, "\(c.method) relevance")
    }
}
