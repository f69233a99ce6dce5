import Testing
@testable import DTDCore

/// The study's experiment (`Include/dtd.h` section 6) on its own network, 10-10-10-2 with ReLU after every layer,
/// explained output 0, four blocks of 1000 inputs |N(0, I)| (one per rule column), first-layer
/// roots with the column's rule at every dense layer. The weights are float32 values, used here in
/// float64 and in float32.
@Suite("The study's audit")
struct StudyAuditTests {
    /// The rule of each of the study's columns (LRP-0, z+, γ = 1, w²).
    static func rule(_ column: String) -> Rule? {
        switch column {
        case "lrp0": .epsilon(0)
        case "zplus": .zPlus()
        case "gamma_1": .gamma(1)
        case "wsquare": .wSquare()
        default: nil
        }
    }

    static let columns = ["lrp0", "zplus", "gamma_1", "wsquare"]

    static func block(_ column: String) throws -> (study: StudyFixture, inputs: [Double], count: Int, rule: Rule) {
        let study = try StudyFixture.load()
        let block = try #require(study.blocks.first { $0.column == column }, "no block \(column)")
        return (study, block.inputs, block.count, try #require(rule(column)))
    }

    /// Each block's audit, float64, both placements, and the "as published" protocol (z+ at every
    /// layer for every block, relevance placement): 1000 samples × 10 roots, conservation error < 1e-9 (nothing is
    /// dropped on this network: every upper denominator is nonzero and every neuron has a root or
    /// no relevance), every fraction in [0, 1], pairs at most the roots, and some roots — but not
    /// all — outside the region by the pattern test, which is what the study reports.
    @Test(arguments: columns)
    func auditOfEveryBlockRunsAndConserves(_ column: String) throws {
        let (study, x, count, rule) = try Self.block(column)
        let network = try study.network.build(Double.self)
        for (protocolName, r) in [("per rule", rule), ("as published", Rule.zPlus())] {
            let rules = try RuleSet(for: network, everyLinearLayer: r)
            for placement in protocolName == "per rule" ? [Placement.relevance, .hyperplane] : [.relevance] {
                let query = RootQuery(layer: 0, target: study.explainedOutput, placement: placement)
                let (records, summary) = try network.auditRoots(x, batch: count, rules: rules, query: query)
                let what = "\(column) \(protocolName) \(placement)"
                #expect(records.count == count * 10 && summary.samples == count, "\(what)")
                #expect(summary.pairs <= count * 10 && summary.pairs > 0, "\(what): \(summary.pairs) pairs")
                #expect(summary.maxConservationError < 1e-9, "\(what): conservation error \(summary.maxConservationError)")
                for (name, value) in [("outside by gradient", summary.outsideByGradient),
                                      ("outside by pattern", summary.outsideByPattern),
                                      ("unchanged output", summary.unchangedOutput),
                                      ("mean segment inside", summary.meanSegmentInside),
                                      ("unexplained", summary.unexplainedFraction)] {
                    #expect((0...1).contains(value), "\(what): \(name) = \(value)")
                }
                #expect(records.allSatisfy { (0...1).contains($0.segmentInside) }, "\(what): a segment outside [0, 1]")
                if placement == .relevance {
                    #expect(summary.outsideByPattern > 0 && summary.outsideByPattern < 1, "\(what): \(summary)")
                }
            }
        }
    }

    /// Float32 against float64 on the same float32 weights and inputs, relevance placement. The
    /// flags that decide which neurons count — no root and at the input — come from sign tests and
    /// exact zeros (ReLU-off units pass exactly 0 relevance), so they must agree on every root.
    /// same_gradient and same_pattern compare a root with its input; a float32 root differs from
    /// the float64 one by ~1e-7 relative, so a root within about that of a region boundary can
    /// land on the other side: they must agree on at least 99% of the roots, and the summary
    /// fractions to 0.02.
    @Test(arguments: columns)
    func float32AgreesWithFloat64OnTheFlags(_ column: String) throws {
        let (study, x, count, rule) = try Self.block(column)
        let network64 = try study.network.build(Double.self)
        let network32 = try study.network.build(Float.self)
        let query = RootQuery(layer: 0, target: study.explainedOutput, placement: .relevance)
        let (records64, summary64) = try network64.auditRoots(x, batch: count, rules: try RuleSet(for: network64, everyLinearLayer: rule),
                                                               query: query)
        let (records32, summary32) = try network32.auditRoots(x.converted(to: Float.self), batch: count,
                                                               rules: try RuleSet(for: network32, everyLinearLayer: rule), query: query)
        try #require(records32.count == records64.count)
        let rootFlags: RootFlags = [.noRoot, .atInput]
        let flagMismatches = zip(records32, records64).filter {
            $0.root.flags.intersection(rootFlags) != $1.root.flags.intersection(rootFlags)
        }.count
        let gradientMismatches = zip(records32, records64).filter { $0.sameGradient != $1.sameGradient }.count
        let patternMismatches = zip(records32, records64).filter { $0.samePattern != $1.samePattern }.count
        #expect(flagMismatches == 0, "\(column): \(flagMismatches) roots with other root flags")
        #expect(gradientMismatches <= records64.count / 100, "\(column): \(gradientMismatches) same_gradient mismatches")
        #expect(patternMismatches <= records64.count / 100, "\(column): \(patternMismatches) same_pattern mismatches")
        #expect(summary32.pairs == summary64.pairs)
        #expect(abs(summary32.outsideByGradient - summary64.outsideByGradient) <= 0.02, "\(column): \(summary32) vs \(summary64)")
        #expect(abs(summary32.outsideByPattern - summary64.outsideByPattern) <= 0.02, "\(column): \(summary32) vs \(summary64)")
        #expect(abs(summary32.unchangedOutput - summary64.unchangedOutput) <= 0.02, "\(column): \(summary32) vs \(summary64)")
    }

    /// A batch large enough to be audited on several cores (4096+ roots) gives exactly the
    /// records of auditing its halves one after the other, and the same aggregates.
    @Test func largeBatchesAuditLikeTheirHalves() throws {
        let (study, inputs, count, rule) = try Self.block("zplus")
        let network = try study.network.build(Double.self)
        let rules = try RuleSet(for: network, everyLinearLayer: rule)
        let query = RootQuery(layer: 0, target: 0, placement: .relevance)
        let whole = try network.auditRoots(inputs, batch: count, rules: rules, query: query)
        let half = count / 2, width = network.inputCount
        let first = try network.auditRoots(Array(inputs[..<(half * width)]), batch: half, rules: rules, query: query)
        let second = try network.auditRoots(Array(inputs[(half * width)...]), batch: count - half, rules: rules, query: query)
        #expect(whole.records.count >= 4096, "the batch must be large enough to be split")
        #expect(whole.records == first.records + second.records)
        #expect(whole.summary.pairs == first.summary.pairs + second.summary.pairs)
        expectClose(whole.summary.outsideByPattern,
                    (first.summary.outsideByPattern * Double(half) + second.summary.outsideByPattern * Double(count - half)) / Double(count),
                    tolerance: 1e-12, "outside by pattern")
        expectClose(whole.summary.maxConservationError,
                    max(first.summary.maxConservationError, second.summary.maxConservationError), tolerance: 1e-15, "conservation")
    }
}
