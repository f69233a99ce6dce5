// MARK: - The root audit (Sixt & Landgraf 2022, and the exact region checks)
//
// For each root of layer l, g is the network from layer l's input to output k. The study asks
// whether the root lies in the input's linear region, as Taylor's theorem requires for DTD:
// same gradient (atol 1e-5), same ReLU pattern, the output change g(root) - g(a) and the Taylor
// residual. libdtd adds the exact fraction of the segment a -> root inside the region, the
// admissible step along the root's direction, and region-constrained DTD's unexplained relevance.
// All roots of all samples of a chunk go through g as one batch.

/// The audit of one root; the layout matches the header's `dtd_audit_record`.
public struct AuditRecord: Equatable, Sendable {
    /// The audited root.
    public var root: RootInfo
    /// 1 when max_i |grad g(root) - grad g(a)|_i <= 1e-5.
    public var sameGradientFlag: Int32 = 0
    /// 1 when every ReLU and max-pool winner of g matches (hinge units match either state).
    public var samePatternFlag: Int32 = 0
    /// g(root) - g(a).
    public var outputChange: Double = 0
    /// g(a) - g(root) - grad g(root)^T (a - root): 0 for a valid Taylor root.
    public var taylorResidual: Double = 0
    /// Largest s in [0, 1] with the segment a -> a + s (root - a) inside the closure of a's region.
    public var segmentInside: Double = 1
    /// Largest step along the root's direction inside the region, signed like t (infinity if unbounded).
    public var admissibleT: Double = .infinity
    /// Relevance region-constrained DTD leaves unexplained: relevance * (1 - segmentInside).
    public var unexplained: Double = 0

    /// A record of `root` with no check done yet.
    public init(root: RootInfo) { self.root = root }

    /// `sameGradientFlag` as a Bool.
    public var sameGradient: Bool { sameGradientFlag != 0 }
    /// `samePatternFlag` as a Bool.
    public var samePattern: Bool { samePatternFlag != 0 }
}

/// The study's table row for one audit call.
public struct AuditSummary: Equatable, Sendable {
    /// Samples audited.
    public var samples = 0
    /// (sample, root) pairs that have a root; alpha-beta partials count apart.
    public var pairs = 0
    /// Fraction of samples with at least one root failing `sameGradient`.
    public var outsideByGradient = 0.0
    /// Fraction of samples with at least one root failing `samePattern`.
    public var outsideByPattern = 0.0
    /// Fraction of pairs with |output change| < 1e-6.
    public var unchangedOutput = 0.0
    /// Mean `segmentInside` over pairs.
    public var meanSegmentInside = 0.0
    /// Max over samples of |sum of root-form relevance at the layer input - f_k(x)| (NaN unless all neurons).
    public var maxConservationError = Double.nan
    /// Sum of |unexplained| / sum of |R_j| (the neurons' full relevance) over pairs.
    public var unexplainedFraction = 0.0

    /// An empty summary.
    public init() {}
}

/// The results for one chunk of samples (chunks are bounded in size, so plain arrays suffice).
struct RootChunk<T: DTDScalar> {
    let firstSample: Int
    let samples: Int
    let roots: Int
    let info: [RootInfo]
    /// `(roots, layer input size)` root points.
    let points: Storage<T>
    var records: [AuditRecord] = []
    /// f_k(x) per sample of the chunk.
    var outputs: [Double] = []
}

