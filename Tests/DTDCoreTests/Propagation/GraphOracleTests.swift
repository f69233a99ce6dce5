import Testing
@testable import DTDCore

/// Graph networks (§3b: route, add, identity, adaptive average pooling, asymmetric padding,
/// folded batch norms) against the naive oracle of Reference/NaiveLRP.swift, which reads every
/// layer's operands itself and adds up what each reader sends back. Seeded random graphs plus the
/// hand-built corners of Support/GraphNetworks.swift (an input read by two concatenations, a
/// three-operand add, an operand listed twice, overlapping and upsampling adaptive bins, dead
/// branches, a route or add as the output layer). Inputs and seeds have both signs; every
/// comparison is per sample, relative to that sample's largest expected value.
@Suite("Graph networks against the naive oracle")
struct GraphOracleTests {
    static let batch = 3

    struct Case {
        let spec: NetworkSpec
        let naive: NaiveNetwork
        let x: [Double]
        let seed: [Double]
        var outputCount: Int { seed.count / GraphOracleTests.batch }

        init(_ spec: NetworkSpec, salt: UInt64) {
            self.spec = spec
            naive = NaiveNetwork(spec)
            x = RandomNetworks.inputs(spec, batch: GraphOracleTests.batch, seed: 5000 + salt)
            let outputCount = spec.activationShapes.last.map { $0.reduce(1, *) } ?? 0
            seed = RandomNetworks.seeds(GraphOracleTests.batch * outputCount, seed: 5100 + salt)
        }

        /// The case with parameters, inputs and seed rounded to float32 (the float32 engine then
        /// computes the same function as the Double oracle, up to its own rounding).
        var roundedToFloat32: Case {
            Case(spec: spec.roundedToFloat32(), x: x.map { Double(Float($0)) }, seed: seed.map { Double(Float($0)) })
        }

        private init(spec: NetworkSpec, x: [Double], seed: [Double]) {
            self.spec = spec
            naive = NaiveNetwork(spec)
            self.x = x
            self.seed = seed
        }
    }

    static let cases: [Case] = GraphNetworks.all.enumerated().map { Case($1, salt: UInt64($0)) }

    // MARK: Forward, gradient, gradient x input

    /// forward, Jᵀr (routes split by slice, adds copy to every operand, contributions to one
    /// output summed) and x ⊙ Jᵀr, float64 to 1e-12.
    @Test(arguments: cases.indices)
    func forwardAndGradientsMatchInFloat64(_ k: Int) throws {
        let c = Self.cases[k]
        let network = try c.spec.build(Double.self)
        let n = Self.batch, inCount = c.spec.inputCount
        try #require(network.layers.count == c.spec.layers.count, "\(c.spec): layer count")
        expectClosePerSample(try network.forward(c.x, batch: n), c.naive.forward(batch: c.x, inputCount: inCount),
                             size: c.outputCount, tolerance: 1e-12, "\(c.spec) forward")
        let gradient = c.naive.gradient(batch: c.x, seed: c.seed, inputCount: inCount)
        expectClosePerSample(try network.gradient(c.x, batch: n, outputRelevance: c.seed), gradient,
                             size: inCount, tolerance: 1e-12, "\(c.spec) gradient")
        expectClosePerSample(try network.gradientTimesInput(c.x, batch: n, outputRelevance: c.seed), NaiveLRP.times(c.x, gradient),
                             size: inCount, tolerance: 1e-12, "\(c.spec) gradient x input")
    }

    /// The same in float32 (parameters and inputs rounded to float32 for both sides).
    @Test(arguments: cases.indices)
    func forwardAndGradientsMatchInFloat32(_ k: Int) throws {
        let c = Self.cases[k].roundedToFloat32
        let network = try c.spec.build(Float.self)
        let n = Self.batch, inCount = c.spec.inputCount
        let x = c.x.converted(to: Float.self), seed = c.seed.converted(to: Float.self)
        expectClosePerSample(try network.forward(x, batch: n), c.naive.forward(batch: c.x, inputCount: inCount),
                             size: c.outputCount, tolerance: 1e-5, "\(c.spec) forward f32")
        let gradient = c.naive.gradient(batch: c.x, seed: c.seed, inputCount: inCount)
        expectClosePerSample(try network.gradient(x, batch: n, outputRelevance: seed), gradient,
                             size: inCount, tolerance: 1e-5, "\(c.spec) gradient f32")
        expectClosePerSample(try network.gradientTimesInput(x, batch: n, outputRelevance: seed), NaiveLRP.times(c.x, gradient),
                             size: inCount, tolerance: 1e-5, "\(c.spec) gradient x input f32")
    }

