/// The products of a 2-D convolution, lowered per sample to im2col + GEMM (forward) and GEMM +
/// col2im or a convolution of the flipped kernel (transpose). Weights are `(Cout, Cin * kH * kW)`.
///
/// Samples are dealt to the workers, each with its own slice of the columns scratch; a lone
/// sample splits its im2col over the channels and its GEMM over the columns instead. float32
/// products that oneDNN serves (`OneDNN`) go there first.
enum Conv2D {
    /// output = scale * W input (+ output when `accumulate`), no bias.
    static func forward<T: DTDScalar>(_ g: ConvGeometry, weight: Storage<T>, input: BatchView<T>,
                                      output: MutableBatchView<T>, scale: T = 1, accumulate: Bool = false,
                                      scratch: Scratch<T>) throws(DTDError) {
        if try OneDNN.forward(g, weight: weight, input: input.base, batch: input.batch, output: output.base,
                              scale: scale, accumulate: accumulate) {
            return
        }
        let beta: T = accumulate ? 1 : 0, w = weight.pointer, out = output.base, outCount = output.count
        try forEachLoweredSample(g, input: input, slot: .columns, scratch: scratch) { n, _, columns, ld, alone in
            Gemm.multiply(transposeA: false, transposeB: false, m: g.outChannels, n: g.positions, k: g.patchSize,
                          alpha: scale, a: w, lda: g.patchSize, b: columns, ldb: ld,
                          beta: beta, c: out + n * outCount, ldc: g.positions, split: alone)
        }
    }

    /// first = W a and second = W_d a from one im2col and one GEMM with the stacked [W; W_d]
    /// (`2 Cout` rows), no bias.
    static func forwardStacked<T: DTDScalar>(_ g: ConvGeometry, stacked: Storage<T>, input: BatchView<T>,
                                             first: MutableBatchView<T>, second: MutableBatchView<T>,
                                             scratch: Scratch<T>) throws(DTDError) {
        if try OneDNN.forwardStacked(g, stacked: stacked, input: input.base, batch: input.batch, first: first.base,
                                     second: second.base) {
            return
        }
        let outCount = first.count, w = stacked.pointer
        let products = try scratch.buffer(.contribution, count: 2 * outCount * ParallelFor.workers(forSamples: input.batch))
        try forEachLoweredSample(g, input: input, slot: .columns, scratch: scratch) { n, worker, columns, ld, alone in
            let both = products + worker * 2 * outCount
            Gemm.multiply(transposeA: false, transposeB: false, m: 2 * g.outChannels, n: g.positions, k: g.patchSize,
                          alpha: 1, a: w, lda: g.patchSize, b: columns, ldb: ld,
                          beta: 0, c: both, ldc: g.positions, split: alone)
            (first.base + n * outCount).update(from: both, count: outCount)
            (second.base + n * outCount).update(from: both + outCount, count: outCount)
        }
    }

    /// gradInput = W^T gradOutput, overwriting gradInput.
    /// - Parameter transposedWeight: W flipped and channel-swapped (`ConvGeometry.transposedKernel`)
    ///   when `g.transposed` applies: the transpose then runs as a stride-1 convolution, im2col of
    ///   the gradient and one product with Cout * kH * kW terms, instead of a product with only
    ///   Cout terms and col2im.
    static func transposed<T: DTDScalar>(_ g: ConvGeometry, weight: Storage<T>, transposedWeight: Storage<T>?,
                                         gradOutput: BatchView<T>, gradInput: MutableBatchView<T>,
                                         scratch: Scratch<T>) throws(DTDError) {
        if OneDNN.backwardData(g, weight: weight, gradOutput: gradOutput.base, batch: gradOutput.batch,
                               gradInput: gradInput.base) {
            return
        }
        let inCount = gradInput.count, outCount = gradOutput.count, result = gradInput.base
        if let kernel = transposedWeight, let t = g.transposed {
            let k = kernel.pointer
            try forEachLoweredSample(t, input: gradOutput, slot: .columnsGradient, scratch: scratch) { n, _, columns, ld, alone in
                Gemm.multiply(transposeA: false, transposeB: false, m: t.outChannels, n: t.positions, k: t.patchSize,
                              alpha: 1, a: k, lda: t.patchSize, b: columns, ldb: ld,
                              beta: 0, c: result + n * inCount, ldc: t.positions, split: alone)
            }
            return
        }
        let k = g.patchSize, p = g.positions, w = weight.pointer, r = gradOutput.base
        let ld = g.columnStride(elementBytes: MemoryLayout<T>.stride)
        let workers = ParallelFor.workers(forSamples: gradOutput.batch)
        let columns = try scratch.buffer(.columnsGradient, count: k * ld * workers)
        ParallelFor.forEachSample(gradOutput.batch, workers: workers) { n, worker in
            let cols = columns + worker * k * ld
            Gemm.multiply(transposeA: true, transposeB: false, m: k, n: p, k: g.outChannels,
                          alpha: 1, a: w, lda: k, b: r + n * outCount, ldb: p,
                          beta: 0, c: cols, ldc: ld, split: workers == 1)
            let out = result + n * inCount
            out.update(repeating: 0, count: inCount)
            if workers == 1 {
                Im2col.col2imAddParallel(g, columns: cols, output: out, stride: ld)
            } else {
                Im2col.col2imAdd(g, columns: cols, output: out, stride: ld)
            }
        }
    }

