import Testing
@testable import DTDCore

/// T3 (`Include/dtd.h` section 7; Sixt & Landgraf 2022, Theorem 3): input-dependent roots can reproduce any
/// explanation. For a target explanation e of a dense layer's input whose total is the relevance
/// R = Σ_j R_j reaching the layer, `constructRoots` places roots ã_ij = a_i − R_{i←j}/(c_j w_ij)
/// with c_j = R_j / z_j; the root form Σ_j c_j w_ij (a_i − ã_ij) then gives back e, and each root
/// lies on its neuron's hyperplane. R_j, z_j and a come from the naive oracle.
@Suite("T3: constructed roots")
struct RootConstructionTests {
    /// The dense layers tested: the first and middle layers of every MLP, and the first dense layer
    /// of the max-pool CNN (after flatten).
    static let cases: [(spec: NetworkSpec, layer: Int)] =
        RandomNetworks.mlps.flatMap { spec in spec.firstAndMiddleLinearLayers.map { (spec, $0) } }
        + [(RandomNetworks.cnns[0], 6)]

    static let caseIndices = Array(cases.indices)

    /// Calls `constructRoots` on arrays.
    static func construct(_ network: Network<Double>, _ x: [Double], batch: Int, rules: RuleSet<Double>, query: RootQuery,
                          explanation: [Double], inCount: Int, neurons: Int) throws -> (points: [Double], info: [RootInfo]) {
        var points = [Double](repeating: .nan, count: batch * neurons * inCount)
        var info = [RootInfo](repeating: RootInfo(neuron: -1), count: batch * neurons)
        var p = points.mutableSpan, r = info.mutableSpan
        try network.constructRoots(input: x.span, batch: batch, rules: rules, query: query, explanation: explanation.span,
                                   points: &p, info: &r)
        _ = consume p
        _ = consume r
        return (points, info)
    }

    /// The top-down relevance R_j (`Include/dtd.h` section 6) at the output of `layer` (upper layers in root
    /// form), the layer input a and z = W a + b, naively, for one sample.
    static func naiveLayer(_ spec: NetworkSpec, _ xn: [Double], layer: Int, target: Int, rules: [Int: Rule])
        -> (r: [Double], a: [Double], z: [Double], map: NaiveAffine) {
        let naive = NaiveNetwork(spec)
        let acts = naive.activations(xn)
        let output = acts[acts.count - 1]
        var seed = [Double](repeating: 0, count: output.count)
        seed[target] = output[target]
        let r = naive.relevance(xn, seed: seed, rules: NaiveDTD.rootForms(rules), above: layer)
        guard let map = naive.affine(at: layer) else { return ([], [], [], NaiveAffine(dense: [], outFeatures: 0, inFeatures: 0, bias: nil)) }
        return (r, acts[layer], NaiveLRP.sum(map.forward({ $0 }, acts[layer]), map.bias), map)
    }

    /// A seeded explanation of both signs with total `total` — or zero when no relevance reaches
    /// the layer (a dead sample, or one whose relevance was dropped above), since zero is then the
    /// only explanation any root can give.
    static func explanation(count: Int, total: Double, seed: UInt64) -> [Double] {
        guard total != 0 else { return [Double](repeating: 0, count: count) }
        var rng = SplitMix64(seed: seed)
        let u = rng.uniform(count, in: -1...1)
        let mean = u.reduce(0, +) / Double(count)
        return u.map { $0 - mean + total / Double(count) }
    }

