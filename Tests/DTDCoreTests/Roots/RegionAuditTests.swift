import Testing
@testable import DTDCore

/// The root audit (`Include/dtd.h` section 6), field by field against first principles: g_ℓ (the network from
/// layer ℓ's input to output k), its gradient and its ReLU/max-pool state are evaluated by the
/// naive oracle (Support/NaiveDTD.swift) at the very points the engine returns from `roots`, and
/// the summary is recomputed from the records. Float64, random MLPs and CNNs (max pooling or none),
/// first and middle layers, inputs and biases of both signs.
@Suite("Root audit")
struct RegionAuditTests {
    // MARK: Conservation

    /// The max conservation error = max over samples of |Σ_i R_i − f_k(x)|, R_i the root-form
    /// relevance at the layer input, whose total is the relevance of the rooted records (Σ_j R_j, or
    /// αR_j − βR_j per alpha-beta pair). The summary must equal that recomputation (f_k from the naive
    /// forward pass), and with bias-exclude root forms nothing is lost on the way down unless a
    /// denominator vanishes: whenever no relevance is dropped — the naive top-down relevance at the
    /// layer output still sums to f_k, and no neuron without a root carries any — the error is
    /// ≤ 1e-10·|f_k|. With a partial neuron range the summary's error is NaN.
    @Test(arguments: DTDNetworks.rootRuleKinds)
    func conservationErrorIsTheRecordsDeficitAndTinyWithoutDrops(_ rule: Rule) throws {
        var dropFree = 0
        for (k, spec) in DTDNetworks.all.enumerated() {
            for layer in spec.firstAndMiddleLinearLayers {
                let query = RootQuery(layer: layer, target: k % 2, placement: .relevance)
                let c = try DTDCase(spec, rule: rule, query: query, batch: 4, seed: 3000 + UInt64(k))
                let (records, summary) = try c.audit()
                let perSample = records.count / c.batch
                var largest = 0.0
                for n in 0..<c.batch {
                    let mine = records[(n * perSample)..<((n + 1) * perSample)]
                    let fk = c.output(n)
                    let error = abs(mine.filter(\.root.hasRoot).reduce(0) { $0 + $1.root.relevance } - fk)
                    largest = max(largest, error)

                    var seed = [Double](repeating: 0, count: c.network.outputCount)
                    seed[query.target] = fk
                    let arriving = c.naive.relevance(c.sample(n), seed: seed, rules: NaiveDTD.rootForms(c.rules), above: layer)
                    let upperKept = abs(arriving.reduce(0, +) - fk) <= 1e-12 * max(abs(fk), arriving.map(abs).reduce(0, +))
                    let layerKept = !mine.contains { !$0.root.hasRoot && $0.root.relevance != 0 }
                    if upperKept && layerKept {
                        dropFree += 1
                        #expect(error <= 1e-10 * abs(fk), "\(spec) layer \(layer) sample \(n): |Σ R − f_k| = \(error), f_k = \(fk)")
                    }
                }
                #expect(abs(summary.maxConservationError - largest) <= 1e-12 * max(1, largest),
                        "\(spec) layer \(layer): summary \(summary.maxConservationError), records \(largest)")

                var partial = query
                partial.neurons = 0..<1
                #expect(try c.audit(partial).summary.maxConservationError.isNaN, "\(spec) layer \(layer): partial range")
            }
        }
        #expect(dropFree >= 20, "only \(dropFree) samples dropped no relevance")
    }

    // MARK: The fields of each record

    /// Each record against g_ℓ evaluated naively at the engine's root point (from `roots`, the same
    /// query):
    /// - output_change = g(ã) − g(a) and taylor_residual = g(a) − g(ã) − ∇g(ã)ᵀ(a − ã), to 1e-9 of
    ///   the magnitudes involved;
    /// - same_gradient ⇔ max_i |∇g(ã) − ∇g(a)|_i ≤ 1e-5 and same_pattern ⇔ ã in the closure of a's
    ///   region (1e-9 relative hinge tolerance). ∇g(ã) is only defined up to rounding when a unit of g
    ///   sits within 1e-8 of its hinge at ã — with hyperplane placement neuron j itself does, by
    ///   construction — so the gradient-based checks skip those roots (and count the rest);
    /// - a root at the input (R_j = 0) changes nothing: output change ≈ 0, segment 1, same pattern;
    /// - a neuron without a root has segment 1 and nothing unexplained, and is not a pair;
    /// - unexplained = relevance·(1 − segment_inside), segment_inside ∈ [0, 1], and
    ///   |t| ≤ |admissible_t| exactly when segment_inside = 1;
    /// - the summary's counts and fractions are the per-record recomputation.
    @Test(arguments: DTDNetworks.rootRuleKinds)
    func recordsMatchFirstPrinciples(_ rule: Rule) throws {
        var gradientChecks = 0, failingGradients = 0, atInput = 0
        for (k, spec) in DTDNetworks.all.enumerated() {
            for layer in spec.firstAndMiddleLinearLayers {
                for placement in [Placement.relevance, .hyperplane] {
                    let query = RootQuery(layer: layer, target: (k + 1) % 2, placement: placement,
                                          neurons: spec.testNeurons(layer: layer, convCount: 12))
                    let c = try DTDCase(spec, rule: rule, query: query, batch: 2, seed: 3100 + UInt64(k))
                    let (records, summary) = try c.audit()
                    let (points, info) = try c.roots()
                    try #require(records.count == info.count)
                    let perSample = records.count / c.batch, inCount = c.layerInputCount
                    let what = "\(spec) layer \(layer) \(placement)"
                    var pairs = 0, unchanged = 0, segments = 0.0, unexplained = 0.0, relevance = 0.0
                    var gradientOutside = 0, patternOutside = 0
                    for n in 0..<c.batch {
                        let a = c.layerInput(n)
                        let gA = c.tail.value(a), gradientA = c.tail.gradient(a), stateA = c.tail.state(a)
                        var gradientFails = false, patternFails = false
                        for i in (n * perSample)..<((n + 1) * perSample) {
                            let record = records[i], root = record.root
                            let point = points.row(i, size: inCount)
                            #expect(root == info[i], "\(what): the audit's roots are the roots")
                            #expect((0...1).contains(record.segmentInside), "\(what): segment \(record.segmentInside)")

                            let gRoot = c.tail.value(point), gradientRoot = c.tail.gradient(point), stateRoot = c.tail.state(point)
                            let scale = max(1, abs(gA), abs(gRoot))
                            #expect(abs(record.outputChange - (gRoot - gA)) <= 1e-9 * scale,
                                    "\(what) neuron \(root.neuron): output change \(record.outputChange) vs \(gRoot - gA)")
                            let samePattern = stateRoot.isInClosure(of: stateA)
                            #expect(record.samePattern == samePattern, "\(what) neuron \(root.neuron): same pattern")

                            if stateRoot.distanceToBoundary(of: stateA) > 1e-8 {
                                var step = 0.0, taylorScale = scale
                                for e in 0..<inCount {
                                    step += gradientRoot[e] * (a[e] - point[e])
                                    taylorScale += abs(gradientRoot[e] * (a[e] - point[e]))
                                }
                                #expect(abs(record.taylorResidual - (gA - gRoot - step)) <= 1e-9 * taylorScale,
                                        "\(what) neuron \(root.neuron): Taylor residual \(record.taylorResidual) vs \(gA - gRoot - step)")
                                let difference = zip(gradientRoot, gradientA).map { abs($0 - $1) }.max() ?? 0
                                #expect(record.sameGradient == (difference <= 1e-5),
                                        "\(what) neuron \(root.neuron): same gradient with max difference \(difference)")
                                gradientChecks += 1
                                if difference > 1e-5 { failingGradients += 1 }
                            }

                            if root.flags.contains(.atInput) {
                                atInput += 1
                                #expect(abs(record.outputChange) <= 1e-12 * scale && record.segmentInside == 1 && record.samePattern,
                                        "\(what) neuron \(root.neuron): a root at the input changes nothing")
                            }
                            if root.hasRoot {
                                #expect(record.unexplained == root.relevance * (1 - record.segmentInside), "\(what): unexplained")
                                if root.t != 0 {
                                    #expect((abs(root.t) <= abs(record.admissibleT)) == (record.segmentInside == 1),
                                            "\(what) neuron \(root.neuron): t = \(root.t), admissible \(record.admissibleT), segment \(record.segmentInside)")
                                }
                                pairs += 1
                                if abs(record.outputChange) < 1e-6 { unchanged += 1 }
                                segments += record.segmentInside
                                unexplained += abs(record.unexplained)
                                relevance += abs(root.relevance)
                                if !record.sameGradient { gradientFails = true }
                                if !record.samePattern { patternFails = true }
                            } else {
                                #expect(record.segmentInside == 1 && record.unexplained == 0, "\(what): a neuron without a root")
                            }
                        }
                        if gradientFails { gradientOutside += 1 }
                        if patternFails { patternOutside += 1 }
                    }
                    #expect(summary.samples == c.batch && summary.pairs == pairs, "\(what): \(summary.pairs) pairs, expected \(pairs)")
                    expectClose(summary.outsideByGradient, Double(gradientOutside) / Double(c.batch), tolerance: 1e-15, "\(what)")
                    expectClose(summary.outsideByPattern, Double(patternOutside) / Double(c.batch), tolerance: 1e-15, "\(what)")
                    expectClose(summary.unchangedOutput, Double(unchanged) / Double(max(pairs, 1)), tolerance: 1e-15, "\(what)")
                    expectClose(summary.meanSegmentInside, pairs > 0 ? segments / Double(pairs) : 1, tolerance: 1e-12, "\(what)")
                    expectClose(summary.unexplainedFraction, relevance > 0 ? unexplained / relevance : 0, tolerance: 1e-12, "\(what)")
                }
            }
        }
        #expect(gradientChecks > 100 && failingGradients > 0,
                "\(gradientChecks) gradient checks, \(failingGradients) roots with another gradient: the checks must see both outcomes")
        // Rules whose relevance is proportional to the input pass exactly 0 to a ReLU-off unit, so
        // middle layers have roots at the input (w² and zbox send relevance to off units too).
        if case .wSquare = rule {} else if case .zBox = rule {} else {
            #expect(atInput > 0, "no root at the input was checked")
        }
    }

    /// An analytic case: dense(2 → 2, W = [[1, 1], [1, −1]], no bias) then dense(2 → 1, [1, 1]),
    /// no ReLU, x = (1, 2), alpha-beta(2, 1) on both layers. f(x) = 3 − 1 = 2. The top layer's root
    /// form sends R = α(2, 0) − β(0, 2) = (4, −2) down. At layer 0, neuron 0 has a·w = (1, 2) > 0:
    /// its alpha root carries 8 along v⁺ = (1, 2) (w·v = 3, t = 8/3) and its beta root has
    /// v⁻ = 0, hence no root; neuron 1 has a·w = (1, −2): alpha root −4 along (1, 0) (w·v = 1,
    /// t = −4), beta root 2 along (0, 2) (w·v = −2, t = −1). So 3 pairs (partial roots
    /// count apart, rootless ones not), and the rootless beta root drops its −4: the rooted
    /// relevance 8 − 4 + 2 = 6 misses f(x) = 2 by a conservation error of 4.
    @Test func alphaBetaPartialRootsAreSeparatePairsAnalytic() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, 1, 1, -1], outFeatures: 2, inFeatures: 2, bias: nil)
        try network.addDense(weight: [1, 1], outFeatures: 1, inFeatures: 2, bias: nil)
        let rules = try RuleSet(for: network, everyLinearLayer: .alphaBeta(alpha: 2, beta: 1, stabilizer: 1e-6, bias: .include))
        let query = RootQuery(layer: 0, target: 0, placement: .relevance)
        let (records, summary) = try network.auditRoots([1, 2], batch: 1, rules: rules, query: query)
        try #require(records.count == 4)
        let roots = records.map(\.root)
        #expect(roots.map(\.neuron) == [0, 0, 1, 1] && roots.map(\.partial) == [0, 1, 0, 1])
        expectClose(roots.map(\.relevance), [8, -4, -4, 2], tolerance: 1e-15, "relevance")
        expectClose(roots.map(\.wv), [3, 0, 1, -2], tolerance: 1e-15, "w·v")
        expectClose(roots.map(\.t), [8.0 / 3, 0, -4, -1], tolerance: 1e-15, "t")
        #expect(roots.map(\.hasRoot) == [true, false, true, true])
        #expect(summary.pairs == 3 && summary.samples == 1)
        expectClose(summary.maxConservationError, 4, tolerance: 1e-15, "the beta root without a direction drops −4")
    }

    /// The header's dtd_audit_record: admissible_t is "0 with no direction". Gamma defines no
    /// direction for a neuron with z_j = 0: dense(2 → 2, W = [[1, 1], [1, −1]],
    /// b = (−3, 0)) at x = (1, 2) gives z = (0, −1), so neuron 0 has no root and no direction.
    @Test func admissibleStepIsZeroWithoutADirection() throws {
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: [1, 1, 1, -1], outFeatures: 2, inFeatures: 2, bias: [-3, 0])
        try network.addDense(weight: [1, 1], outFeatures: 1, inFeatures: 2, bias: nil)
        let rules = try RuleSet(for: network, everyLinearLayer: .gamma(0.5, stabilizer: 0, bias: .exclude))
        let (records, _) = try network.auditRoots([1, 2], batch: 1, rules: rules, query: RootQuery(layer: 0, target: 0))
        try #require(records.count == 2)
        #expect(records[0].root.z == 0 && records[0].root.flags.contains(.noRoot))
        #expect(records[0].admissibleT == 0, "admissible_t = \(records[0].admissibleT) for a neuron without a direction")
        #expect(records[1].root.hasRoot)
    }

    /// A tolerance above every |w_jᵀv_j| leaves no neuron a root: no pairs, all relevance dropped
    /// (the conservation error is |f_k(x)|), and the fractions of an empty audit (unchanged 0,
    /// mean segment 1, nothing unexplained).
    @Test func aToleranceAboveEveryDirectionLeavesNoPairs() throws {
        let spec = RandomNetworks.mlps[0]
        let query = RootQuery(layer: 0, target: 0, tolerance: 1e6)
        let c = try DTDCase(spec, rule: .zPlus(), query: query, batch: 3, seed: 3500)
        let (records, summary) = try c.audit()
        #expect(records.allSatisfy { $0.root.flags == .noRoot && $0.root.t == 0 && $0.segmentInside == 1 && $0.unexplained == 0 })
        #expect(summary.pairs == 0 && summary.samples == 3)
        #expect(summary.unchangedOutput == 0 && summary.meanSegmentInside == 1 && summary.unexplainedFraction == 0)
        #expect(summary.outsideByGradient == 0 && summary.outsideByPattern == 0)
        expectClose(summary.maxConservationError, (0..<3).map { abs(c.output($0)) }.max() ?? 0, tolerance: 1e-12, "all dropped")
    }

    /// Large layers are processed a few samples at a time (a memory budget per chunk). A 1×1 conv
    /// layer of 2×48×48 outputs with 310 audited neurons goes two samples per chunk, so a batch of
    /// three is two chunks, the second starting at sample 2. Every sample's roots, points and
    /// root-form relevance must be what a single-sample call gives (exactly for sample 2, alone in
    /// its chunk; to 1e-12 for samples 0 and 1, which share theirs), and so must the last sample's
    /// audit records.
    @Test func chunkedBatchesMatchOneSampleAtATime() throws {
        let spec = RandomNetworkBuilder(name: "cnn 1x48x48 conv(2, 1x1)-relu-dense", inputShape: [1, 48, 48], seed: 41)
            .conv(2, kernel: (1, 1)).relu().flatten().dense(2).spec
        let neurons = 2000..<2310, inCount = 48 * 48
        let query = RootQuery(layer: 0, target: 0, placement: .relevance, neurons: neurons)
        let c = try DTDCase(spec, rule: .zPlus(), query: query, batch: 3, seed: 3600)
        let session = try RootSession(network: c.network, rules: c.ruleSet, query: query)
        try #require(session.chunkSize(batch: 3) == 2, "chunks of \(session.chunkSize(batch: 3)) samples, not 2")

        let (points, info) = try c.roots()
        let (records, summary) = try c.audit()
        let relevance = try c.network.rootFormRelevance(c.x, batch: 3, rules: c.ruleSet, query: query)
        let perSample = neurons.count
        for n in 0..<3 {
            let xn = c.sample(n)
            let one = try c.network.roots(xn, batch: 1, rules: c.ruleSet, query: query)
            let oneRelevance = try c.network.rootFormRelevance(xn, batch: 1, rules: c.ruleSet, query: query)
            let range = (n * perSample)..<((n + 1) * perSample)
            let mine = Array(points[(n * perSample * inCount)..<((n + 1) * perSample * inCount)])
            #expect(records[range].map(\.root) == Array(info[range]), "sample \(n): the audit's roots")
            if n == 2 {
                #expect(Array(info[range]) == one.info, "sample \(n): records")
                #expect(mine == one.points, "sample \(n): points")
                #expect(relevance.row(n, size: inCount) == oneRelevance, "sample \(n): root-form relevance")
            } else {
                #expect(info[range].map(\.neuron) == one.info.map(\.neuron) && info[range].map(\.flags) == one.info.map(\.flags))
                expectClose(info[range].map(\.t), one.info.map(\.t), tolerance: 1e-12, "sample \(n): t")
                expectClose(mine, one.points, tolerance: 1e-12, "sample \(n): points")
                expectClose(relevance.row(n, size: inCount), oneRelevance, tolerance: 1e-12, "sample \(n): root-form relevance")
            }
        }
        let last = try c.network.auditRoots(c.sample(2), batch: 1, rules: c.ruleSet, query: query)
        #expect(Array(records[(2 * perSample)...]) == last.records, "the last sample's audit")
        #expect(summary.samples == 3 && summary.pairs == info.filter(\.hasRoot).count)
    }

    // MARK: Region-constrained DTD

    /// Region-constrained DTD stops each root at the region's boundary and reports the
    /// relevance left unexplained. Against the same query without the constraint: t becomes
    /// sign(t)·min(|t|, |admissible_t|), flagged clipped exactly when |t| was reduced; the clipped
    /// root is in the closure of a's region (the engine's same_pattern and the naive state agree)
    /// and its segment is whole; it carries relevance·|t_clipped|/|t| and reports the rest as
    /// unexplained — the same unexplained share the unconstrained audit predicts.
    @Test(arguments: DTDNetworks.rootRuleKinds)
    func constrainedRootsStopAtTheRegionBoundary(_ rule: Rule) throws {
        var clipped = 0
        for (k, spec) in DTDNetworks.all.enumerated() {
            for layer in spec.firstAndMiddleLinearLayers {
                let free = RootQuery(layer: layer, target: 0, placement: .relevance, neurons: spec.testNeurons(layer: layer, convCount: 12))
                var constrained = free
                constrained.constrainToRegion = true
                let c = try DTDCase(spec, rule: rule, query: free, batch: 2, seed: 3300 + UInt64(k))
                let unconstrained = try c.audit().records
                let (records, summary) = try c.audit(constrained)
                let (points, info) = try c.roots(constrained)
                let perSample = records.count / c.batch
                let what = "\(spec) layer \(layer)"
                let freeSummary = try c.audit().summary
                #expect(summary.outsideByPattern == 0, "\(what)")
                expectClose(summary.unexplainedFraction, freeSummary.unexplainedFraction, tolerance: 1e-12, "\(what): unexplained fraction")
                for (i, (record, reference)) in zip(records, unconstrained).enumerated() {
                    let root = record.root, t = reference.root.t, admissible = reference.admissibleT
                    #expect(root == info[i], "\(what): the constrained audit's roots are the constrained roots")
                    guard root.hasRoot else { continue }
                    let reduced = abs(t) > abs(admissible)
                    #expect(root.flags.contains(.clipped) == reduced, "\(what) neuron \(root.neuron): t \(t), admissible \(admissible)")
                    #expect(root.t == (reduced ? (t < 0 ? -1 : 1) * abs(admissible) : t), "\(what) neuron \(root.neuron): clipped t")
                    #expect(record.admissibleT == admissible)
                    #expect(record.samePattern && record.segmentInside == 1, "\(what) neuron \(root.neuron)")
                    expectClose(record.unexplained, reference.unexplained, tolerance: 1e-12, "\(what) neuron \(root.neuron): unexplained")
                    if reduced {
                        clipped += 1
                        let full = reference.root.relevance
                        expectClose(root.relevance, full * root.t / t, tolerance: 1e-12, "\(what) neuron \(root.neuron): carried share")
                        expectClose(reference.unexplained, full * (1 - root.t / t), tolerance: 1e-12,
                                    "\(what) neuron \(root.neuron): unexplained share")
                        let n = i / perSample
                        let state = c.tail.state(points.row(i, size: c.layerInputCount))
                        #expect(state.isInClosure(of: c.tail.state(c.layerInput(n))), "\(what) neuron \(root.neuron): clipped root outside")
                    }
                }
            }
        }
        #expect(clipped >= 3, "only \(clipped) roots were clipped")
    }

    // MARK: Arbitrary points

    /// `auditPoints` given the engine's own roots reports what `auditRoots` does for the study's
    /// checks (same gradient, same pattern, output change, Taylor residual) and for the segment
    /// a → point; it has no t, direction or unexplained share (t = w·v = admissible_t = NaN,
    /// unexplained 0, neuron = the point's index) and no conservation error (NaN).
    @Test(arguments: [RandomNetworks.mlps[0], RandomNetworks.cnns[0]])
    func auditPointsOfTheRootsMatchesTheRootAudit(_ spec: NetworkSpec) throws {
        let layer = spec.firstAndMiddleLinearLayers.last ?? 0
        let query = RootQuery(layer: layer, target: 1, placement: .relevance, neurons: spec.testNeurons(layer: layer, convCount: 12))
        let c = try DTDCase(spec, rule: .zPlus(), query: query, batch: 3, seed: 3400)
        let (expected, expectedSummary) = try c.audit()
        let (points, _) = try c.roots()
        let perSample = expected.count / c.batch
        var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: -1)), count: expected.count)
        var out = records.mutableSpan
        let summary = try c.network.auditPoints(input: c.x.span, batch: c.batch, layer: layer, target: 1,
                                                pointsPerSample: perSample, points: points.span, records: &out)
        _ = consume out
        for (i, (record, reference)) in zip(records, expected).enumerated() {
            #expect(record.root.neuron == i % perSample && record.root.t.isNaN && record.root.wv.isNaN)
            #expect(record.admissibleT.isNaN && record.unexplained == 0)
            #expect(record.sameGradient == reference.sameGradient && record.samePattern == reference.samePattern)
            #expect(record.outputChange == reference.outputChange && record.taylorResidual == reference.taylorResidual)
            expectClose(record.segmentInside, reference.segmentInside, tolerance: 1e-12, "point \(i)")
        }
        #expect(summary.maxConservationError.isNaN)
        #expect(summary.samples == c.batch && summary.outsideByGradient == expectedSummary.outsideByGradient)
    }
}
