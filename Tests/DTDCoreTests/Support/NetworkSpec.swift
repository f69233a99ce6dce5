@testable import DTDCore

/// A network written down as plain data with `Double` parameters, independent of the engine.
///
/// The Zennit fixtures, the seeded random networks and the naive oracle all speak this form:
/// `build(_:)` turns it into an engine `Network` of either element type, and
/// `NaiveNetwork(spec)` (Reference/NaiveLRP.swift) evaluates it with plain loops. Layouts are
/// PyTorch's: dense weights `(out, in)`, conv weights `(Cout, Cin, kH, kW)`, row-major.
struct NetworkSpec: Sendable, CustomStringConvertible {
    var name: String
    var inputShape: [Int]
    var layers: [LayerSpec] = []

    var description: String { name }

    /// Elements per input sample.
    var inputCount: Int { inputShape.reduce(1, *) }

    /// Indices of the dense and conv layers (the ones that take a rule).
    var linearLayerIndices: [Int] { layers.indices.filter { layers[$0].isLinear } }

    /// The engine network of element type `T`, built layer by layer through the public API.
    func build<T: DTDScalar>(_: T.Type) throws -> Network<T> {
        var network = try Network<T>(inputShape: Shape(inputShape))
        for layer in layers {
            switch layer {
            case .dense(let w, let out, let inFeatures, let b):
                try network.addDense(weight: w.map { T($0) }, outFeatures: out, inFeatures: inFeatures,
                                     bias: b.map { $0.map { T($0) } })
            case .conv2d(let c):
                if let sides = c.sides {
                    try network.addConv2d(weight: c.weight.map { T($0) }, outChannels: c.outChannels, inChannels: c.inChannels,
                                          kernel: c.kernel, bias: c.bias.map { $0.map { T($0) } }, stride: c.stride,
                                          padding: sides, dilation: c.dilation)
                } else {
                    try network.addConv2d(weight: c.weight.map { T($0) }, outChannels: c.outChannels, inChannels: c.inChannels,
                                          kernel: c.kernel, bias: c.bias.map { $0.map { T($0) } }, stride: c.stride,
                                          padding: c.padding, dilation: c.dilation)
                }
            case .relu:
                network.addReLU()
            case .flatten:
                network.addFlatten()
            case .maxPool2d(let kernel, let stride, let padding):
                try network.addMaxPool2d(kernel: kernel, stride: stride, padding: padding)
            case .avgPool2d(let kernel, let stride, let padding, let countIncludePad):
                try network.addAvgPool2d(kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad)
            case .paddedMaxPool2d(let kernel, let stride, let padding):
                try network.addMaxPool2d(kernel: kernel, stride: stride, padding: padding)
            case .paddedAvgPool2d(let kernel, let stride, let padding, let countIncludePad):
                try network.addAvgPool2d(kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad)
            case .adaptiveAvgPool2d(let size):
                try network.addAdaptiveAvgPool2d(outputSize: size)
            case .batchNorm(let gamma, let beta, let mean, let variance, let eps):
                try network.addBatchNorm(gamma: gamma.map { T($0) }, beta: beta.map { T($0) }, runningMean: mean.map { T($0) },
                                         runningVar: variance.map { T($0) }, eps: eps)
            case .identity:
                network.addIdentity()
            case .route(let sources):
                try network.addRoute(from: sources)
            case .add(let sources):
                try network.addAdd(from: sources)
            }
        }
        return network
    }

    /// A rule set assigning `rules[layer]` to each named layer.
    func ruleSet<T: DTDScalar>(_ rules: [Int: Rule], for network: Network<T>) throws -> RuleSet<T> {
        var set = try RuleSet(for: network)
        for (layer, rule) in rules.sorted(by: { $0.key < $1.key }) {
            try set.set(rule, layer: layer, in: network)
        }
        return set
    }

    /// The same network with every parameter rounded to the nearest float32 value.
    func roundedToFloat32() -> NetworkSpec {
        func round(_ values: [Double]) -> [Double] { values.map { Double(Float($0)) } }
        var copy = self
        copy.layers = layers.map { layer in
            switch layer {
            case .dense(let w, let out, let inFeatures, let b):
                return .dense(weight: round(w), outFeatures: out, inFeatures: inFeatures, bias: b.map(round))
            case .conv2d(var c):
                c.weight = round(c.weight)
                c.bias = c.bias.map(round)
                return .conv2d(c)
            case .batchNorm(let gamma, let beta, let mean, let variance, let eps):
                return .batchNorm(gamma: round(gamma), beta: round(beta), mean: round(mean), variance: round(variance), eps: eps)
            default:
                return layer
            }
        }
        return copy
    }

    /// The same rule on every dense/conv layer.
    func uniformRules(_ rule: Rule) -> [Int: Rule] {
        Dictionary(uniqueKeysWithValues: linearLayerIndices.map { ($0, rule) })
    }
}

/// The parameters of one conv2d layer.
struct ConvSpec: Sendable {
    var weight: [Double]
    var outChannels: Int
    var inChannels: Int
    var kernel: (Int, Int)
    var bias: [Double]?
    var stride: (Int, Int) = (1, 1)
    var padding: (Int, Int) = (0, 0)
    var dilation: (Int, Int) = (1, 1)
    /// Padding per side (ONNX's pads), overriding `padding` when set.
    var sides: Padding? = nil

    /// The padding on each side.
    var padSides: Padding { sides ?? Padding(padding) }
}

/// One layer of a `NetworkSpec`.
enum LayerSpec: Sendable {
    case dense(weight: [Double], outFeatures: Int, inFeatures: Int, bias: [Double]?)
    case conv2d(ConvSpec)
    case relu
    case flatten
    case maxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int))
    case avgPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), countIncludePad: Bool)
    /// Pools with padding per side (ONNX's pads).
    case paddedMaxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: Padding)
    case paddedAvgPool2d(kernel: (Int, Int), stride: (Int, Int), padding: Padding, countIncludePad: Bool)
    case adaptiveAvgPool2d(outputSize: (Int, Int))
    /// Eval-mode batch-norm (folded into the dense/conv layer before it).
    case batchNorm(gamma: [Double], beta: [Double], mean: [Double], variance: [Double], eps: Double)
    case identity
    /// The output of earlier layers (-1: the input), concatenated along channels.
    case route([Int])
    /// The previous output plus the outputs of earlier layers.
    case add([Int])

    var isLinear: Bool {
        switch self {
        case .dense, .conv2d: true
        default: false
        }
    }
}
