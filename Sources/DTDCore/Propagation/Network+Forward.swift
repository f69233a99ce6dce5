// MARK: - Forward pass

extension Network {
    /// f(x) for a batch.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - output: receives `(batch, outputCount)` values.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func forward(input: UnsafeBufferPointer<T>, batch: Int, output: UnsafeMutableBufferPointer<T>) throws(DTDError) {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        let outCount = try Limits.product(batch, outputCount, "batch x output size")
        guard output.count >= outCount else {
            throw DTDError(.bufferTooSmall, "output holds \(output.count) elements, batch \(batch) x output \(outputShape) needs \(outCount)")
        }
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        let trace = try trace(input: x, batch: batch, scratch: Scratch())
        y.update(from: trace.output, count: outCount)
    }

    /// f(x) for a batch given as an array.
    public func forward(_ input: [T], batch: Int) throws(DTDError) -> [T] {
        try checkNotEmpty()
        try checkBatch(batch, input: input.count, inputName: "input")
        var result = [T](repeating: 0, count: batch * outputCount)
        try input.withUnsafeBufferPointer { (x) throws(DTDError) in
            try result.withUnsafeMutableBufferPointer { (y) throws(DTDError) in
                try forward(input: x, batch: batch, output: y)
            }
        }
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
