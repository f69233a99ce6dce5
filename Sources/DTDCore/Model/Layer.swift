/// The kinds of layer, with the raw values of the header's `DTD_LAYER_*`.
public enum LayerKind: Int32, Sendable, CustomStringConvertible {
    case dense = 1, conv2d, relu, maxPool2d, avgPool2d, flatten, batchNorm

    public var description: String {
        switch self {
        case .dense: "dense"
        case .conv2d: "conv2d"
        case .relu: "relu"
        case .maxPool2d: "maxpool2d"
        case .avgPool2d: "avgpool2d"
        case .flatten: "flatten"
        case .batchNorm: "batchnorm"
        }
    }
}

/// One entry of a network's layer list.
public enum Layer<T: DTDScalar>: Sendable {
    case linear(LinearLayer<T>)
    case relu(Shape)
    case maxPool2d(PoolGeometry)
    case avgPool2d(PoolGeometry)
    case flatten(input: Shape)
    /// A batch-norm folded into the linear layer at `foldedInto`; the identity at run time.
    case batchNorm(Shape, foldedInto: Int)

    /// The layer's kind.
    public var kind: LayerKind {
        switch self {
        case .linear(let l): l.isConv ? .conv2d : .dense
        case .relu: .relu
        case .maxPool2d: .maxPool2d
        case .avgPool2d: .avgPool2d
        case .flatten: .flatten
        case .batchNorm: .batchNorm
        }
    }

    /// Shape of one input sample.
    public var inputShape: Shape {
        switch self {
        case .linear(let l): l.inputShape
        case .relu(let s): s
        case .maxPool2d(let g), .avgPool2d(let g): g.inputShape
        case .flatten(let s): s
        case .batchNorm(let s, _): s
        }
    }

    /// Shape of one output sample.
    public var outputShape: Shape {
        switch self {
        case .linear(let l): l.outputShape
        case .relu(let s): s
        case .maxPool2d(let g), .avgPool2d(let g): g.outputShape
        case .flatten(let s): .flat(s.count)
        case .batchNorm(let s, _): s
        }
    }

    /// The linear layer, if this is a dense or conv layer.
    public var linear: LinearLayer<T>? {
        if case .linear(let l) = self { l } else { nil }
    }
}
