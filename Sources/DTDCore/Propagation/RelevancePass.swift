// MARK: - The backward relevance pass over the layers

extension Network {
    /// Propagates `seed` (relevance at the output of layer `trace.end - 1`) down through the layers
    /// `from..<trace.end` with `rules[l]` on each dense/conv layer l, writing the relevance at the
    /// input of layer `from` to `result`. ReLU, flatten and batch-norm pass relevance; max-pool
    /// routes it to the winners; avg-pool uses the epsilon form with stabiliser 1e-6.
    /// `observe`, if given, sees the relevance at the input of every layer passed (and first the seed).
    func relevancePass(_ trace: ForwardTrace<T>, seed: BatchView<T>, rules: [PreparedRule<T>?], from: Int,
                       into result: MutableBatchView<T>, ledger: MutableBatchView<LedgerEntry>?, scratch: Scratch<T>,
                       observe: ((_ inputOfLayer: Int, _ relevance: BatchView<T>) throws(DTDError) -> Void)? = nil) throws(DTDError) {
        let batch = trace.batch
        let capacity = try Limits.product(batch, largestActivation(from: from, to: trace.end), "batch x activation size")
        let buffers = [try scratch.view(.relevanceA, batch: 1, count: capacity),
                       try scratch.view(.relevanceB, batch: 1, count: capacity)]
        // `current` is the relevance at the output of `index`; each layer turns it into the
        // relevance at its input, the output of the layer before.
        var current = seed
        var free = 0
        try observe?(trace.end, seed)
        for index in stride(from: trace.end - 1, through: from, by: -1) {
            let layer = layers[index]
            let next = buffers[free].prefix(batch: batch, count: layer.inputShape.count)
            switch layer {
            case .linear(let linear):
                guard let rule = rules[index] else {
                    throw DTDError(.rule, "layer \(index) (\(layer.kind)) has no rule; set one (libdtd never guesses a rule)")
                }
                try rule.propagate(layer: linear, input: trace.input(of: index), output: trace.output(of: index),
                                   relevance: current, result: next, ledger: ledger,
                                   fused: trace.fusedDenominator(of: index),
                                   signs: rule.usesInputSigns ? trace.inputSigns(of: index) : nil, scratch: scratch)
            case .maxPool2d(let g):
                Pooling.maxRoute(g, output: current, winners: try trace.winners(of: index), input: next)
                recordPassThrough(ledger, index, current: current)
            case .avgPool2d(let g):
                try averagePoolRelevance(g, index: index, trace: trace, relevance: current, result: next,
                                         ledger: ledger, scratch: scratch)
            case .relu, .flatten, .batchNorm:
                recordPassThrough(ledger, index, current: current)
                current = current.reshaped(batch: batch, count: layer.inputShape.count)
                try observe?(index, current)
                continue
            }
            current = next.readOnly
            free = 1 - free
            try observe?(index, current)
        }
        result.copy(from: current)
    }

    /// Avg-pool's "norm" rule: a (.) P^T (R / stab(z)) with stabiliser 1e-6.
    private func averagePoolRelevance(_ g: PoolGeometry, index: Int, trace: ForwardTrace<T>, relevance r: BatchView<T>,
                                      result: MutableBatchView<T>, ledger: MutableBatchView<LedgerEntry>?,
                                      scratch: Scratch<T>) throws(DTDError) {
        let a = trace.input(of: index), z = trace.output(of: index)
        let s = try scratch.view(.share, batch: r.batch, count: r.count)
        let eps: T = 1e-6
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
        Pooling.avgTransposed(g, output: s.readOnly, input: result)
        Elementwise.multiply(result, by: a)
        if let ledger {
            for (n, total) in Elementwise.sampleSums(result.readOnly).enumerated() {
                ledger[n, index].relevanceIn = total
                ledger[n, index].dropped = ledger[n, index].relevanceOut - total - ledger[n, index].absorbedStabilizer
            }
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
                        result: inout MutableSpan<T>, ledger: MutableBatchView<LedgerEntry>?) throws(DTDError) {
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try outputRelevance.withBatchView(batch: batch, count: outputCount) { (r) throws(DTDError) in
                try result.withMutableBatchView(batch: batch, count: inputCount) { (out) throws(DTDError) in
                    try lrp(x, seed: r, rules: rules, into: out, ledger: ledger)
                }
            }
        }
    }

    /// LRP on views the caller has checked against the network (`checkLRP`).
    func lrp(_ x: BatchView<T>, seed r: BatchView<T>, rules: RuleSet<T>, into out: MutableBatchView<T>,
             ledger: MutableBatchView<LedgerEntry>? = nil) throws(DTDError) {
        let scratch = Scratch<T>()
        let trace = try trace(input: x, rules: rules.prepared, scratch: scratch)
        try relevancePass(trace, seed: r, rules: rules.prepared, from: 0, into: out, ledger: ledger, scratch: scratch)
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
