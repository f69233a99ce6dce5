/// im2col and col2im: the lowering of a convolution to a matrix product.
///
/// For one sample, `im2col` writes the `(Cin * kH * kW, Hout * Wout)` matrix whose column p holds
/// the input patch seen by output position p (zeros where the patch covers padding), so that the
/// convolution is `W (Cout, K) x columns (K, P)`. `col2im` is its transpose: it scatters such a
/// matrix back onto the input, adding overlapping contributions and dropping padding.
enum Im2col {
    /// Writes the rows of input channels `channels` (all by default), so threads can split a sample.
    static func im2col<T: DTDScalar>(_ g: ConvGeometry, input: UnsafePointer<T>, columns: UnsafeMutablePointer<T>,
                                     channels: Range<Int>? = nil) {
        let outH = g.outHeight, outW = g.outWidth, height = g.height, width = g.width
        let positions = outH * outW
        let channels = channels ?? 0..<g.inChannels
        var row = channels.lowerBound * g.kernelHeight * g.kernelWidth
        for c in channels {
            let plane = input + c * height * width
            for ky in 0..<g.kernelHeight {
                let yOffset = ky * g.dilationHeight - g.paddingHeight
                for kx in 0..<g.kernelWidth {
                    let xOffset = kx * g.dilationWidth - g.paddingWidth
                    let out = columns + row * positions
                    for oy in 0..<outH {
                        let iy = oy * g.strideHeight + yOffset
                        let dst = out + oy * outW
                        guard iy >= 0, iy < height else {
                            dst.update(repeating: 0, count: outW)
                            continue
                        }
                        let src = plane + iy * width
                        let (first, end) = validColumns(g, xOffset: xOffset)
                        if first > 0 { dst.update(repeating: 0, count: first) }
                        if g.strideWidth == 1 {
                            if end > first { (dst + first).update(from: src + first + xOffset, count: end - first) }
                        } else {
                            for ox in first..<end { dst[ox] = src[ox * g.strideWidth + xOffset] }
                        }
                        if end < outW { (dst + max(end, first)).update(repeating: 0, count: outW - max(end, first)) }
                    }
                    row += 1
                }
            }
        }
    }

    /// Adds the transpose of `im2col` applied to `columns` into `output` (which the caller zeroes
    /// or pre-fills).
    /// Only input channels `channels` (all by default) are written, so threads can split a sample.
    static func col2imAdd<T: DTDScalar>(_ g: ConvGeometry, columns: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                        channels: Range<Int>? = nil) {
        let outH = g.outHeight, outW = g.outWidth, height = g.height, width = g.width
        let positions = outH * outW
        let channels = channels ?? 0..<g.inChannels
        var row = channels.lowerBound * g.kernelHeight * g.kernelWidth
        for c in channels {
            let plane = output + c * height * width
            for ky in 0..<g.kernelHeight {
                let yOffset = ky * g.dilationHeight - g.paddingHeight
                for kx in 0..<g.kernelWidth {
                    let xOffset = kx * g.dilationWidth - g.paddingWidth
                    let source = columns + row * positions
                    for oy in 0..<outH {
                        let iy = oy * g.strideHeight + yOffset
                        guard iy >= 0, iy < height else { continue }
                        let src = source + oy * outW
                        let dst = plane + iy * width
                        let (first, end) = validColumns(g, xOffset: xOffset)
                        if g.strideWidth == 1 {
                            let d = dst + xOffset
                            for ox in first..<max(first, end) { d[ox] += src[ox] }
                        } else {
                            for ox in first..<max(first, end) { dst[ox * g.strideWidth + xOffset] += src[ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The output columns [first, end) whose input column ox * stride + xOffset lies inside the input.
    @inline(__always)
    static func validColumns(_ g: ConvGeometry, xOffset: Int) -> (Int, Int) {
        let stride = g.strideWidth
        // ox * stride + xOffset >= 0  <=>  ox >= ceil(-xOffset / stride)
        let first = xOffset >= 0 ? 0 : min(g.outWidth, (-xOffset + stride - 1) / stride)
        // ox * stride + xOffset < width  <=>  ox < ceil((width - xOffset) / stride)
        let limit = g.width - xOffset
        let end = limit <= 0 ? 0 : min(g.outWidth, (limit + stride - 1) / stride)
        return (first, end)
    }

    /// `im2col` with the input channels split over the worker threads when the sample is large.
    static func im2colParallel<T: DTDScalar>(_ g: ConvGeometry, input: UnsafePointer<T>, columns: UnsafeMutablePointer<T>) {
        Gemm.forEachRange(g.inChannels, work: g.patchSize * g.positions) { channels in
            im2col(g, input: input, columns: columns, channels: channels)
        }
    }

    /// `col2imAdd` with the input channels split over the worker threads when the sample is large.
    static func col2imAddParallel<T: DTDScalar>(_ g: ConvGeometry, columns: UnsafePointer<T>, output: UnsafeMutablePointer<T>) {
        Gemm.forEachRange(g.inChannels, work: g.patchSize * g.positions) { channels in
            col2imAdd(g, columns: columns, output: output, channels: channels)
        }
    }
}
