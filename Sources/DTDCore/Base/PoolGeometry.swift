/// Index arithmetic of a 2-D pooling window (PyTorch's MaxPool2d / AvgPool2d, floor mode,
/// dilation 1).
public struct PoolGeometry: Equatable, Sendable {
    /// The input: channels, height, width.
    public let channels: Int, height: Int, width: Int
    /// Window size per axis.
    public let kernelHeight: Int, kernelWidth: Int
    /// Stride per axis.
    public let strideHeight: Int, strideWidth: Int
    /// Padding per axis, on both sides.
    public let paddingHeight: Int, paddingWidth: Int
    /// The output size per axis (floor mode).
    public let outHeight: Int, outWidth: Int
    /// Avg-pool only: padded cells count in the divisor (PyTorch's default).
    public let countIncludePad: Bool

    /// `(C, H, W)`.
    public var inputShape: Shape { .image(channels: channels, height: height, width: width) }
    /// `(C, Hout, Wout)`.
    public var outputShape: Shape { .image(channels: channels, height: outHeight, width: outWidth) }

    /// Validates the window against `input` and derives the output size.
    /// - Parameters:
    ///   - input: the current activation shape, `(C, H, W)`.
    ///   - layer, kind: the layer's index and name, for error messages.
    /// - Throws: `DTDError` `.shapeMismatch`, `.size`, `.invalidArgument` (padding above half the window).
    public init(input: Shape, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                countIncludePad: Bool, layer: Int, kind: String) throws(DTDError) {
        guard input.isImage else {
            throw DTDError(.shapeMismatch, "layer \(layer) (\(kind)): needs a (C, H, W) input, the current shape is \(input)")
        }
        try Limits.checkSize(kernel.0, "layer \(layer) (\(kind)): kernel_h")
        try Limits.checkSize(kernel.1, "layer \(layer) (\(kind)): kernel_w")
        try Limits.checkSize(stride.0, "layer \(layer) (\(kind)): stride_h")
        try Limits.checkSize(stride.1, "layer \(layer) (\(kind)): stride_w")
        guard padding.0 >= 0, padding.1 >= 0, padding.0 <= kernel.0 / 2, padding.1 <= kernel.1 / 2 else {
            throw DTDError(.invalidArgument,
                "layer \(layer) (\(kind)): padding (\(padding.0), \(padding.1)) must be >= 0 and at most half the kernel (\(kernel.0), \(kernel.1))")
        }
        let outH = try ConvGeometry.outputSize(input.height, kernel.0, stride.0, padding.0, 1)
        let outW = try ConvGeometry.outputSize(input.width, kernel.1, stride.1, padding.1, 1)
        guard let outH, let outW else {
            throw DTDError(.shapeMismatch,
                "layer \(layer) (\(kind)): kernel (\(kernel.0), \(kernel.1)) is larger than the padded input \(input) + padding (\(padding.0), \(padding.1))")
        }
        channels = input.channels; height = input.height; width = input.width
        kernelHeight = kernel.0; kernelWidth = kernel.1
        strideHeight = stride.0; strideWidth = stride.1
        paddingHeight = padding.0; paddingWidth = padding.1
        outHeight = outH; outWidth = outW
        self.countIncludePad = countIncludePad
    }
}
