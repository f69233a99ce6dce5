/// Max- and average-pooling kernels, PyTorch semantics (floor mode): batch-level entry points
/// over views, and per-sample loops on pointers behind them.
enum Pooling {
    /// `maxForward` for a batch: channel planes split over the workers.
    /// - Parameter winners: receives, per output, the flat index (within the sample) of its window's winner.
    static func maxForward<T: DTDScalar>(_ g: PoolGeometry, input: BatchView<T>, output: MutableBatchView<T>,
                                         winners: MutableBatchView<Int>) {
        let inCount = input.count, outCount = output.count
        let a = input.base, o = output.base, w = winners.base
        ParallelFor.forEachPlanes(batch: input.batch, channels: g.channels, work: input.total) { n, channels in
            maxForward(g, input: a + n * inCount, output: o + n * outCount, winners: w + n * outCount, channels: channels)
        }
    }

    /// Max over each window; padding counts as -infinity. Records, per output, the flat input
    /// index of the first maximum in row-major window order (PyTorch's tie rule). A NaN input
    /// wins its window, so it propagates as in PyTorch.
    private static func maxForward<T: DTDScalar>(_ g: PoolGeometry, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                         winners: UnsafeMutablePointer<Int>, channels: Range<Int>? = nil) {
        let channels = channels ?? 0..<g.channels
        let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth
        if Environment.fastPaths, g.kernelHeight == 2, g.kernelWidth == 2, g.strideHeight == 2, g.strideWidth == 2,
           g.paddingHeight == 0, g.paddingWidth == 0 {
            // The common 2x2 / stride 2 window, always inside the input: the four cells in
            // row-major order, the first maximum (or NaN) winning.
            let outW = g.outWidth, width = g.width
            for c in channels {
                let src = input + c &* planeIn
                for oy in 0..<g.outHeight {
                    let top = 2 &* oy &* width, bottom = top &+ width
                    let o = c &* planeOut &+ oy &* outW
                    let values = output + o, indices = winners + o
                    let first = c &* planeIn
                    for ox in 0..<outW {
                        let i0 = top &+ 2 &* ox, i2 = bottom &+ 2 &* ox
                        var best = i0, value = src[i0]
                        // Selects, not branches: on real activations the winner is unpredictable.
                        @inline(__always) func consider(_ cell: Int) {
                            let v = src[cell], take = !(v <= value) && !value.isNaN
                            value = take ? v : value
                            best = take ? cell : best
                        }
                        consider(i0 &+ 1)
                        consider(i2)
                        consider(i2 &+ 1)
                        values[ox] = value
                        indices[ox] = first &+ best
                    }
                }
            }
            return
        }
        for c in channels {
            let src = input + c * planeIn
            for oy in 0..<g.outHeight {
                let y0 = oy * g.strideHeight - g.paddingHeight
                let yBegin = max(y0, 0), yEnd = min(y0 + g.kernelHeight, g.height)
                for ox in 0..<g.outWidth {
                    let x0 = ox * g.strideWidth - g.paddingWidth
                    let xBegin = max(x0, 0), xEnd = min(x0 + g.kernelWidth, g.width)
                    var best = -T.infinity
                    var bestIndex = -1
                    for y in yBegin..<yEnd {
                        for x in xBegin..<xEnd {
                            let v = src[y * g.width + x]
                            if bestIndex < 0 || v > best || (v.isNaN && !best.isNaN) {
                                best = v
                                bestIndex = y * g.width + x
                            }
                        }
                    }
                    let o = c * planeOut + oy * g.outWidth + ox
                    output[o] = best
                    winners[o] = c * planeIn + max(bestIndex, 0)
                }
            }
        }
    }

    /// Routes each output value of `channels` (all by default) to its window's winner:
    /// `input[winner] += output` (the caller zeroes those channels of input first).
    private static func maxRoute<T: DTDScalar>(_ g: PoolGeometry, output: UnsafePointer<T>, winners: UnsafePointer<Int>,
                                               input: UnsafeMutablePointer<T>, channels: Range<Int>? = nil) {
        let channels = channels ?? 0..<g.channels
        let planeOut = g.outHeight * g.outWidth
        for o in (channels.lowerBound * planeOut)..<(channels.upperBound * planeOut) { input[winners[o]] += output[o] }
    }

