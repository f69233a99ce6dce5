/// The products of a dense layer over a batch: one GEMM each. Weights are `(out, in)`.
enum Dense {
    /// output (batch, out) = scale * input W^T (+ output when `accumulate`), no bias.
    static func forward<T: DTDScalar>(weight: Storage<T>, inFeatures: Int, outFeatures: Int, input: BatchView<T>,
                                      output: MutableBatchView<T>, scale: T = 1, accumulate: Bool = false) {
        Gemm.multiply(transposeA: false, transposeB: true, m: input.batch, n: outFeatures, k: inFeatures,
                      alpha: scale, a: input.base, lda: inFeatures, b: weight.pointer, ldb: inFeatures,
                      beta: accumulate ? 1 : 0, c: output.base, ldc: outFeatures)
    }

    /// gradInput (batch, in) = gradOutput W, overwriting gradInput.
    static func transposed<T: DTDScalar>(weight: Storage<T>, inFeatures: Int, outFeatures: Int,
                                         gradOutput: BatchView<T>, gradInput: MutableBatchView<T>) {
        Gemm.multiply(transposeA: false, transposeB: false, m: gradOutput.batch, n: inFeatures, k: outFeatures,
                      alpha: 1, a: gradOutput.base, lda: outFeatures, b: weight.pointer, ldb: inFeatures,
                      beta: 0, c: gradInput.base, ldc: inFeatures)
    }

    /// gradInput = 1^T gradOutput, the transpose with all-one weights (the flat rule): every
    /// input of a sample receives the sum of its outputs.
    static func onesTransposed<T: DTDScalar>(gradOutput: BatchView<T>, gradInput: MutableBatchView<T>) {
        let outCount = gradOutput.count, inCount = gradInput.count, r = gradOutput.base
        for n in 0..<gradOutput.batch {
            var sum: T = 0
            for j in 0..<outCount { sum += r[n * outCount + j] }
            (gradInput.base + n * inCount).update(repeating: sum, count: inCount)
        }
    }
}
