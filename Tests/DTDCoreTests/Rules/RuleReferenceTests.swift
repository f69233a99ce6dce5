import Testing
@testable import DTDCore

/// Golden vectors from Zennit 0.5.1 (float64, PyTorch): every case of every fixture file — LRP
/// with its per-layer rules, gradient and gradient × input — on dense MLPs and CNNs with conv,
/// max/avg pooling (with and without padding), a bias-free conv and flatten. Both the forward
/// output and the input relevance must agree, to 1e-9 relative in float64 (`Tests/Fixtures/README.md`) and to
/// 1e-4 in float32. These are the only external reference for the rules as a whole.
///
/// Float32 caveat: a case can be so ill-conditioned that rounding its data to float32 alone
/// moves the exact answer by a good part of 1e-4 (epsilon 1e-9 with the bias excluded on
/// `cnn_poolpad_nobias`: 4.9e-5; Zennit's own float32 run misses its float64 result there by
/// 1.1e-4). No float32 arithmetic can beat that floor, so the float32 budget is 1e-4 or three
/// times the floor (measured per case with float64 arithmetic on the rounded data), whichever
/// is larger: the engine's own rounding may add at most twice what the data's rounding costs.
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
        var budget = tolerance
        if T.self == Float.self {
            // The floor set by rounding the data to float32, computed in float64.
            let rounded = try spec.roundedToFloat32().build(Double.self)
            let floor = relativeError(try Self.relevance(rounded, spec, c, x.map(Double.init), r.map(Double.init)), c.expectedRelevance)
            budget = max(tolerance, 3 * floor)
        }
        expectClose(try network.forward(x, batch: c.batch), c.expectedOutput, tolerance: tolerance, "forward output")
        if c.method == .lrp {
            #expect(Set(c.rules.keys) == Set(spec.linearLayerIndices), "the case names a rule for every dense/conv layer")
        }
        expectClose(try Self.relevance(network, spec, c, x, r), c.expectedRelevance, tolerance: budget, "\(c.method) relevance")
    }

    /// The case's method run on `network`.
    private static func relevance<T: DTDScalar>(_ network: Network<T>, _ spec: NetworkSpec, _ c: ZennitCase,
                                                _ x: [T], _ r: [T]) throws -> [T] {
        switch c.method {
        case .lrp: try network.lrp(x, batch: c.batch, outputRelevance: r, rules: spec.ruleSet(c.rules, for: network))
        case .gradient: try network.gradient(x, batch: c.batch, outputRelevance: r)
        case .gradientTimesInput: try network.gradientTimesInput(x, batch: c.batch, outputRelevance: r)
        }
    }
}
