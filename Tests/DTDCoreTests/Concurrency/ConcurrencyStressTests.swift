@testable import DTDCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Concurrent calls on shared networks give exactly the serial results (DESIGN.md §2.3: a built
/// network and rule set are immutable and safe from many threads at once).
///
/// Two regimes. Small networks, below the parallel threshold: 8 threads x 10^4 mixed calls, every
/// result compared bit for bit with the serial one. A VGG-sized CNN, far above the threshold:
/// 6 threads mix LRP, roots, the audit and the theory checks, so calls overlap inside the worker
/// pool (one job at a time; a caller that finds it busy runs its own steps) — the test reads the
/// pool's counters to prove both happened. CI also runs this suite under ThreadSanitizer
/// (Tests/sanitizers/tsan.sh), with fewer calls: `DTD_STRESS_CALLS` (calls per thread, small
/// networks) and `DTD_STRESS_VGG_CALLS` (calls per thread, VGG) override the defaults.
@Suite("Concurrency stress", .serialized)
struct ConcurrencyStressTests {
    // MARK: - Small networks: 8 threads x 10^4 mixed calls

    @Test func eightThreadsOfMixedCallsOnSharedNetworksEqualTheSerialResultsBitForBit() throws {
        let calls = try SmallNetworkCalls.make()
        let serial = try calls.map { try $0.run() }
        let threads = 8, perThread = environmentCount("DTD_STRESS_CALLS", default: 10_000)
        let mismatches = runConcurrently(threads: threads, callsPerThread: perThread, calls: calls, expected: serial)
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(threads * perThread) concurrent calls differ: \(mismatches.prefix(5))")
        // Every kind of call ran concurrently (the schedule below visits them all).
        #expect(calls.count >= 20 && perThread >= calls.count)
    }

    // MARK: - Above the parallel threshold: a VGG-sized CNN

    @Test func concurrentCallsOnAVGGSizedCNNOverlapInTheWorkerPoolAndEqualSerial() throws {
        let calls = try VGGCalls.make()
        let serial = try calls.map { try $0.run() }
        let pooledBefore = WorkerPool.pooledJobs.load(ordering: .relaxed)
        let fallbacksBefore = WorkerPool.busyFallbacks.load(ordering: .relaxed)
        let threads = 6, perThread = environmentCount("DTD_STRESS_VGG_CALLS", default: 8)
        let mismatches = runConcurrently(threads: threads, callsPerThread: perThread, calls: calls, expected: serial)
        #expect(mismatches.isEmpty, "\(mismatches.count) concurrent calls differ from serial: \(mismatches.prefix(5))")
        let pooled = WorkerPool.pooledJobs.load(ordering: .relaxed) - pooledBefore
        let fallbacks = WorkerPool.busyFallbacks.load(ordering: .relaxed) - fallbacksBefore
        if ParallelFor.threads > 1 {
            // Jobs ran on the pool while other calls ran, and calls found it busy: overlap happened.
            #expect(pooled > 0, "no job ran on the worker pool during the concurrent phase")
            #expect(fallbacks > 0, "no call found the pool busy: the calls did not overlap in the pool")
        } else {
            print("concurrency stress: 1 thread (DTD_NUM_THREADS=1 or one core): no worker pool to overlap in")
        }
        print("concurrency stress (VGG): \(threads * perThread) calls, \(pooled) pool jobs, \(fallbacks) steps run by their caller because the pool was busy")
    }
}

// MARK: - Calls and their exact results

/// One call on a shared network, returning every bit of its result (NaN included, so "equal"
/// means identical, not `==`).
struct StressCall: @unchecked Sendable {
    let name: String
    let run: () throws -> [UInt64]
}

private func bits<T: DTDScalar>(_ values: [T]) -> [UInt64] { values.map { Double($0).bitPattern } }

private func bits(_ info: RootInfo) -> [UInt64] {
    [UInt64(bitPattern: Int64(info.neuron)), UInt64(UInt32(bitPattern: info.partial)), UInt64(UInt32(bitPattern: info.flagBits)),
     info.relevance.bitPattern, info.z.bitPattern, info.wv.bitPattern, info.t.bitPattern]
}

private func bits(_ record: AuditRecord) -> [UInt64] {
    bits(record.root) + [UInt64(UInt32(bitPattern: record.sameGradientFlag)), UInt64(UInt32(bitPattern: record.samePatternFlag)),
                         record.outputChange.bitPattern, record.taylorResidual.bitPattern, record.segmentInside.bitPattern,
                         record.admissibleT.bitPattern, record.unexplained.bitPattern]
}

private func bits(_ s: AuditSummary) -> [UInt64] {
    [UInt64(s.samples), UInt64(s.pairs), s.outsideByGradient.bitPattern, s.outsideByPattern.bitPattern,
     s.unchangedOutput.bitPattern, s.meanSegmentInside.bitPattern, s.maxConservationError.bitPattern,
     s.unexplainedFraction.bitPattern]
}

private func bits(_ e: LedgerEntry) -> [UInt64] {
    [UInt64(e.layer), e.relevanceOut.bitPattern, e.relevanceIn.bitPattern, e.absorbedBias.bitPattern,
     e.absorbedStabilizer.bitPattern, e.dropped.bitPattern]
}

/// The calls the stress tests mix, for one network, its rule sets and a batch of inputs.
private struct CallFactory<T: DTDScalar> {
    let label: String
    let network: Network<T>
    let x: [T]
    let batch: Int

    var seed: [T] {
        var rng = SplitMix64(seed: 99)
        return rng.uniform(batch * network.outputCount, in: 0.1...1).map { T($0) }
    }

    func forward() -> StressCall {
        StressCall(name: "\(label) forward") { bits(try network.forward(x, batch: batch)) }
    }

    func gradients() -> [StressCall] {
        let r = seed
        return [StressCall(name: "\(label) gradient") { bits(try network.gradient(x, batch: batch, outputRelevance: r)) },
                StressCall(name: "\(label) gradient x input") { bits(try network.gradientTimesInput(x, batch: batch, outputRelevance: r)) }]
    }

    func lrp(_ rules: RuleSet<T>, _ name: String) -> StressCall {
        let r = seed
        return StressCall(name: "\(label) lrp \(name)") {
            let (relevance, ledger) = try network.lrpWithLedger(x, batch: batch, outputRelevance: r, rules: rules)
            return bits(relevance) + ledger.flatMap(bits)
        }
    }

    func roots(_ rules: RuleSet<T>, _ query: RootQuery, _ name: String) -> [StressCall] {
        [StressCall(name: "\(label) roots \(name)") {
            let (points, info) = try network.roots(x, batch: batch, rules: rules, query: query)
            return bits(points) + info.flatMap(bits)
        },
         StressCall(name: "\(label) audit \(name)") {
            let (records, summary) = try network.auditRoots(x, batch: batch, rules: rules, query: query)
            return records.flatMap(bits) + bits(summary)
        }]
    }

    func auditPoints(layer: Int, perSample: Int) -> StressCall {
        let inCount = network.layers[layer].inputShape.count
        var rng = SplitMix64(seed: 7)
        let points = rng.uniform(batch * perSample * inCount, in: -0.5...1).map { T($0) }
        return StressCall(name: "\(label) audit points at layer \(layer)") {
            var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: batch * perSample)
            var rs = records.mutableSpan
            let summary = try network.auditPoints(input: x.span, batch: batch, layer: layer, target: 0, pointsPerSample: perSample,
                                                   points: points.span, records: &rs)
            _ = consume rs
            return records.flatMap(bits) + bits(summary)
        }
    }

    func theory(_ rules: RuleSet<T>) -> [StressCall] {
        let r = seed
        var rng = SplitMix64(seed: 5)
        let root = rng.uniform(network.inputCount, in: -0.2...0.2).map { T($0) }
        let seeds = rng.uniform(batch * 2 * network.outputCount, in: 0...1).map { T($0) }
        return [
            StressCall(name: "\(label) T2 gradient x input distance") {
                var distances = [Double](repeating: 0, count: batch)
                var ds = distances.mutableSpan
                try network.gradientTimesInputDistance(input: x.span, batch: batch, outputRelevance: r.span, rules: rules, distances: &ds)
                _ = consume ds
                return distances.map(\.bitPattern)
            },
            StressCall(name: "\(label) T2 constant root") {
                var result = [T](repeating: 0, count: x.count)
                var out = result.mutableSpan
                try network.constantRootExplanation(input: x.span, batch: batch, root: root.span, outputRelevance: r.span, result: &out)
                _ = consume out
                return bits(result)
            },
            StressCall(name: "\(label) rank-1 similarity") {
                var csc = [Double](repeating: 0, count: network.layers.count + 1)
                var out = csc.mutableSpan
                try network.rankOneSimilarity(input: x.span, batch: batch, rules: rules, seedsPerSample: 2, seeds: seeds.span, csc: &out)
                _ = consume out
                return csc.map(\.bitPattern)
            },
        ]
    }

    /// T3 on a dense layer, with the explanation gradient x input gives at its input.
    func constructRoots(_ rules: RuleSet<T>, layer: Int) throws -> StressCall {
        let query = RootQuery(layer: layer, target: 0)
        let inCount = network.layers[layer].inputShape.count
        let relevance = try network.rootFormRelevance(x, batch: batch, rules: rules, query: query)
        let explanation = relevance.map { T($0) }
        return StressCall(name: "\(label) T3 constructed roots at layer \(layer)") {
            let perSample = try network.rootCount(rules: rules, query: query)
            var points = [T](repeating: 0, count: batch * perSample * inCount)
            var info = [RootInfo](repeating: RootInfo(neuron: 0), count: batch * perSample)
            var ps = points.mutableSpan, fs = info.mutableSpan
            try network.constructRoots(input: x.span, batch: batch, rules: rules, query: query, explanation: explanation.span,
                                       points: &ps, info: &fs)
            _ = consume ps
            _ = consume fs
            return bits(points) + info.flatMap(bits)
        }
    }
}

