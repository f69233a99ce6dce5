import Testing
@testable import DTDCore

/// Seeded random layer DAGs against the naive oracle: each network is drawn layer by layer —
/// dense/conv (some with a folded batch norm), ReLU, identity, side branches, concatenations and
/// adds of 1-3 random earlier outputs of the right shape (the input and repeats included), pools
/// that keep the size — so values stay alive across many layers, several readers share one
/// output and dead branches appear: the buffer bookkeeping of the backward passes is exercised
/// far beyond the hand-built cases.
@Suite("Random DAGs against the naive oracle (GraphOracleTests)")
struct RandomDAGGraphOracleTests {
    /// A random flat DAG: widths from {3, 4} so adds find partners.
    static func flatDAG(seed: UInt64) -> NetworkSpec {
        var rng = SplitMix64(seed: seed)
        var b = RandomNetworkBuilder(name: "random flat DAG \(seed)", inputShape: [4], seed: seed &+ 1000)
        for _ in 0..<(10 + Int(rng.next() % 6)) {
            b = step(b, &rng, image: false)
        }
        return b.dense(3).spec
    }

    /// A random image DAG at 4x4 (every layer keeps the size, so routes can concatenate).
    static func imageDAG(seed: UInt64) -> NetworkSpec {
        var rng = SplitMix64(seed: seed)
        var b = RandomNetworkBuilder(name: "random image DAG \(seed)", inputShape: [2, 4, 4], seed: seed &+ 2000)
        for _ in 0..<(8 + Int(rng.next() % 5)) {
            b = step(b, &rng, image: true)
        }
        return b.adaptiveAvgPool((2, 3)).flatten().dense(3).spec
    }

    /// Earlier outputs (-1: the input) whose shape is `shape`, excluding folded dense/conv layers
    /// (a batch norm follows them).
    static func candidates(_ b: RandomNetworkBuilder, shape: [Int]) -> [Int] {
        (-1..<b.next).filter { index in
            if index + 1 < b.next, case .batchNorm = b.spec.layers[index + 1] { return false }
            return b.shape(of: index) == shape
        }
    }

    static func step(_ b: RandomNetworkBuilder, _ rng: inout SplitMix64, image: Bool) -> RandomNetworkBuilder {
        let choice = rng.next() % 10
        let current = b.shape
        switch choice {
        case 0, 1, 2:
            let out = image ? 2 + Int(rng.next() % 2) : 3 + Int(rng.next() % 2)
            let bias: BiasSigns = [.mixed, .positive, .none][Int(rng.next() % 3)]
            var next = image ? b.conv(out, kernel: (3, 3), padding: (1, 1), bias: bias) : b.dense(out, bias: bias)
            if rng.next() % 3 == 0 { next = next.batchNorm() }
            return next.relu()
        case 3, 4:
            // An add of 1-3 operands of the current shape.
            let pool = candidates(b, shape: current)
            guard !pool.isEmpty else { return b.relu() }
            let count = 1 + Int(rng.next() % 3)
            return b.add((0..<count).map { _ in pool[Int(rng.next() % UInt64(pool.count))] })
        case 5:
            // A side branch from any earlier output (possibly leaving the current one dead).
            let pool = (-1..<b.next).filter { index in
                !(index + 1 < b.next && { if case .batchNorm = b.spec.layers[index + 1] { true } else { false } }())
                    && (image ? b.shape(of: index).count == 3 : true)
            }
            return b.route([pool[Int(rng.next() % UInt64(pool.count))]])
        case 6:
            guard image else { return b.identity() }
            // A concatenation of 2-3 earlier image outputs.
            let pool = (-1..<b.next).filter { index in
                !(index + 1 < b.next && { if case .batchNorm = b.spec.layers[index + 1] { true } else { false } }())
                    && b.shape(of: index).count == 3
            }
            let count = 2 + Int(rng.next() % 2)
            let sources = (0..<count).map { _ in pool[Int(rng.next() % UInt64(pool.count))] }
            // Keep the channel count small.
            return sources.map { b.shape(of: $0)[0] }.reduce(0, +) <= 9 ? b.route(sources) : b.route([sources[0]])
        case 7:
            guard image else { return b.relu() }
            switch rng.next() % 3 {
            case 0: return b.avgPool((3, 3), stride: (1, 1), padding: (1, 1), countIncludePad: rng.next() % 2 == 0)
            case 1: return b.maxPool((3, 3), stride: (1, 1), padding: (1, 1))
            default: return b.adaptiveAvgPool((4, 4))
            }
        case 8:
            return b.identity()
        default:
            return b.relu()
        }
    }

    static let specs: [NetworkSpec] = (0..<12).map { flatDAG(seed: 9000 + UInt64($0)) }
        + (0..<12).map { imageDAG(seed: 9500 + UInt64($0)) }

    /// The draws really are graphs: most read something other than their predecessor, and
    /// several have a layer output read more than once.
    @Test func theDrawsAreGraphs() {
        let graphs = Self.specs.filter { spec in spec.layers.indices.contains { spec.operands(of: $0) != [$0 - 1] } }
        let shared = Self.specs.filter { spec in
            let reads = spec.layers.indices.flatMap { spec.operands(of: $0) }
            return Set(reads).count < reads.count
        }
        #expect(graphs.count >= 20 && shared.count >= 12, "\(graphs.count) graphs, \(shared.count) with shared outputs")
    }

