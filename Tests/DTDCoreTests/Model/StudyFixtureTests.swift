import Testing
@testable import DTDCore

/// The DTD study's 10-10-10-2 network (bindings/python/dtd/data/dtd_study_mlp.json), float32 as published.
/// Its inputs were drawn until f_0(x) > 0.1, which makes a forward-pass check of the fixture and
/// of float32 loading independent of any result computed here.
@Suite("The study's network")
struct StudyFixtureTests {
    @Test func everyStudyInputHasExplainedOutputAboveOneTenth() throws {
        let study = try StudyFixture.load()
        #expect(study.explainedOutput == 0)
        #expect(study.blocks.map(\.column) == ["lrp0", "zplus", "gamma_1", "wsquare"])
        let network = try study.network.build(Float.self)
        #expect(network.layers.map(\.kind) == [.dense, .relu, .dense, .relu, .dense, .relu])
        for block in study.blocks {
            #expect(block.count == 1000)
            #expect(block.inputs.allSatisfy { $0 >= 0 }, "inputs are |N(0, I)|")
            let outputs = try network.forward(block.inputs.converted(to: Float.self), batch: block.count)
            let explained = stride(from: study.explainedOutput, to: outputs.count, by: network.outputCount).map { outputs[$0] }
            #expect(explained.allSatisfy { $0 > 0.1 }, "\(block.column): min f_0 = \(explained.min() ?? 0)")
        }
    }

    /// T2 on the published network in float32: LRP-0 seeded with f_0(x)·e_0 is x ⊙ ∇f_0(x), to
    /// 1e-4 relative per block.
    @Test func lrpZeroEqualsGradientTimesInputInFloat32() throws {
        let study = try StudyFixture.load()
        let network = try study.network.build(Float.self)
        let rules = try RuleSet(for: network, everyLinearLayer: .epsilon(0))
        let block = try #require(study.blocks.first)
        let x = block.inputs.converted(to: Float.self)
        let outputs = try network.forward(x, batch: block.count)
        let seed = outputs.indices.map { $0 % 2 == 0 ? outputs[$0] : 0 }
        let unit = outputs.indices.map { $0 % 2 == 0 ? Float(1) : 0 }
        expectClose(try network.lrp(x, batch: block.count, outputRelevance: seed, rules: rules),
                    try network.gradientTimesInput(x, batch: block.count, outputRelevance: unit), samples: block.count, tolerance: 1e-4)
    }
}