    /// The construction reproduces a random target explanation with the right total to 1e-10:
    /// Σ_j c_j w_ij (a_i − ã_ij) = e_i with c_j = R_j / z_j (1 where z_j = 0 or R_j = 0), computed
    /// here from the naive R_j and z_j. Roots of neurons carrying relevance lie on their hyperplane
    /// (w_jᵀã_j + b_j = 0 to 1e-10 of the terms' size); neurons with R_j = 0 keep ã_j = a and are
    /// flagged at the input. The layer's own rule plays no part (flat here; the rules above are
    /// zplus in root form). `auditPoints` then audits the constructed roots: g(ã) − g(a), the
    /// pattern and a segment in [0, 1] per root, against g evaluated naively.
    @Test(arguments: caseIndices)
    func constructedRootsReproduceTheTargetExplanation(_ index: Int) throws {
        let (spec, layer) = Self.cases[index]
        let network = try spec.build(Double.self)
        var rules = spec.uniformRules(.zPlus())
        rules[layer] = .flat()
        let ruleSet = try spec.ruleSet(rules, for: network)
        let batch = 4, target = 0
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 6000 + UInt64(index))
        let shapes = spec.activationShapes
        let inCount = shapes[layer].reduce(1, *), outCount = shapes[layer + 1].reduce(1, *)
        let layers = (0..<batch).map { Self.naiveLayer(spec, x.row($0, size: spec.inputCount), layer: layer, target: target, rules: rules) }
        let e = (0..<batch).flatMap { n in
            Self.explanation(count: inCount, total: layers[n].r.reduce(0, +), seed: 6100 + UInt64(n))
        }
        let query = RootQuery(layer: layer, target: target)
        let (points, info) = try Self.construct(network, x, batch: batch, rules: ruleSet, query: query, explanation: e,
                                                inCount: inCount, neurons: outCount)
        var carrying = 0
        for n in 0..<batch {
            let (r, a, z, map) = layers[n]
            var reproduced = [Double](repeating: 0, count: inCount)
            for j in 0..<outCount {
                let root = points.row(n * outCount + j, size: inCount), record = info[n * outCount + j]
                #expect(record.neuron == j && record.wv.isNaN)
                expectClose(record.relevance, r[j], tolerance: 1e-10, "R_\(j)")
                let c = (z[j] == 0 || r[j] == 0) ? 1 : r[j] / z[j]
                for (i, w) in map.connections[j] { reproduced[i] += c * w * (a[i] - root[i]) }
                if r[j] == 0 {
                    #expect(record.flags.contains(.atInput))
                    expectClose(root, a, tolerance: 1e-13, "neuron \(j) without relevance stays at a")
                } else {
                    let row = map.connections[j], b = map.bias[j]
                    let residual = row.reduce(b) { $0 + $1.weight * root[$1.input] }
                    let scale = row.reduce(abs(b)) { $0 + abs($1.weight) * (abs(a[$1.input]) + abs(root[$1.input])) }
                    #expect(abs(residual) <= 1e-10 * scale, "sample \(n) neuron \(j): w·root + b = \(residual)")
                    carrying += 1
                }
            }
            expectClose(reproduced, e.row(n, size: inCount), tolerance: 1e-10, "\(spec) layer \(layer) sample \(n)")
        }
        #expect(carrying > 0, "no sample carries relevance to layer \(layer)")

