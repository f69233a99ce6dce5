/// Everything a 2-D convolution's index arithmetic needs: input and output sizes, kernel,
/// stride, zero padding and dilation, per axis.
public struct ConvGeometry: Equatable, Sendable {
    /// The input: channels, height, width.
    public let inChannels: Int, height: Int, width: Int
    /// Output channels (Cout).
    public let outChannels: Int
    /// Kernel size per axis.
    public let kernelHeight: Int, kernelWidth: Int
    /// Stride per axis.
    public let strideHeight: Int, strideWidth: Int
    /// Zero padding on each side.
    public let padding: Padding
    /// Dilation per axis.
    public let dilationHeight: Int, dilationWidth: Int
    /// The output size per axis (PyTorch's formula).
    public let outHeight: Int, outWidth: Int

    /// Rows of the im2col matrix: Cin * kH * kW.
    public var patchSize: Int { inChannels * kernelHeight * kernelWidth }
    /// Columns of the im2col matrix: Hout * Wout.
    public var positions: Int { outHeight * outWidth }

    /// The row stride of the im2col matrix for elements of `bytes` bytes: the positions, plus 64
    /// bytes when a row would be a multiple of 1 KiB. Such strides map the rows a GEMM packs onto
    /// the same cache sets; BLIS ran the 64-channel products of a CIFAR CNN at half speed.
    func columnStride(elementBytes bytes: Int) -> Int {
        let p = positions
        return (p * bytes) % 1024 == 0 ? p + 64 / bytes : p
    }
    /// `(Cin, H, W)`.
    public var inputShape: Shape { .image(channels: inChannels, height: height, width: width) }
    /// `(Cout, Hout, Wout)`.
    public var outputShape: Shape { .image(channels: outChannels, height: outHeight, width: outWidth) }

    /// Validates the parameters against `input` and derives the output size (PyTorch's formula).
    /// - Parameters:
    ///   - input: the current activation shape, `(C, H, W)`.
    ///   - layer: the index the layer will have, for error messages.
    /// - Throws: `DTDError` `.shapeMismatch`, `.size`, `.overflow`.
    public init(input: Shape, outChannels: Int, kernel: (Int, Int), stride: (Int, Int),
                padding: Padding, dilation: (Int, Int), layer: Int) throws(DTDError) {
        guard input.isImage else {
            throw DTDError(.shapeMismatch, "layer \(layer) (conv2d): needs a (C, H, W) input, the current shape is \(input)")
        }
        try Limits.checkSize(outChannels, "layer \(layer) (conv2d): out_channels")
        try Limits.checkSize(kernel.0, "layer \(layer) (conv2d): kernel_h")
        try Limits.checkSize(kernel.1, "layer \(layer) (conv2d): kernel_w")
        try Limits.checkSize(stride.0, "layer \(layer) (conv2d): stride_h")
        try Limits.checkSize(stride.1, "layer \(layer) (conv2d): stride_w")
        try Limits.checkSize(dilation.0, "layer \(layer) (conv2d): dilation_h")
        try Limits.checkSize(dilation.1, "layer \(layer) (conv2d): dilation_w")
        guard padding.sides.allSatisfy({ $0 >= 0 && $0 <= Limits.maxDimension }) else {
            throw DTDError(.size, "layer \(layer) (conv2d): padding must be in [0, \(Limits.maxDimension)] on each side, got \(padding)")
        }
        let outH = try ConvGeometry.outputSize(input.height, kernel.0, stride.0, padding.height, dilation.0)
        let outW = try ConvGeometry.outputSize(input.width, kernel.1, stride.1, padding.width, dilation.1)
        guard let outH, let outW else {
            throw DTDError(.shapeMismatch,
                "layer \(layer) (conv2d): kernel (\(kernel.0), \(kernel.1)) with dilation (\(dilation.0), \(dilation.1)) is larger than the padded input \(input) + padding \(padding)")
        }
        let patch = try Limits.product([input.channels, kernel.0, kernel.1], "layer \(layer) (conv2d): patch size")
        let positions = try Limits.product(outH, outW, "layer \(layer) (conv2d): output positions")
        let outputCount = try Limits.product(outChannels, positions, "layer \(layer) (conv2d): output size")
        _ = try Limits.product(patch, positions, "layer \(layer) (conv2d): im2col size")
        _ = try Limits.product(patch, outChannels, "layer \(layer) (conv2d): weight size")
        guard patch <= Limits.maxDimension, outputCount <= Limits.maxDimension else {
            throw DTDError(.size, "layer \(layer) (conv2d): patch size \(patch) or output size \(outputCount) exceeds the limit \(Limits.maxDimension)")
        }
        // im2col copies each channel into a zero-bordered plane: a large stride can keep the
        // output small while the padding makes that plane overflow (found by Tests/fuzz).
        let planeHeight = try Limits.sum(input.height, padding.height, "layer \(layer) (conv2d): padded input height")
        let planeWidth = try Limits.sum(input.width, padding.width, "layer \(layer) (conv2d): padded input width")
        let plane = try Limits.product(planeHeight, planeWidth, "layer \(layer) (conv2d): padded input plane")
        guard plane <= Limits.maxDimension else {
            throw DTDError(.size, "layer \(layer) (conv2d): the padded input plane \(planeHeight) x \(planeWidth) (input \(input.height) x \(input.width), padding \(padding)) = \(plane) exceeds the limit \(Limits.maxDimension)")
        }
        inChannels = input.channels; height = input.height; width = input.width
        self.outChannels = outChannels
        kernelHeight = kernel.0; kernelWidth = kernel.1
        strideHeight = stride.0; strideWidth = stride.1
        self.padding = padding
        dilationHeight = dilation.0; dilationWidth = dilation.1
        outHeight = outH; outWidth = outW
    }

