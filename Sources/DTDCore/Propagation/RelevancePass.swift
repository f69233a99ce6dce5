// MARK: - The backward relevance pass over the layers

extension Network {
    /// Propagates `seed` (relevance at the output of layer `trace.end - 1`) down through the layers
    /// `from..<trace.end` with `rules[l]` on each dense/conv layer l, writing the relevance at the
    /// output of layer `from - 1` (the network input for `from == 0`) to `result`. ReLU, flatten,
    /// batch-norm and identity pass relevance; max-pool routes it to the winners; route splits it
    /// back by channel slice; average pools and adds use their `PoolRule` (`pools[l]`, default
    /// norm with 1e-6). Contributions to one output are summed (`BackwardFlow`).
    /// - Parameters:
    ///   - masks: per layer, one flag per element of a sample of its output: the relevance there
    ///     keeps the flagged elements before it propagates further (`RelevanceTaps`).
    ///   - observe: sees the relevance at the output of every layer passed, after its mask, as
    ///     `(l + 1, relevance at the output of l)` (for a chain: at the input of layer l + 1),
    ///     from the seed `(trace.end, seed)` down to `(from, result)`.
    func relevancePass(_ trace: ForwardTrace<T>, seed: BatchView<T>, rules: [PreparedRule<T>?], pools: [PoolRule?] = [],
                       from: Int, into result: MutableBatchView<T>, ledger: MutableBatchView<LedgerEntry>?, scratch: Scratch<T>,
                       masks: [Int: [Bool]] = [:],
                       observe: ((_ inputOfLayer: Int, _ relevance: BatchView<T>) throws(DTDError) -> Void)? = nil) throws(DTDError) {
        let flow = try BackwardFlow(self, from: from, end: trace.end, seed: seed, scratch: scratch,
                                    slots: (.relevanceA, .relevanceB))
        for index in stride(from: trace.end - 1, through: from, by: -1) {
            if let mask = masks[index] { try flow.modify(at: index) { RelevanceMask.apply(mask, to: $0) } }
            let current = try flow.value(at: index)
            try observe?(index + 1, current)
            let layer = layers[index]
            switch layer {
            case .linear(let linear):
                guard let rule = rules[index] else {
                    throw DTDError(.rule, "layer \(index) (\(layer.kind)) has no rule; set one (libdtd never guesses a rule)")
                }
                let next = try flow.destination(reader: index, operand: index - 1)
                try rule.propagate(layer: linear, input: trace.input(of: index), output: trace.output(of: index),
                                   relevance: current, result: next, ledger: ledger,
                                   fused: trace.fusedDenominator(of: index),
                                   signs: rule.usesInputSigns ? trace.inputSigns(of: index) : nil, scratch: scratch)
                try flow.commit(reader: index, operand: index - 1)
            case .maxPool2d(let g):
                let next = try flow.destination(reader: index, operand: index - 1)
                Pooling.maxRoute(g, output: current, winners: try trace.winners(of: index), input: next)
                try flow.commit(reader: index, operand: index - 1)
                recordPassThrough(ledger, index, current: current)
            case .avgPool2d, .adaptiveAvgPool2d:
                let rule = index < pools.count ? pools[index] ?? .standard : .standard
                let next = try flow.destination(reader: index, operand: index - 1)
                try poolRelevance(layer, rule: rule, index: index, trace: trace, relevance: current, result: next,
                                  ledger: ledger, scratch: scratch)
                try flow.commit(reader: index, operand: index - 1)
            case .add:
                let rule = index < pools.count ? pools[index] ?? .standard : .standard
                try addRelevance(rule, index: index, trace: trace, relevance: current, flow: flow, ledger: ledger,
                                 scratch: scratch)
            case .route(let route):
                if route.sources.count == 1 {
                    try flow.pass(reader: index, operand: route.sources[0])
                } else {
                    for (source, offset) in zip(route.sources, route.offsets) {
                        let next = try flow.destination(reader: index, operand: source)
                        Concatenation.slice(current, offset: offset, into: next, accumulate: false)
                        try flow.commit(reader: index, operand: source)
                    }
                }
                recordPassThrough(ledger, index, current: current)
            case .relu, .flatten, .batchNorm, .identity:
                try flow.pass(reader: index, operand: index - 1)
                recordPassThrough(ledger, index, current: current)
            }
        }
        let input = try flow.value(at: from - 1)
        try observe?(from, input)
        result.copy(from: input)
    }

