// MARK: - Gradient and gradient x input

extension Network {
    /// Backpropagates `seed` (the gradient at the output of layer `trace.end - 1`) down to the
    /// input of layer `stop` (default `trace.start`), writing it to `result`. ReLU'(0) = 0;
    /// max-pool routes to the recorded winner.
    func backpropagate(_ trace: ForwardTrace<T>, seed: UnsafePointer<T>, into result: UnsafeMutablePointer<T>,
                       stop: Int? = nil, scratch: Scratch<T>) throws(DTDError) {
        let batch = trace.batch
        let stop = stop ?? trace.start
        let capacity = try Limits.product(batch, largestActivation(from: stop, to: trace.end), "batch x activation size")
        let buffers = [try scratch.buffer(.gradientA, count: capacity), try scratch.buffer(.gradientB, count: capacity)]
        var current = seed
        var free = 0
        for index in stride(from: trace.end - 1, through: stop, by: -1) {
            let layer = layers[index]
            let next = buffers[free]
            let inCount = batch * layer.inputShape.count
            switch layer {
            case .linear(let l):
                try l.applyTransposed(weight: l.weight, transposedWeight: l.transposedWeight?.pointer,
                                      gradOutput: current, batch: batch, gradInput: next, scratch: scratch)
            case .relu:
                let z = trace.input(of: index)
                Gemm.forEachRange(inCount, work: inCount) { range, _ in
                    for i in range { next[i] = z[i] > 0 ? current[i] : 0 }
                }
            case .maxPool2d(let g):
                Pooling.maxRoute(g, output: current, winners: try trace.winners(of: index), input: next, batch: batch)
            case .avgPool2d(let g):
                next.update(repeating: 0, count: inCount)
                let outCount = g.outputShape.count, perSample = g.inputShape.count
                for n in 0..<batch {
                    Pooling.avgTransposedAdd(g, output: current + n * outCount, input: next + n * perSample)
                }
            case .flatten, .batchNorm:
                continue
            }
            current = UnsafePointer(next)
            free = 1 - free
        }
        result.update(from: current, count: batch * layers[stop].inputShape.count)
    }

    /// J(x)^T r: the gradient of r . f(x) with respect to x.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func gradient(input: UnsafeBufferPointer<T>, batch: Int, outputRelevance: UnsafeBufferPointer<T>,
                         result: UnsafeMutableBufferPointer<T>) throws(DTDError) {
        try runGradient(input: input, batch: batch, outputRelevance: outputRelevance, result: result, timesInput: false)
    }

    /// x (.) J(x)^T r.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func gradientTimesInput(input: UnsafeBufferPointer<T>, batch: Int, outputRelevance: UnsafeBufferPointer<T>,
                                   result: UnsafeMutableBufferPointer<T>) throws(DTDError) {
        try runGradient(input: input, batch: batch, outputRelevance: outputRelevance, result: result, timesInput: true)
    }

    private func runGradient(input: UnsafeBufferPointer<T>, batch: Int, outputRelevance: UnsafeBufferPointer<T>,
                             result: UnsafeMutableBufferPointer<T>, timesInput: Bool) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        try checkOutputShaped(outputRelevance.count, batch: batch, name: "output_relevance")
        try checkInputShaped(result.count, batch: batch, name: "relevance")
        guard let x = input.baseAddress, let r = outputRelevance.baseAddress, let out = result.baseAddress else { return }
        let scratch = Scratch<T>()
        let trace = try trace(input: x, batch: batch, scratch: scratch)
        try backpropagate(trace, seed: r, into: out, scratch: scratch)
        if timesInput {
            for i in 0..<(batch * inputCount) { out[i] *= x[i] }
        }
    }

    /// Array conveniences.
    public func gradient(_ input: [T], batch: Int, outputRelevance: [T]) throws(DTDError) -> [T] {
        try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try gradient(input: x, batch: batch, outputRelevance: r, result: y)
        }
    }

    public func gradientTimesInput(_ input: [T], batch: Int, outputRelevance: [T]) throws(DTDError) -> [T] {
        try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try gradientTimesInput(input: x, batch: batch, outputRelevance: r, result: y)
        }
    }

    /// Runs `body` on buffer views of two arrays and a fresh `(batch, inputCount)` result.
    func arrayCall(_ input: [T], _ seed: [T], _ batch: Int,
                   _ body: (UnsafeBufferPointer<T>, UnsafeBufferPointer<T>, UnsafeMutableBufferPointer<T>) throws(DTDError) -> Void) throws(DTDError) -> [T] {
        try checkBatch(batch, input: input.count, inputName: "input")
        var result = [T](repeating: 0, count: max(batch, 0) * inputCount)
        var failure: DTDError?
        input.withUnsafeBufferPointer { x in
            seed.withUnsafeBufferPointer { r in
                result.withUnsafeMutableBufferPointer { y in
                    do throws(DTDError) { try body(x, r, y) } catch { failure = error }
                }
            }
        }
        if let failure { throw failure }
        return result
    }
}
