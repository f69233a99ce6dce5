// MARK: - Layers that read earlier layers' outputs
//
// A network stays one list of layers, so every layer keeps one index (rules, audit, ledger). Two
// kinds of layer read outputs other than the previous one (the way Darknet's `route` and
// `shortcut` describe YOLO and ResNet as a list); references go only backwards, and -1 names the
// network input. `Network.operands(of:)` lists what each layer reads.

/// The output of one earlier layer (a side branch), or the channel-wise concatenation of several
/// (DenseNet, U-Net).
public struct RouteLayer: Sendable, Equatable {
    /// The layers read, in concatenation order (-1: the network input).
    public let sources: [Int]
    /// Their output shapes.
    public let sourceShapes: [Shape]
    /// The previous layer's output shape (the route does not read it).
    public let previousShape: Shape
    /// The concatenation: the single source's shape, or `(sum of C_i, H, W)`.
    public let outputShape: Shape

    /// Where each source's channels start in the output, as offsets into one sample.
    public var offsets: [Int] {
        var offsets: [Int] = [], offset = 0
        for shape in sourceShapes {
            offsets.append(offset)
            offset += shape.count
        }
        return offsets
    }
}

/// The residual sum: the previous layer's output plus the outputs of the listed layers, all of
/// one shape.
public struct AddLayer: Sendable, Equatable {
    /// The layers added to the previous output (-1: the network input).
    public let sources: [Int]
    /// The shape of every operand and of the sum.
    public let shape: Shape
}