    /// An average pool's relevance (either kind): norm, a (.) P^T (R / stab(z)); or flat, each
    /// window's relevance split equally over its in-bounds cells.
    private func poolRelevance(_ layer: Layer<T>, rule: PoolRule, index: Int, trace: ForwardTrace<T>, relevance r: BatchView<T>,
                               result: MutableBatchView<T>, ledger: MutableBatchView<LedgerEntry>?,
                               scratch: Scratch<T>) throws(DTDError) {
        func transpose(_ values: BatchView<T>, flat: T?) {
            switch layer {
            case .avgPool2d(let g): Pooling.avgTransposed(g, output: values, input: result, flatStabilizer: flat)
            case .adaptiveAvgPool2d(let g): Pooling.adaptiveAvgTransposed(g, output: values, input: result, flatStabilizer: flat)
            default: result.fill(0)
            }
        }
        switch rule {
        case .norm(let stabilizer):
            let s = try normShares(r, output: trace.output(of: index), stabilizer: T(stabilizer), index: index,
                                   ledger: ledger, scratch: scratch)
            transpose(s, flat: nil)
            Elementwise.multiply(result, by: trace.input(of: index))
        case .flat(let stabilizer):
            transpose(r, flat: T(stabilizer))
            openPoolLedger(ledger, index: index, relevance: r)
        }
        closePoolLedger(ledger, index: index, passed: [result.readOnly])
        if case .flat = rule, let ledger {
            // Every window has a cell inside the input, so flat drops nothing: what does not
            // arrive below, sum_j R_j s / (n_j + s), is what the stabiliser s kept back.
            for n in 0..<ledger.batch {
                ledger[n, index].absorbedStabilizer = ledger[n, index].relevanceOut - ledger[n, index].relevanceIn
                ledger[n, index].dropped = 0
            }
        }
    }

    /// An add's relevance: norm, operand k receives x_k (.) R / stab(z) with z the sum; or
    /// flat, each of the n operands R / stab(n).
    private func addRelevance(_ rule: PoolRule, index: Int, trace: ForwardTrace<T>, relevance r: BatchView<T>,
                              flow: BackwardFlow<T>, ledger: MutableBatchView<LedgerEntry>?,
                              scratch: Scratch<T>) throws(DTDError) {
        let operands = self.operands(of: index)
        var shares = r
        switch rule {
        case .norm(let stabilizer):
            shares = try normShares(r, output: trace.output(of: index), stabilizer: T(stabilizer), index: index,
                                    ledger: ledger, scratch: scratch)
        case .flat(let stabilizer):
            openPoolLedger(ledger, index: index, relevance: r)
            if let ledger {
                // Each of the n operands gets R / (n + s): the stabiliser s keeps R s / (n + s).
                let kept = Double(stabilizer) / (Double(operands.count) + Double(stabilizer))
                for (n, total) in Elementwise.sampleSums(r).enumerated() { ledger[n, index].absorbedStabilizer = total * kept }
            }
        }
        var sums = [Double](repeating: 0, count: r.batch)
        for operand in operands {
            let next = try flow.destination(reader: index, operand: operand)
            switch rule {
            case .norm:
                next.copy(from: shares)
                Elementwise.multiply(next, by: try trace.operand(operand))
            case .flat(let stabilizer):
                next.copy(from: r)
                let divisor = T(operands.count) + T(stabilizer)
                for i in 0..<next.total { next[i] /= divisor }
            }
            if ledger != nil { for (n, total) in Elementwise.sampleSums(next.readOnly).enumerated() { sums[n] += total } }
            try flow.commit(reader: index, operand: operand)
        }
        if let ledger {
            for n in 0..<r.batch {
                ledger[n, index].relevanceIn = sums[n]
                ledger[n, index].dropped = ledger[n, index].relevanceOut - sums[n] - ledger[n, index].absorbedStabilizer
            }
        }
    }

    /// s = R / stab(z) with `stabilizer` (a share of 0 at a zero denominator), opening the
    /// ledger with what the stabiliser absorbs.
    private func normShares(_ r: BatchView<T>, output z: BatchView<T>, stabilizer eps: T, index: Int,
                            ledger: MutableBatchView<LedgerEntry>?, scratch: Scratch<T>) throws(DTDError) -> BatchView<T> {
        let s = try scratch.view(.share, batch: r.batch, count: r.count)
        for n in 0..<r.batch {
            var total = 0.0, stabilizerPart = 0.0
            for j in 0..<r.count {
                let denominator = stabilize(z[n, j], eps)
                s[n, j] = share(r[n, j], denominator)
                total += Double(r[n, j])
                stabilizerPart += Double(s[n, j]) * Double(denominator - z[n, j])
            }
            if let ledger {
                var entry = LedgerEntry(layer: index)
                entry.relevanceOut = total
                entry.absorbedStabilizer = stabilizerPart
                ledger[n, index] = entry
            }
        }
        return s.readOnly
    }