extension Network {
    /// Runs the root computation (and, with `audit`, the audit) chunk by chunk over the samples of `x`.
    func forEachRootChunk(_ session: RootSession<T>, input x: BatchView<T>, audit: Bool,
                          _ body: (RootChunk<T>) throws(DTDError) -> Void) throws(DTDError) {
        let perSample = session.rootsPerSample, inCount = session.inputCount
        let chunk = session.chunkSize(batch: x.batch)
        let scratch = Scratch<T>()
        var first = 0
        while first < x.batch {
            let m = min(chunk, x.batch - first)
            let trace = try trace(input: x.samples(first..<(first + m)), scratch: scratch)
            let relevance = try topDownRelevance(trace, forms: session.forms, layer: session.layerIndex,
                                                 target: session.query.target, scratch: scratch)
            let roots = m * perSample
            var info = [RootInfo](repeating: RootInfo(neuron: 0), count: roots)
            let directionStorage = try Storage<Double>(count: roots * inCount)
            let directions = directionStorage.mutableView(batch: roots, count: inCount)
            try session.computeRoots(trace: trace, relevance: relevance.view(batch: m, count: relevance.count / m),
                                     info: &info, directions: directions)
            let a = trace.input(of: session.layerIndex)

            // The unclipped roots, for what region-constrained DTD leaves unexplained.
            let unclipped = info
            // The region along each root's line, from the local model at a - v.
            let exitStorage = try Storage<Double>(count: roots) { _ in .infinity }
            let exit = exitStorage.mutableView
            if audit || session.query.constrainToRegion {
                let q = try Storage<T>(count: roots * inCount)
                let shifted = q.mutableView(batch: roots, count: inCount)
                for i in 0..<roots {
                    let n = i / perSample
                    for e in 0..<inCount { shifted[i, e] = T(Double(a[n, e]) - directions[i, e]) }
                }
                let frozen = try frozenTrace(input: shifted.readOnly, from: session.layerIndex, reference: trace,
                                             pointsPerSample: perSample, scratch: scratch)
                defer { withExtendedLifetime(q) {} }
                let steps = info.map(\.t)
                try regionExit(reference: trace, frozen: frozen, from: session.layerIndex, pointsPerSample: perSample,
                               direction: { steps[$0] < 0 ? -1 : 1 }, into: exit)
                // A root within rounding of the exit (a hyperplane root on its own hinge) reaches it.
                for i in 0..<roots where !exit[i].isNaN && abs(info[i].t) <= exit[i] * (1 + 1e-9) {
                    exit[i] = max(exit[i], abs(info[i].t))
                }
                if session.query.constrainToRegion {
                    // The clipped root carries the share of R_j its shorter step explains.
                    for i in 0..<roots where info[i].hasRoot && abs(info[i].t) > exit[i] {
                        info[i].relevance *= exit[i] / abs(info[i].t)
                        info[i].t = (info[i].t < 0 ? -1 : 1) * exit[i]
                        info[i].flags.insert(.clipped)
                    }
                }
            }

            // The points a - t v.
            let points = try Storage<T>(count: roots * inCount)
            let pointView = points.mutableView(batch: roots, count: inCount)
            for i in 0..<roots {
                let n = i / perSample, t = info[i].t
                for e in 0..<inCount { pointView[i, e] = T(Double(a[n, e]) - t * directions[i, e]) }
            }

            var result = RootChunk<T>(firstSample: first, samples: m, roots: roots, info: info, points: points)
            if audit {
                result.records = try auditChunk(reference: trace, layer: session.layerIndex, target: session.query.target,
                                                points: pointView.readOnly, pointsPerSample: perSample, infos: info,
                                                scratch: scratch)
                for i in 0..<roots {
                    let t = info[i].t, t0 = unclipped[i].t, rooted = info[i].hasRoot
                    result.records[i].segmentInside = Self.insideFraction(exit[i], step: t, rooted: rooted)
                    // No direction (gamma at z_j = 0): no step is admissible.
                    result.records[i].admissibleT = info[i].wv.isNaN ? 0 : (t < 0 ? -1 : 1) * exit[i]
                    let explained = Self.insideFraction(exit[i], step: t0, rooted: rooted)
                    result.records[i].unexplained = rooted ? unclipped[i].relevance * (1 - explained) : 0
                }
            }
            result.outputs = (0..<m).map { Double(trace.output[$0, session.query.target]) }
            try body(result)
            withExtendedLifetime((directionStorage, exitStorage)) {}
            first += m
        }
    }

    /// The fraction of a step of `step` along a line that stays inside a region the line leaves
    /// after `exit` (1 for no step; NaN propagates).
    static func insideFraction(_ exit: Double, step: Double, rooted: Bool) -> Double {
        if exit.isNaN || step.isNaN { return .nan }
        return rooted && step != 0 ? min(1, exit / abs(step)) : 1
    }

