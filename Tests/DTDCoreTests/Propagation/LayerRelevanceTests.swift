import Testing
@testable import DTDCore

/// Relevance at hidden layers and relevance masks (`lrp(record:masks:)`, issue 10 item 3): the
/// relevance recorded at a layer's output is what the naive oracle has arriving there (summed
/// over every reader of that output, after the layer's mask), on chains and on graph networks.
@Suite("Relevance at layers and masks")
struct LayerRelevanceTests {
    typealias Case = GraphOracleTests.Case
    static let batch = GraphOracleTests.batch

    /// Graph networks plus two chains (an MLP and a CNN with average pooling).
    static let cases: [Case] = (GraphNetworks.all + [RandomNetworks.mlps[0], RandomNetworks.cnns[1]])
        .enumerated().map { Case($1, salt: 40 + UInt64($0)) }

    static func rules(_ spec: NetworkSpec) -> [Int: Rule] {
        var rules = spec.uniformRules(.zPlus())
        if let last = spec.linearLayerIndices.last { rules[last] = .epsilon(0.25) }
        return rules
    }

    /// The oracle's relevance at the output of every layer, `(batch, size)` per layer.
    static func naiveRecords(_ c: Case, rules: [Int: Rule], masks: [Int: [Bool]] = [:]) -> (input: [Double], layers: [Int: [Double]]) {
        var input: [Double] = [], layers: [Int: [Double]] = [:]
        for n in 0..<batch {
            let values = c.naive.relevances(c.x.row(n, size: c.spec.inputCount), seed: c.seed.row(n, size: c.outputCount),
                                            rules: rules, masks: masks)
            input += values[-1] ?? []
            for l in c.spec.layers.indices { layers[l, default: []] += values[l] ?? [] }
        }
        return (input, layers)
    }

    /// Size of one sample of layer `l`'s output.
    static func size(_ c: Case, _ l: Int) -> Int { c.spec.activationShapes[l + 1].reduce(1, *) }

    // MARK: Records