    /// Opens a pooling layer's ledger entries with the relevance arriving (flat: no stabiliser
    /// term is booked; what it keeps back shows as dropped).
    private func openPoolLedger(_ ledger: MutableBatchView<LedgerEntry>?, index: Int, relevance r: BatchView<T>) {
        guard let ledger else { return }
        for (n, total) in Elementwise.sampleSums(r).enumerated() {
            var entry = LedgerEntry(layer: index)
            entry.relevanceOut = total
            ledger[n, index] = entry
        }
    }

    /// Closes a pooling layer's ledger entries with the relevance passed down.
    private func closePoolLedger(_ ledger: MutableBatchView<LedgerEntry>?, index: Int, passed: [BatchView<T>]) {
        guard let ledger else { return }
        for n in 0..<ledger.batch {
            var total = 0.0
            for part in passed { total += Elementwise.sampleSums(part.sample(n))[0] }
            ledger[n, index].relevanceIn = total
            ledger[n, index].dropped = ledger[n, index].relevanceOut - total - ledger[n, index].absorbedStabilizer
        }
    }

    /// Ledger entries of a layer that passes relevance on unchanged (in total).
    private func recordPassThrough(_ ledger: MutableBatchView<LedgerEntry>?, _ index: Int, current: BatchView<T>) {
        guard let ledger else { return }
        for (n, total) in Elementwise.sampleSums(current).enumerated() {
            var entry = LedgerEntry(layer: index)
            entry.relevanceOut = total
            entry.relevanceIn = total
            ledger[n, index] = entry
        }
    }

    // MARK: Public LRP

