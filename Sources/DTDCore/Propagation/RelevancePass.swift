// MARK: - The backward relevance pass over the layers

extension Network {
    /// Propagates `seed` (relevance at the output of layer `trace.end - 1`) down through the layers
    /// `from..<trace.end` with `rules[l]` on each dense/conv layer l, writing the relevance at the
    /// input of layer `from` to `result`. ReLU, flatten and batch-norm pass relevance; max-pool
    /// routes it to the winners; avg-pool uses the epsilon form with stabiliser 1e-6.
    /// `observe`, if given, sees the relevance at the input of every layer passed (and first the seed).
    func relevancePass(_ trace: ForwardTrace<T>, seed: UnsafePointer<T>, rules: [PreparedRule<T>?], from: Int,
                       into result: UnsafeMutablePointer<T>, ledger: LedgerSink?, scratch: Scratch<T>,
                       observe: ((_ inputOfLayer: Int, _ relevance: UnsafePointer<T>) throws(DTDError) -> Void)? = nil) throws(DTDError) {
        let batch = trace.batch
        let capacity = try Limits.product(batch, largestActivation(from: from, to: trace.end), "batch x activation size")
        let buffers = [try scratch.buffer(.relevanceA, count: capacity), try scratch.buffer(.relevanceB, count: capacity)]
        var current = seed
        var free = 0
        try observe?(trace.end, seed)
        for index in stride(from: trace.end - 1, through: from, by: -1) {
            let layer = layers[index]
            let next = buffers[free]
            let outCount = layer.outputShape.count
            switch layer {
            case .linear(let linear):
                guard let rule = rules[index] else {
                    throw DTDError(.rule, "layer \(index) (\(layer.kind)) has no rule; set one (libdtd never guesses a rule)")
                }
                try rule.propagate(layer: linear, input: trace.input(of: index), output: trace.output(of: index),
                                   relevance: current, batch: batch, result: next, ledger: ledger,
                                   fused: trace.fusedDenominator(of: index),
                                   signs: rule.usesInputSigns ? trace.inputSigns(of: index, count: batch * linear.inputCount) : nil,
                                   scratch: scratch)
            case .maxPool2d(let g):
                Pooling.maxRoute(g, output: current, winners: try trace.winners(of: index), input: next, batch: batch)
                recordPassThrough(ledger, index, batch: batch, current: current, count: outCount)
            case .avgPool2d(let g):
                try averagePoolRelevance(g, index: index, trace: trace, relevance: current, batch: batch, result: next,
                                         ledger: ledger, scratch: scratch)
            case .relu, .flatten, .batchNorm:
                recordPassThrough(ledger, index, batch: batch, current: current, count: outCount)
                try observe?(index, current)
                continue
            }
            current = UnsafePointer(next)
            free = 1 - free
            try observe?(index, current)
        }
        result.update(from: current, count: batch * layers[from].inputShape.count)
    }

    /// Avg-pool's "norm" rule: a (.) P^T (R / stab(z)) with stabiliser 1e-6.
    private func averagePoolRelevance(_ g: PoolGeometry, index: Int, trace: ForwardTrace<T>, relevance r: UnsafePointer<T>,
                                      batch: Int, result: UnsafeMutablePointer<T>, ledger: LedgerSink?,
                                      scratch: Scratch<T>) throws(DTDError) {
        let outCount = g.outputShape.count, inCount = g.inputShape.count
        let a = trace.input(of: index), z = trace.output(of: index)
        let s = try scratch.buffer(.share0, count: batch * outCount)
        let eps: T = 1e-6
        for n in 0..<batch {
            var total = 0.0, stabilizerPart = 0.0
            for j in 0..<outCount {
                let i = n * outCount + j
                let denominator = stabilize(z[i], eps)
                s[i] = share(r[i], denominator)
                total += Double(r[i])
                stabilizerPart += Double(s[i]) * Double(denominator - z[i])
            }
            if let ledger {
                var entry = LedgerEntry(layer: index)
                entry.relevanceOut = total
                entry.absorbedStabilizer = stabilizerPart
                ledger.entry(n, index).pointee = entry
            }
        }
        result.update(repeating: 0, count: batch * inCount)
        for n in 0..<batch {
            Pooling.avgTransposedAdd(g, output: s + n * outCount, input: result + n * inCount)
        }
        for i in 0..<(batch * inCount) { result[i] *= a[i] }
        if let ledger {
            for n in 0..<batch {
                var total = 0.0
                for i in 0..<inCount { total += Double(result[n * inCount + i]) }
                let entry = ledger.entry(n, index)
                entry.pointee.relevanceIn = total
                entry.pointee.dropped = entry.pointee.relevanceOut - total - entry.pointee.absorbedStabilizer
            }
        }
    }

