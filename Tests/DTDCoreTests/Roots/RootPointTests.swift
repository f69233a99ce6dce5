import Testing
@testable import DTDCore

/// DTD root points (`Include/dtd.h` section 6), float64, on the seeded random MLPs (biases of every sign, inputs of
/// both signs, one MLP without ReLUs) and the CNNs with max pooling or none, at the first and a
/// middle dense/conv layer. Each root is compared with Support/NaiveDTD.swift, a reading of §5's
/// direction table and placements that shares no code with the engine.
@Suite("Root points")
struct RootPointTests {
    /// Hyperplane placement: t_j = z_j / (w_jᵀv_j), so w_jᵀã_j + b_j = 0. Checked to
    /// 1e-10 relative to Σ_i |w_ij|(|a_i| + |ã_ij|) + |b_j| (the size of the terms that cancel) for every root
    /// that carries relevance, with w_j and b_j read from the network description, not the engine.
    @Test(arguments: DTDNetworks.rootRules)
    func hyperplaneRootsLieOnTheirHyperplane(_ rule: Rule) throws {
        var checked = 0
        for (k, spec) in DTDNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let rules = try spec.ruleSet(spec.uniformRules(rule), for: network)
            let naive = NaiveNetwork(spec)
            let batch = 2
            let x = RandomNetworks.inputs(spec, batch: batch, seed: 1000 + UInt64(k))
            for layer in spec.firstAndMiddleLinearLayers {
                let map = try #require(naive.affine(at: layer))
                let query = RootQuery(layer: layer, target: k % network.outputCount, placement: .hyperplane,
                                      neurons: spec.testNeurons(layer: layer, convCount: 40))
                let (points, info) = try network.roots(x, batch: batch, rules: rules, query: query)
                let perSample = info.count / batch, inCount = map.inputCount
                for (index, root) in info.enumerated() where root.hasRoot && root.relevance != 0 {
                    let point = points.row(index, size: inCount)
                    let a = naive.activations(x.row(index / perSample, size: spec.inputCount))[layer]
                    let row = map.connections[root.neuron], b = map.bias[root.neuron]
                    let residual = row.reduce(b) { $0 + $1.weight * point[$1.input] }
                    // a − t v cancels terms of size |a_i| and |t v_i| ≤ |a_i| + |ã_i|.
                    let scale = row.reduce(abs(b)) { $0 + abs($1.weight) * (abs(a[$1.input]) + abs(point[$1.input])) }
                    #expect(abs(residual) <= 1e-10 * scale,
                            "\(spec) layer \(layer) sample \(index / perSample) neuron \(root.neuron).\(root.partial): w·root + b = \(residual)")
                    checked += 1
                }
            }
        }
        #expect(checked > 40, "only \(checked) roots carried relevance")
    }

    /// The records and points against `Include/dtd.h` section 6 computed naively, for both placements: the flags
    /// (no root when |w_jᵀv_j| ≤ tol, at the input when R_j = 0), R_j from the top-down pass in root
    /// form, z_j, w_jᵀv_j, t_j = z_j/(w_jᵀv_j) or R_j/(w_jᵀv_j), and the point a − t_j v_j; a neuron
    /// without a root gets the input itself.
    @Test(arguments: DTDNetworks.rootRules)
    func rootsFollowTheDirectionTableAndPlacement(_ rule: Rule) throws {
        for (k, spec) in DTDNetworks.all.enumerated() {
            let network = try spec.build(Double.self)
            let rules = spec.uniformRules(rule)
            let ruleSet = try spec.ruleSet(rules, for: network)
            let naive = NaiveNetwork(spec)
            let batch = 2
            let x = RandomNetworks.inputs(spec, batch: batch, seed: 1100 + UInt64(k))
            for layer in spec.firstAndMiddleLinearLayers {
                for placement in [Placement.hyperplane, .relevance] {
                    let neurons = spec.testNeurons(layer: layer, convCount: 40)
                    let target = (k + 1) % network.outputCount
                    let query = RootQuery(layer: layer, target: target, placement: placement, neurons: neurons)
                    let (points, info) = try network.roots(x, batch: batch, rules: ruleSet, query: query)
                    let inCount = spec.activationShapes[layer].reduce(1, *)
                    let what = "\(spec) layer \(layer) \(placement)"
                    var index = 0
                    for n in 0..<batch {
                        let xn = x.row(n, size: spec.inputCount)
                        let a = naive.activations(xn)[layer]
                        let expected = NaiveDTD.roots(spec, xn, layer: layer, target: target, rules: rules,
                                                      placement: placement, neurons: neurons)
                        try #require(info.count == batch * expected.count, "\(what): \(info.count) records")
                        // R_j, z_j and w_jᵀv_j as vectors, each to 1e-10 of its largest entry.
                        let records = Array(info[(n * expected.count)..<((n + 1) * expected.count)])
                        expectClose(records.map(\.relevance), expected.map(\.relevance), tolerance: 1e-10, "\(what) R_j")
                        expectClose(records.map(\.z), expected.map(\.z), tolerance: 1e-10, "\(what) z_j")
                        expectClose(records.map { $0.hasRoot ? $0.wv : 0 }, expected.map { $0.hasRoot ? $0.wv ?? 0 : 0 },
                                    tolerance: 1e-10, "\(what) w·v")
                        for root in expected {
                            defer { index += 1 }
                            let record = info[index]
                            #expect(record.neuron == root.neuron && Int(record.partial) == root.partial, "\(what): order")
                            #expect(record.hasRoot == root.hasRoot, "\(what) neuron \(root.neuron): has root")
                            #expect(record.flags.contains(.atInput) == (root.hasRoot && root.relevance == 0),
                                    "\(what) neuron \(root.neuron): at input")
                            #expect(!record.flags.contains(.clipped), "\(what): clipped without a constraint")
                            let point = points.row(index, size: inCount)
                            if let t = root.t {
                                expectClose(record.t, t, tolerance: 1e-9, "\(what) neuron \(root.neuron): t")
                                expectClose(point, root.point(at: a), tolerance: 1e-9, "\(what) neuron \(root.neuron): point")
                            } else {
                                // The engine's a (BLAS) and the naive a may differ in the last bits at a middle layer.
                                #expect(record.t == 0, "\(what) neuron \(root.neuron): t without a root")
                                expectClose(point, a, tolerance: 1e-13, "\(what) neuron \(root.neuron): a neuron without a root is at the input")
                            }
                        }
                    }
                }
            }
        }
    }

    /// zbox's direction v_i = a_i − l_i [w_ij > 0] − h_i [w_ij < 0] with bounds given per channel and
    /// per element, on the first layer of an MLP and of a padded CNN (where a neuron's patch must
    /// pick up its own cells' bounds and none from the padding): t, w·v and the point against the
    /// naive table, both placements (zplus above).
    @Test(arguments: [RandomNetworks.mlps[0], RandomNetworks.cnns[0]])
    func zBoxArrayBoundsGiveTheTableDirection(_ spec: NetworkSpec) throws {
        let channels = spec.inputShape[0], count = spec.inputCount
        var rng = SplitMix64(seed: 1500)
        let boxes: [Rule] = [
            .zBox(low: .perChannel(rng.uniform(channels, in: -2...(-1))), high: .perChannel(rng.uniform(channels, in: 1...2))),
            .zBox(low: .perElement(rng.uniform(count, in: -2...(-1))), high: .perElement(rng.uniform(count, in: 1...2)),
                  stabilizer: 0, bias: .exclude),
        ]
        for (b, box) in boxes.enumerated() {
            for placement in [Placement.hyperplane, .relevance] {
                let query = RootQuery(layer: 0, target: 0, placement: placement, neurons: spec.testNeurons(layer: 0, convCount: 40))
                var rules = spec.uniformRules(.zPlus())
                rules[0] = box
                let c = try DTDCase(spec, rule: box, rules: rules, query: query, batch: 2, seed: 1501 + UInt64(b))
                let (points, info) = try c.roots()
                let perSample = info.count / c.batch
                for n in 0..<c.batch {
                    let a = c.layerInput(n)
                    for (slot, root) in c.naiveRoots(n).enumerated() {
                        let record = info[n * perSample + slot]
                        let what = "\(box) \(placement) neuron \(root.neuron)"
                        #expect(record.hasRoot == root.hasRoot, "\(what)")
                        guard let t = root.t, let wv = root.wv else { continue }
                        expectClose(record.wv, wv, tolerance: 1e-12, "\(what): w·v")
                        expectClose(record.t, t, tolerance: 1e-9, "\(what): t")
                        expectClose(points.row(n * perSample + slot, size: count), root.point(at: a), tolerance: 1e-9, "\(what): point")
                    }
                }
            }
        }
    }

    /// float32 follows float64 to about 1e-4 relative. Roots of a float32 network (the
    /// same parameters and inputs, rounded to float32) have the float64 roots' flags, and R_j, z_j,
    /// w_jᵀv_j and the points agree to 1e-4 relative per sample (the roots are computed in Double
    /// from float32 activations, so only the float32 forward and top-down passes round).
    @Test(arguments: [RandomNetworks.mlps[0], RandomNetworks.cnns[0]])
    func float32RootsFollowFloat64(_ spec: NetworkSpec) throws {
        let rounded = spec.roundedToFloat32()
        let network64 = try rounded.build(Double.self), network32 = try rounded.build(Float.self)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 1600).map { Double(Float($0)) }
        for rule in [Rule.zPlus(), .wSquare(), .epsilon(0)] {
            for layer in spec.firstAndMiddleLinearLayers {
                let query = RootQuery(layer: layer, target: 0, placement: .relevance, neurons: spec.testNeurons(layer: layer, convCount: 40))
                let r64 = try network64.roots(x, batch: 2, rules: try RuleSet(for: network64, everyLinearLayer: rule), query: query)
                let r32 = try network32.roots(x.converted(to: Float.self), batch: 2,
                                              rules: try RuleSet(for: network32, everyLinearLayer: rule), query: query)
                let what = "\(rule) layer \(layer)"
                #expect(r32.info.map(\.flags) == r64.info.map(\.flags), "\(what): flags")
                let perSample = r64.info.count / 2, inCount = r64.points.count / r64.info.count
                for n in 0..<2 {
                    let range = (n * perSample)..<((n + 1) * perSample)
                    expectClose(r32.info[range].map(\.relevance), r64.info[range].map(\.relevance), tolerance: 1e-4, "\(what): R_j")
                    expectClose(r32.info[range].map(\.z), r64.info[range].map(\.z), tolerance: 1e-4, "\(what): z_j")
                    expectClose(r32.info[range].map(\.wv), r64.info[range].map(\.wv), tolerance: 1e-4, "\(what): w·v")
                    let points = (n * perSample * inCount)..<((n + 1) * perSample * inCount)
                    expectClose(Array(r32.points[points]), Array(r64.points[points]), tolerance: 1e-4, "\(what): points")
                }
            }
        }
    }

    /// alpha-beta has two partial roots per neuron, each its own root: partial 0 along
    /// v⁺ carrying αR_j, partial 1 along v⁻ carrying −βR_j; rootCount doubles accordingly.
    @Test func alphaBetaRootsComeInPairs() throws {
        let spec = RandomNetworks.mlps[0]
        let network = try spec.build(Double.self)
        let alphaBeta = Rule.alphaBeta(alpha: 2, beta: 1, stabilizer: 1e-6, bias: .include)
        let rules = try spec.ruleSet(spec.uniformRules(alphaBeta), for: network)
        let zPlus = try spec.ruleSet(spec.uniformRules(.zPlus()), for: network)
        let x = RandomNetworks.inputs(spec, batch: 3, seed: 1200)
        let query = RootQuery(layer: 2, target: 1, neurons: 1..<6)
        #expect(try network.rootCount(rules: rules, query: query) == 10)
        #expect(try network.rootCount(rules: zPlus, query: query) == 5)
        let (_, info) = try network.roots(x, batch: 3, rules: rules, query: query)
        try #require(info.count == 30)
        var carried = 0
        for pair in stride(from: 0, to: info.count, by: 2) {
            let (alpha, beta) = (info[pair], info[pair + 1])
            #expect(alpha.neuron == beta.neuron && alpha.neuron == 1 + (pair / 2) % 5)
            #expect(alpha.partial == 0 && beta.partial == 1)
            #expect(alpha.z == beta.z)
            // αR_j and −βR_j with α = 2, β = 1: the beta root carries −½ of the alpha root's share.
            #expect(beta.relevance == -alpha.relevance / 2)
            if alpha.relevance != 0 { carried += 1 }
        }
        #expect(carried > 0)
    }

    /// A neuron range gives exactly the records and points of those neurons in the full query.
    @Test(arguments: [RandomNetworks.mlps[1], RandomNetworks.cnns[0]])
    func aNeuronRangeSelectsThoseNeurons(_ spec: NetworkSpec) throws {
        let network = try spec.build(Double.self)
        let rules = try spec.ruleSet(spec.uniformRules(.gamma(0.5, stabilizer: 0, bias: .exclude)), for: network)
        let layer = try #require(spec.linearLayerIndices.first)
        let inCount = spec.activationShapes[layer].reduce(1, *)
        let outCount = spec.activationShapes[layer + 1].reduce(1, *)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 1300)
        let range = 2..<(outCount - 1)
        let full = try network.roots(x, batch: 2, rules: rules, query: RootQuery(layer: layer, target: 0))
        let part = try network.roots(x, batch: 2, rules: rules, query: RootQuery(layer: layer, target: 0, neurons: range))
        #expect(try network.rootCount(rules: rules, query: RootQuery(layer: layer, target: 0, neurons: range)) == range.count)
        for n in 0..<2 {
            for (slot, j) in range.enumerated() {
                #expect(part.info[n * range.count + slot] == full.info[n * outCount + j])
                #expect(part.points.row(n * range.count + slot, size: inCount) == full.points.row(n * outCount + j, size: inCount))
            }
        }
    }

    /// The buffer API writes what the array API returns, and `points` may be omitted.
    @Test func bufferAndArrayFormsAgree() throws {
        let spec = RandomNetworks.cnns[3]
        let network = try spec.build(Double.self)
        let rules = try spec.ruleSet(spec.uniformRules(.wSquare()), for: network)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 1400)
        let query = RootQuery(layer: 2, target: 2, placement: .hyperplane, neurons: 3..<7)
        let expected = try network.roots(x, batch: 2, rules: rules, query: query)
        var info = [RootInfo](repeating: RootInfo(neuron: -1), count: expected.info.count)
        var out = info.mutableSpan
        try network.roots(input: x.span, batch: 2, rules: rules, query: query, info: &out)
        _ = consume out
        #expect(info == expected.info)
    }
}