    // MARK: LRP

    /// The linear-layer rules run on graphs: every kind, with pools and adds on their default
    /// (norm, 1e-6).
    static let linearRules: [Rule] = [
        .epsilon(0, bias: .include), .epsilon(0.25, bias: .exclude), .zPlus(stabilizer: 1e-6, bias: .include),
        .alphaBeta(alpha: 2, beta: 1, stabilizer: 1e-6, bias: .include), .gamma(0.25, stabilizer: 1e-6, bias: .exclude),
        .wSquare(stabilizer: 1e-6, bias: .include), .flat(stabilizer: 1e-6),
        .zBox(low: .scalar(-1), high: .scalar(1), stabilizer: 1e-6, bias: .include),
    ]

    /// Every linear rule on every graph network, float64, to 1e-10 per sample.
    @Test(arguments: linearRules)
    func lrpMatchesInFloat64(_ rule: Rule) throws {
        for c in Self.cases {
            let network = try c.spec.build(Double.self)
            let rules = c.spec.uniformRules(rule)
            let expected = c.naive.lrp(batch: c.x, seed: c.seed, rules: rules, inputCount: c.spec.inputCount)
            expectClosePerSample(try network.lrp(c.spec, c.x, batch: Self.batch, seed: c.seed, rules: rules), expected,
                                 size: c.spec.inputCount, tolerance: 1e-10, "\(rule) on \(c.spec)")
        }
    }

    /// Well-conditioned rules in float32 (stabilised denominators), to 1e-4 per sample.
    @Test(arguments: [Rule.epsilon(0.25, bias: .include), .zPlus(stabilizer: 1e-6, bias: .include),
                      .alphaBeta(alpha: 2, beta: 1, stabilizer: 1e-6, bias: .exclude), .wSquare(stabilizer: 1e-6, bias: .include),
                      .flat(stabilizer: 1e-6)])
    func lrpMatchesInFloat32(_ rule: Rule) throws {
        for base in Self.cases {
            let c = base.roundedToFloat32
            let network = try c.spec.build(Float.self)
            let rules = c.spec.uniformRules(rule)
            let expected = c.naive.lrp(batch: c.x, seed: c.seed, rules: rules, inputCount: c.spec.inputCount)
            expectClosePerSample(try network.lrp(c.spec, c.x, batch: Self.batch, seed: c.seed, rules: rules), expected,
                                 size: c.spec.inputCount, tolerance: 1e-4, "\(rule) f32 on \(c.spec)")
        }
    }

    /// The pool rule of every average pool, adaptive pool and add, set explicitly: norm with the
    /// default and a large stabiliser, norm with none, flat with and without a stabiliser.
    static let poolRules: [Rule] = [.epsilon(1e-6), .epsilon(0.5), .epsilon(0), .flat(stabilizer: 1e-6), .flat(stabilizer: 0)]

    @Test(arguments: poolRules)
    func poolAndAddRulesMatchInFloat64(_ poolRule: Rule) throws {
        var covered = 0
        for c in Self.cases where !c.spec.poolRuleLayerIndices.isEmpty {
            let network = try c.spec.build(Double.self)
            for linear in [Rule.epsilon(1e-6), .zPlus()] {
                var rules = c.spec.uniformRules(linear)
                for layer in c.spec.poolRuleLayerIndices { rules[layer] = poolRule }
                let expected = c.naive.lrp(batch: c.x, seed: c.seed, rules: rules, inputCount: c.spec.inputCount)
                expectClosePerSample(try network.lrp(c.spec, c.x, batch: Self.batch, seed: c.seed, rules: rules), expected,
                                     size: c.spec.inputCount, tolerance: 1e-10, "pools \(poolRule), linear \(linear) on \(c.spec)")
            }
            covered += 1
        }
        #expect(covered >= 6, "only \(covered) networks have a pool or add")
    }

