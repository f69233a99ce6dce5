/// The kinds of layer, with the raw values of the header's `DTD_LAYER_*`.
public enum LayerKind: Int32, Sendable, CustomStringConvertible {
    case dense = 1, conv2d, relu, maxPool2d, avgPool2d, flatten, batchNorm
    case route, add, identity, adaptiveAvgPool2d

    public var description: String {
        switch self {
        case .dense: "dense"
        case .conv2d: "conv2d"
        case .relu: "relu"
        case .maxPool2d: "maxpool2d"
        case .avgPool2d: "avgpool2d"
        case .flatten: "flatten"
        case .batchNorm: "batchnorm"
        case .route: "route"
        case .add: "add"
        case .identity: "identity"
        case .adaptiveAvgPool2d: "adaptive_avgpool2d"
        }
    }

    /// Whether LRP splits relevance here with a pooling rule (norm or flat; `PoolRule`).
    public var takesPoolRule: Bool { self == .avgPool2d || self == .adaptiveAvgPool2d || self == .add }
}

/// One entry of a network's layer list.
public enum Layer<T: DTDScalar>: Sendable {
    case linear(LinearLayer<T>)
    case relu(Shape)
    case maxPool2d(PoolGeometry)
    case avgPool2d(PoolGeometry)
    case adaptiveAvgPool2d(AdaptivePoolGeometry)
    case flatten(input: Shape)
    /// A batch-norm folded into the linear layer at `foldedInto`; the identity at run time.
    case batchNorm(Shape, foldedInto: Int)
    /// Dropout or Identity at inference: passes everything through.
    case identity(Shape)
    /// The output of earlier layers, concatenated along channels.
    case route(RouteLayer)
    /// The previous output plus the outputs of earlier layers.
    case add(AddLayer)

    /// The layer's kind.
    public var kind: LayerKind {
        switch self {
        case .linear(let l): l.isConv ? .conv2d : .dense
        case .relu: .relu
        case .maxPool2d: .maxPool2d
        case .avgPool2d: .avgPool2d
        case .adaptiveAvgPool2d: .adaptiveAvgPool2d
        case .flatten: .flatten
        case .batchNorm: .batchNorm
        case .identity: .identity
        case .route: .route
        case .add: .add
        }
    }

    /// Shape of one sample of the previous layer's output, the layer's input (a route does not
    /// read it; an add reads it as its first operand).
    public var inputShape: Shape {
        switch self {
        case .linear(let l): l.inputShape
        case .relu(let s), .identity(let s): s
        case .maxPool2d(let g), .avgPool2d(let g): g.inputShape
        case .adaptiveAvgPool2d(let g): g.inputShape
        case .flatten(let s): s
        case .batchNorm(let s, _): s
        case .route(let r): r.previousShape
        case .add(let a): a.shape
        }
    }

    /// Shape of one output sample.
    public var outputShape: Shape {
        switch self {
        case .linear(let l): l.outputShape
        case .relu(let s), .identity(let s): s
        case .maxPool2d(let g), .avgPool2d(let g): g.outputShape
        case .adaptiveAvgPool2d(let g): g.outputShape
        case .flatten(let s): .flat(s.count)
        case .batchNorm(let s, _): s
        case .route(let r): r.outputShape
        case .add(let a): a.shape
        }
    }

    /// The linear layer, if this is a dense or conv layer.
    public var linear: LinearLayer<T>? {
        if case .linear(let l) = self { l } else { nil }
    }
}
