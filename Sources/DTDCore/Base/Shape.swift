/// The shape of one sample's activation: `(D)` for flat activations, `(C, H, W)` for images.
/// The batch dimension is never part of a `Shape`; it is given per call.
public struct Shape: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The sizes, outermost first.
    public let dims: [Int]

    /// A shape of the given sizes, outermost first. `Network` accepts ranks 1 and 3.
    public init(_ dims: [Int]) { self.dims = dims }

    /// A flat shape `(count)`.
    public static func flat(_ count: Int) -> Shape { Shape([count]) }

    /// An image shape `(channels, height, width)`.
    public static func image(channels: Int, height: Int, width: Int) -> Shape { Shape([channels, height, width]) }

    /// The number of dimensions: 1 or 3.
    public var rank: Int { dims.count }
    /// Elements per sample.
    public var count: Int { dims.reduce(1, *) }
    /// Whether the shape is `(C, H, W)`.
    public var isImage: Bool { dims.count == 3 }
    /// C of an image, D of a flat shape (a dense layer's "channels" are its features).
    public var channels: Int { dims.first ?? 1 }
    /// H of an image, 1 for a flat shape.
    public var height: Int { dims.count == 3 ? dims[1] : 1 }
    /// W of an image, 1 for a flat shape.
    public var width: Int { dims.count == 3 ? dims[2] : 1 }

    public var description: String {
        dims.count == 1 ? "(\(dims[0]))" : "(" + dims.map(String.init).joined(separator: ", ") + ")"
    }
}