    /// Ledger entries of a layer that passes relevance on unchanged (in total).
    private func recordPassThrough(_ ledger: LedgerSink?, _ index: Int, batch: Int, current: UnsafePointer<T>, count: Int) {
        guard let ledger else { return }
        for n in 0..<batch {
            var total = 0.0
            for j in 0..<count { total += Double(current[n * count + j]) }
            var entry = LedgerEntry(layer: index)
            entry.relevanceOut = total
            entry.relevanceIn = total
            ledger.entry(n, index).pointee = entry
        }
    }

    // MARK: Public LRP

    /// Layer-wise Relevance Propagation of `outputRelevance` to the input, with the rule `rules`
    /// assigns to each dense/conv layer.
    /// - Parameters:
    ///   - ledger: if given, receives `batch * layers.count` entries, sample-major.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func lrp(input: UnsafeBufferPointer<T>, batch: Int, outputRelevance: UnsafeBufferPointer<T>, rules: RuleSet<T>,
                    result: UnsafeMutableBufferPointer<T>, ledger: UnsafeMutableBufferPointer<LedgerEntry>? = nil) throws(DTDError) {
        try checkNotEmpty()
        try rules.checkUsable(with: self)
        try checkBatch(batch, input: input.count, inputName: "input")
        try checkOutputShaped(outputRelevance.count, batch: batch, name: "output_relevance")
        try checkInputShaped(result.count, batch: batch, name: "relevance")
        for index in layers.indices where layers[index].linear != nil {
            _ = try rules.preparedRule(at: index)
        }
        var sink: LedgerSink?
        if let ledger {
            let needed = try Limits.product(batch, layers.count, "batch x layer count")
            guard ledger.count >= needed else {
                throw DTDError(.bufferTooSmall, "ledger holds \(ledger.count) entries, batch \(batch) x \(layers.count) layers needs \(needed)")
            }
            if let base = ledger.baseAddress { sink = LedgerSink(entries: base, layerCount: layers.count) }
        }
        guard let x = input.baseAddress, let r = outputRelevance.baseAddress, let out = result.baseAddress else { return }
        let scratch = Scratch<T>()
        let trace = try trace(input: x, batch: batch, rules: rules.prepared, scratch: scratch)
        try relevancePass(trace, seed: r, rules: rules.prepared, from: 0, into: out, ledger: sink, scratch: scratch)
    }

    /// LRP on arrays; returns the input relevance.
    public func lrp(_ input: [T], batch: Int, outputRelevance: [T], rules: RuleSet<T>) throws(DTDError) -> [T] {
        try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try lrp(input: x, batch: batch, outputRelevance: r, rules: rules, result: y)
        }
    }

    /// LRP on arrays with the conservation ledger.
    public func lrpWithLedger(_ input: [T], batch: Int, outputRelevance: [T],
                              rules: RuleSet<T>) throws(DTDError) -> (relevance: [T], ledger: [LedgerEntry]) {
        try checkBatch(batch, input: input.count, inputName: "input")
        var entries = [LedgerEntry](repeating: LedgerEntry(layer: 0), count: max(batch, 0) * layers.count)
        var failure: DTDError?
        let relevance = try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            entries.withUnsafeMutableBufferPointer { e in
                do throws(DTDError) { try lrp(input: x, batch: batch, outputRelevance: r, rules: rules, result: y, ledger: e) }
                catch { failure = error }
            }
        }
        if let failure { throw failure }
        return (relevance, entries)
    }

    /// The seed r = f_k(x) e_k ("explain output k") for each sample.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func targetSeed(input: UnsafeBufferPointer<T>, batch: Int, targets: UnsafeBufferPointer<Int64>,
                           seed: UnsafeMutableBufferPointer<T>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        guard targets.count >= batch else {
            throw DTDError(.bufferTooSmall, "targets holds \(targets.count) values, batch \(batch) needs \(batch)")
        }
        try checkOutputShaped(seed.count, batch: batch, name: "output_seed")
        for n in 0..<batch where targets[n] < 0 || targets[n] >= Int64(outputCount) {
            throw DTDError(.outOfRange, "targets[\(n)] = \(targets[n]) is outside [0, \(outputCount)) for output \(outputShape)")
        }
        guard let x = input.baseAddress, let out = seed.baseAddress else { return }
        let trace = try trace(input: x, batch: batch, scratch: Scratch())
        let f = trace.output
        out.update(repeating: 0, count: batch * outputCount)
        for n in 0..<batch {
            let k = Int(targets[n])
            out[n * outputCount + k] = f[n * outputCount + k]
        }
    }
}