        var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: -1)), count: batch * outCount)
        var out = records.mutableSpan
        let summary = try network.auditPoints(input: x.span, batch: batch, layer: layer, target: target,
                                              pointsPerSample: outCount, points: points.span, records: &out)
        _ = consume out
        #expect(summary.samples == batch && summary.pairs == batch * outCount)
        let tail = NaiveTail(spec, layer: layer, target: target)
        for (i, record) in records.enumerated() {
            let a = layers[i / outCount].a, root = points.row(i, size: inCount)
            let gA = tail.value(a), gRoot = tail.value(root)
            #expect(abs(record.outputChange - (gRoot - gA)) <= 1e-9 * max(1, abs(gA), abs(gRoot)), "point \(i): output change")
            #expect(record.samePattern == tail.state(root).isInClosure(of: tail.state(a)), "point \(i): same pattern")
            #expect((0...1).contains(record.segmentInside) && record.admissibleT.isNaN, "point \(i)")
        }
    }

    /// A sample with no relevance reaching the layer (here every hidden unit of the negative-bias
    /// MLP is off, so the root forms pass 0 down) admits only the zero explanation: every root
    /// gives c_j w_ij (a_i − ã_ij) = 0. A nonzero explanation with total 0 cannot be reproduced, so
    /// it must be refused (`.invalidArgument`) rather than answered with roots ã = a that
    /// reproduce 0.
    @Test func aNonzeroExplanationWithoutRelevanceIsRejected() throws {
        let spec = RandomNetworks.mlps[2]
        let network = try spec.build(Double.self)
        let rules = spec.uniformRules(.zPlus())
        let ruleSet = try spec.ruleSet(rules, for: network)
        // Inputs 0–3 of seed 5100 leave the network dead: f_0 is the output bias, ∇f = 0.
        let x = RandomNetworks.inputs(spec, batch: 1, seed: 5100)
        let total = Self.naiveLayer(spec, x, layer: 0, target: 0, rules: rules).r.reduce(0, +)
        try #require(total == 0 && NaiveNetwork(spec).gradient(x, seed: [1, 0]).allSatisfy { $0 == 0 })
        let explanation: [Double] = [1, -1, 0.5, -0.5, 0, 0]
        expectDTDError(.invalidArgument, mentioning: ["sample 0"]) {
            let (points, _) = try Self.construct(network, x, batch: 1, rules: ruleSet, query: RootQuery(layer: 0, target: 0),
                                                 explanation: explanation, inCount: 6, neurons: 5)
            // Reached only if the call succeeds: show what the roots reproduce instead.
            let (r, a, z, map) = Self.naiveLayer(spec, x, layer: 0, target: 0, rules: rules)
            var reproduced = [Double](repeating: 0, count: 6)
            for j in 0..<5 {
                let c = (z[j] == 0 || r[j] == 0) ? 1 : r[j] / z[j]
                for (i, w) in map.connections[j] { reproduced[i] += c * w * (a[i] - points[j * 6 + i]) }
            }
            Issue.record("constructRoots accepted \(explanation) with no relevance reaching layer 0; its roots reproduce \(reproduced)")
        }
    }

    /// A conv layer has no T3 construction (`.unsupported`: not every input reaches every neuron).
    @Test func aConvLayerIsUnsupported() throws {
        let spec = RandomNetworks.cnns[0]
        let network = try spec.build(Double.self)
        let ruleSet = try spec.ruleSet(spec.uniformRules(.zPlus()), for: network)
        let x = RandomNetworks.inputs(spec, batch: 1, seed: 6200)
        let neurons = spec.activationShapes[1].reduce(1, *)
        expectDTDError(.unsupported, mentioning: ["layer 0", "conv2d", "dense"]) {
            _ = try Self.construct(network, x, batch: 1, rules: ruleSet, query: RootQuery(layer: 0, target: 0),
                                   explanation: [Double](repeating: 0, count: spec.inputCount), inCount: spec.inputCount, neurons: neurons)
        }
    }

    /// An explanation whose total is not the relevance reaching the layer (here 10% too large)
    /// cannot be reproduced: `.invalidArgument`, naming the sample and both totals.
    @Test func aWrongTotalIsRejected() throws {
        let spec = RandomNetworks.mlps[0]
        let network = try spec.build(Double.self)
        let rules = spec.uniformRules(.zPlus())
        let ruleSet = try spec.ruleSet(rules, for: network)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 6300)
        let totals = (0..<2).map { Self.naiveLayer(spec, x.row($0, size: 5), layer: 0, target: 0, rules: rules).r.reduce(0, +) }
        let good = Self.explanation(count: 5, total: totals[0], seed: 6301)
        let bad = Self.explanation(count: 5, total: 1.1 * totals[1], seed: 6302)
        expectDTDError(.invalidArgument, mentioning: ["sample 1", "sums to", "relevance reaching layer 0"]) {
            _ = try Self.construct(network, x, batch: 2, rules: ruleSet, query: RootQuery(layer: 0, target: 0),
                                   explanation: good + bad, inCount: 5, neurons: 7)
        }
    }
}