    /// The study's checks for `points` (`(batch * pointsPerSample, layer input size)`, point p
    /// belonging to sample p / pointsPerSample of `reference`), at layer `layer`'s input, for
    /// output `target`. Fills everything but segment/admissible/unexplained.
    func auditChunk(reference: ForwardTrace<T>, layer: Int, target: Int, points: BatchView<T>, pointsPerSample: Int,
                    infos: [RootInfo], scratch: Scratch<T>) throws(DTDError) -> [AuditRecord] {
        let m = reference.batch, count = m * pointsPerSample
        let inCount = layers[layer].inputShape.count, outCount = outputCount

        // g(a) and its gradient, per sample.
        let seedA = try Storage<T>(count: m * outCount)
        let seedAView = seedA.mutableView(batch: m, count: outCount)
        for n in 0..<m { seedAView[n, target] = 1 }
        let gradientA = try Storage<T>(count: m * inCount)
        let gradientAView = gradientA.mutableView(batch: m, count: inCount)
        try backpropagate(reference, seed: seedAView.readOnly, into: gradientAView, stop: layer, scratch: scratch)

        // g and its gradient at every point, as one batch.
        let traced = try trace(input: points, from: layer, scratch: scratch)
        let seed = try Storage<T>(count: count * outCount)
        let seedView = seed.mutableView(batch: count, count: outCount)
        for p in 0..<count { seedView[p, target] = 1 }
        let gradient = try Storage<T>(count: count * inCount)
        let gradientView = gradient.mutableView(batch: count, count: inCount)
        try backpropagate(traced, seed: seedView.readOnly, into: gradientView, scratch: scratch)
        let same = try Storage<Bool>(count: count)
        try samePattern(reference: reference, points: traced, from: layer, pointsPerSample: pointsPerSample,
                        into: same.mutableView)

        let a = reference.input(of: layer)
        var records: [AuditRecord] = []
        records.reserveCapacity(count)
        for p in 0..<count {
            let n = p / pointsPerSample
            var record = AuditRecord(root: infos[p])
            let gA = Double(reference.output[n, target]), gRoot = Double(traced.output[p, target])
            var largest = 0.0, taylor = 0.0
            for i in 0..<inCount {
                let g0 = Double(gradientAView[n, i]), g1 = Double(gradientView[p, i])
                let difference = abs(g1 - g0)
                largest = difference.isNaN || largest.isNaN ? .nan : max(largest, difference)
                taylor += g1 * (Double(a[n, i]) - Double(points[p, i]))
            }
            record.sameGradientFlag = largest <= 1e-5 ? 1 : 0
            record.samePatternFlag = same[p] ? 1 : 0
            record.outputChange = gRoot - gA
            record.taylorResidual = gA - gRoot - taylor
            records.append(record)
        }
        withExtendedLifetime((seedA, gradientA, seed, gradient, same)) {}
        return records
    }
}

/// One worker's tally (and failure), written by that worker only.
private final class TallyBox: @unchecked Sendable {
    var tally: AuditTally
    var failure: DTDError?
    init(_ tally: AuditTally) { self.tally = tally }
}

/// Accumulates the study's aggregates over chunks.
struct AuditTally {
    var summary = AuditSummary()
    private var gradientOutside = 0, patternOutside = 0, unchanged = 0
    private var segmentSum = 0.0, unexplainedSum = 0.0, relevanceSum = 0.0
    private var conservation = 0.0
    let fullRange: Bool
    /// Region-constrained records carry only the explained part of R_j in `relevance`.
    let constrained: Bool

    init(fullRange: Bool, constrained: Bool = false) {
        self.fullRange = fullRange
        self.constrained = constrained
    }

    /// Adds one sample's records; `output` is f_k(x).
    mutating func add(_ records: ArraySlice<AuditRecord>, output: Double) {
        summary.samples += 1
        var gradientFails = false, patternFails = false, explained = 0.0
        for r in records where r.root.hasRoot {
            summary.pairs += 1
            if !r.sameGradient { gradientFails = true }
            if !r.samePattern { patternFails = true }
            if abs(r.outputChange) < 1e-6 { unchanged += 1 }
            segmentSum += r.segmentInside
            unexplainedSum += abs(r.unexplained)
            relevanceSum += abs(constrained ? r.root.relevance + r.unexplained : r.root.relevance)
            explained += r.root.relevance
        }
        if gradientFails { gradientOutside += 1 }
        if patternFails { patternOutside += 1 }
        let error = abs(explained - output)
        conservation = error.isNaN || conservation.isNaN ? .nan : max(conservation, error)
    }