    /// `maxRoute` for a batch, overwriting `input` (batch, input size): channel planes are
    /// zeroed and routed in runs split over the workers.
    static func maxRoute<T: DTDScalar>(_ g: PoolGeometry, output: BatchView<T>, winners: BatchView<Int>,
                                       input: MutableBatchView<T>) {
        let inCount = input.count, outCount = output.count, planeIn = g.height * g.width
        let r = output.base, w = winners.base, x = input.base
        ParallelFor.forEachPlanes(batch: input.batch, channels: g.channels, work: input.total) { n, channels in
            let sample = x + n * inCount
            (sample + channels.lowerBound * planeIn).update(repeating: 0, count: channels.count * planeIn)
            maxRoute(g, output: r + n * outCount, winners: w + n * outCount, input: sample, channels: channels)
        }
    }

    /// The number of cells averaged by window (oy, ox).
    @inline(__always)
    static func divisor(_ g: PoolGeometry, y0: Int, x0: Int) -> Int {
        if g.countIncludePad {
            // PyTorch counts padded cells, but not the part of a window beyond input + padding.
            let yEnd = min(y0 + g.kernelHeight, g.height + g.paddingHeight)
            let xEnd = min(x0 + g.kernelWidth, g.width + g.paddingWidth)
            return (yEnd - y0) * (xEnd - x0)
        }
        let yCount = min(y0 + g.kernelHeight, g.height) - max(y0, 0)
        let xCount = min(x0 + g.kernelWidth, g.width) - max(x0, 0)
        return yCount * xCount
    }

    /// Average over each window, for every sample of a batch.
    static func avgForward<T: DTDScalar>(_ g: PoolGeometry, input: BatchView<T>, output: MutableBatchView<T>) {
        for n in 0..<input.batch {
            avgForward(g, input: input.base + n * input.count, output: output.base + n * output.count)
        }
    }

    /// Average over each window.
    private static func avgForward<T: DTDScalar>(_ g: PoolGeometry, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>) {
        let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth
        for c in 0..<g.channels {
            let src = input + c * planeIn
            for oy in 0..<g.outHeight {
                let y0 = oy * g.strideHeight - g.paddingHeight
                let yBegin = max(y0, 0), yEnd = min(y0 + g.kernelHeight, g.height)
                for ox in 0..<g.outWidth {
                    let x0 = ox * g.strideWidth - g.paddingWidth
                    let xBegin = max(x0, 0), xEnd = min(x0 + g.kernelWidth, g.width)
                    var sum: T = 0
                    for y in yBegin..<yEnd { for x in xBegin..<xEnd { sum += src[y * g.width + x] } }
                    output[c * planeOut + oy * g.outWidth + ox] = sum / T(divisor(g, y0: y0, x0: x0))
                }
            }
        }
    }

    /// The transpose of `avgForward` for a batch, overwriting `input`.
    static func avgTransposed<T: DTDScalar>(_ g: PoolGeometry, output: BatchView<T>, input: MutableBatchView<T>) {
        input.fill(0)
        for n in 0..<input.batch {
            avgTransposedAdd(g, output: output.base + n * output.count, input: input.base + n * input.count)
        }
    }

    /// The transpose of `avgForward`: `input[i] += output[o] / divisor(o)` over every window o
    /// containing i (input zeroed by the caller).
    private static func avgTransposedAdd<T: DTDScalar>(_ g: PoolGeometry, output: UnsafePointer<T>, input: UnsafeMutablePointer<T>) {
        let planeIn = g.height * g.width, planeOut = g.outHeight * g.outWidth
        for c in 0..<g.channels {
            let dst = input + c * planeIn
            for oy in 0..<g.outHeight {
                let y0 = oy * g.strideHeight - g.paddingHeight
                let yBegin = max(y0, 0), yEnd = min(y0 + g.kernelHeight, g.height)
                for ox in 0..<g.outWidth {
                    let x0 = ox * g.strideWidth - g.paddingWidth
                    let xBegin = max(x0, 0), xEnd = min(x0 + g.kernelWidth, g.width)
                    let share = output[c * planeOut + oy * g.outWidth + ox] / T(divisor(g, y0: y0, x0: x0))
                    for y in yBegin..<yEnd { for x in xBegin..<xEnd { dst[y * g.width + x] += share } }
                }
            }
        }
    }
}