/// The small networks (all below `Gemm.parallelThreshold`): an MLP and CNNs in both element
/// types, including the wide 3x3 network that takes the Winograd path.
private enum SmallNetworkCalls {
    static func make() throws -> [StressCall] {
        var calls: [StressCall] = []
        // MLP, float64: every call kind, T3 included (it needs a dense layer).
        let mlpSpec = RandomNetworks.mlps[0]
        let mlp = CallFactory(label: "mlp f64", network: try mlpSpec.build(Double.self),
                              x: RandomNetworks.inputs(mlpSpec, batch: 3, seed: 1, range: 0...1), batch: 3)
        let lrp0 = try RuleSet(for: mlp.network, everyLinearLayer: .epsilon(0))
        let zPlus = try RuleSet(for: mlp.network, everyLinearLayer: .zPlus())
        let mixed = try mlpSpec.ruleSet([0: .gamma(0.25), 2: .alphaBeta(alpha: 2, beta: 1), 4: .epsilon(0)], for: mlp.network)
        calls += [mlp.forward()] + mlp.gradients() + [mlp.lrp(lrp0, "LRP-0"), mlp.lrp(mixed, "gamma/alpha-beta/LRP-0")]
        calls += mlp.roots(zPlus, RootQuery(layer: 2, target: 1), "z+ layer 2")
        calls += mlp.roots(mixed, RootQuery(layer: 0, target: 0, placement: .hyperplane, constrainToRegion: true), "gamma layer 0")
        calls += [mlp.auditPoints(layer: 2, perSample: 3)] + mlp.theory(lrp0) + [try mlp.constructRoots(lrp0, layer: 2)]

        // CNN, float32: max-pooling, padding, strides.
        let cnnSpec = RandomNetworks.cnns[0]
        let cnn = CallFactory(label: "cnn f32", network: try cnnSpec.build(Float.self),
                              x: RandomNetworks.inputs(cnnSpec, batch: 2, seed: 2).map { Float($0) }, batch: 2)
        let cnnRules = try RuleSet(for: cnn.network, everyLinearLayer: .zPlus())
        // conv 0, relu, maxpool, conv 3, relu, flatten, dense 6, relu, dense 8
        let box = try cnnSpec.ruleSet([0: .zBox(low: .scalar(-1), high: .scalar(1)), 3: .zPlus(), 6: .epsilon(0.1), 8: .epsilon(0)],
                                      for: cnn.network)
        calls += [cnn.forward()] + cnn.gradients() + [cnn.lrp(cnnRules, "z+"), cnn.lrp(box, "zbox/z+/epsilon")]
        calls += cnn.roots(cnnRules, RootQuery(layer: 3, target: 0, neurons: 0..<4), "z+ conv layer 3")
        calls += [cnn.auditPoints(layer: 3, perSample: 2)] + cnn.theory(cnnRules)

        // Average pooling and dilation, float64; the wide Winograd network, float32.
        let avgSpec = RandomNetworks.cnns[1]
        let avg = CallFactory(label: "cnn avgpool f64", network: try avgSpec.build(Double.self),
                              x: RandomNetworks.inputs(avgSpec, batch: 2, seed: 3), batch: 2)
        let avgRules = try RuleSet(for: avg.network, everyLinearLayer: .alphaBeta(alpha: 2, beta: 1))
        // (Roots only: auditing all of this layer's alpha-beta roots would take more time than the rest.)
        calls += [avg.forward(), avg.lrp(avgRules, "alpha-beta"),
                  avg.roots(avgRules, RootQuery(layer: 0, target: 1), "alpha-beta layer 0")[0]]
        let wideSpec = RandomNetworks.wide
        let wide = CallFactory(label: "wide f32 (Winograd)", network: try wideSpec.build(Float.self),
                               x: RandomNetworks.inputs(wideSpec, batch: 2, seed: 4).map { Float($0) }, batch: 2)
        let wideRules = try RuleSet(for: wide.network, everyLinearLayer: .gamma(0.5))
        calls += [wide.forward(), wide.lrp(wideRules, "gamma")] + wide.gradients()
        calls += wide.roots(wideRules, RootQuery(layer: 2, target: 0, neurons: 0..<2), "gamma layer 2")
        return calls
    }
}

