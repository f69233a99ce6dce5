// MARK: - Forward pass

extension Network {
    /// f(x) for a batch.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values (more are ignored).
    ///   - batch: the number of samples, > 0.
    ///   - output: receives `(batch, outputCount)` values (it may be longer).
    /// - Throws: `DTDError` `.emptyNetwork`, `.size`, `.overflow`, `.bufferTooSmall`, `.outOfMemory`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func forward(input: Span<T>, batch: Int, output: inout MutableSpan<T>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        let outCount = try Limits.product(batch, outputCount, "batch x output size")
        guard output.count >= outCount else {
            throw DTDError(.bufferTooSmall, "output holds \(output.count) elements, batch \(batch) x output \(outputShape) needs \(outCount)")
        }
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try output.withMutableBatchView(batch: batch, count: outputCount) { (y) throws(DTDError) in
                // The trace owns the output's storage: keep it to the copy's end.
                let traced = try trace(input: x, scratch: Scratch())
                y.copy(from: traced.output)
                withExtendedLifetime(traced) {}
            }
        }
    }

    /// f(x) for a batch given as an array.
    /// - Returns: `(batch, outputCount)` values.
    /// - Throws: `DTDError` as `forward(input:batch:output:)`.
    public func forward(_ input: [T], batch: Int) throws(DTDError) -> [T] {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        var result = [T](repeating: 0, count: batch * outputCount)
        var output = result.mutableSpan
        try forward(input: input.span, batch: batch, output: &output)
        _ = consume output
        return result
    }

    /// Validates a batch size against an input buffer of `count` elements.
    func checkBatch(_ batch: Int, input count: Int, inputName: String) throws(DTDError) {
        try Limits.checkSize(batch, "batch")
        let needed = try Limits.product(batch, inputCount, "batch x input size")
        guard count >= needed else {
            throw DTDError(.bufferTooSmall, "\(inputName) holds \(count) elements, batch \(batch) x input \(inputShape) needs \(needed)")
        }
    }

    /// Validates a `(batch, outputCount)` buffer argument.
    func checkOutputShaped(_ count: Int, batch: Int, name: String) throws(DTDError) {
        let needed = try Limits.product(batch, outputCount, "batch x output size")
        guard count >= needed else {
            throw DTDError(.bufferTooSmall, "\(name) holds \(count) elements, batch \(batch) x output \(outputShape) needs \(needed)")
        }
    }

    /// Validates a `(batch, inputCount)` result buffer.
    func checkInputShaped(_ count: Int, batch: Int, name: String) throws(DTDError) {
        let needed = try Limits.product(batch, inputCount, "batch x input size")
        guard count >= needed else {
            throw DTDError(.bufferTooSmall, "\(name) holds \(count) elements, batch \(batch) x input \(inputShape) needs \(needed)")
        }
    }
}