    /// Layer-wise Relevance Propagation of `outputRelevance` to the input, with the rule `rules`
    /// assigns to each dense/conv layer.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - outputRelevance: the relevance at the output, `(batch, outputCount)` values.
    ///   - rules: a rule set made for this network, with a rule on every dense/conv layer.
    ///   - result: receives the input relevance, `(batch, inputCount)` values.
    /// - Throws: `DTDError` `.emptyNetwork`, `.networkMismatch`, `.rule` (a layer without a
    ///   rule), `.size`, `.overflow`, `.bufferTooSmall`, `.outOfMemory`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func lrp(input: Span<T>, batch: Int, outputRelevance: Span<T>, rules: RuleSet<T>,
                    result: inout MutableSpan<T>) throws(DTDError) {
        try checkLRP(input: input.count, batch: batch, outputRelevance: outputRelevance.count, rules: rules, result: result.count)
        try runLRP(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules, result: &result, ledger: nil)
    }

    /// LRP with the conservation ledger.
    /// - Parameters:
    ///   - ledger: receives `batch * layers.count` entries, sample-major.
    ///   - others: as `lrp(input:batch:outputRelevance:rules:result:)`.
    /// - Throws: as `lrp(input:batch:outputRelevance:rules:result:)`; `.bufferTooSmall` for a short ledger.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func lrp(input: Span<T>, batch: Int, outputRelevance: Span<T>, rules: RuleSet<T>,
                    result: inout MutableSpan<T>, ledger: inout MutableSpan<LedgerEntry>) throws(DTDError) {
        try checkLRP(input: input.count, batch: batch, outputRelevance: outputRelevance.count, rules: rules, result: result.count)
        let needed = try Limits.product(batch, layers.count, "batch x layer count")
        guard ledger.count >= needed else {
            throw DTDError(.bufferTooSmall, "ledger holds \(ledger.count) entries, batch \(batch) x \(layers.count) layers needs \(needed)")
        }
        try ledger.withMutableBatchView(batch: batch, count: layers.count) { (entries) throws(DTDError) in
            try runLRP(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules, result: &result,
                       ledger: entries)
        }
    }

    func checkLRP(input: Int, batch: Int, outputRelevance: Int, rules: RuleSet<T>, result: Int) throws(DTDError) {
        try checkNotEmpty()
        try rules.checkUsable(with: self)
        try checkBatch(batch, input: input, inputName: "input")
        try checkOutputShaped(outputRelevance, batch: batch, name: "output_relevance")
        try checkInputShaped(result, batch: batch, name: "relevance")
        for index in layers.indices where layers[index].linear != nil {
            _ = try rules.preparedRule(at: index)
        }
    }

    private func runLRP(input: Span<T>, batch: Int, outputRelevance: Span<T>, rules: RuleSet<T>,
                        result: inout MutableSpan<T>, ledger: MutableBatchView<LedgerEntry>?,
                        taps: RelevanceTaps<T>? = nil, recorded: MutableBatchView<T>? = nil) throws(DTDError) {
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try outputRelevance.withBatchView(batch: batch, count: outputCount) { (r) throws(DTDError) in
                try result.withMutableBatchView(batch: batch, count: inputCount) { (out) throws(DTDError) in
                    try lrp(x, seed: r, rules: rules, into: out, ledger: ledger, taps: taps, recorded: recorded)
                }
            }
        }
    }

    /// LRP on views the caller has checked against the network (`checkLRP`), with `taps`
    /// recording into `recorded` and masking.
    func lrp(_ x: BatchView<T>, seed r: BatchView<T>, rules: RuleSet<T>, into out: MutableBatchView<T>,
             ledger: MutableBatchView<LedgerEntry>? = nil, taps: RelevanceTaps<T>? = nil,
             recorded: MutableBatchView<T>? = nil) throws(DTDError) {
        let scratch = Scratch<T>()
        let trace = try trace(input: x, rules: rules.prepared, scratch: scratch)
        var observe: ((Int, BatchView<T>) throws(DTDError) -> Void)?
        if let taps, let recorded, !taps.record.isEmpty {
            observe = { (above: Int, relevance: BatchView<T>) throws(DTDError) in
                if above > 0 { taps.store(relevance, of: above - 1, into: recorded) }
            }
        }
        try relevancePass(trace, seed: r, rules: rules.prepared, pools: rules.poolRules, from: 0, into: out, ledger: ledger,
                          scratch: scratch, masks: taps?.masks ?? [:], observe: observe)
    }

    // MARK: Relevance at layers

    /// LRP that also returns the relevance at the outputs of layers `record` and masks the
    /// relevance at chosen layers (Captum's `LayerLRP`; concept-level explanations). The
    /// relevance at the output of layer l is the sum of what every layer reading that output
    /// sends back (for a chain, the relevance at the input of layer l + 1), after l's mask; it
    /// is what layer l then propagates. A mask that keeps everything changes nothing.
    /// - Parameters:
    ///   - record: layer indices, repeats allowed.
    ///   - recorded: receives, for each recorded layer in order, `(batch, its output size)` values.
    ///   - masks: at most one per layer.
    ///   - others: as `lrp(input:batch:outputRelevance:rules:result:)`.
    /// - Throws: as `lrp(input:batch:outputRelevance:rules:result:)`; `.layerIndex` (a recorded
    ///   or masked layer outside the network), `.shapeMismatch` (a mask's flags),
    ///   `.invalidArgument` (two masks for one layer), `.bufferTooSmall` (`recorded`).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func lrp(input: Span<T>, batch: Int, outputRelevance: Span<T>, rules: RuleSet<T>, result: inout MutableSpan<T>,
                    record: [Int], recorded: inout MutableSpan<T>, masks: [RelevanceMask]) throws(DTDError) {
        try checkLRP(input: input.count, batch: batch, outputRelevance: outputRelevance.count, rules: rules, result: result.count)
        let taps = try RelevanceTaps(self, batch: batch, record: record, masks: masks)
        guard try Self.recordedCount(taps, recorded.count) > 0 else {
            return try runLRP(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules, result: &result,
                              ledger: nil, taps: taps)
        }
        try recorded.withMutableBatchView(batch: 1, count: taps.total) { (blocks) throws(DTDError) in
            try runLRP(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules, result: &result,
                       ledger: nil, taps: taps, recorded: blocks)
        }
    }

    /// `lrp(input:batch:outputRelevance:rules:result:record:recorded:masks:)` with the ledger.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func lrp(input: Span<T>, batch: Int, outputRelevance: Span<T>, rules: RuleSet<T>, result: inout MutableSpan<T>,
                    ledger: inout MutableSpan<LedgerEntry>, record: [Int], recorded: inout MutableSpan<T>,
                    masks: [RelevanceMask]) throws(DTDError) {
        try checkLRP(input: input.count, batch: batch, outputRelevance: outputRelevance.count, rules: rules, result: result.count)
        let taps = try RelevanceTaps(self, batch: batch, record: record, masks: masks)
        let needed = try Limits.product(batch, layers.count, "batch x layer count")
        guard ledger.count >= needed else {
            throw DTDError(.bufferTooSmall, "ledger holds \(ledger.count) entries, batch \(batch) x \(layers.count) layers needs \(needed)")
        }
        let total = try Self.recordedCount(taps, recorded.count)
        try ledger.withMutableBatchView(batch: batch, count: layers.count) { (entries) throws(DTDError) in
            guard total > 0 else {
                return try runLRP(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules, result: &result,
                                  ledger: entries, taps: taps)
            }
            try recorded.withMutableBatchView(batch: 1, count: total) { (blocks) throws(DTDError) in
                try runLRP(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules, result: &result,
                           ledger: entries, taps: taps, recorded: blocks)
            }
        }
    }

    /// LRP on arrays, with relevance recorded at layers `record` (by layer) and `masks` applied.
    /// - Returns: the input relevance and, per recorded layer, `(batch, its output size)` values.
    /// - Throws: as `lrp(input:batch:outputRelevance:rules:result:record:recorded:masks:)`.
    public func lrp(_ input: [T], batch: Int, outputRelevance: [T], rules: RuleSet<T>, record: [Int],
                    masks: [RelevanceMask] = []) throws(DTDError) -> (relevance: [T], recorded: [Int: [T]]) {
        let layers = Array(Set(record)).sorted()
        var blocks = [T]()
        let relevance = try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            let taps = try RelevanceTaps(self, batch: batch, record: layers, masks: masks)
            blocks = [T](repeating: 0, count: taps.total)
            var recorded = blocks.mutableSpan
            try lrp(input: x, batch: batch, outputRelevance: r, rules: rules, result: &y, record: layers,
                    recorded: &recorded, masks: masks)
        }
        var byLayer: [Int: [T]] = [:], offset = 0
        for layer in layers {
            let count = batch * self.layers[layer].outputShape.count
            byLayer[layer] = Array(blocks[offset..<(offset + count)])
            offset += count
        }
        return (relevance, byLayer)
    }

    /// Checks that a `recorded` buffer of `count` elements holds every block of `taps`; returns
    /// their total.
    private static func recordedCount(_ taps: RelevanceTaps<T>, _ count: Int) throws(DTDError) -> Int {
        guard count >= taps.total else {
            throw DTDError(.bufferTooSmall, "recorded holds \(count) values, the recorded layers \(taps.record) need \(taps.total)")
        }
        return taps.total
    }

    /// LRP on arrays.
    /// - Returns: the input relevance, `(batch, inputCount)` values.
    /// - Throws: as `lrp(input:batch:outputRelevance:rules:result:)`.
    public func lrp(_ input: [T], batch: Int, outputRelevance: [T], rules: RuleSet<T>) throws(DTDError) -> [T] {
        try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try lrp(input: x, batch: batch, outputRelevance: r, rules: rules, result: &y)
        }
    }

    /// LRP on arrays with the conservation ledger.
    /// - Returns: the input relevance and `batch * layers.count` ledger entries, sample-major.
    /// - Throws: as `lrp(input:batch:outputRelevance:rules:result:)`.
    public func lrpWithLedger(_ input: [T], batch: Int, outputRelevance: [T],
                              rules: RuleSet<T>) throws(DTDError) -> (relevance: [T], ledger: [LedgerEntry]) {
        try checkBatch(batch, input: input.count, inputName: "input")
        var entries = [LedgerEntry](repeating: LedgerEntry(layer: 0), count: max(batch, 0) * layers.count)
        var ledger = entries.mutableSpan
        let relevance = try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try lrp(input: x, batch: batch, outputRelevance: r, rules: rules, result: &y, ledger: &ledger)
        }
        _ = consume ledger
        return (relevance, entries)
    }

    /// The seed r = f_k(x) e_k ("explain output k") for each sample.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - targets: `batch` output indices k, each in `[0, outputCount)`.
    ///   - seed: receives `(batch, outputCount)` values.
    /// - Throws: `DTDError` `.emptyNetwork`, `.size`, `.bufferTooSmall`, `.outOfRange` (a target), `.outOfMemory`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func targetSeed(input: Span<T>, batch: Int, targets: Span<Int64>, seed: inout MutableSpan<T>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        guard targets.count >= batch else {
            throw DTDError(.bufferTooSmall, "targets holds \(targets.count) values, batch \(batch) needs \(batch)")
        }
        try checkOutputShaped(seed.count, batch: batch, name: "output_seed")
        for n in 0..<batch where targets[n] < 0 || targets[n] >= Int64(outputCount) {
            throw DTDError(.outOfRange, "targets[\(n)] = \(targets[n]) is outside [0, \(outputCount)) for output \(outputShape)")
        }
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try seed.withMutableBatchView(batch: batch, count: outputCount) { (out) throws(DTDError) in
                let traced = try trace(input: x, scratch: Scratch())
                let f = traced.output
                out.fill(0)
                for n in 0..<batch {
                    let k = Int(targets[n])
                    out[n, k] = f[n, k]
                }
                withExtendedLifetime(traced) {}  // owns f's storage
            }
        }
    }
}
