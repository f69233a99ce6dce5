// MARK: - Gradient and gradient x input

extension Network {
    /// Backpropagates `seed` (the gradient at the output of layer `trace.end - 1`) down to the
    /// input of layer `stop` (default `trace.start`), writing it to `result`. ReLU'(0) = 0;
    /// max-pool routes to the recorded winner; an add passes the gradient to every operand, a
    /// route hands each source its channel slice, and what arrives at one output is summed.
    func backpropagate(_ trace: ForwardTrace<T>, seed: BatchView<T>, into result: MutableBatchView<T>,
                       stop: Int? = nil, scratch: Scratch<T>) throws(DTDError) {
        let stop = stop ?? trace.start
        let flow = try BackwardFlow(self, from: stop, end: trace.end, seed: seed, scratch: scratch,
                                    slots: (.gradientA, .gradientB))
        for index in stride(from: trace.end - 1, through: stop, by: -1) {
            let current = try flow.value(at: index)
            func step(_ body: (MutableBatchView<T>) throws(DTDError) -> Void) throws(DTDError) {
                try body(try flow.destination(reader: index, operand: index - 1))
                try flow.commit(reader: index, operand: index - 1)
            }
            switch layers[index] {
            case .linear(let l):
                try step { (next) throws(DTDError) in
                    try l.applyTransposed(weight: l.weight, transposedWeight: l.transposedWeight, gradOutput: current,
                                          gradInput: next, scratch: scratch)
                }
            case .relu:
                try step { next in Elementwise.reluGradient(input: trace.input(of: index), gradient: current, into: next) }
            case .maxPool2d(let g):
                let winners = try trace.winners(of: index)
                try step { next in Pooling.maxRoute(g, output: current, winners: winners, input: next) }
            case .avgPool2d(let g):
                try step { next in Pooling.avgTransposed(g, output: current, input: next) }
            case .adaptiveAvgPool2d(let g):
                try step { next in Pooling.adaptiveAvgTransposed(g, output: current, input: next) }
            case .flatten, .batchNorm, .identity:
                try flow.pass(reader: index, operand: index - 1)
            case .add:
                for operand in operands(of: index) { try flow.pass(reader: index, operand: operand) }
            case .route(let route):
                if route.sources.count == 1 {
                    try flow.pass(reader: index, operand: route.sources[0])
                } else {
                    for (source, offset) in zip(route.sources, route.offsets) {
                        Concatenation.slice(current, offset: offset, into: try flow.destination(reader: index, operand: source),
                                            accumulate: false)
                        try flow.commit(reader: index, operand: source)
                    }
                }
            }
        }
        result.copy(from: try flow.value(at: stop - 1))
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