    /// The convolution computing this one's input gradient: for stride 1 and dilation 1, the
    /// transpose is the correlation of the output gradient, zero-padded by kernel - 1 - padding
    /// on each side (so bottom and top swap roles),
    /// with the kernel flipped and its channel axes swapped. Nil when that lowering does not apply
    /// (strides, dilation, padding >= kernel) or would give a badly shaped product (few input
    /// channels, where col2im is cheaper).
    var transposed: ConvGeometry? {
        guard strideHeight == 1, strideWidth == 1, dilationHeight == 1, dilationWidth == 1,
              padding.sides.allSatisfy({ $0 < min(kernelHeight, kernelWidth) }), inChannels >= 8,
              outChannels * kernelHeight * kernelWidth <= Limits.maxDimension else { return nil }
        return ConvGeometry(inChannels: outChannels, height: outHeight, width: outWidth, outChannels: inChannels,
                            kernel: (kernelHeight, kernelWidth),
                            padding: Padding(top: kernelHeight - 1 - padding.top, bottom: kernelHeight - 1 - padding.bottom,
                                             left: kernelWidth - 1 - padding.left, right: kernelWidth - 1 - padding.right),
                            outHeight: height, outWidth: width)
    }

    /// A stride-1, dilation-1 geometry whose sizes the caller has already derived.
    private init(inChannels: Int, height: Int, width: Int, outChannels: Int, kernel: (Int, Int),
                 padding: Padding, outHeight: Int, outWidth: Int) {
        self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels
        kernelHeight = kernel.0; kernelWidth = kernel.1
        strideHeight = 1; strideWidth = 1
        self.padding = padding
        dilationHeight = 1; dilationWidth = 1
        self.outHeight = outHeight; self.outWidth = outWidth
    }

    /// The kernel of `transposed`: W (Cout, Cin, kH, kW) as (Cin, Cout, kH, kW), spatially flipped.
    func transposedKernel<T: DTDScalar>(_ weight: Storage<T>) throws(DTDError) -> Storage<T> {
        let taps = kernelHeight * kernelWidth
        let result = try Storage<T>(uninitializedCount: weight.count)
        for co in 0..<outChannels {
            for ci in 0..<inChannels {
                let source = (co * inChannels + ci) * taps, target = (ci * outChannels + co) * taps
                for t in 0..<taps { result[target + taps - 1 - t] = weight[source + t] }
            }
        }
        return result
    }

    /// floor((size + padding - dil (k - 1) - 1) / stride) + 1, or nil when the kernel does not fit;
    /// `padding` is the sum of both sides.
    static func outputSize(_ size: Int, _ kernel: Int, _ stride: Int, _ padding: Int, _ dilation: Int) throws(DTDError) -> Int? {
        // All operands are <= Int32.max, so these products and sums fit in Int64.
        let padded = size + padding
        let span = dilation * (kernel - 1) + 1
        guard span <= padded else { return nil }
        return (padded - span) / stride + 1
    }
}