    /// Adds another tally's samples (for the same query).
    mutating func merge(_ other: AuditTally) {
        summary.samples += other.summary.samples
        summary.pairs += other.summary.pairs
        gradientOutside += other.gradientOutside
        patternOutside += other.patternOutside
        unchanged += other.unchanged
        segmentSum += other.segmentSum
        unexplainedSum += other.unexplainedSum
        relevanceSum += other.relevanceSum
        conservation = conservation.isNaN || other.conservation.isNaN ? .nan : max(conservation, other.conservation)
    }

    func finished() -> AuditSummary {
        var s = summary
        let samples = Double(max(s.samples, 1)), pairs = Double(max(s.pairs, 1))
        s.outsideByGradient = Double(gradientOutside) / samples
        s.outsideByPattern = Double(patternOutside) / samples
        s.unchangedOutput = s.pairs > 0 ? Double(unchanged) / pairs : 0
        s.meanSegmentInside = s.pairs > 0 ? segmentSum / pairs : 1
        s.maxConservationError = fullRange ? conservation : .nan
        s.unexplainedFraction = relevanceSum > 0 ? unexplainedSum / relevanceSum : 0
        return s
    }
}

extension Network {
    /// Computes the roots of a layer and audits each against g, the network from the layer's
    /// input to output `query.target`.
    /// - Parameters:
    ///   - records: receives `(batch, rootCount(rules:query:))` records.
    ///   - others: as `roots(input:batch:rules:query:info:)`.
    /// - Returns: the study's aggregates.
    /// - Throws: `DTDError` as `roots(input:batch:rules:query:info:)`.
    @discardableResult
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func auditRoots(input: Span<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                           records: inout MutableSpan<AuditRecord>) throws(DTDError) -> AuditSummary {
        let session = try RootSession(network: self, rules: rules, query: query)
        try checkBatch(batch, input: input.count, inputName: "input")
        let perSample = session.rootsPerSample
        let needed = try Limits.product(batch, perSample, "batch x roots per sample")
        guard records.count >= needed else {
            throw DTDError(.bufferTooSmall, "records holds \(records.count) records, batch \(batch) x \(perSample) roots needs \(needed)")
        }
        let fullRange = session.neurons.count == session.layer.outputCount
        // Large batches are split into sample ranges audited on all cores at once; each range
        // writes its own records and tally, merged afterwards.
        let parts = batch * perSample >= 1 << 12 ? ParallelFor.workers(forSamples: batch) : 1
        let tallies = (0..<parts).map { _ in TallyBox(AuditTally(fullRange: fullRange, constrained: session.query.constrainToRegion)) }
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try records.withMutableBatchView(batch: batch, count: perSample) { (out) throws(DTDError) in
                ParallelFor.forEachRange(parts, work: parts > 1 ? Int.max : 0) { range, _ in
                    for part in range {
                        let lower = part * batch / parts, upper = (part + 1) * batch / parts
                        let box = tallies[part]
                        do throws(DTDError) {
                            try forEachRootChunk(session, input: x.samples(lower..<upper),
                                                 audit: true) { (chunk: RootChunk<T>) throws(DTDError) in
                                let offset = (lower + chunk.firstSample) * perSample
                                for i in 0..<chunk.roots { out[offset + i] = chunk.records[i] }
                                for n in 0..<chunk.samples {
                                    box.tally.add(chunk.records[(n * perSample)..<((n + 1) * perSample)], output: chunk.outputs[n])
                                }
                            }
                        } catch {
                            box.failure = error
                        }
                    }
                }
            }
        }
        var tally = AuditTally(fullRange: fullRange, constrained: session.query.constrainToRegion)
        for box in tallies {
            if let failure = box.failure { throw failure }
            tally.merge(box.tally)
        }
        return tally.finished()
    }

    /// Audits arbitrary points (e.g. constructed roots) of layer `layer`'s input against g, the
    /// network from there to output `target`: record i of sample n describes point i of sample n.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - layer: any layer index; the points are at its input.
    ///   - target: the explained output, in `[0, outputCount)`.
    ///   - pointsPerSample: points per sample, > 0.
    ///   - points: `(batch, pointsPerSample, layer input size)` values.
    ///   - records: receives `(batch, pointsPerSample)` records (no admissible step, nothing unexplained).
    /// - Returns: the study's aggregates over the points.
    /// - Throws: `DTDError` `.emptyNetwork`, `.layerIndex`, `.outOfRange`, `.size`, `.overflow`,
    ///   `.bufferTooSmall`, `.outOfMemory`.
    @discardableResult
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func auditPoints(input: Span<T>, batch: Int, layer: Int, target: Int, pointsPerSample: Int,
                            points: Span<T>, records: inout MutableSpan<AuditRecord>) throws(DTDError) -> AuditSummary {
        try checkNotEmpty()
        try checkLayerIndex(layer)
        guard target >= 0, target < outputCount else {
            throw DTDError(.outOfRange, "target = \(target) is outside [0, \(outputCount)) for output \(outputShape)")
        }
        try checkBatch(batch, input: input.count, inputName: "input")
        try Limits.checkSize(pointsPerSample, "points_per_sample")
        let inCount = layers[layer].inputShape.count
        let pointCount = try Limits.product(batch, pointsPerSample, "batch x points_per_sample")
        let needed = try Limits.product(pointCount, inCount, "batch x points x layer input size")
        guard points.count >= needed else {
            throw DTDError(.bufferTooSmall, "points holds \(points.count) values, batch \(batch) x \(pointsPerSample) points x layer input \(layers[layer].inputShape) needs \(needed)")
        }
        guard records.count >= pointCount else {
            throw DTDError(.bufferTooSmall, "records holds \(records.count) records, batch \(batch) x \(pointsPerSample) points needs \(pointCount)")
        }
        let chunk = max(1, min(batch, (1 << 22) / max(1, pointsPerSample * largestActivation(from: layer))))
        let scratch = Scratch<T>()
        var tally = AuditTally(fullRange: false)
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try points.withBatchView(batch: pointCount, count: inCount) { (allPoints) throws(DTDError) in
                try records.withMutableBatchView(batch: pointCount, count: 1) { (out) throws(DTDError) in
                    var first = 0
                    while first < batch {
                        let m = min(chunk, batch - first)
                        let reference = try trace(input: x.samples(first..<(first + m)), scratch: scratch)
                        let chunkPoints = allPoints.samples((first * pointsPerSample)..<((first + m) * pointsPerSample))
                        let infos = (0..<(m * pointsPerSample)).map {
                            RootInfo(neuron: $0 % pointsPerSample, z: .nan, wv: .nan, t: .nan)
                        }
                        var chunkRecords = try auditChunk(reference: reference, layer: layer, target: target, points: chunkPoints,
                                                          pointsPerSample: pointsPerSample, infos: infos, scratch: scratch)
                        let frozen = try frozenTrace(input: chunkPoints, from: layer, reference: reference,
                                                     pointsPerSample: pointsPerSample, scratch: scratch)
                        let exitStorage = try Storage<Double>(count: m * pointsPerSample) { _ in .infinity }
                        let exit = exitStorage.mutableView
                        try regionExit(reference: reference, frozen: frozen, from: layer, pointsPerSample: pointsPerSample,
                                       direction: { _ in 1 }, into: exit)
                        for i in chunkRecords.indices {
                            chunkRecords[i].segmentInside = exit[i].isNaN ? .nan : min(1, exit[i])
                            chunkRecords[i].admissibleT = .nan
                            chunkRecords[i].unexplained = 0
                            out[first * pointsPerSample + i] = chunkRecords[i]
                        }
                        for n in 0..<m {
                            tally.add(chunkRecords[(n * pointsPerSample)..<((n + 1) * pointsPerSample)],
                                      output: Double(reference.output[n, target]))
                        }
                        withExtendedLifetime(exitStorage) {}
                        first += m
                    }
                }
            }
        }
        return tally.finished()
    }
}
