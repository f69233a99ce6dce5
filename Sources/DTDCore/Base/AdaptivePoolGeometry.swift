/// Index arithmetic of PyTorch's AdaptiveAvgPool2d: output cell (i, j) of each channel averages
/// rows `floor(i H / outH) ..< ceil((i + 1) H / outH)` and the columns likewise. Neighbouring bins
/// overlap when the sizes do not divide; `(1, 1)` is global average pooling.
public struct AdaptivePoolGeometry: Equatable, Sendable {
    /// The input: channels, height, width.
    public let channels: Int, height: Int, width: Int
    /// The output size per axis.
    public let outHeight: Int, outWidth: Int

    /// `(C, H, W)`.
    public var inputShape: Shape { .image(channels: channels, height: height, width: width) }
    /// `(C, outH, outW)`.
    public var outputShape: Shape { .image(channels: channels, height: outHeight, width: outWidth) }

    /// Validates the output size against `input`.
    /// - Parameters:
    ///   - input: the current activation shape, `(C, H, W)`.
    ///   - outputSize: `(outH, outW)`, each > 0 (larger than the input is allowed: bins repeat cells).
    ///   - layer: the index the layer will have, for error messages.
    /// - Throws: `DTDError` `.shapeMismatch` (a flat input), `.size`, `.overflow`.
    public init(input: Shape, outputSize: (Int, Int), layer: Int) throws(DTDError) {
        guard input.isImage else {
            throw DTDError(.shapeMismatch, "layer \(layer) (adaptive_avgpool2d): needs a (C, H, W) input, the current shape is \(input)")
        }
        try Limits.checkSize(outputSize.0, "layer \(layer) (adaptive_avgpool2d): out_h")
        try Limits.checkSize(outputSize.1, "layer \(layer) (adaptive_avgpool2d): out_w")
        let count = try Limits.product([input.channels, outputSize.0, outputSize.1], "layer \(layer) (adaptive_avgpool2d): output size")
        guard count <= Limits.maxDimension else {
            throw DTDError(.size, "layer \(layer) (adaptive_avgpool2d): output size \(count) exceeds the limit \(Limits.maxDimension)")
        }
        channels = input.channels; height = input.height; width = input.width
        outHeight = outputSize.0; outWidth = outputSize.1
    }

    /// The rows of output row `i`: `floor(i H / outH) ..< ceil((i + 1) H / outH)`.
    @inline(__always)
    public func rows(_ i: Int) -> Range<Int> { Self.bin(i, size: height, out: outHeight) }

    /// The columns of output column `j`.
    @inline(__always)
    public func columns(_ j: Int) -> Range<Int> { Self.bin(j, size: width, out: outWidth) }

    @inline(__always)
    private static func bin(_ i: Int, size: Int, out: Int) -> Range<Int> {
        // Every operand is below Limits.maxDimension, so the products fit.
        let start = (i &* size) / out
        let end = ((i &+ 1) &* size &+ out &- 1) / out
        return start..<end
    }
}
