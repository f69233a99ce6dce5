// MARK: - Gradient and gradient x input

extension Network {
    /// Backpropagates `seed` (the gradient at the output of layer `trace.end - 1`) down to the
    /// input of layer `stop` (default `trace.start`), writing it to `result`. ReLU'(0) = 0;
    /// max-pool routes to the recorded winner.
    func backpropagate(_ trace: ForwardTrace<T>, seed: BatchView<T>, into result: MutableBatchView<T>,
                       stop: Int? = nil, scratch: Scratch<T>) throws(DTDError) {
        let batch = trace.batch
        let stop = stop ?? trace.start
        let capacity = try Limits.product(batch, largestActivation(from: stop, to: trace.end), "batch x activation size")
        let buffers = [try scratch.view(.gradientA, batch: 1, count: capacity),
                       try scratch.view(.gradientB, batch: 1, count: capacity)]
        // `current` is the gradient at the output of `index`; each layer turns it into the
        // gradient at its input, the output of the layer before.
        var current = seed
        var free = 0
        for index in stride(from: trace.end - 1, through: stop, by: -1) {
            let layer = layers[index]
            let next = buffers[free].prefix(batch: batch, count: layer.inputShape.count)
            switch layer {
            case .linear(let l):
                try l.applyTransposed(weight: l.weight, transposedWeight: l.transposedWeight, gradOutput: current,
                                      gradInput: next, scratch: scratch)
            case .relu:
                Elementwise.reluGradient(input: trace.input(of: index), gradient: current, into: next)
            case .maxPool2d(let g):
                Pooling.maxRoute(g, output: current, winners: try trace.winners(of: index), input: next)
            case .avgPool2d(let g):
                Pooling.avgTransposed(g, output: current, input: next)
            case .flatten, .batchNorm:
                current = current.reshaped(batch: batch, count: layer.inputShape.count)
                continue
            }
            current = next.readOnly
            free = 1 - free
        }
        result.copy(from: current)
    }

    /// J(x)^T r: the gradient of r . f(x) with respect to x.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - outputRelevance: r, `(batch, outputCount)` values.
    ///   - result: receives `(batch, inputCount)` values.
    /// - Throws: `DTDError` `.emptyNetwork`, `.size`, `.overflow`, `.bufferTooSmall`, `.outOfMemory`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func gradient(input: Span<T>, batch: Int, outputRelevance: Span<T>, result: inout MutableSpan<T>) throws(DTDError) {
        try runGradient(input: input, batch: batch, outputRelevance: outputRelevance, result: &result, timesInput: false)
    }

    /// x (.) J(x)^T r.
    /// - Parameters and throws: as `gradient(input:batch:outputRelevance:result:)`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func gradientTimesInput(input: Span<T>, batch: Int, outputRelevance: Span<T>,
                                   result: inout MutableSpan<T>) throws(DTDError) {
        try runGradient(input: input, batch: batch, outputRelevance: outputRelevance, result: &result, timesInput: true)
    }

    private func runGradient(input: Span<T>, batch: Int, outputRelevance: Span<T>, result: inout MutableSpan<T>,
                             timesInput: Bool) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        try checkOutputShaped(outputRelevance.count, batch: batch, name: "output_relevance")
        try checkInputShaped(result.count, batch: batch, name: "relevance")
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try outputRelevance.withBatchView(batch: batch, count: outputCount) { (r) throws(DTDError) in
                try result.withMutableBatchView(batch: batch, count: inputCount) { (out) throws(DTDError) in
                    try gradient(x, seed: r, into: out, timesInput: timesInput)
                }
            }
        }
    }

    /// J(x)^T r, or x (.) J(x)^T r with `timesInput`, on views the caller has checked.
    func gradient(_ x: BatchView<T>, seed r: BatchView<T>, into out: MutableBatchView<T>, timesInput: Bool) throws(DTDError) {
        let scratch = Scratch<T>()
        let trace = try trace(input: x, scratch: scratch)
        try backpropagate(trace, seed: r, into: out, scratch: scratch)
        if timesInput { Elementwise.multiply(out, by: x) }
    }

    /// `gradient(input:batch:outputRelevance:result:)` on arrays.
    /// - Returns: `(batch, inputCount)` values.
    public func gradient(_ input: [T], batch: Int, outputRelevance: [T]) throws(DTDError) -> [T] {
        try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try gradient(input: x, batch: batch, outputRelevance: r, result: &y)
        }
    }

    /// `gradientTimesInput(input:batch:outputRelevance:result:)` on arrays.
    /// - Returns: `(batch, inputCount)` values.
    public func gradientTimesInput(_ input: [T], batch: Int, outputRelevance: [T]) throws(DTDError) -> [T] {
        try arrayCall(input, outputRelevance, batch) { (x, r, y) throws(DTDError) in
            try gradientTimesInput(input: x, batch: batch, outputRelevance: r, result: &y)
        }
    }

    /// Runs `body` on spans of two arrays and of a fresh `(batch, inputCount)` result, which it returns.
    func arrayCall(_ input: [T], _ seed: [T], _ batch: Int,
                   _ body: (Span<T>, Span<T>, inout MutableSpan<T>) throws(DTDError) -> Void) throws(DTDError) -> [T] {
        try checkBatch(batch, input: input.count, inputName: "input")
        var result = [T](repeating: 0, count: max(batch, 0) * inputCount)
        var output = result.mutableSpan
        try body(input.span, seed.span, &output)
        _ = consume output
        return result
    }
}
