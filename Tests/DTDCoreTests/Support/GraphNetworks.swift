import Testing
@testable import DTDCore

/// Hand-built graph networks for the graph suites, each aimed at one corner of §3b that the seeded
/// `RandomNetworks.graphs` do not pin down on their own.
enum GraphNetworks {
    /// DenseNet-style double concatenation: route([-1, relu]) then route([-1, relu, relu2]), so
    /// the network input is read by two routes and a conv.
    static let doubleConcat: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand densenet (two concats, both reading the input)", inputShape: [2, 5, 5], seed: 41)
        b = b.conv(3, kernel: (3, 3), padding: (1, 1)).relu()
        let first = b.next - 1
        b = b.route([-1, first]).conv(2, kernel: (1, 1)).relu()
        let second = b.next - 1
        b = b.route([-1, first, second]).conv(3, kernel: (3, 3), stride: (2, 2), bias: .negative).relu()
        return b.flatten().dense(3).spec
    }()

    /// A residual sum of three operands (the previous output and two earlier ones) on images.
    static let threeOperandAdd: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand cnn add of three operands", inputShape: [2, 6, 6], seed: 42)
        b = b.conv(3, kernel: (3, 3), padding: (1, 1)).relu()
        let a = b.next - 1
        b = b.conv(3, kernel: (3, 3), padding: (1, 1)).relu()
        let c = b.next - 1
        b = b.conv(3, kernel: (3, 3), padding: (1, 1), bias: .positive).add([a, c]).relu()
        return b.avgPool((2, 2), stride: (2, 2)).flatten().dense(3).spec
    }()

    /// An add that lists one source twice (operands: previous, k, k), on a flat activation.
    static let repeatedOperand: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand mlp add reading one operand twice", inputShape: [5], seed: 43)
        b = b.dense(6).relu()
        let k = b.next - 1
        b = b.dense(6).add([k, k]).relu()
        return b.dense(3).spec
    }()

    /// Adaptive average pooling with overlapping bins (5x7 -> 3x4).
    static let adaptiveOverlapping: NetworkSpec =
        RandomNetworkBuilder(name: "hand adaptive pool 5x7 -> 3x4 (overlapping bins)", inputShape: [2, 5, 7], seed: 44)
            .conv(3, kernel: (3, 3), padding: (1, 1)).relu().adaptiveAvgPool((3, 4)).flatten().dense(3).spec

    /// Adaptive average pooling to a size larger than its input (3x4 -> 5x7: bins repeat cells),
    /// as the first layer, on inputs of both signs.
    static let adaptiveUpsampling: NetworkSpec =
        RandomNetworkBuilder(name: "hand adaptive pool 3x4 -> 5x7 (output larger) on the input", inputShape: [2, 3, 4], seed: 45)
            .adaptiveAvgPool((5, 7)).conv(3, kernel: (3, 3), bias: .positive).relu().flatten().dense(3).spec

    /// Asymmetric padding on conv, max-pool and average pool (padding not counted), with a side
    /// branch (a single-source route) around the max-pool.
    static let asymmetricPadding: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand asymmetric pads (conv, max-pool, avg-pool exclude pad) with a side route",
                                     inputShape: [1, 6, 7], seed: 46)
        b = b.conv(2, kernel: (3, 3), sides: Padding(top: 1, bottom: 0, left: 2, right: 1)).relu()
        let features = b.next - 1
        b = b.maxPool((3, 2), stride: (2, 2), sides: Padding(top: 0, bottom: 2, left: 1, right: 0))
            .route([features])
            .avgPool((2, 3), stride: (1, 2), sides: Padding(top: 1, bottom: 0, left: 0, right: 2), countIncludePad: false)
        return b.flatten().dense(3).spec
    }()

    /// An add as the first layer (x + x), a dead branch (two layers whose outputs nobody reads)
    /// and an add of the network input as the output layer.
    static let deadBranch: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand mlp x + x first, dead branch, output adds the input", inputShape: [4], seed: 47)
        b = b.add([-1]).dense(5).relu()
        let alive = b.next - 1
        b = b.dense(5).relu().route([alive])  // layers alive+1, alive+2: read by nobody
        return b.dense(4).add([-1]).spec
    }()

    /// A route as the output layer: the concatenation of features and the network input.
    static let concatOutput: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand route output (features ++ input)", inputShape: [1, 4, 4], seed: 48)
        b = b.conv(2, kernel: (3, 3), padding: (1, 1)).relu()
        return b.route([b.next - 1, -1]).spec
    }()

    /// 3x3 stride-1 convolutions with 16 and 32 input channels (the products the engine lowers
    /// with Winograd, forward, transposed and in the fused z+ stack) around a residual add and a
    /// concatenation.
    static let wideResidual: NetworkSpec = {
        var b = RandomNetworkBuilder(name: "hand wide residual + concat (Winograd convs)", inputShape: [16, 5, 5], seed: 49)
        b = b.conv(16, kernel: (3, 3), padding: (1, 1)).relu()
        let stem = b.next - 1
        b = b.conv(16, kernel: (3, 3), padding: (1, 1), bias: .none).add([stem]).relu()
        b = b.route([b.next - 1, stem]).conv(16, kernel: (3, 3)).relu().maxPool((2, 2), stride: (1, 1))
        return b.flatten().dense(3).spec
    }()

    static let hand: [NetworkSpec] = [doubleConcat, threeOperandAdd, repeatedOperand, adaptiveOverlapping,
                                      adaptiveUpsampling, asymmetricPadding, deadBranch, concatOutput, wideResidual]

    /// Every graph network of the suites: the seeded random ones and the hand-built ones.
    static var all: [NetworkSpec] { RandomNetworks.graphs + hand }
}

extension NetworkSpec {
    /// The outputs layer `index` reads, from the description alone: a route's sources, an add's
    /// previous output and sources, else the previous output (-1: the input).
    func operands(of index: Int) -> [Int] {
        switch layers[index] {
        case .route(let sources): sources
        case .add(let sources): [index - 1] + sources
        default: [index - 1]
        }
    }

    /// The first layer above `layer` that reads an output below it (so bypasses it), or nil.
    func bypassingLayer(of layer: Int) -> Int? {
        ((layer + 1)..<layers.count).first { index in operands(of: index).contains { $0 < layer } }
    }

    /// Indices of the average pools, adaptive pools and adds (the layers that take a pool rule).
    var poolRuleLayerIndices: [Int] {
        layers.indices.filter {
            switch layers[$0] {
            case .avgPool2d, .paddedAvgPool2d, .adaptiveAvgPool2d, .add: true
            default: false
            }
        }
    }
}

/// Expects, sample by sample, `relativeError(actual, expected) <= tolerance` on samples of
/// `size` values (each sample relative to its own largest expected magnitude).
func expectClosePerSample<A: BinaryFloatingPoint>(_ actual: [A], _ expected: [Double], size: Int, tolerance: Double,
                                                  _ what: @autoclosure () -> String = "",
                                                  sourceLocation: SourceLocation = #_sourceLocation) {
    guard size > 0, actual.count == expected.count, expected.count % size == 0 else {
        Issue.record("\(what()): \(actual.count) values vs \(expected.count) expected in samples of \(size)",
                     sourceLocation: sourceLocation)
        return
    }
    for n in 0..<(expected.count / size) {
        let range = (n * size)..<((n + 1) * size)
        let error = relativeError(Array(actual[range]), Array(expected[range]), samples: 1)
        #expect(error <= tolerance, "\(what()) sample \(n): relative error \(error) > \(tolerance)", sourceLocation: sourceLocation)
    }
}
