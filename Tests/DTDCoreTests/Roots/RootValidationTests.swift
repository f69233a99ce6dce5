import Testing
@testable import DTDCore

/// The DTD calls validate their arguments (`Include/dtd.h` conventions and section 6): each bad query, rule set or buffer is
/// a `DTDError` of the right kind whose message names the thing — the layer, the target, the
/// neuron range, tol, the rule, the buffer — on every entry point that takes it.
@Suite("Root call validation")
struct RootValidationTests {
    /// dense(4 → 3) relu dense(3 → 2): layers 0 (dense), 1 (relu), 2 (dense); input (4), output (2).
    static func network() throws -> Network<Double> {
        var network = try Network<Double>(inputShape: .flat(4))
        try network.addDense(weight: (0..<12).map { Double($0) / 6 - 1 }, outFeatures: 3, inFeatures: 4, bias: [0.1, -0.2, 0.3])
        network.addReLU()
        try network.addDense(weight: [1, -1, 0.5, 0.25, 2, -1], outFeatures: 2, inFeatures: 3, bias: [0.5, -0.5])
        return network
    }

    static let x: [Double] = [0.5, -1, 0.25, 2, 1, 0.5, -0.5, 0.75]

    /// Every call that takes a `RootQuery`, with buffers large enough for any valid query here.
    enum Entry: String, CaseIterable, Sendable {
        case rootCount, roots, rootsBuffer, auditRoots, auditRootsBuffer, rootFormRelevance, constructRoots

        /// Whether the call needs the audited layer's rule to be a root rule (T3 does not).
        var needsRootRule: Bool { self != .constructRoots }