    /// One pool/add flat and the next norm on the same network: each layer uses its own rule.
    @Test func mixedPoolRulesApplyPerLayer() throws {
        for c in Self.cases where c.spec.poolRuleLayerIndices.count >= 2 {
            let network = try c.spec.build(Double.self)
            var rules = c.spec.uniformRules(.epsilon(1e-6))
            for (position, layer) in c.spec.poolRuleLayerIndices.enumerated() {
                rules[layer] = position % 2 == 0 ? .flat(stabilizer: 1e-6) : .epsilon(0.1)
            }
            let expected = c.naive.lrp(batch: c.x, seed: c.seed, rules: rules, inputCount: c.spec.inputCount)
            expectClosePerSample(try network.lrp(c.spec, c.x, batch: Self.batch, seed: c.seed, rules: rules), expected,
                                 size: c.spec.inputCount, tolerance: 1e-10, "mixed pool rules on \(c.spec)")
        }
    }

    @Test(arguments: [Rule.epsilon(1e-6), .flat(stabilizer: 1e-6)])
    func poolAndAddRulesMatchInFloat32(_ poolRule: Rule) throws {
        for base in Self.cases where !base.spec.poolRuleLayerIndices.isEmpty {
            let c = base.roundedToFloat32
            let network = try c.spec.build(Float.self)
            var rules = c.spec.uniformRules(.zPlus())
            for layer in c.spec.poolRuleLayerIndices { rules[layer] = poolRule }
            let expected = c.naive.lrp(batch: c.x, seed: c.seed, rules: rules, inputCount: c.spec.inputCount)
            expectClosePerSample(try network.lrp(c.spec, c.x, batch: Self.batch, seed: c.seed, rules: rules), expected,
                                 size: c.spec.inputCount, tolerance: 1e-4, "pools \(poolRule) f32 on \(c.spec)")
        }
    }

    /// Sixt & Landgraf's Theorem 2 holds on graphs too, with no oracle involved: LRP-0 (bias
    /// included) with norm(0) at every pool and add, seeded with r = f(x) ⊙ u, is x ⊙ Jᵀu, since every step —
    /// dense/conv, ReLU, max-pool, average and adaptive pools, adds, routes, and the sum over an
    /// output's readers — maps a ⊙ ∂ to a ⊙ ∂. Per sample to 1e-9, and the engine's own
    /// `gradientTimesInputDistance` is below 1e-9.
    @Test func lrpZeroIsGradientTimesInputOnGraphs() throws {
        for c in Self.cases {
            let network = try c.spec.build(Double.self)
            var rules = c.spec.uniformRules(.epsilon(0, bias: .include))
            for layer in c.spec.poolRuleLayerIndices { rules[layer] = .epsilon(0) }
            let set = try c.spec.ruleSet(rules, for: network)
            // r = f ⊙ u (an output that is 0, like a ReLU-off output of a route, gets no relevance),
            // so r ⊘ f = u where f ≠ 0.
            let f = try network.forward(c.x, batch: Self.batch)
            let seed = zip(c.seed, f).map { $0 * $1 }
            let normalised = zip(c.seed, f).map { u, f in f == 0 ? 0 : u }
            let expected = try network.gradientTimesInput(c.x, batch: Self.batch, outputRelevance: normalised)
            expectClosePerSample(try network.lrp(c.x, batch: Self.batch, outputRelevance: seed, rules: set), expected,
                                 size: c.spec.inputCount, tolerance: 1e-9, "\(c.spec): LRP-0 vs gradient x input")
            var distances = [Double](repeating: .nan, count: Self.batch)
            var span = distances.mutableSpan
            try network.gradientTimesInputDistance(input: c.x.span, batch: Self.batch, outputRelevance: seed.span, rules: set,
                                                   distances: &span)
            _ = consume span
            #expect(distances.allSatisfy { $0 <= 1e-9 }, "\(c.spec): distances \(distances)")
        }
    }

    /// The batch is not mixed up: each sample alone gives the rows of the batched call.
    @Test func batchedLRPEqualsOneSampleAtATime() throws {
        for c in Self.cases {
            let network = try c.spec.build(Double.self)
            let rules = c.spec.uniformRules(.zPlus())
            let all = try network.lrp(c.spec, c.x, batch: Self.batch, seed: c.seed, rules: rules)
            let inCount = c.spec.inputCount, out = c.outputCount
            for n in 0..<Self.batch {
                let one = try network.lrp(c.spec, c.x.row(n, size: inCount), batch: 1, seed: c.seed.row(n, size: out), rules: rules)
                expectClose(one, all.row(n, size: inCount), samples: 1, tolerance: 1e-13, "\(c.spec) sample \(n)")
            }
        }
    }

