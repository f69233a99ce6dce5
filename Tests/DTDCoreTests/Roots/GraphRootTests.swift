import Testing
@testable import DTDCore

/// DTD roots and the root audit on graph networks (issue 10 item 5, §3b): g_ℓ must depend on
/// the network only through layer ℓ's input, so a layer that some route or add goes around (a
/// layer above it reading an output below it, the network input included) is refused with
/// `.layerOrder` naming the bypassing layer; every other layer — above the last merge, or below
/// merges that stay above it — gets the roots of Support/NaiveDTD.swift, whose top-down pass runs
/// through the oracle's routes and adds.
@Suite("GraphRoot: roots and the audit on graph networks")
struct GraphRootTests {
    static let specs = GraphNetworks.all

    /// The layer kind a message names (the engine's spelling).
    static func kind(_ layer: LayerSpec) -> String {
        switch layer {
        case .route: "route"
        case .add: "add"
        default: "?"
        }
    }

    /// Every root entry point on a bypassed dense/conv layer throws `.layerOrder` naming the
    /// first layer that bypasses it (by index and kind) and the refused layer; so does
    /// `auditPoints` on any bypassed layer and on an add (which reads more than its input).
    @Test func bypassedLayersAreRefusedNamingTheBypassingLayer() throws {
        var refused = 0
        for (k, spec) in Self.specs.enumerated() {
            let network = try spec.build(Double.self)
            let rules = try spec.ruleSet(spec.uniformRules(.zPlus()), for: network)
            let x = RandomNetworks.inputs(spec, batch: 2, seed: 7000 + UInt64(k))
            for layer in spec.layers.indices {
                guard let bypass = spec.bypassingLayer(of: layer) else { continue }
                let fragments = ["layer \(bypass) (\(Self.kind(spec.layers[bypass])))", "bypasses layer \(layer)"]
                let what = "\(spec) layer \(layer)"
                if spec.layers[layer].isLinear {
                    let query = RootQuery(layer: layer, target: 0)
                    expectDTDError(.layerOrder, mentioning: fragments) { _ = try network.rootCount(rules: rules, query: query) }
                    expectDTDError(.layerOrder, mentioning: fragments) { _ = try network.roots(x, batch: 2, rules: rules, query: query) }
                    expectDTDError(.layerOrder, mentioning: fragments) {
                        _ = try network.auditRoots(x, batch: 2, rules: rules, query: query)
                    }
                    expectDTDError(.layerOrder, mentioning: fragments) {
                        _ = try network.rootFormRelevance(x, batch: 2, rules: rules, query: query)
                    }
                    var constrained = query
                    constrained.constrainToRegion = true
                    expectDTDError(.layerOrder, mentioning: fragments) {
                        _ = try network.auditRoots(x, batch: 2, rules: rules, query: constrained)
                    }
                }
                let inCount = spec.activationShapes[layer].reduce(1, *)
                let points = [Double](repeating: 0.5, count: 2 * inCount)
                var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: 2)
                var recordsSpan = records.mutableSpan
                do {
                    try network.auditPoints(input: x.span, batch: 2, layer: layer, target: 0, pointsPerSample: 1,
                                            points: points.span, records: &recordsSpan)
                    Issue.record("\(what): auditPoints accepted a bypassed layer")
                } catch {
                    #expect(error.kind == .layerOrder, "\(what): \(error.kind) \(error.message)")
                    let operandsAreInput = spec.operands(of: layer) == [layer - 1]
                    if operandsAreInput {
                        for fragment in fragments { #expect(error.message.contains(fragment), "\(what): \(error.message)") }
                    } else {
                        #expect(error.message.contains("layer \(layer)"), "\(what): \(error.message)")
                    }
                }
                _ = consume recordsSpan
                refused += 1
            }
        }
        #expect(refused >= 20, "only \(refused) bypassed layers")
    }