/// A VGG-11-sized CNN (Simonyan & Zisserman's configuration A, as CIFAR VGGs use it: 3x32x32
/// input, 8 conv layers of 64-512 channels, 9.2 M weights), He-uniform weights so activations
/// stay O(1). Its products are far above `Gemm.parallelThreshold` (the first conv alone is
/// 64 x 1024 x 27 = 1.8 M multiply-adds), so every call runs parallel steps on the pool.
private enum VGGCalls {
    static func make() throws -> [StressCall] {
        var spec = NetworkSpec(name: "VGG-11 (CIFAR)", inputShape: [3, 32, 32])
        var rng = SplitMix64(seed: 11)
        var channels = 3, side = 32
        for item in [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0] {
            if item == 0 {
                spec.layers.append(.maxPool2d(kernel: (2, 2), stride: (2, 2), padding: (0, 0)))
                side /= 2
                continue
            }
            let fanIn = Double(channels * 9), limit = (6 / fanIn).squareRoot()
            spec.layers.append(.conv2d(ConvSpec(weight: rng.uniform(item * channels * 9, in: -limit...limit), outChannels: item,
                                                inChannels: channels, kernel: (3, 3), bias: rng.uniform(item, in: 0...0.05),
                                                padding: (1, 1))))
            spec.layers.append(.relu)
            channels = item
        }
        spec.layers.append(.flatten)
        let features = channels * side * side
        spec.layers.append(.dense(weight: rng.uniform(10 * features, in: -0.1...0.1), outFeatures: 10, inFeatures: features,
                                  bias: rng.uniform(10, in: -0.05...0.05)))
        let network = try spec.build(Float.self)
        let vgg = CallFactory(label: "vgg f32", network: network,
                              x: RandomNetworks.inputs(spec, batch: 2, seed: 12, range: 0...1).map { Float($0) }, batch: 2)
        let last = spec.layers.count - 1, lastConv = spec.linearLayerIndices.dropLast().last ?? 0
        var epsilonPlus = try RuleSet(for: network, everyLinearLayer: .zPlus())
        try epsilonPlus.set(.epsilon(1e-6), layer: last, in: network)
        let lrp0 = try RuleSet(for: network, everyLinearLayer: .epsilon(0))
        var rootRules = try RuleSet(for: network, everyLinearLayer: .zPlus())  // root rules on every layer above
        try rootRules.set(.epsilon(0), layer: last, in: network)
        var calls = [vgg.lrp(epsilonPlus, "epsilon-plus"), vgg.lrp(lrp0, "LRP-0")]
        calls += vgg.roots(rootRules, RootQuery(layer: lastConv, target: 3, neurons: 0..<16), "z+ last conv, 16 neurons")
        calls += [vgg.auditPoints(layer: last, perSample: 2)]
        calls += vgg.theory(lrp0)
        return calls
    }
}