    /// A batch of 24 (large enough for the kernels to split work across threads) on the wide
    /// residual/concat net and the seeded DenseNet: gradient and z+ LRP equal the oracle, float64
    /// (1e-10) and float32 (1e-4).
    @Test(arguments: [GraphNetworks.wideResidual, RandomNetworks.graphs[1]])
    func largeBatchesMatchTheOracle(_ spec: NetworkSpec) throws {
        let batch = 24
        let x = RandomNetworks.inputs(spec, batch: batch, seed: 5300)
        let outputCount = spec.activationShapes.last.map { $0.reduce(1, *) } ?? 0
        let seed = RandomNetworks.seeds(batch * outputCount, seed: 5301)
        let naive = NaiveNetwork(spec)
        let rules = spec.uniformRules(.zPlus())
        let expected = naive.lrp(batch: x, seed: seed, rules: rules, inputCount: spec.inputCount)
        let double = try spec.build(Double.self)
        expectClosePerSample(try double.lrp(spec, x, batch: batch, seed: seed, rules: rules), expected, size: spec.inputCount,
                             tolerance: 1e-10, "\(spec) batch \(batch)")
        expectClosePerSample(try double.gradient(x, batch: batch, outputRelevance: seed),
                             naive.gradient(batch: x, seed: seed, inputCount: spec.inputCount), size: spec.inputCount,
                             tolerance: 1e-11, "\(spec) gradient batch \(batch)")
        let rounded = spec.roundedToFloat32()
        let x32 = x.map { Double(Float($0)) }, seed32 = seed.map { Double(Float($0)) }
        let single = try rounded.build(Float.self)
        expectClosePerSample(try single.lrp(rounded, x32, batch: batch, seed: seed32, rules: rules),
                             NaiveNetwork(rounded).lrp(batch: x32, seed: seed32, rules: rules, inputCount: spec.inputCount),
                             size: spec.inputCount, tolerance: 1e-4, "\(spec) f32 batch \(batch)")
    }

    /// A rule other than epsilon or flat on a pool or add is refused naming the layer.
    @Test func poolAndAddLayersRefuseOtherRules() throws {
        for c in Self.cases {
            let network = try c.spec.build(Double.self)
            for layer in c.spec.poolRuleLayerIndices {
                var set = try RuleSet(for: network)
                expectDTDError(.rule, mentioning: ["layer \(layer)"]) { try set.set(.zPlus(), layer: layer, in: network) }
                #expect(set.poolRule(at: layer) == .standard, "\(c.spec) layer \(layer): the set is unchanged")
            }
        }
    }

    // MARK: Ledger

