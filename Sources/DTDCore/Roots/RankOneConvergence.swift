// MARK: - Rank-1 convergence (Sixt, Granz & Landgraf, ICML 2020)
//
// Propagating different output relevance vectors through a network with z+ (and similar
// positive rules) yields ever more similar relevance vectors as depth grows: the explanation
// stops depending on the explained class. The mean pairwise cosine similarity (CSC) per layer
// makes this visible; gradient x input does not converge this way.

extension Network {
    /// For every layer boundary, the mean pairwise cosine similarity of the relevance vectors that
    /// `seedsPerSample` seeds produce, averaged over the batch.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - rules: a rule set made for this network, with a rule on every dense/conv layer.
    ///   - seedsPerSample: seeds per sample, >= 2.
    ///   - seeds: `(batch, seedsPerSample, outputCount)`.
    ///   - csc: receives `layers.count + 1` values: csc[l] at the input of layer l, the last for the seeds.
    /// - Throws: `DTDError` as `lrp(input:batch:outputRelevance:rules:result:)`; `.size` for
    ///   fewer than 2 seeds per sample.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func rankOneSimilarity(input: Span<T>, batch: Int, rules: RuleSet<T>, seedsPerSample: Int,
                                  seeds: Span<T>, csc: inout MutableSpan<Double>) throws(DTDError) {
        try checkNotEmpty()
        try rules.checkUsable(with: self)
        try checkBatch(batch, input: input.count, inputName: "input")
        guard seedsPerSample >= 2, seedsPerSample <= Limits.maxDimension else {
            throw DTDError(.size, "seeds_per_sample must be >= 2 to compare relevance vectors, got \(seedsPerSample)")
        }
        let total = try Limits.product(batch, seedsPerSample, "batch x seeds_per_sample")
        guard total <= Limits.maxDimension else {
            throw DTDError(.size, "batch x seeds_per_sample = \(total) exceeds the limit \(Limits.maxDimension)")
        }
        let needed = try Limits.product(total, outputCount, "batch x seeds x output size")
        guard seeds.count >= needed else {
            throw DTDError(.bufferTooSmall, "seeds holds \(seeds.count) values, batch \(batch) x \(seedsPerSample) seeds x output \(outputShape) needs \(needed)")
        }
        guard csc.count >= layers.count + 1 else {
            throw DTDError(.bufferTooSmall, "csc holds \(csc.count) values, the network needs layer count + 1 = \(layers.count + 1)")
        }
        for index in layers.indices where layers[index].linear != nil { _ = try rules.preparedRule(at: index) }

        // Every sample repeated once per seed, so all seeds go through the network as one batch.
        let repeated = try Storage<T>(count: try Limits.product(total, inputCount, "batch x seeds x input size"))
        let copies = repeated.mutableView(batch: total, count: inputCount)
        var similarities = [Double](repeating: 0, count: layers.count + 1)
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            for n in 0..<batch {
                for s in 0..<seedsPerSample { copies.sample(n * seedsPerSample + s).copy(from: x.sample(n)) }
            }
            try seeds.withBatchView(batch: total, count: outputCount) { (r) throws(DTDError) in
                let scratch = Scratch<T>()
                let trace = try trace(input: copies.readOnly, scratch: scratch)
                let result = try Storage<T>(count: total * inputCount)
                try relevancePass(trace, seed: r, rules: rules.prepared, from: 0,
                                  into: result.mutableView(batch: total, count: inputCount), ledger: nil,
                                  scratch: scratch) { (layer: Int, relevance: BatchView<T>) throws(DTDError) in
                    similarities[layer] = Self.meanPairwiseCosine(relevance, batch: batch, vectors: seedsPerSample)
                }
                withExtendedLifetime(result) {}
            }
        }
        withExtendedLifetime(repeated) {}
        for (layer, value) in similarities.enumerated() { csc[layer] = value }
    }

    /// Mean over samples of the mean pairwise cosine similarity of their `vectors` vectors
    /// (`values` holds `batch * vectors` of them).
    static func meanPairwiseCosine(_ values: BatchView<T>, batch: Int, vectors: Int) -> Double {
        let size = values.count
        var sum = 0.0
        for n in 0..<batch {
            var pairs = 0.0, count = 0.0
            for i in 0..<vectors {
                let u = n * vectors + i
                for j in (i + 1)..<vectors {
                    let v = n * vectors + j
                    var dot = 0.0, uu = 0.0, vv = 0.0
                    for k in 0..<size {
                        let a = Double(values[u, k]), b = Double(values[v, k])
                        dot += a * b
                        uu += a * a
                        vv += b * b
                    }
                    pairs += (uu > 0 && vv > 0) ? dot / (uu.squareRoot() * vv.squareRoot()) : 0
                    count += 1
                }
            }
            sum += count > 0 ? pairs / count : 0
        }
        return sum / Double(batch)
    }
}