    /// gradInput = 1^T gradOutput, the transpose with all-one weights (the flat rule), without a
    /// product: every input channel receives the same plane, the col2im of the channel sums at
    /// each position through the kernel's taps, computed once and copied.
    static func onesTransposed<T: DTDScalar>(_ g: ConvGeometry, gradOutput: BatchView<T>, gradInput: MutableBatchView<T>,
                                             scratch: Scratch<T>) throws(DTDError) {
        let channels = g.outChannels, p = g.positions, inCount = gradInput.count, outCount = gradOutput.count
        let taps = g.kernelHeight * g.kernelWidth, plane = g.height * g.width
        let columns = try scratch.buffer(.columnsGradient, count: taps * p)
        for n in 0..<gradOutput.batch {
            let sums = columns, source = gradOutput.base + n * outCount
            ParallelFor.forEachRange(p, work: channels * p) { positions, _ in
                for q in positions { sums[q] = 0 }
                for c in 0..<channels {
                    let row = source + c * p
                    for q in positions { sums[q] += row[q] }
                }
            }
            for r in 1..<max(taps, 1) { (columns + r * p).update(from: sums, count: p) }
            let out = gradInput.base + n * inCount
            out.update(repeating: 0, count: plane)
            Im2col.col2imAdd(g, columns: columns, output: out, channels: 0..<1)
            for c in 1..<max(g.inChannels, 1) { (out + c * plane).update(from: out, count: plane) }
        }
    }

    /// One sample's im2col matrix, `(Cin * kH * kW, P)`: tap k of output position p at
    /// `columns[0, k * P + p]` (0 in the padding), through `plane` (`Im2col.planeCount` elements).
    static func lower<T: DTDScalar>(_ g: ConvGeometry, sample: BatchView<T>, columns: MutableBatchView<T>,
                                    plane: MutableBatchView<T>) {
        Im2col.im2col(g, input: sample.base, columns: columns.base, plane: plane.base)
    }

    /// Lowers each sample of `input` with im2col into a worker's slice of scratch and hands it to
    /// `body(sample, worker, columns, rowStride, alone)`. Samples are dealt to the cores; a lone
    /// sample (`alone`) splits its im2col and lets `body` split its product.
    private static func forEachLoweredSample<T: DTDScalar>(
        _ g: ConvGeometry, input: BatchView<T>, slot: Scratch<T>.Slot, scratch: Scratch<T>,
        _ body: (Int, Int, UnsafeMutablePointer<T>, Int, Bool) -> Void
    ) throws(DTDError) {
        let k = g.patchSize, ld = g.columnStride(elementBytes: MemoryLayout<T>.stride)
        let batch = input.batch, sampleSize = input.count, x = input.base
        let workers = ParallelFor.workers(forSamples: batch), planeCount = Im2col.planeCount(g)
        let columns = try scratch.buffer(slot, count: k * ld * workers)
        let planes = try scratch.buffer(.planes, count: planeCount * ParallelFor.threads)
        ParallelFor.forEachSample(batch, workers: workers) { n, worker in
            let cols = columns + worker * k * ld
            if workers == 1 {
                Im2col.im2colParallel(g, input: x + n * sampleSize, columns: cols, stride: ld, planes: planes)
            } else {
                Im2col.im2col(g, input: x + n * sampleSize, columns: cols, stride: ld,
                              plane: planes + worker * planeCount)
            }
            body(n, worker, cols, ld, workers == 1)
        }
    }
}
