// MARK: - The linear map of a dense or conv layer
//
// The only code that depends on the layer kind. Rules call `apply` (forward, possibly with
// modified weights and inputs) and `applyTransposed` (the backward product); everything else in
// the propagation is elementwise and shared.

extension LinearLayer {
    /// The layer's output z = W a + b (batch, outputCount), through Winograd where the layer has it.
    func output(input: UnsafePointer<T>, batch: Int, output: UnsafeMutablePointer<T>, scratch: Scratch<T>) throws(DTDError) {
        if let winograd = winogradWeight, case .conv(let g) = geometry {
            return try Winograd.convolve(g, transformed: winograd.pointer, weight: weight.pointer, bias: bias?.pointer,
                                         input: input, batch: batch, output: output, scratch: scratch)
        }
        try apply(weight: weight.pointer, input: input, batch: batch, output: output, scratch: scratch)
        if let bias { addBias(bias.pointer, to: output, batch: batch) }
    }

    /// output (batch, outputCount) = scale * W' input (+ output when `accumulate`), no bias, on im2col.
    /// - Parameters:
    ///   - weight: `outChannels * fanIn` elements: W or a rule-modified copy.
    ///   - input: `(batch, inputCount)`.
    func apply(weight: UnsafePointer<T>, input: UnsafePointer<T>, batch: Int,
               output: UnsafeMutablePointer<T>, scale: T = 1, accumulate: Bool = false, scratch: Scratch<T>) throws(DTDError) {
        let beta: T = accumulate ? 1 : 0
        switch geometry {
        case .dense(let inFeatures, let outFeatures):
            Gemm.multiply(transposeA: false, transposeB: true, m: batch, n: outFeatures, k: inFeatures,
                   alpha: scale, a: input, lda: inFeatures, b: weight, ldb: inFeatures,
                   beta: beta, c: output, ldc: outFeatures)
        case .conv(let g):
            let outCount = outputCount
            try Self.forEachLoweredSample(g, input: input, sampleSize: inputCount, batch: batch, slot: .columns,
                                          scratch: scratch) { n, _, columns, ld, alone in
                Gemm.multiply(transposeA: false, transposeB: false, m: g.outChannels, n: g.positions, k: g.patchSize,
                              alpha: scale, a: weight, lda: g.patchSize, b: columns, ldb: ld,
                              beta: beta, c: output + n * outCount, ldc: g.positions, split: alone)
            }
        }
    }

    /// Lowers each sample of `input` (`sampleSize` values each) with im2col into a worker's slice
    /// of scratch and hands it to `body(sample, worker, columns, rowStride, alone)`. Samples are
    /// dealt to the cores; a lone sample (`alone`) splits its im2col and lets `body` split its product.
    static func forEachLoweredSample(_ g: ConvGeometry, input: UnsafePointer<T>, sampleSize: Int, batch: Int,
                                     slot: Scratch<T>.Slot, scratch: Scratch<T>,
                                     _ body: (Int, Int, UnsafeMutablePointer<T>, Int, Bool) -> Void) throws(DTDError) {
        let k = g.patchSize, ld = g.columnStride(elementBytes: MemoryLayout<T>.stride)
        let workers = Gemm.workers(forSamples: batch), planeCount = Im2col.planeCount(g)
        let columns = try scratch.buffer(slot, count: k * ld * workers)
        let planes = try scratch.buffer(.planes, count: planeCount * Gemm.threads)
        Gemm.forEachSample(batch, workers: workers) { n, worker in
            let cols = columns + worker * k * ld
            if workers == 1 {
                Im2col.im2colParallel(g, input: input + n * sampleSize, columns: cols, stride: ld, planes: planes)
            } else {
                Im2col.im2col(g, input: input + n * sampleSize, columns: cols, stride: ld,
                              plane: planes + worker * planeCount)
            }
            body(n, worker, cols, ld, workers == 1)
        }
    }

    /// first = W a and second = W_d a for a conv layer from one im2col and one GEMM with the
    /// stacked [W; W_d] (`PreparedRule.fusedWeight`), no bias.
    func applyStacked(_ stacked: UnsafePointer<T>, input: UnsafePointer<T>, batch: Int,
                      first: UnsafeMutablePointer<T>, second: UnsafeMutablePointer<T>, scratch: Scratch<T>) throws(DTDError) {
        guard case .conv(let g) = geometry else {
            throw DTDError(.internal, "a stacked product on a dense layer")
        }
        let outCount = outputCount
        let products = try scratch.buffer(.contribution, count: 2 * outCount * Gemm.workers(forSamples: batch))
        try Self.forEachLoweredSample(g, input: input, sampleSize: inputCount, batch: batch, slot: .columns,
                                      scratch: scratch) { n, worker, columns, ld, alone in
            let both = products + worker * 2 * outCount
            Gemm.multiply(transposeA: false, transposeB: false, m: 2 * g.outChannels, n: g.positions, k: g.patchSize,
                          alpha: 1, a: stacked, lda: g.patchSize, b: columns, ldb: ld,
                          beta: 0, c: both, ldc: g.positions, split: alone)
            (first + n * outCount).update(from: both, count: outCount)
            (second + n * outCount).update(from: both + outCount, count: outCount)
        }
    }

