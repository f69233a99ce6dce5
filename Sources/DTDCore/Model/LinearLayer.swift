/// A dense or conv2d layer: an affine map z = W a + b whose weights the LRP rules modify.
///
/// Both kinds store W as a matrix with one row per output channel: dense `(out, in)`, conv
/// `(Cout, Cin * kH * kW)` (PyTorch's layout, flattened). Per sample, a dense layer has one
/// output position and a conv layer `Hout * Wout`, so "row c at position p" names one neuron.
public struct LinearLayer<T: DTDScalar>: Sendable {
    /// The layer's index arithmetic.
    public enum Geometry: Equatable, Sendable {
        case dense(inFeatures: Int, outFeatures: Int)
        case conv(ConvGeometry)
    }

    /// The layer's sizes: dense features or the convolution's geometry.
    public let geometry: Geometry
    /// Weights, `outChannels * fanIn` elements.
    public let weight: Storage<T>
    /// Bias, `outChannels` elements, or nil.
    public let bias: Storage<T>?
    /// For convolutions whose backward pass runs as a convolution (`ConvGeometry.transposed`):
    /// the flipped, channel-swapped kernel.
    let transposedWeight: Storage<T>?
    /// The Winograd transform of `weight` (`Winograd.transform`) for convolutions whose forward
    /// product is lowered that way. Only z = W a uses it: rule denominators and transposed
    /// products keep im2col, whose rounding stays local to each output (see `Winograd`).
    let winogradWeight: Storage<T>?

    /// A layer with the given weights (already validated and copied by `Network`'s `add`).
    /// - Parameters:
    ///   - geometry: the sizes.
    ///   - weight: `outChannels * fanIn` elements.
    ///   - bias: `outChannels` elements, or nil.
    /// - Throws: `DTDError` `.outOfMemory` when the derived kernels cannot be allocated.
    public init(geometry: Geometry, weight: Storage<T>, bias: Storage<T>?) throws(DTDError) {
        self.geometry = geometry
        self.weight = weight
        self.bias = bias
        self.transposedWeight = try Self.transposedKernel(of: weight, geometry: geometry)
        if case .conv(let g) = geometry {
            self.winogradWeight = try Winograd.transform(weight, geometry: g)
        } else {
            self.winogradWeight = nil
        }
    }

    /// The backward kernel for `weight` (W or a rule-modified copy), if the layer lowers its
    /// transpose to a convolution (a fast path: `Environment.fastPaths`).
    static func transposedKernel(of weight: Storage<T>, geometry: Geometry) throws(DTDError) -> Storage<T>? {
        guard Environment.fastPaths, case .conv(let g) = geometry, g.transposed != nil else { return nil }
        return try g.transposedKernel(weight)
    }

    /// Whether this is a convolution.
    public var isConv: Bool { if case .conv = geometry { true } else { false } }
    /// Rows of W: output features or channels.
    public var outChannels: Int {
        switch geometry {
        case .dense(_, let out): out
        case .conv(let g): g.outChannels
        }
    }
    /// Columns of W: input features, or the patch size Cin * kH * kW.
    public var fanIn: Int {
        switch geometry {
        case .dense(let input, _): input
        case .conv(let g): g.patchSize
        }
    }
    /// Output positions per channel: 1 for dense, Hout * Wout for conv.
    public var positions: Int {
        switch geometry {
        case .dense: 1
        case .conv(let g): g.positions
        }
    }
    /// Shape of one input sample.
    public var inputShape: Shape {
        switch geometry {
        case .dense(let input, _): .flat(input)
        case .conv(let g): g.inputShape
        }
    }
    /// Shape of one output sample.
    public var outputShape: Shape {
        switch geometry {
        case .dense(_, let out): .flat(out)
        case .conv(let g): g.outputShape
        }
    }
    /// Elements per input sample.
    public var inputCount: Int { inputShape.count }
    /// Elements per output sample (neurons).
    public var outputCount: Int { outChannels * positions }
}