    /// Forward, gradient, LRP (z+ with norm pools and adds; epsilon with flat ones) and the
    /// relevance recorded at every layer, float64, per sample to 1e-10.
    @Test(arguments: specs.indices)
    func randomDAGsMatchTheOracle(_ k: Int) throws {
        let spec = Self.specs[k]
        let network = try spec.build(Double.self)
        try #require(network.layers.count == spec.layers.count)
        let c = GraphOracleTests.Case(spec, salt: 900 + UInt64(k))
        let batch = GraphOracleTests.batch, inCount = spec.inputCount
        expectClosePerSample(try network.forward(c.x, batch: batch), c.naive.forward(batch: c.x, inputCount: inCount),
                             size: c.outputCount, tolerance: 1e-12, "\(spec) forward")
        expectClosePerSample(try network.gradient(c.x, batch: batch, outputRelevance: c.seed),
                             c.naive.gradient(batch: c.x, seed: c.seed, inputCount: inCount), size: inCount, tolerance: 1e-11,
                             "\(spec) gradient")
        for (linear, pool) in [(Rule.zPlus(), Rule?.none), (.epsilon(0.1), .flat(stabilizer: 1e-6))] {
            var rules = spec.uniformRules(linear)
            if let pool { for layer in spec.poolRuleLayerIndices { rules[layer] = pool } }
            let all = Array(spec.layers.indices)
            let (relevance, recorded) = try network.lrp(c.x, batch: batch, outputRelevance: c.seed,
                                                        rules: spec.ruleSet(rules, for: network), record: all)
            var input: [Double] = [], layers: [Int: [Double]] = [:]
            for n in 0..<batch {
                let values = c.naive.relevances(c.x.row(n, size: inCount), seed: c.seed.row(n, size: c.outputCount), rules: rules)
                input += values[-1] ?? []
                for l in all { layers[l, default: []] += values[l] ?? [] }
            }
            let what = "\(spec) \(linear)"
            expectClosePerSample(relevance, input, size: inCount, tolerance: 1e-10, "\(what) input relevance")
            for l in all {
                let want = layers[l] ?? []
                let size = spec.activationShapes[l + 1].reduce(1, *)
                if want.allSatisfy({ $0 == 0 }) {
                    #expect((recorded[l] ?? [.nan]).allSatisfy { $0 == 0 }, "\(what) layer \(l): relevance where none arrives")
                } else {
                    expectClosePerSample(recorded[l] ?? [], want, size: size, tolerance: 1e-10, "\(what) layer \(l)")
                }
            }
        }
    }

    /// Random element masks on three random layers of each draw: input relevance and every
    /// recorded layer equal the oracle's masked pass (1e-10 per sample).
    @Test(arguments: specs.indices)
    func randomDAGsMatchTheMaskedOracle(_ k: Int) throws {
        let spec = Self.specs[k]
        let network = try spec.build(Double.self)
        let c = GraphOracleTests.Case(spec, salt: 950 + UInt64(k))
        let batch = GraphOracleTests.batch, inCount = spec.inputCount
        var rng = SplitMix64(seed: 9900 + UInt64(k))
        var masks: [RelevanceMask] = [], flags: [Int: [Bool]] = [:]
        for _ in 0..<3 {
            let layer = Int(rng.next() % UInt64(spec.layers.count))
            guard flags[layer] == nil else { continue }
            let keep = (0..<spec.activationShapes[layer + 1].reduce(1, *)).map { _ in rng.next() % 3 != 0 }
            masks.append(RelevanceMask(layer: layer, keep: keep))
            flags[layer] = keep
        }
        let rules = spec.uniformRules(.zPlus())
        let all = Array(spec.layers.indices)
        let (relevance, recorded) = try network.lrp(c.x, batch: batch, outputRelevance: c.seed,
                                                    rules: spec.ruleSet(rules, for: network), record: all, masks: masks)
        var input: [Double] = [], layers: [Int: [Double]] = [:]
        for n in 0..<batch {
            let values = c.naive.relevances(c.x.row(n, size: inCount), seed: c.seed.row(n, size: c.outputCount), rules: rules,
                                            masks: flags)
            input += values[-1] ?? []
            for l in all { layers[l, default: []] += values[l] ?? [] }
        }
        let what = "\(spec) masks on \(flags.keys.sorted())"
        if input.allSatisfy({ $0 == 0 }) {
            #expect(relevance.allSatisfy { $0 == 0 }, "\(what): input relevance")
        } else {
            expectClosePerSample(relevance, input, size: inCount, tolerance: 1e-10, "\(what): input relevance")
        }
        for l in all {
            let want = layers[l] ?? []
            if want.allSatisfy({ $0 == 0 }) {
                #expect((recorded[l] ?? [.nan]).allSatisfy { $0 == 0 }, "\(what) layer \(l): relevance where none arrives")
            } else {
                expectClosePerSample(recorded[l] ?? [], want, size: spec.activationShapes[l + 1].reduce(1, *), tolerance: 1e-10,
                                     "\(what) layer \(l)")
            }
        }
    }

    /// The same draws in float32: forward and z+ LRP to 1e-4 per sample.
    @Test func randomDAGsMatchTheOracleInFloat32() throws {
        for (k, base) in Self.specs.enumerated() {
            let c = GraphOracleTests.Case(base, salt: 900 + UInt64(k)).roundedToFloat32
            let network = try c.spec.build(Float.self)
            let batch = GraphOracleTests.batch, inCount = c.spec.inputCount
            expectClosePerSample(try network.forward(c.x.converted(to: Float.self), batch: batch),
                                 c.naive.forward(batch: c.x, inputCount: inCount), size: c.outputCount, tolerance: 1e-5, "\(c.spec) forward f32")
            let rules = c.spec.uniformRules(.zPlus())
            expectClosePerSample(try network.lrp(c.spec, c.x, batch: batch, seed: c.seed, rules: rules),
                                 c.naive.lrp(batch: c.x, seed: c.seed, rules: rules, inputCount: inCount),
                                 size: inCount, tolerance: 1e-4, "\(c.spec) z+ f32")
        }
    }
}