        func call(_ network: Network<Double>, _ rules: RuleSet<Double>, _ query: RootQuery) throws {
            let x = RootValidationTests.x
            var points = [Double](repeating: 0, count: 2 * 6 * 4)
            var info = [RootInfo](repeating: RootInfo(neuron: 0), count: 2 * 6)
            var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: 2 * 6)
            switch self {
            case .rootCount:
                _ = try network.rootCount(rules: rules, query: query)
            case .roots:
                _ = try network.roots(x, batch: 2, rules: rules, query: query)
            case .rootsBuffer:
                var p = points.mutableSpan, r = info.mutableSpan
                try network.roots(input: x.span, batch: 2, rules: rules, query: query, points: &p, info: &r)
            case .auditRoots:
                _ = try network.auditRoots(x, batch: 2, rules: rules, query: query)
            case .auditRootsBuffer:
                var r = records.mutableSpan
                try network.auditRoots(input: x.span, batch: 2, rules: rules, query: query, records: &r)
            case .rootFormRelevance:
                _ = try network.rootFormRelevance(x, batch: 2, rules: rules, query: query)
            case .constructRoots:
                // An explanation of the right total is not needed: validation comes first.
                let explanation = [Double](repeating: 0, count: 2 * 4)
                var p = points.mutableSpan, r = info.mutableSpan
                try network.constructRoots(input: x.span, batch: 2, rules: rules, query: query, explanation: explanation.span,
                                           points: &p, info: &r)
            }
        }
    }

    static func zPlusRules(_ network: Network<Double>) throws -> RuleSet<Double> {
        try RuleSet(for: network, everyLinearLayer: .zPlus())
    }

    @Test(arguments: Entry.allCases, [-1, 3, 100])
    func rejectsALayerOutOfRange(_ entry: Entry, _ layer: Int) throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        expectDTDError(.layerIndex, mentioning: ["layer = \(layer)", "[0, 3)"]) {
            try entry.call(network, rules, RootQuery(layer: layer, target: 0))
        }
    }

    @Test(arguments: Entry.allCases)
    func rejectsALayerWithoutWeights(_ entry: Entry) throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        expectDTDError(.rule, mentioning: ["layer 1", "relu", "no weights"]) {
            try entry.call(network, rules, RootQuery(layer: 1, target: 0))
        }
    }

    @Test(arguments: Entry.allCases, [-1, 2])
    func rejectsATargetOutOfRange(_ entry: Entry, _ target: Int) throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        expectDTDError(.outOfRange, mentioning: ["target = \(target)", "[0, 2)"]) {
            try entry.call(network, rules, RootQuery(layer: 0, target: target))
        }
    }

    /// Layer 0 has 3 neurons: a range reaching past them, starting below 0, or empty is rejected.
    @Test(arguments: Entry.allCases, [2..<4, -1..<2, 1..<1, 3..<3])
    func rejectsANeuronRangeOutsideTheLayerOrEmpty(_ entry: Entry, _ range: Range<Int>) throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        expectDTDError(.outOfRange, mentioning: ["neuron range", "[\(range.lowerBound), \(range.upperBound))", "[0, 3)", "layer 0"]) {
            try entry.call(network, rules, RootQuery(layer: 0, target: 0, neurons: range))
        }
    }

    @Test(arguments: Entry.allCases, [0, -1e-5, .nan, .infinity])
    func rejectsAToleranceThatIsNotPositiveAndFinite(_ entry: Entry, _ tolerance: Double) throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        expectDTDError(.outOfRange, mentioning: ["tol"]) {
            try entry.call(network, rules, RootQuery(layer: 0, target: 0, tolerance: tolerance))
        }
    }

    /// `Include/dtd.h` section 6: epsilon > 0 and flat are not root rules. At the audited layer every root call
    /// refuses them (T3's construction does not use the layer's rule and accepts them); above it,
    /// where their root form would carry R down, every call refuses them, naming that layer.
    @Test(arguments: Entry.allCases, [Rule.epsilon(0.25), .epsilon(1e-6, bias: .exclude), .flat()])
    func rejectsANonRootRule(_ entry: Entry, _ rule: Rule) throws {
        let network = try Self.network()
        var atLayer = try Self.zPlusRules(network)
        try atLayer.set(rule, layer: 0, in: network)
        if entry.needsRootRule {
            expectDTDError(.rule, mentioning: ["layer 0", "not a DTD root rule"]) {
                try entry.call(network, atLayer, RootQuery(layer: 0, target: 0))
            }
        } else {
            // Validation passes; the zero explanation then has the wrong total.
            expectDTDError(.invalidArgument, mentioning: ["sums to"]) { try entry.call(network, atLayer, RootQuery(layer: 0, target: 0)) }
        }
        var above = try Self.zPlusRules(network)
        try above.set(rule, layer: 2, in: network)
        expectDTDError(.rule, mentioning: ["layer 2", "not a DTD root rule"]) {
            try entry.call(network, above, RootQuery(layer: 0, target: 0))
        }
    }

    /// A dense layer above the audited one without a rule is an error naming it (libdtd never
    /// guesses a rule), and so is the audited layer itself without one.
    @Test(arguments: Entry.allCases)
    func rejectsAMissingRule(_ entry: Entry) throws {
        let network = try Self.network()
        var onlyFirst = try RuleSet(for: network)
        try onlyFirst.set(.zPlus(), layer: 0, in: network)
        expectDTDError(.rule, mentioning: ["layer 2", "has no rule"]) { try entry.call(network, onlyFirst, RootQuery(layer: 0, target: 0)) }
        var onlyLast = try RuleSet(for: network)
        try onlyLast.set(.zPlus(), layer: 2, in: network)
        expectDTDError(.rule, mentioning: ["layer 0", "has no rule"]) { try entry.call(network, onlyLast, RootQuery(layer: 0, target: 0)) }
    }

    /// Buffers one element short: points and info of `roots`, records of `auditRoots`, points and
    /// records of `auditPoints`, explanation, points and info of `constructRoots` — each named.
    @Test func rejectsBuffersTooSmall() throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        // alpha-beta doubles the roots: 2 samples × 3 neurons × 2 partials, layer input 4.
        let alphaBeta = try RuleSet(for: network, everyLinearLayer: .alphaBeta(alpha: 2, beta: 1))
        let query = RootQuery(layer: 0, target: 0)
        let x = Self.x
        func roots(_ rules: RuleSet<Double>, points: Int?, info: Int) throws {
            var p = [Double](repeating: 0, count: points ?? 0), r = [RootInfo](repeating: RootInfo(neuron: 0), count: info)
            var pb = p.mutableSpan, rb = r.mutableSpan
            if points == nil {
                try network.roots(input: x.span, batch: 2, rules: rules, query: query, info: &rb)
            } else {
                try network.roots(input: x.span, batch: 2, rules: rules, query: query, points: &pb, info: &rb)
            }
        }
        try roots(rules, points: 24, info: 6)
        try roots(alphaBeta, points: 48, info: 12)
        expectDTDError(.bufferTooSmall, mentioning: ["points", "23", "24"]) { try roots(rules, points: 23, info: 6) }
        expectDTDError(.bufferTooSmall, mentioning: ["points", "47", "48"]) { try roots(alphaBeta, points: 47, info: 12) }
        expectDTDError(.bufferTooSmall, mentioning: ["info", "5", "6"]) { try roots(rules, points: nil, info: 5) }
        expectDTDError(.bufferTooSmall, mentioning: ["info", "11", "12"]) { try roots(alphaBeta, points: nil, info: 11) }

        func audit(_ rules: RuleSet<Double>, records count: Int) throws {
            var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: count)
            var r = records.mutableSpan
            try network.auditRoots(input: x.span, batch: 2, rules: rules, query: query, records: &r)
        }
        try audit(alphaBeta, records: 12)
        expectDTDError(.bufferTooSmall, mentioning: ["records", "11", "12"]) { try audit(alphaBeta, records: 11) }

        func auditPoints(points: Int, records: Int, pointsPerSample: Int = 3, layer: Int = 0, target: Int = 0) throws {
            let p = [Double](repeating: 0.5, count: points)
            var r = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: records)
            var rb = r.mutableSpan
            try network.auditPoints(input: x.span, batch: 2, layer: layer, target: target,
                                    pointsPerSample: pointsPerSample, points: p.span, records: &rb)
        }
        try auditPoints(points: 24, records: 6)
        expectDTDError(.bufferTooSmall, mentioning: ["points", "23", "24"]) { try auditPoints(points: 23, records: 6) }
        expectDTDError(.bufferTooSmall, mentioning: ["records", "5", "6"]) { try auditPoints(points: 24, records: 5) }
        expectDTDError(.size, mentioning: ["points_per_sample"]) { try auditPoints(points: 24, records: 6, pointsPerSample: 0) }
        expectDTDError(.layerIndex, mentioning: ["layer = 3"]) { try auditPoints(points: 24, records: 6, layer: 3) }
        expectDTDError(.outOfRange, mentioning: ["target = 2"]) { try auditPoints(points: 24, records: 6, target: 2) }

        func construct(explanation: Int, points: Int, info: Int?) throws {
            let e = [Double](repeating: 0, count: explanation)
            var p = [Double](repeating: 0, count: points), r = [RootInfo](repeating: RootInfo(neuron: 0), count: info ?? 0)
            var pb = p.mutableSpan, rb = r.mutableSpan
            if info == nil {
                try network.constructRoots(input: x.span, batch: 2, rules: rules, query: query, explanation: e.span,
                                           points: &pb)
            } else {
                try network.constructRoots(input: x.span, batch: 2, rules: rules, query: query, explanation: e.span,
                                           points: &pb, info: &rb)
            }
        }
        expectDTDError(.bufferTooSmall, mentioning: ["explanation", "7", "8"]) { try construct(explanation: 7, points: 24, info: 6) }
        expectDTDError(.bufferTooSmall, mentioning: ["points", "23", "24"]) { try construct(explanation: 8, points: 23, info: 6) }
        expectDTDError(.bufferTooSmall, mentioning: ["info", "5", "6"]) { try construct(explanation: 8, points: 24, info: 5) }
    }

    /// The T2 and rank-1 checks: too few seeds to compare, short csc and distance buffers, a root of
    /// the wrong size.
    @Test func rejectsBadTheoryCheckArguments() throws {
        let network = try Self.network()
        let rules = try Self.zPlusRules(network)
        let x = Self.x, seeds = [Double](repeating: 1, count: 2 * 2 * 2)
        func rankOne(seedsPerSample: Int, csc count: Int) throws {
            var csc = [Double](repeating: 0, count: count)
            var c = csc.mutableSpan
            try network.rankOneSimilarity(input: x.span, batch: 2, rules: rules, seedsPerSample: seedsPerSample, seeds: seeds.span,
                                          csc: &c)
        }
        try rankOne(seedsPerSample: 2, csc: 4)
        expectDTDError(.size, mentioning: ["seeds_per_sample", "1"]) { try rankOne(seedsPerSample: 1, csc: 4) }
        expectDTDError(.bufferTooSmall, mentioning: ["seeds", "8", "12"]) { try rankOne(seedsPerSample: 3, csc: 4) }
        expectDTDError(.bufferTooSmall, mentioning: ["csc", "3", "4"]) { try rankOne(seedsPerSample: 2, csc: 3) }

        let seed = [Double](repeating: 1, count: 4)
        var distances = [Double](repeating: 0, count: 1)
        expectDTDError(.bufferTooSmall, mentioning: ["distances", "1", "2"]) {
            var d = distances.mutableSpan
            try network.gradientTimesInputDistance(input: x.span, batch: 2, outputRelevance: seed.span, rules: rules, distances: &d)
        }
        var result = [Double](repeating: 0, count: 8)
        expectDTDError(.shapeMismatch, mentioning: ["root", "3", "(4)", "8"]) {
            let root: [Double] = [1, 2, 3]
            var r = result.mutableSpan
            try network.constantRootExplanation(input: x.span, batch: 2, root: root.span, outputRelevance: seed.span, result: &r)
        }
    }

    /// `Rule.rootForm(layer:)` is the root form (`Include/dtd.h` section 6) — the rule with bias mode exclude and no
    /// stabiliser — for every root rule, and refuses epsilon > 0 and flat, naming the layer.
    @Test(arguments: Rule.allTestCases)
    func rootFormIsTheBiasFreeUnstabilisedRule(_ rule: Rule) throws {
        if NaiveDTD.isRootRule(rule) {
            let form = try rule.rootForm(layer: 4)
            #expect(form.description == NaiveDTD.rootForm(rule).description)
            #expect(form.stabilizer == 0 && form.biasMode == .exclude)
        } else {
            expectDTDError(.rule, mentioning: ["layer 4", "not a DTD root rule"]) { _ = try rule.rootForm(layer: 4) }
        }
    }
}