// MARK: - Running calls on many threads

private final class ThreadJob {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Runs `body(i)` on `count` new threads (real threads, not the two-wide cooperative pool of a
/// two-core machine) and joins them.
private func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    for i in 0..<count {
        let job = Unmanaged.passRetained(ThreadJob { body(i) }).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<ThreadJob>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, job)
        if status == 0 { threads.append(thread) } else { Unmanaged<ThreadJob>.fromOpaque(job).release() }
    }
    for thread in threads { pthread_join(thread, nil) }
    #expect(threads.count == count, "started \(threads.count) of \(count) threads")
}

/// One thread's results, written by that thread only and read after the join. (One object per
/// thread: threads writing different elements of one shared array would race on the array.)
private final class Outcome: @unchecked Sendable {
    var mismatches: [String] = []
}

/// Each thread runs `callsPerThread` calls, walking the list from its own offset with its own
/// stride (so the threads interleave different calls), and compares every result bit for bit.
private func runConcurrently(threads: Int, callsPerThread: Int, calls: [StressCall], expected: [[UInt64]]) -> [String] {
    let outcomes = (0..<threads).map { _ in Outcome() }
    onThreads(threads) { t in
        var mismatches: [String] = []
        let stride = [1, 3, 5, 7, 11, 13, 17, 19][t % 8]
        for k in 0..<callsPerThread {
            let i = (t * 7 + k * stride) % calls.count
            do {
                let result = try calls[i].run()
                if result != expected[i] { mismatches.append("thread \(t): \(calls[i].name)") }
            } catch {
                mismatches.append("thread \(t): \(calls[i].name) threw \(error)")
            }
        }
        outcomes[t].mismatches = mismatches
    }
    return outcomes.flatMap(\.mismatches)
}

private func environmentCount(_ name: String, default value: Int) -> Int {
    if let text = getenv(name), let number = Int(String(cString: text)), number > 0 { return number }
    return value
}