    /// gradInput (batch, inputCount) = W'^T gradOutput, overwriting gradInput.
    /// - Parameter transposedWeight: W' flipped and channel-swapped (`transposedKernel(of:)`): a
    ///   stride-1 convolution then runs its transpose as a convolution, im2col of the gradient and
    ///   one product with Cout * kH * kW terms, instead of a product with only Cout terms and col2im.
    func applyTransposed(weight: UnsafePointer<T>, transposedWeight: UnsafePointer<T>? = nil,
                         gradOutput: UnsafePointer<T>, batch: Int,
                         gradInput: UnsafeMutablePointer<T>, scratch: Scratch<T>) throws(DTDError) {
        switch geometry {
        case .dense(let inFeatures, let outFeatures):
            Gemm.multiply(transposeA: false, transposeB: false, m: batch, n: inFeatures, k: outFeatures,
                   alpha: 1, a: gradOutput, lda: outFeatures, b: weight, ldb: inFeatures,
                   beta: 0, c: gradInput, ldc: inFeatures)
        case .conv(let g):
            if let kernel = transposedWeight, let t = g.transposed {
                let inCount = inputCount
                try Self.forEachLoweredSample(t, input: gradOutput, sampleSize: outputCount, batch: batch,
                                              slot: .columnsGradient, scratch: scratch) { n, _, columns, ld, alone in
                    Gemm.multiply(transposeA: false, transposeB: false, m: t.outChannels, n: t.positions, k: t.patchSize,
                                  alpha: 1, a: kernel, lda: t.patchSize, b: columns, ldb: ld,
                                  beta: 0, c: gradInput + n * inCount, ldc: t.positions, split: alone)
                }
                return
            }
            let k = g.patchSize, p = g.positions, inCount = inputCount, outCount = outputCount
            let ld = g.columnStride(elementBytes: MemoryLayout<T>.stride)
            let workers = Gemm.workers(forSamples: batch)
            let columns = try scratch.buffer(.columnsGradient, count: k * ld * workers)
            Gemm.forEachSample(batch, workers: workers) { n, worker in
                let cols = columns + worker * k * ld
                Gemm.multiply(transposeA: true, transposeB: false, m: k, n: p, k: g.outChannels,
                              alpha: 1, a: weight, lda: k, b: gradOutput + n * outCount, ldb: p,
                              beta: 0, c: cols, ldc: ld, split: workers == 1)
                let out = gradInput + n * inCount
                out.update(repeating: 0, count: inCount)
                if workers == 1 {
                    Im2col.col2imAddParallel(g, columns: cols, output: out, stride: ld)
                } else {
                    Im2col.col2imAdd(g, columns: cols, output: out, stride: ld)
                }
            }
        }
    }

    /// gradInput = 1^T gradOutput, the transpose with all-one weights (the flat rule), without a
    /// product: every input tap of output position p receives the sum over channels at p.
    func applyOnesTransposed(gradOutput: UnsafePointer<T>, batch: Int, gradInput: UnsafeMutablePointer<T>,
                             scratch: Scratch<T>) throws(DTDError) {
        let channels = outChannels, p = positions, inCount = inputCount, outCount = outputCount
        switch geometry {
        case .dense:
            for n in 0..<batch {
                var sum: T = 0
                for j in 0..<outCount { sum += gradOutput[n * outCount + j] }
                (gradInput + n * inCount).update(repeating: sum, count: inCount)
            }
        case .conv(let g):
            // Every input channel receives the same plane: the col2im of the channel sums at
            // each position through the kernel's taps, computed once and copied.
            let taps = g.kernelHeight * g.kernelWidth, plane = g.height * g.width
            let columns = try scratch.buffer(.columnsGradient, count: taps * p)
            for n in 0..<batch {
                let sums = columns, source = gradOutput + n * outCount
                Gemm.forEachRange(p, work: channels * p) { positions, _ in
                    for q in positions { sums[q] = 0 }
                    for c in 0..<channels {
                        let row = source + c * p
                        for q in positions { sums[q] += row[q] }
                    }
                }
                for r in 1..<max(taps, 1) { (columns + r * p).update(from: sums, count: p) }
                let out = gradInput + n * inCount
                out.update(repeating: 0, count: plane)
                Im2col.col2imAdd(g, columns: columns, output: out, channels: 0..<1)
                for c in 1..<max(g.inChannels, 1) { (out + c * plane).update(from: out, count: plane) }
            }
        }
    }

    /// output[n, c, p] += scale * bias[c] for every sample n and position p.
    func addBias(_ bias: UnsafePointer<T>, to output: UnsafeMutablePointer<T>, batch: Int, scale: T = 1) {
        let p = positions, outCount = outputCount
        Gemm.forEachPlanes(batch: batch, channels: outChannels, work: batch * outCount) { n, channels in
            let row = output + n * outCount
            for c in channels {
                let b = scale * bias[c]
                let dst = row + c * p
                for q in 0..<p { dst[q] += b }
            }
        }
    }
}