    /// Below a merge that stays above it, or above the last merge, a dense/conv layer has roots:
    /// R_j, z_j, w_jᵀv_j, t_j and the points equal the naive DTD reference (1e-10), for both
    /// placements and every root rule kind.
    @Test(arguments: DTDNetworks.rootRuleKinds)
    func unbypassedLayersMatchTheNaiveRoots(_ rule: Rule) throws {
        var checked = 0, belowAMerge = 0
        for (k, spec) in Self.specs.enumerated() {
            let layers = spec.linearLayerIndices.filter { spec.bypassingLayer(of: $0) == nil }
            guard !layers.isEmpty else { continue }
            let network = try spec.build(Double.self)
            let rules = spec.uniformRules(rule)
            let ruleSet = try spec.ruleSet(rules, for: network)
            let batch = 2
            let x = RandomNetworks.inputs(spec, batch: batch, seed: 7100 + UInt64(k))
            let outputs = spec.activationShapes.last?.reduce(1, *) ?? 1
            let naive = NaiveNetwork(spec)
            for layer in layers {
                let merges = ((layer + 1)..<spec.layers.count).contains { if case .route = spec.layers[$0] { true } else if case .add = spec.layers[$0] { true } else { false } }
                if merges { belowAMerge += 1 }
                for placement in [Placement.relevance, .hyperplane] {
                    let neurons = spec.testNeurons(layer: layer, convCount: 16)
                    let target = (k + layer) % outputs
                    let query = RootQuery(layer: layer, target: target, placement: placement, neurons: neurons)
                    let (points, info) = try network.roots(x, batch: batch, rules: ruleSet, query: query)
                    let inCount = spec.activationShapes[layer].reduce(1, *)
                    let what = "\(spec) layer \(layer) \(placement) \(rule)"
                    for n in 0..<batch {
                        let xn = x.row(n, size: spec.inputCount)
                        let expected = NaiveDTD.roots(spec, xn, layer: layer, target: target, rules: rules, placement: placement,
                                                      neurons: neurons)
                        try #require(info.count == batch * expected.count, "\(what): \(info.count) records")
                        let a = naive.activations(xn)[layer]
                        let records = Array(info[(n * expected.count)..<((n + 1) * expected.count)])
                        expectClose(records.map(\.relevance), expected.map(\.relevance), samples: 1, tolerance: 1e-10, "\(what) R_j")
                        expectClose(records.map(\.z), expected.map(\.z), samples: 1, tolerance: 1e-10, "\(what) z_j")
                        for (i, root) in expected.enumerated() {
                            let record = records[i]
                            #expect(record.neuron == root.neuron && record.hasRoot == root.hasRoot, "\(what) neuron \(root.neuron)")
                            guard root.hasRoot, record.hasRoot else { continue }
                            expectClose(record.wv, root.wv ?? .nan, tolerance: 1e-10, "\(what) neuron \(root.neuron) w·v")
                            expectClose(record.t, root.t ?? .nan, tolerance: 1e-9, "\(what) neuron \(root.neuron) t")
                            expectClose(points.row(n * expected.count + i, size: inCount), root.point(at: a), samples: 1, tolerance: 1e-9,
                                        "\(what) neuron \(root.neuron) point")
                        }
                        checked += 1
                    }
                }
            }
        }
        #expect(checked >= 12, "only \(checked) samples checked")
        #expect(belowAMerge >= 2, "only \(belowAMerge) layers below a merge were checked")
    }