    /// Recording every layer: each block is the oracle's relevance at that layer's output, per
    /// sample to 1e-10 (dead branches get exactly 0, the output layer the seed), and the input
    /// relevance is unchanged by recording.
    @Test(arguments: cases.indices)
    func recordsMatchTheOracleAtEveryLayer(_ k: Int) throws {
        let c = Self.cases[k]
        let network = try c.spec.build(Double.self)
        let rules = Self.rules(c.spec)
        let set = try c.spec.ruleSet(rules, for: network)
        let all = Array(c.spec.layers.indices)
        let (relevance, recorded) = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set, record: all)
        #expect(relevance == (try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set)), "\(c.spec): recording changed the result")
        let expected = Self.naiveRecords(c, rules: rules)
        expectClosePerSample(relevance, expected.input, size: c.spec.inputCount, tolerance: 1e-10, "\(c.spec) input")
        #expect(Set(recorded.keys) == Set(all), "\(c.spec): recorded layers \(recorded.keys.sorted())")
        for l in all {
            let block = try #require(recorded[l], "\(c.spec): layer \(l) not recorded")
            let want = expected.layers[l] ?? []
            if want.allSatisfy({ $0 == 0 }) {
                #expect(block.allSatisfy { $0 == 0 }, "\(c.spec) layer \(l): relevance \(block.prefix(6)) where none arrives")
            } else {
                expectClosePerSample(block, want, size: Self.size(c, l), tolerance: 1e-10, "\(c.spec) layer \(l)")
            }
        }
        expectClose(recorded[c.spec.layers.count - 1] ?? [], c.seed, samples: Self.batch, tolerance: 0, "\(c.spec): the output layer records the seed")
    }

    /// The same in float32, to 1e-4 per sample (stabilised rules).
    @Test func recordsMatchTheOracleInFloat32() throws {
        for base in Self.cases {
            let c = base.roundedToFloat32
            let network = try c.spec.build(Float.self)
            var rules = c.spec.uniformRules(.zPlus(stabilizer: 1e-6))
            if let last = c.spec.linearLayerIndices.last { rules[last] = .epsilon(0.25) }
            let all = Array(c.spec.layers.indices)
            let (_, recorded) = try network.lrp(c.x.converted(to: Float.self), batch: Self.batch,
                                                outputRelevance: c.seed.converted(to: Float.self),
                                                rules: c.spec.ruleSet(rules, for: network), record: all)
            let expected = Self.naiveRecords(c, rules: rules)
            for l in all where !(expected.layers[l] ?? []).allSatisfy({ $0 == 0 }) {
                expectClosePerSample(recorded[l] ?? [], expected.layers[l] ?? [], size: Self.size(c, l), tolerance: 1e-4,
                                     "\(c.spec) f32 layer \(l)")
            }
        }
    }

    /// The span API writes one block per entry of `record`, in the order given, repeats included.
    @Test func spanRecordsFollowTheOrderGivenWithRepeats() throws {
        let c = Self.cases[0]
        let network = try c.spec.build(Double.self)
        let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
        let last = c.spec.layers.count - 1, middle = c.spec.layers.count / 2
        let record = [last, 0, middle, 0]
        let (_, byLayer) = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set, record: record)
        let sizes = record.map { Self.batch * Self.size(c, $0) }
        var blocks = [Double](repeating: .nan, count: sizes.reduce(0, +))
        var result = [Double](repeating: .nan, count: Self.batch * c.spec.inputCount)
        var resultSpan = result.mutableSpan, blocksSpan = blocks.mutableSpan
        try network.lrp(input: c.x.span, batch: Self.batch, outputRelevance: c.seed.span, rules: set, result: &resultSpan,
                        record: record, recorded: &blocksSpan, masks: [])
        _ = consume resultSpan
        _ = consume blocksSpan
        var offset = 0
        for (layer, size) in zip(record, sizes) {
            #expect(Array(blocks[offset..<(offset + size)]) == byLayer[layer], "block of layer \(layer) at \(offset)")
            offset += size
        }
    }

    /// The recording call with a ledger writes the plain call's ledger and result (no masks, or
    /// masks that keep everything).
    @Test(arguments: cases.indices)
    func theRecordingCallsLedgerIsThePlainLedger(_ k: Int) throws {
        let c = Self.cases[k]
        let network = try c.spec.build(Double.self)
        let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
        let plain = try network.lrpWithLedger(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set)
        let record = [c.spec.layers.count - 1, 0]
        let keepAll = [RelevanceMask(layer: 0, keep: [Bool](repeating: true, count: Self.size(c, 0)))]
        for masks in [[], keepAll] {
            var result = [Double](repeating: .nan, count: Self.batch * c.spec.inputCount)
            var ledger = [LedgerEntry](repeating: LedgerEntry(layer: -7), count: Self.batch * c.spec.layers.count)
            var blocks = [Double](repeating: .nan, count: Self.batch * record.map { Self.size(c, $0) }.reduce(0, +))
            var resultSpan = result.mutableSpan, ledgerSpan = ledger.mutableSpan, blocksSpan = blocks.mutableSpan
            try network.lrp(input: c.x.span, batch: Self.batch, outputRelevance: c.seed.span, rules: set, result: &resultSpan,
                            ledger: &ledgerSpan, record: record, recorded: &blocksSpan, masks: masks)
            _ = consume resultSpan
            _ = consume ledgerSpan
            _ = consume blocksSpan
            #expect(result == plain.relevance, "\(c.spec) masks \(masks.count): result")
            #expect(ledger == plain.ledger, "\(c.spec) masks \(masks.count): ledger")
            #expect(Array(blocks.prefix(c.seed.count)) == c.seed, "\(c.spec): the output layer's block is the seed")
        }
    }

    /// One shared network and rule set serve concurrent recording, masked calls (the header's
    /// "safe on a shared, fully built network and rule set"): each equals the same call made alone.
    @Test func concurrentRecordingCallsOnASharedGraphEqualSequentialOnes() async throws {
        let c = Self.cases[0]
        let network = try c.spec.build(Double.self)
        let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
        let all = Array(c.spec.layers.indices)
        let inputs = (0..<8).map { RandomNetworks.inputs(c.spec, batch: 2, seed: 6100 + UInt64($0)) }
        let seeds = (0..<8).map { RandomNetworks.seeds(2 * c.outputCount, seed: 6200 + UInt64($0)) }
        let masks = [try RelevanceMask(layer: 4, keepingChannels: [1, 2], of: 4)]
        var alone: [([Double], [Int: [Double]])] = []
        for i in 0..<8 {
            let r = try network.lrp(inputs[i], batch: 2, outputRelevance: seeds[i], rules: set, record: all, masks: i % 2 == 0 ? masks : [])
            alone.append((r.relevance, r.recorded))
        }
        let together = try await withThrowingTaskGroup(of: (Int, [Double], [Int: [Double]]).self) { group in
            for round in 0..<3 {
                for i in 0..<8 {
                    group.addTask {
                        let r = try network.lrp(inputs[i], batch: 2, outputRelevance: seeds[i], rules: set, record: all,
                                                masks: i % 2 == 0 ? masks : [])
                        return (i + 8 * round, r.relevance, r.recorded)
                    }
                }
            }
            var results: [(Int, [Double], [Int: [Double]])] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(together.count == 24)
        for (index, relevance, recorded) in together {
            #expect(relevance == alone[index % 8].0 && recorded == alone[index % 8].1, "call \(index) differs from the call made alone")
        }
    }

    // MARK: Masks

    /// Element flags of a mask keeping channels `keep(c)` of an output of `shape` (one flag per
    /// element for flat outputs), written out here rather than by the engine.
    static func elementFlags(_ shape: [Int], keep: (Int) -> Bool) -> [Bool] {
        let count = shape.reduce(1, *)
        let plane = shape.count == 3 ? shape[1] * shape[2] : 1
        return (0..<count).map { keep($0 / plane) }
    }

    /// A mask keeping everything — per element and, for images, per channel — on every layer at
    /// once changes neither the input relevance nor any recorded relevance (bit for bit).
    @Test(arguments: cases.indices)
    func aMaskKeepingEverythingChangesNothing(_ k: Int) throws {
        let c = Self.cases[k]
        let network = try c.spec.build(Double.self)
        let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
        let all = Array(c.spec.layers.indices)
        let plain = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set, record: all)
        for perChannel in [false, true] {
            let masks = all.map { l -> RelevanceMask in
                let shape = c.spec.activationShapes[l + 1]
                let count = perChannel && shape.count == 3 ? shape[0] : shape.reduce(1, *)
                return RelevanceMask(layer: l, keep: [Bool](repeating: true, count: count))
            }
            let masked = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set, record: all, masks: masks)
            #expect(masked.relevance == plain.relevance, "\(c.spec) per channel \(perChannel): input relevance changed")
            #expect(masked.recorded == plain.recorded, "\(c.spec) per channel \(perChannel): recorded relevance changed")
        }
    }

    /// Masks on several layers at once — every other channel of image outputs, a seeded half of
    /// the elements of flat ones, on layers read by several readers and on the output — give the
    /// oracle's masked pass, at the input and at every layer (1e-10 per sample).
    @Test(arguments: cases.indices)
    func maskedRunsMatchTheMaskedOracle(_ k: Int) throws {
        let c = Self.cases[k]
        let network = try c.spec.build(Double.self)
        let rules = Self.rules(c.spec)
        let set = try c.spec.ruleSet(rules, for: network)
        var rng = SplitMix64(seed: 6000 + UInt64(k))
        var masks: [RelevanceMask] = [], flags: [Int: [Bool]] = [:]
        let readers = Dictionary(grouping: c.spec.layers.indices.flatMap { i in c.spec.operands(of: i).map { ($0, i) } }, by: { $0.0 })
        let multiRead = c.spec.layers.indices.filter { (readers[$0]?.count ?? 0) > 1 }
        let chosen = Set([c.spec.layers.count - 1, c.spec.layers.count / 2] + multiRead.prefix(2))
        for l in chosen.sorted() {
            let shape = c.spec.activationShapes[l + 1]
            if shape.count == 3 {
                let offset = Int(rng.next() % 2)
                masks.append(try RelevanceMask(layer: l, keepingChannels: Array(stride(from: offset, to: shape[0], by: 2)), of: shape[0]))
                flags[l] = Self.elementFlags(shape) { ($0 + offset) % 2 == 0 }
            } else {
                let keep = (0..<shape[0]).map { _ in rng.next() % 2 == 0 }
                masks.append(RelevanceMask(layer: l, keep: keep))
                flags[l] = keep
            }
        }
        let all = Array(c.spec.layers.indices)
        let (relevance, recorded) = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set,
                                                    record: all, masks: masks)
        let expected = Self.naiveRecords(c, rules: rules, masks: flags)
        let what = "\(c.spec) masks on \(chosen.sorted())"
        if expected.input.allSatisfy({ $0 == 0 }) {
            #expect(relevance.allSatisfy { $0 == 0 }, "\(what): input")
        } else {
            expectClosePerSample(relevance, expected.input, size: c.spec.inputCount, tolerance: 1e-10, "\(what): input")
        }
        for l in all {
            let want = expected.layers[l] ?? []
            if want.allSatisfy({ $0 == 0 }) {
                #expect((recorded[l] ?? []).allSatisfy { $0 == 0 }, "\(what): layer \(l) should be 0")
            } else {
                expectClosePerSample(recorded[l] ?? [], want, size: Self.size(c, l), tolerance: 1e-10, "\(what): layer \(l)")
            }
        }
        // The masked pass differs from the plain one somewhere (the masks did something).
        let plain = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set)
        #expect(plain != relevance || plain.allSatisfy { $0 == 0 }, "\(what): the masks changed nothing")
    }

    /// Masking away everything at the output, or at a layer every path goes through, leaves no
    /// relevance below it.
    @Test func aMaskDroppingEverythingLeavesNothingBelow() throws {
        for c in Self.cases {
            let network = try c.spec.build(Double.self)
            let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
            let last = c.spec.layers.count - 1
            let none = RelevanceMask(layer: last, keep: [Bool](repeating: false, count: Self.size(c, last)))
            let (relevance, recorded) = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set,
                                                        record: [last], masks: [none])
            #expect(relevance.allSatisfy { $0 == 0 }, "\(c.spec): relevance below an all-false output mask")
            #expect((recorded[last] ?? [.nan]).allSatisfy { $0 == 0 }, "\(c.spec): the output's recorded relevance is masked")
        }
    }

    // MARK: Bad records and masks

    /// Records and masks outside the network, masks of the wrong length, two masks for one layer
    /// and a short `recorded` buffer throw the documented error naming the argument and layer.
    @Test func badRecordsAndMasksAreRefusedNamingTheLayer() throws {
        let c = Self.cases[0]  // the seeded ResNet: images, flat layers, routes and adds
        let network = try c.spec.build(Double.self)
        let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
        let count = c.spec.layers.count
        func run(record: [Int] = [], masks: [RelevanceMask] = []) throws {
            _ = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set, record: record, masks: masks)
        }
        expectDTDError(.layerIndex, mentioning: ["record", "\(count)"]) { try run(record: [0, count]) }
        expectDTDError(.layerIndex, mentioning: ["record", "-1"]) { try run(record: [-1]) }
        expectDTDError(.layerIndex, mentioning: ["masks[0].layer", "\(count + 3)"]) {
            try run(masks: [RelevanceMask(layer: count + 3, keep: [true])])
        }
        expectDTDError(.layerIndex, mentioning: ["masks[1].layer", "-2"]) {
            try run(masks: [RelevanceMask(layer: 0, keep: [true, true, true, true]), RelevanceMask(layer: -2, keep: [true])])
        }
        // Layer 0 is a conv with 4 channels of 8x8: 4 or 256 flags, not 5.
        let conv = 0, shape = c.spec.activationShapes[conv + 1]
        try #require(shape == [4, 8, 8], "\(c.spec): layer 0 is \(shape)")
        expectDTDError(.shapeMismatch, mentioning: ["layer \(conv)", "5 flags"]) {
            try run(masks: [RelevanceMask(layer: conv, keep: [Bool](repeating: true, count: 5))])
        }
        expectDTDError(.shapeMismatch, mentioning: ["layer \(conv)", "3 flags"]) {
            try run(masks: [RelevanceMask(layer: conv, keepingChannels: [0, 1], of: 3)])
        }
        // A flat layer takes one flag per element only.
        let flat = try #require(c.spec.layers.indices.last { c.spec.activationShapes[$0 + 1].count == 1 })
        let flatCount = Self.size(c, flat)
        expectDTDError(.shapeMismatch, mentioning: ["layer \(flat)", "\(flatCount + 1) flags"]) {
            try run(masks: [RelevanceMask(layer: flat, keep: [Bool](repeating: true, count: flatCount + 1))])
        }
        expectDTDError(.invalidArgument, mentioning: ["masks[1]", "layer \(conv)"]) {
            try run(masks: [RelevanceMask(layer: conv, keepingChannels: [0], of: 4), RelevanceMask(layer: conv, keepingChannels: [1], of: 4)])
        }
        // The span API: a recorded buffer one value short.
        let needed = Self.batch * (Self.size(c, conv) + Self.size(c, flat))
        var blocks = [Double](repeating: 0, count: needed - 1)
        var result = [Double](repeating: 0, count: Self.batch * c.spec.inputCount)
        var resultSpan = result.mutableSpan, blocksSpan = blocks.mutableSpan
        do {
            try network.lrp(input: c.x.span, batch: Self.batch, outputRelevance: c.seed.span, rules: set, result: &resultSpan,
                            record: [conv, flat], recorded: &blocksSpan, masks: [])
            Issue.record("a recorded buffer of \(needed - 1) values was accepted for \(needed)")
        } catch {
            #expect(error.kind == .bufferTooSmall && error.message.contains("recorded") && error.message.contains("\(needed)"),
                    "\(error.kind): \(error.message)")
        }
        _ = consume resultSpan
        _ = consume blocksSpan
    }

    /// A mask naming a channel the layer does not have ("keep channel 17" of a 4-channel conv,
    /// or channel -1) is a caller error (issue 10: "channel out of range"), not a mask that
    /// silently keeps nothing and returns an all-zero explanation.
    @Test func aChannelOutsideTheLayerIsRefused() throws {
        let c = Self.cases[0]
        let network = try c.spec.build(Double.self)
        let set = try c.spec.ruleSet(Self.rules(c.spec), for: network)
        try #require(c.spec.activationShapes[1] == [4, 8, 8])
        for channel in [17, 4, -1] {
            do {
                let (relevance, _) = try network.lrp(c.x, batch: Self.batch, outputRelevance: c.seed, rules: set, record: [],
                                                     masks: [RelevanceMask(layer: 0, keepingChannels: [channel], of: 4)])
                Issue.record("keeping channel \(channel) of layer 0's 4 channels was accepted (input relevance all zero: \(relevance.allSatisfy { $0 == 0 }))")
            } catch {
                #expect([.outOfRange, .invalidArgument, .shapeMismatch].contains(error.kind), "\(error.kind): \(error.message)")
                #expect(error.message.contains("\(channel)") && error.message.contains("layer 0"), "\(error.message)")
            }
        }
    }
}