    /// Conservation on graphs: per sample, the seed's total is the input relevance plus what every
    /// layer absorbed (bias, stabiliser) or dropped, summed over all layers (1e-10 of the largest
    /// part); every entry balances and names its layer; the relevance each layer's entry says
    /// arrived at its output is the naive relevance there (summed over readers, 1e-10).
    @Test(arguments: [Rule.epsilon(1e-6), .epsilon(0.25, bias: .include), .zPlus(), .alphaBeta(alpha: 2, beta: 1),
                      .gamma(0.25, stabilizer: 0, bias: .exclude)])
    func ledgerConservesOnGraphs(_ rule: Rule) throws {
        for c in Self.cases {
            for poolRule in [Rule?.none, .epsilon(0.5), .flat(stabilizer: 0.25)] {
                let network = try c.spec.build(Double.self)
                var rules = c.spec.uniformRules(rule)
                if let poolRule { for layer in c.spec.poolRuleLayerIndices { rules[layer] = poolRule } }
                let what = "\(rule), pools \(poolRule.map { "\($0)" } ?? "default") on \(c.spec)"
                let (relevance, ledger) = try network.lrpWithLedger(c.x, batch: Self.batch, outputRelevance: c.seed,
                                                                    rules: c.spec.ruleSet(rules, for: network))
                let layers = c.spec.layers.count, inCount = c.spec.inputCount
                try #require(ledger.count == Self.batch * layers, "\(what): ledger size")
                for n in 0..<Self.batch {
                    let entries = Array(ledger[(n * layers)..<((n + 1) * layers)])
                    let xn = c.x.row(n, size: inCount), seedN = c.seed.row(n, size: c.outputCount)
                    let naive = c.naive.relevances(xn, seed: seedN, rules: rules)
                    var parts = [seedN.total, relevance.row(n, size: inCount).total]
                    var absorbed = 0.0
                    for (l, e) in entries.enumerated() {
                        #expect(e.layer == l, "\(what): entry \(l) names layer \(e.layer)")
                        #expect(LedgerTests.imbalance(e) <= 1e-10, "\(what) sample \(n) layer \(l): \(e)")
                        let arriving = naive[l]?.total ?? .nan
                        expectClose(e.relevanceOut, arriving, tolerance: 1e-10, "\(what) sample \(n): relevance at layer \(l)'s output")
                        absorbed += e.absorbedBias + e.absorbedStabilizer + e.dropped
                        parts += [e.absorbedBias, e.absorbedStabilizer, e.dropped]
                    }
                    let scale = parts.map(abs).max() ?? 0
                    let residual = seedN.total - (relevance.row(n, size: inCount).total + absorbed)
                    #expect(abs(residual) <= 1e-10 * max(scale, 1e-300),
                            "\(what) sample \(n): seed \(seedN.total) != input \(relevance.row(n, size: inCount).total) + absorbed \(absorbed)")
                    expectClose(entries[layers - 1].relevanceOut, seedN.total, tolerance: 1e-12, "\(what): top entry gets the seed")
                }
            }
        }
    }

    /// The add's entry by hand from the oracle: with norm(ε), relevance_in = Σ_k Σ_j x_k,j s_j and
    /// the stabiliser takes Σ_j s_j (stab(z_j) − z_j), s = R / stab(z), z the sum; with flat(ε),
    /// relevance_in = n ΣR / (n + ε) (n operands) and the rest shows as dropped, nothing absorbed.
    @Test func addEntriesBookTheirStabiliserByHand() throws {
        for c in Self.cases {
            let adds = c.spec.layers.indices.filter { if case .add = c.spec.layers[$0] { true } else { false } }
            guard !adds.isEmpty else { continue }
            let network = try c.spec.build(Double.self)
            for poolRule in [Rule.epsilon(0.5), .flat(stabilizer: 0.5)] {
                var rules = c.spec.uniformRules(.zPlus())
                for layer in c.spec.poolRuleLayerIndices { rules[layer] = poolRule }
                let (_, ledger) = try network.lrpWithLedger(c.x, batch: Self.batch, outputRelevance: c.seed,
                                                            rules: c.spec.ruleSet(rules, for: network))
                let layers = c.spec.layers.count
                for n in 0..<Self.batch {
                    let xn = c.x.row(n, size: c.spec.inputCount)
                    let acts = c.naive.activations(xn)
                    let naive = c.naive.relevances(xn, seed: c.seed.row(n, size: c.outputCount), rules: rules)
                    for add in adds {
                        let r = naive[add] ?? [], z = acts[add + 1], operands = c.spec.operands(of: add)
                        let e = ledger[n * layers + add]
                        let what = "\(c.spec) sample \(n) add \(add) \(poolRule)"
                        switch poolRule {
                        case .epsilon(let eps, _):
                            let s = NaiveLRP.shares(r, z, eps)
                            let passed = operands.reduce(0.0) { $0 + NaiveLRP.times(acts[$1 + 1], s).total }
                            let stabiliser = zip(s, z).reduce(0.0) { $0 + $1.0 * (NaiveLRP.stab($1.1, eps) - $1.1) }
                            expectClose(e.relevanceIn, passed, tolerance: 1e-10, "\(what): in")
                            expectClose(e.absorbedStabilizer, stabiliser, tolerance: 1e-10, "\(what): stabiliser")
                            #expect(abs(e.dropped) <= 1e-10 * max(1, abs(r.total)), "\(what): dropped \(e.dropped)")
                        default:
                            let count = Double(operands.count)
                            expectClose(e.relevanceIn, count * r.total / (count + 0.5), tolerance: 1e-10, "\(what): in")
                            // What the stabiliser keeps back is absorbed, as for the norm rule; nothing is dropped.
                            #expect(e.absorbedBias == 0, "\(what): \(e)")
                            expectClose(e.absorbedStabilizer, r.total * 0.5 / (count + 0.5), tolerance: 1e-10, "\(what): stabiliser")
                            #expect(abs(e.dropped) <= 1e-10 * max(1, abs(r.total)), "\(what): dropped \(e.dropped)")
                        }
                    }
                }
            }
        }
    }
}