    /// The audit of an unbypassed layer works on graphs and its records follow g from first
    /// principles: output_change = g(root) − g(a) with g the naive tail (routes and adds
    /// renumbered), the roots are the roots, and the summary counts the records.
    @Test(arguments: [Rule.zPlus(), .epsilon(0), .wSquare()])
    func auditOfUnbypassedLayersMatchesTheNaiveTail(_ rule: Rule) throws {
        var audited = 0
        for (k, spec) in Self.specs.enumerated() {
            for layer in spec.linearLayerIndices where spec.bypassingLayer(of: layer) == nil {
                let outputs = spec.activationShapes.last?.reduce(1, *) ?? 1
                let query = RootQuery(layer: layer, target: (k + 1) % outputs, neurons: spec.testNeurons(layer: layer, convCount: 12))
                let c = try DTDCase(spec, rule: rule, query: query, batch: 2, seed: 7200 + UInt64(k))
                let (records, summary) = try c.audit()
                let (points, info) = try c.roots()
                try #require(records.count == info.count, "\(spec) layer \(layer)")
                let perSample = records.count / c.batch
                var pairs = 0
                for n in 0..<c.batch {
                    let a = c.layerInput(n)
                    let gA = c.tail.value(a)
                    expectClose(gA, c.output(n), tolerance: 1e-12, "\(spec) layer \(layer): g(a) is f_k(x)")
                    for i in (n * perSample)..<((n + 1) * perSample) {
                        let record = records[i]
                        #expect(record.root == info[i], "\(spec) layer \(layer): the audit's roots are the roots")
                        let gRoot = c.tail.value(points.row(i, size: c.layerInputCount))
                        #expect(abs(record.outputChange - (gRoot - gA)) <= 1e-9 * max(1, abs(gA), abs(gRoot)),
                                "\(spec) layer \(layer) neuron \(record.root.neuron): output change \(record.outputChange) vs \(gRoot - gA)")
                        if record.root.hasRoot { pairs += 1 }
                    }
                }
                #expect(summary.samples == c.batch && summary.pairs == pairs, "\(spec) layer \(layer): \(summary)")
                audited += 1
            }
        }
        #expect(audited >= 6, "only \(audited) layers audited")
    }

    /// same_pattern on graphs: a root is in the closure of a's region exactly when the naive tail
    /// (its ReLUs after adds and concatenations, its max-pools) says so; and region-constrained
    /// roots stop inside that closure (clipped ones included), with their segment whole.
    @Test(arguments: [Rule.zPlus(), .epsilon(0), .alphaBeta(alpha: 2, beta: 1)])
    func regionsFollowTheNaiveTailThroughMerges(_ rule: Rule) throws {
        var compared = 0, clipped = 0, outside = 0
        for (k, spec) in Self.specs.enumerated() where spec.hasReLU {
            for layer in spec.linearLayerIndices where spec.bypassingLayer(of: layer) == nil {
                let outputs = spec.activationShapes.last?.reduce(1, *) ?? 1
                let free = RootQuery(layer: layer, target: k % outputs, neurons: spec.testNeurons(layer: layer, convCount: 12))
                var constrained = free
                constrained.constrainToRegion = true
                let c = try DTDCase(spec, rule: rule, query: free, batch: 2, seed: 7300 + UInt64(k))
                let what = "\(spec) layer \(layer) \(rule)"
                let (records, _) = try c.audit()
                let (points, _) = try c.roots()
                let perSample = records.count / c.batch
                let states = (0..<c.batch).map { c.tail.state(c.layerInput($0)) }
                for (i, record) in records.enumerated() where record.root.hasRoot {
                    let stateA = states[i / perSample]
                    let stateRoot = c.tail.state(points.row(i, size: c.layerInputCount))
                    guard stateRoot.distanceToBoundary(of: stateA) > 1e-8 else { continue }
                    let inside = stateRoot.isInClosure(of: stateA)
                    #expect(record.samePattern == inside, "\(what) neuron \(record.root.neuron): same pattern \(record.samePattern), naive \(inside)")
                    compared += 1
                    if !inside { outside += 1 }
                }
                let (boxed, _) = try c.audit(constrained)
                let (boxedPoints, _) = try c.roots(constrained)
                for (i, record) in boxed.enumerated() where record.root.hasRoot {
                    #expect(record.samePattern && record.segmentInside == 1, "\(what) neuron \(record.root.neuron): constrained root outside")
                    let state = c.tail.state(boxedPoints.row(i, size: c.layerInputCount))
                    #expect(state.isInClosure(of: states[i / perSample]),
                            "\(what) neuron \(record.root.neuron): the naive tail puts the constrained root outside the region")
                    if record.root.flags.contains(.clipped) { clipped += 1 }
                }
            }
        }
        #expect(compared >= 50 && outside > 0 && clipped > 0,
                "\(compared) roots compared, \(outside) outside, \(clipped) clipped: the checks must see both outcomes")
    }

    /// The equivalence lemma through merges: the root-form relevance at an unbypassed layer's
    /// input is the layer's rule in root form (bias excluded, no stabiliser) applied to the
    /// relevance the oracle's top-down pass delivers through the routes and adds above (1e-9).
    @Test(arguments: [Rule.zPlus(), .epsilon(0), .alphaBeta(alpha: 2, beta: 1), .wSquare()])
    func rootFormRelevanceIsTheRuleOnTheTopDownRelevance(_ rule: Rule) throws {
        var checked = 0
        for (k, spec) in Self.specs.enumerated() {
            let naive = NaiveNetwork(spec)
            for layer in spec.linearLayerIndices where spec.bypassingLayer(of: layer) == nil {
                let outputs = spec.activationShapes.last?.reduce(1, *) ?? 1
                let target = (k + 2) % outputs
                let query = RootQuery(layer: layer, target: target, tolerance: 1e-12)
                let c = try DTDCase(spec, rule: rule, query: query, batch: 2, seed: 7400 + UInt64(k))
                let relevance = try c.network.rootFormRelevance(c.x, batch: 2, rules: c.ruleSet, query: query)
                let map = try #require(naive.affine(at: layer))
                for n in 0..<2 {
                    let xn = c.sample(n)
                    let acts = naive.activations(xn)
                    var seed = [Double](repeating: 0, count: outputs)
                    seed[target] = acts[acts.count - 1][target]
                    let above = naive.relevance(xn, seed: seed, rules: NaiveDTD.rootForms(c.rules), above: layer)
                    let expected = NaiveLRP.relevance(NaiveDTD.rootForm(rule), layer: map, input: acts[layer], relevance: above)
                    expectClose(relevance.row(n, size: c.layerInputCount), expected, samples: 1, tolerance: 1e-9,
                                "\(spec) layer \(layer) \(rule) sample \(n)")
                    checked += 1
                }
            }
        }
        #expect(checked >= 12, "only \(checked) samples checked")
    }

    /// A batch large enough for the audit to split into sample ranges on the worker pool and
    /// into chunks (the seeded ResNet's first conv, below its adds and side branch): each
    /// sample's records are those of a batch of one.
    @Test func parallelAuditOnAGraphEqualsOneSampleAtATime() throws {
        let spec = RandomNetworks.graphs[0]
        let layer = 0
        try #require(spec.bypassingLayer(of: layer) == nil && spec.layers[layer].isLinear)
        let query = RootQuery(layer: layer, target: 1)
        let batch = 17
        let c = try DTDCase(spec, rule: .zPlus(), query: query, batch: batch, seed: 7500)
        let (records, summary) = try c.audit()
        let perSample = records.count / batch
        try #require(records.count >= 1 << 12, "\(records.count) records: too few for the parallel audit")
        var pairs = 0
        for n in [0, 7, 16] {
            let one = try c.network.auditRoots(c.sample(n), batch: 1, rules: c.ruleSet, query: query)
            let mine = Array(records[(n * perSample)..<((n + 1) * perSample)])
            #expect(mine.map(\.root.neuron) == one.records.map(\.root.neuron), "sample \(n): neurons")
            #expect(mine.map(\.samePattern) == one.records.map(\.samePattern), "sample \(n): same pattern")
            expectClose(mine.map(\.root.t), one.records.map(\.root.t), samples: 1, tolerance: 1e-12, "sample \(n): t")
            expectClose(mine.map(\.outputChange), one.records.map(\.outputChange), samples: 1, tolerance: 1e-10, "sample \(n): output change")
            expectClose(mine.map { $0.admissibleT.isFinite ? $0.admissibleT : 0 },
                        one.records.map { $0.admissibleT.isFinite ? $0.admissibleT : 0 }, samples: 1, tolerance: 1e-10, "sample \(n): admissible t")
        }
        pairs = records.filter(\.root.hasRoot).count
        #expect(summary.samples == batch && summary.pairs == pairs, "\(summary)")
    }

    /// Full-backward DTD reads dense + ReLU chains only: a graph MLP is refused naming its first
    /// layer outside the pattern, not decomposed wrongly.
    @Test func fullBackwardRefusesGraphNetworks() throws {
        let spec = RandomNetworks.graphs[2]  // dense, batch-norm, relu, ..., identity, add
        let network = try spec.build(Double.self)
        let first = try #require(spec.layers.indices.first { index in
            switch spec.layers[index] {
            case .identity, .add, .route: true
            default: false
            }
        })
        expectDTDError(.unsupported, mentioning: ["layer \(first)"]) {
            _ = try FullBackward(network: network, query: FullBackwardQuery(target: 0))
        }
    }
}
