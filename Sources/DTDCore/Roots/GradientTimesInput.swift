// MARK: - T2: constant roots give gradient x input
//
// Sixt & Landgraf (2022), Theorem 2: LRP-0 with the bias included equals x (.) grad f(x) on any
// ReLU network, and DTD with a constant first-layer root x~ is grad f(x) (.) (x - x~). These
// functions measure how far any rule is from that.

extension Network {
    /// Per sample, ||LRP(x; r) - G|| / ||G|| (the plain norm of the difference when ||G|| = 0),
    /// where G = x (.) grad f(x)^T (r / f(x)) is gradient x input for the seed normalised by the
    /// output (entries with f_k(x) = 0 get 0). LRP-0 seeded with r is exactly G on a ReLU
    /// network with biases included; for the usual seed r = f_k(x) e_k, G = x (.) grad f_k(x).
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - outputRelevance: r, `(batch, outputCount)` values.
    ///   - rules: the rule set whose LRP is measured.
    ///   - distances: receives `batch` values.
    /// - Throws: `DTDError` as `lrp(input:batch:outputRelevance:rules:result:)`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func gradientTimesInputDistance(input: Span<T>, batch: Int, outputRelevance: Span<T>,
                                           rules: RuleSet<T>, distances: inout MutableSpan<Double>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        guard distances.count >= batch else {
            throw DTDError(.bufferTooSmall, "distances holds \(distances.count) values, batch \(batch) needs \(batch)")
        }
        try checkLRP(input: input.count, batch: batch, outputRelevance: outputRelevance.count, rules: rules,
                     result: batch * inputCount)
        let count = batch * inputCount
        let lrpStorage = try Storage<T>(count: count), gxiStorage = try Storage<T>(count: count)
        let lrpResult = lrpStorage.mutableView(batch: batch, count: inputCount)
        let gxi = gxiStorage.mutableView(batch: batch, count: inputCount)
        let normalisedStorage = try Storage<T>(count: batch * outputCount)
        let normalised = normalisedStorage.mutableView(batch: batch, count: outputCount)
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try outputRelevance.withBatchView(batch: batch, count: outputCount) { (r) throws(DTDError) in
                try lrp(x, seed: r, rules: rules, into: lrpResult)
                let traced = try trace(input: x, scratch: Scratch())
                let outputs = traced.output
                for i in 0..<(batch * outputCount) {
                    normalised[i] = outputs[i] == 0 ? 0 : r[i] / outputs[i]
                }
                withExtendedLifetime(traced) {}  // owns the outputs' storage
                try gradient(x, seed: normalised.readOnly, into: gxi, timesInput: true)
            }
        }
        for n in 0..<batch {
            var difference = 0.0, norm = 0.0
            for i in 0..<inputCount {
                let g = Double(gxi[n, i]), d = Double(lrpResult[n, i]) - g
                difference += d * d
                norm += g * g
            }
            distances[n] = norm > 0 ? (difference / norm).squareRoot() : difference.squareRoot()
        }
        withExtendedLifetime((lrpStorage, gxiStorage, normalisedStorage)) {}
    }

    /// grad f(x)^T r (.) (x - root): the explanation of a constant first-layer root.
    /// - Parameters:
    ///   - root: one point of the input shape for the whole batch, or one per sample.
    ///   - others: as `gradient(input:batch:outputRelevance:result:)`.
    /// - Throws: `DTDError` as `gradient(input:batch:outputRelevance:result:)`; `.shapeMismatch`
    ///   for a root of another size.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func constantRootExplanation(input: Span<T>, batch: Int, root: Span<T>, outputRelevance: Span<T>,
                                        result: inout MutableSpan<T>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        let perBatch = try Limits.product(batch, inputCount, "batch x input size")
        guard root.count == inputCount || root.count == perBatch else {
            throw DTDError(.shapeMismatch, "root has \(root.count) values; it must be one point of the input \(inputShape) (\(inputCount) values) or one per sample (\(perBatch))")
        }
        try gradient(input: input, batch: batch, outputRelevance: outputRelevance, result: &result)
        let shared = root.count == inputCount
        for n in 0..<batch {
            for i in 0..<inputCount {
                let j = n * inputCount + i
                result[j] *= input[j] - root[shared ? i : j]
            }
        }
    }
}
