/// im2col and col2im: the lowering of a convolution to a matrix product.
///
/// For one sample, `im2col` writes the `(Cin * kH * kW, Hout * Wout)` matrix whose column p holds
/// the input patch seen by output position p (zeros where the patch covers padding), so that the
/// convolution is `W (Cout, K) x columns (K, P)`. `col2im` is its transpose: it scatters such a
/// matrix back onto the input, adding overlapping contributions and dropping padding.
enum Im2col {
    /// Elements of the zero-bordered plane `im2col` copies each channel into: (H + 2 pH) (W + 2 pW).
    static func planeCount(_ g: ConvGeometry) -> Int {
        (g.height + 2 * g.paddingHeight) * (g.width + 2 * g.paddingWidth)
    }

    /// Writes the rows of input channels `channels` (all by default), so threads can split a sample.
    /// `stride` is the row stride of `columns` (default: the positions).
    ///
    /// Each channel is first copied into `plane` (`planeCount` elements, the caller's scratch)
    /// inside a zero border as wide as the padding; every row of `columns` is then a plain strided
    /// read of that plane, with no bounds logic per element (3-4x faster on 8-32 wide images).
    /// Index arithmetic wraps: every size was checked against `Limits` when the layer was added.
    static func im2col<T: DTDScalar>(_ g: ConvGeometry, input: UnsafePointer<T>, columns: UnsafeMutablePointer<T>,
                                     stride: Int? = nil, channels: Range<Int>? = nil, plane: UnsafeMutablePointer<T>) {
        let outH = g.outHeight, outW = g.outWidth, height = g.height, width = g.width
        let positions = stride ?? outH &* outW
        let paddedWidth = width &+ 2 &* g.paddingWidth
        let rowStep = g.strideHeight &* paddedWidth, strideW = g.strideWidth
        let channels = channels ?? 0..<g.inChannels
        // The border stays zero; each channel overwrites only the interior.
        plane.update(repeating: 0, count: planeCount(g))
        let interior = plane + (g.paddingHeight &* paddedWidth &+ g.paddingWidth)
        var row = channels.lowerBound &* g.kernelHeight &* g.kernelWidth
        for c in channels {
            let source = input + (c &* height &* width)
            for y in 0..<height {
                let from = source + y &* width, to = interior + y &* paddedWidth
                for x in 0..<width { to[x] = from[x] }
            }
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    var dst = columns + (row &* positions)
                    var src = UnsafePointer(plane) + (ky &* g.dilationHeight &* paddedWidth &+ kx &* g.dilationWidth)
                    if strideW == 1 {
                        for _ in 0..<outH {
                            for x in 0..<outW { dst[x] = src[x] }
                            dst += outW
                            src += rowStep
                        }
                    } else {
                        for _ in 0..<outH {
                            for x in 0..<outW { dst[x] = src[x &* strideW] }
                            dst += outW
                            src += rowStep
                        }
                    }
                    row &+= 1
                }
            }
        }
    }

    /// Adds the transpose of `im2col` applied to `columns` into `output` (which the caller zeroes
    /// or pre-fills). Only input channels `channels` (all by default) are written, so threads can
    /// split a sample.
    static func col2imAdd<T: DTDScalar>(_ g: ConvGeometry, columns: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                        stride: Int? = nil, channels: Range<Int>? = nil) {
        let outH = g.outHeight, outW = g.outWidth, height = g.height, width = g.width
        let positions = stride ?? outH * outW, strideW = g.strideWidth
        let channels = channels ?? 0..<g.inChannels
        var row = channels.lowerBound * g.kernelHeight * g.kernelWidth
        for c in channels {
            let plane = output + c * height * width
            for ky in 0..<g.kernelHeight {
                let yOffset = ky * g.dilationHeight - g.paddingHeight
                let (yFirst, yEnd) = validRange(count: outH, stride: g.strideHeight, offset: yOffset, size: height)
                for kx in 0..<g.kernelWidth {
                    let xOffset = kx * g.dilationWidth - g.paddingWidth
                    let (first, end) = validRange(count: outW, stride: strideW, offset: xOffset, size: width)
                    let source = columns + row * positions
                    if first < end {
                        for oy in yFirst..<max(yFirst, yEnd) {
                            let src = source + oy * outW
                            let dst = plane + (oy * g.strideHeight + yOffset) * width + xOffset
                            if strideW == 1 {
                                for ox in first..<end { dst[ox] += src[ox] }
                            } else {
                                for ox in first..<end { dst[ox * strideW] += src[ox] }
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The output indices [first, end) of `count` whose input index o * stride + offset lies in
    /// [0, size).
    @inline(__always)
    static func validRange(count: Int, stride: Int, offset: Int, size: Int) -> (Int, Int) {
        // o * stride + offset >= 0  <=>  o >= ceil(-offset / stride)
        let first = offset >= 0 ? 0 : min(count, (-offset + stride - 1) / stride)
        // o * stride + offset < size  <=>  o < ceil((size - offset) / stride)
        let limit = size - offset
        let end = limit <= 0 ? 0 : min(count, (limit + stride - 1) / stride)
        return (first, max(first, end))
    }

    /// `im2col` with the input channels split over the worker threads when the sample is large;
    /// `planes` holds `ParallelFor.threads` planes of `planeCount` elements, one per part.
    static func im2colParallel<T: DTDScalar>(_ g: ConvGeometry, input: UnsafePointer<T>, columns: UnsafeMutablePointer<T>,
                                             stride: Int? = nil, planes: UnsafeMutablePointer<T>) {
        let count = planeCount(g)
        ParallelFor.forEachRange(g.inChannels, work: g.patchSize * g.positions) { channels, part in
            im2col(g, input: input, columns: columns, stride: stride, channels: channels, plane: planes + part * count)
        }
    }

    /// `col2imAdd` with the input channels split over the worker threads when the sample is large.
    static func col2imAddParallel<T: DTDScalar>(_ g: ConvGeometry, columns: UnsafePointer<T>, output: UnsafeMutablePointer<T>,
                                                stride: Int? = nil) {
        ParallelFor.forEachRange(g.inChannels, work: g.patchSize * g.positions) { channels, _ in
            col2imAdd(g, columns: columns, output: output, stride: stride, channels: channels)
        }
    }
}
