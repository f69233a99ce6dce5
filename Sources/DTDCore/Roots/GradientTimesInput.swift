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
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func gradientTimesInputDistance(input: UnsafeBufferPointer<T>, batch: Int, outputRelevance: UnsafeBufferPointer<T>,
                                           rules: RuleSet<T>, distances: UnsafeMutableBufferPointer<Double>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        guard distances.count >= batch else {
            throw DTDError(.bufferTooSmall, "distances holds \(distances.count) values, batch \(batch) needs \(batch)")
        }
        let count = batch * inputCount
        let lrpResult = try Storage<T>(count: count), gxi = try Storage<T>(count: count)
        try lrp(input: input, batch: batch, outputRelevance: outputRelevance, rules: rules,
                result: UnsafeMutableBufferPointer(start: lrpResult.mutablePointer, count: count))
        let outputs = try Storage<T>(count: batch * outputCount), normalised = try Storage<T>(count: batch * outputCount)
        try forward(input: input, batch: batch, output: UnsafeMutableBufferPointer(start: outputs.mutablePointer, count: batch * outputCount))
        for i in 0..<(batch * outputCount) {
            normalised.mutablePointer[i] = outputs[i] == 0 ? 0 : outputRelevance[i] / outputs[i]
        }
        try gradientTimesInput(input: input, batch: batch, outputRelevance: normalised.buffer,
                               result: UnsafeMutableBufferPointer(start: gxi.mutablePointer, count: count))
        for n in 0..<batch {
            var difference = 0.0, norm = 0.0
            for i in 0..<inputCount {
                let g = Double(gxi[n * inputCount + i]), d = Double(lrpResult[n * inputCount + i]) - g
                difference += d * d
                norm += g * g
            }
            distances[n] = norm > 0 ? (difference / norm).squareRoot() : difference.squareRoot()
        }
    }

    /// grad f(x)^T r (.) (x - root): the explanation of a constant first-layer root.
    /// - Parameter root: one point of the input shape for the whole batch, or one per sample.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func constantRootExplanation(input: UnsafeBufferPointer<T>, batch: Int, root: UnsafeBufferPointer<T>,
                                        outputRelevance: UnsafeBufferPointer<T>, result: UnsafeMutableBufferPointer<T>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        let perBatch = try Limits.product(batch, inputCount, "batch x input size")
        guard root.count == inputCount || root.count == perBatch else {
            throw DTDError(.shapeMismatch, "root has \(root.count) values; it must be one point of the input \(inputShape) (\(inputCount) values) or one per sample (\(perBatch))")
        }
        try gradient(input: input, batch: batch, outputRelevance: outputRelevance, result: result)
        let shared = root.count == inputCount
        for n in 0..<batch {
            for i in 0..<inputCount {
                let j = n * inputCount + i
                result[j] *= input[j] - root[shared ? i : j]
            }
        }
    }
}
