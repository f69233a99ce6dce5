import Testing
@testable import DTDCore

/// Building graph networks (§3b, `Include/dtd.h` "Graphs"): every documented error of route, add,
/// adaptive pooling, asymmetric padding and batch-norm folding throws the documented kind with a
/// message naming the layer (and the operand and shapes where the header promises them), and
/// leaves the network exactly as it was: same layers, same fingerprint, same outputs, and it can
/// still grow.
@Suite("Building graph networks")
struct GraphBuildingTests {
    /// A base network: input (2, 6, 6); 0 conv(3, 3x3, pad 1), 1 batch-norm (folded into 0),
    /// 2 relu, 3 conv(2, 3x3) -> (2, 4, 4), 4 relu, 5 flatten -> (32), 6 dense(4).
    static func base() throws -> Network<Double> {
        var rng = SplitMix64(seed: 71)
        var network = try Network<Double>(inputShape: .image(channels: 2, height: 6, width: 6))
        try network.addConv2d(weight: rng.uniform(3 * 2 * 9, in: -1...1), outChannels: 3, inChannels: 2, kernel: (3, 3),
                              bias: rng.uniform(3, in: -0.5...0.5), padding: (1, 1))
        try network.addBatchNorm(gamma: [1, 0.5, 2], beta: [0.1, -0.2, 0], runningMean: [0, 0.3, -0.1], runningVar: [1, 2, 0.5], eps: 1e-5)
        network.addReLU()
        try network.addConv2d(weight: rng.uniform(2 * 3 * 9, in: -1...1), outChannels: 2, inChannels: 3, kernel: (3, 3), bias: nil)
        network.addReLU()
        network.addFlatten()
        try network.addDense(weight: rng.uniform(4 * 32, in: -1...1), outFeatures: 4, inFeatures: 32, bias: nil)
        return network
    }

    /// Runs `change` on a copy of `network`, expects the error, and checks the copy is unchanged.
    static func expectRefused(_ network: Network<Double>, _ kind: DTDError.Kind, mentioning fragments: [String],
                              sourceLocation: SourceLocation = #_sourceLocation,
                              _ change: (inout Network<Double>) throws -> Void) throws {
        var copy = network
        expectDTDError(kind, mentioning: fragments, sourceLocation: sourceLocation) { try change(&copy) }
        #expect(copy.layers.count == network.layers.count, "a layer was added", sourceLocation: sourceLocation)
        #expect(copy.fingerprint == network.fingerprint, "the network changed", sourceLocation: sourceLocation)
        #expect(copy.layers.map(\.kind) == network.layers.map(\.kind), sourceLocation: sourceLocation)
        if !network.layers.isEmpty {
            var rng = SplitMix64(seed: 72)
            let x = rng.uniform(2 * network.inputCount, in: -1...1)
            #expect(try copy.forward(x, batch: 2) == network.forward(x, batch: 2), "outputs changed", sourceLocation: sourceLocation)
        }
        // It can still grow.
        copy.addIdentity()
        #expect(copy.layers.count == network.layers.count + 1, sourceLocation: sourceLocation)
    }

    // MARK: Sources

    @Test func referencesForwardToItselfOrBelowMinusOneAreRefused() throws {
        let network = try Self.base()
        let n = network.layers.count
        try Self.expectRefused(network, .layerIndex, mentioning: ["layer \(n) (route)", "from[0] = \(n)", "itself"]) { try $0.addRoute(from: [n]) }
        try Self.expectRefused(network, .layerIndex, mentioning: ["layer \(n) (route)", "from[1] = \(n + 2)"]) { try $0.addRoute(from: [2, n + 2]) }
        try Self.expectRefused(network, .layerIndex, mentioning: ["layer \(n) (route)", "from[0] = -2", "below -1"]) { try $0.addRoute(from: [-2]) }
        try Self.expectRefused(network, .layerIndex, mentioning: ["layer \(n) (add)", "from[0] = \(n)"]) { try $0.addAdd(from: [n]) }
        try Self.expectRefused(network, .layerIndex, mentioning: ["layer \(n) (add)", "from[1] = -5"]) { try $0.addAdd(from: [6, -5]) }
        try Self.expectRefused(network, .layerIndex, mentioning: ["layer \(n) (add)", "from[0] = \(Int.max)"]) { try $0.addAdd(from: [Int.max]) }
        try Self.expectRefused(network, .layerIndex, mentioning: ["from[0] = \(Int.min)"]) { try $0.addRoute(from: [Int.min]) }
    }

    @Test func emptySourceListsAreRefused() throws {
        let network = try Self.base()
        let n = network.layers.count
        try Self.expectRefused(network, .size, mentioning: ["layer \(n) (route)", "empty"]) { try $0.addRoute(from: []) }
        try Self.expectRefused(network, .size, mentioning: ["layer \(n) (add)", "empty"]) { try $0.addAdd(from: []) }
    }

    /// An add operand of another shape names the operand, its layer and both shapes; so does
    /// the previous output being the network input.
    @Test func addShapeMismatchNamesTheOperandAndShapes() throws {
        let network = try Self.base()
        let n = network.layers.count
        // Layer 6's output (4) plus layer 5's (32).
        try Self.expectRefused(network, .shapeMismatch, mentioning: ["layer \(n) (add)", "from[1] = layer 5", "(32)", "(4)", "layer 6"]) {
            try $0.addAdd(from: [6, 5])
        }
        // An image operand of other channels: (3, 6, 6) vs (2, 4, 4).
        var branch = try Network<Double>(inputShape: .image(channels: 2, height: 6, width: 6))
        branch.addIdentity()
        try branch.addConv2d(weight: [Double](repeating: 0.1, count: 2 * 2 * 9), outChannels: 2, inChannels: 2, kernel: (3, 3), bias: nil)
        try Self.expectRefused(branch, .shapeMismatch, mentioning: ["layer 2 (add)", "from[0] = layer 0", "(2, 6, 6)", "(2, 4, 4)"]) {
            try $0.addAdd(from: [0])
        }
        try Self.expectRefused(branch, .shapeMismatch, mentioning: ["from[0] = layer -1", "(2, 6, 6)"]) { try $0.addAdd(from: [-1]) }
        // A first-layer add of the input to itself is fine, and so is an add of same-shaped outputs.
        var first = try Network<Double>(inputShape: .flat(3))
        try first.addAdd(from: [-1])
        #expect(try first.forward([1, 2, -3], batch: 1) == [2, 4, -6])
    }

    @Test func concatenationOfFlatSourcesOrDifferentHeightOrWidthIsRefused() throws {
        let network = try Self.base()
        let n = network.layers.count
        try Self.expectRefused(network, .shapeMismatch, mentioning: ["layer \(n) (route)", "flat", "from[0] = layer 6"]) {
            try $0.addRoute(from: [6, 5])
        }
        try Self.expectRefused(network, .shapeMismatch, mentioning: ["layer \(n) (route)", "flat", "from[1] = layer 5"]) {
            try $0.addRoute(from: [2, 5])
        }
        // (3, 6, 6) from layer 2 and (2, 4, 4) from layer 4.
        try Self.expectRefused(network, .shapeMismatch, mentioning: ["from[1] = layer 4", "(2, 4, 4)", "from[0] = layer 2", "(3, 6, 6)"]) {
            try $0.addRoute(from: [2, 4])
        }
        // Same height, other width.
        var wide = try Network<Double>(inputShape: .image(channels: 1, height: 4, width: 5))
        try wide.addConv2d(weight: [1, 1], outChannels: 1, inChannels: 1, kernel: (1, 2), bias: nil)
        try Self.expectRefused(wide, .shapeMismatch, mentioning: ["layer 1 (route)", "from[1] = layer 0", "(1, 4, 4)", "(1, 4, 5)"]) {
            try $0.addRoute(from: [-1, 0])
        }
        // A single flat source is a side branch, not a concatenation: fine.
        var side = network
        try side.addRoute(from: [5])
        #expect(side.outputShape == .flat(32))
    }

    /// A route or add may not read a conv/dense whose batch-norm was folded in (its output before
    /// normalisation no longer exists), but may read the batch-norm's index.
    @Test func readingAFoldedLayerIsALayerOrderError() throws {
        let network = try Self.base()
        let n = network.layers.count
        try Self.expectRefused(network, .layerOrder, mentioning: ["layer \(n) (route)", "layer 0", "layer 1"]) { try $0.addRoute(from: [0]) }
        try Self.expectRefused(network, .layerOrder, mentioning: ["layer \(n) (route)", "from[1] = layer 0"]) { try $0.addRoute(from: [2, 0]) }
        var dense = try Network<Double>(inputShape: .flat(3))
        try dense.addDense(weight: [1, 0, 0, 0, 1, 0, 0, 0, 1], outFeatures: 3, inFeatures: 3, bias: nil)
        try dense.addBatchNorm(gamma: [1, 1, 1], beta: [0, 0, 0], runningMean: [0, 0, 0], runningVar: [1, 1, 1], eps: 0)
        dense.addReLU()
        try Self.expectRefused(dense, .layerOrder, mentioning: ["layer 3 (add)", "layer 0", "layer 1"]) { try $0.addAdd(from: [0]) }
        var ok = dense
        try ok.addAdd(from: [1])
        #expect(try ok.forward([1, -2, 3], batch: 1) == [2, -2, 6])
    }

    @Test func batchNormAfterARouteAddIdentityOrPoolIsALayerOrderError() throws {
        let network = try Self.base()
        let n = network.layers.count
        let norm = ([1.0, 1, 1], [0.0, 0, 0], [0.0, 0, 0], [1.0, 1, 1])
        var routed = network
        try routed.addRoute(from: [1])  // (3, 6, 6), the folded conv's batch-norm output
        try Self.expectRefused(routed, .layerOrder, mentioning: ["layer \(n + 1) (batchnorm)", "route"]) {
            try $0.addBatchNorm(gamma: norm.0, beta: norm.1, runningMean: norm.2, runningVar: norm.3, eps: 1e-5)
        }
        var added = routed
        try added.addAdd(from: [2])
        try Self.expectRefused(added, .layerOrder, mentioning: ["layer \(n + 2) (batchnorm)", "add"]) {
            try $0.addBatchNorm(gamma: norm.0, beta: norm.1, runningMean: norm.2, runningVar: norm.3, eps: 1e-5)
        }
        var identity = routed
        identity.addIdentity()
        try Self.expectRefused(identity, .layerOrder, mentioning: ["layer \(n + 2) (batchnorm)", "identity"]) {
            try $0.addBatchNorm(gamma: norm.0, beta: norm.1, runningMean: norm.2, runningVar: norm.3, eps: 1e-5)
        }
        var pooled = routed
        try pooled.addAdaptiveAvgPool2d(outputSize: (2, 2))
        try Self.expectRefused(pooled, .layerOrder, mentioning: ["layer \(n + 2) (batchnorm)", "adaptive_avgpool2d"]) {
            try $0.addBatchNorm(gamma: norm.0, beta: norm.1, runningMean: norm.2, runningVar: norm.3, eps: 1e-5)
        }
    }

    // MARK: Pools and padding

    @Test func adaptivePoolNeedsAnImageAndPositiveSizes() throws {
        let network = try Self.base()
        let n = network.layers.count
        try Self.expectRefused(network, .shapeMismatch, mentioning: ["layer \(n) (adaptive_avgpool2d)", "(4)"]) {
            try $0.addAdaptiveAvgPool2d(outputSize: (1, 1))
        }
        var images = try Network<Double>(inputShape: .image(channels: 2, height: 3, width: 3))
        images.addReLU()
        try Self.expectRefused(images, .size, mentioning: ["layer 1 (adaptive_avgpool2d)", "out_h"]) { try $0.addAdaptiveAvgPool2d(outputSize: (0, 2)) }
        try Self.expectRefused(images, .size, mentioning: ["layer 1 (adaptive_avgpool2d)", "out_w"]) { try $0.addAdaptiveAvgPool2d(outputSize: (2, -1)) }
        // Larger than the input is allowed.
        try images.addAdaptiveAvgPool2d(outputSize: (5, 4))
        #expect(images.outputShape == .image(channels: 2, height: 5, width: 4))
    }

    /// Per-side pool padding must be >= 0 and below the window on its axis (so no window lies
    /// wholly in padding); conv padding per side must be >= 0.
    @Test func paddedPoolPaddingAtOrAboveTheKernelIsRefused() throws {
        var network = try Network<Double>(inputShape: .image(channels: 2, height: 6, width: 6))
        network.addReLU()
        let sides: [Padding] = [Padding(top: 2, bottom: 0, left: 0, right: 0), Padding(top: 0, bottom: 2, left: 0, right: 0),
                                Padding(top: 0, bottom: 0, left: 3, right: 0), Padding(top: 0, bottom: 0, left: 0, right: 5),
                                Padding(top: -1, bottom: 0, left: 0, right: 0), Padding(top: 0, bottom: 0, left: 0, right: -1)]
        for padding in sides {
            try Self.expectRefused(network, .invalidArgument, mentioning: ["layer 1 (maxpool2d)", "padding"]) {
                try $0.addMaxPool2d(kernel: (2, 3), stride: (1, 1), padding: padding)
            }
            for include in [true, false] {
                try Self.expectRefused(network, .invalidArgument, mentioning: ["layer 1 (avgpool2d)", "padding"]) {
                    try $0.addAvgPool2d(kernel: (2, 3), stride: (1, 1), padding: padding, countIncludePad: include)
                }
            }
        }
        // Just below the kernel on every side is fine (ONNX's limit, above PyTorch's half kernel).
        var ok = network
        try ok.addMaxPool2d(kernel: (2, 3), stride: (1, 1), padding: Padding(top: 1, bottom: 1, left: 2, right: 2))
        #expect(ok.outputShape == .image(channels: 2, height: 7, width: 8))
        try Self.expectRefused(network, .size, mentioning: ["layer 1 (conv2d)", "padding"]) {
            try $0.addConv2d(weight: [Double](repeating: 1, count: 2 * 2 * 4), outChannels: 2, inChannels: 2, kernel: (2, 2),
                             bias: nil, padding: Padding(top: 0, bottom: -1, left: 0, right: 0))
        }
        // A window larger than the asymmetrically padded input.
        try Self.expectRefused(network, .shapeMismatch, mentioning: ["layer 1 (conv2d)", "larger"]) {
            try $0.addConv2d(weight: [Double](repeating: 1, count: 2 * 2 * 9 * 9), outChannels: 2, inChannels: 2, kernel: (9, 9),
                             bias: nil, padding: Padding(top: 1, bottom: 1, left: 2, right: 0))
        }
    }

    /// Asymmetric padding shapes follow (H + top + bottom - k) / s + 1 per axis.
    @Test func asymmetricPaddingGivesOnnxOutputShapes() throws {
        var network = try Network<Double>(inputShape: .image(channels: 1, height: 7, width: 6))
        try network.addConv2d(weight: [Double](repeating: 1, count: 2 * 3 * 2), outChannels: 2, inChannels: 1, kernel: (3, 2), bias: nil,
                              stride: (2, 1), padding: Padding(top: 0, bottom: 2, left: 1, right: 0))
        #expect(network.outputShape == .image(channels: 2, height: 4, width: 6))
        try network.addAvgPool2d(kernel: (2, 3), stride: (1, 2), padding: Padding(top: 1, bottom: 0, left: 0, right: 2), countIncludePad: false)
        #expect(network.outputShape == .image(channels: 2, height: 4, width: 3))
        try network.addMaxPool2d(kernel: (3, 2), stride: (1, 1), padding: Padding(top: 2, bottom: 0, left: 0, right: 1))
        #expect(network.outputShape == .image(channels: 2, height: 4, width: 3))
    }

    // MARK: Routes and adds that build

    /// Concatenation shapes and the layer list: channels add up in the order given, repeats
    /// count, -1 reads the input; operands are as documented.
    @Test func routesAndAddsBuildWithTheDocumentedShapesAndOperands() throws {
        let network = try Self.base()
        var grown = network
        try grown.addRoute(from: [-1, 2, -1])  // 2 + 3 + 2 channels of 6x6
        #expect(grown.outputShape == .image(channels: 7, height: 6, width: 6))
        #expect(grown.operands(of: 7) == [-1, 2, -1])
        try grown.addAdd(from: [7, 7])
        #expect(grown.operands(of: 8) == [7, 7, 7])
        #expect(grown.operands(of: 3) == [2])
        #expect(grown.fingerprint != network.fingerprint)
        let x = RandomNetworks.seeds(72, seed: 73)
        let out = try grown.forward(x, batch: 1)
        var prefix = network
        prefix.layers.removeLast(4)  // up to layer 2, the relu
        let features = try prefix.forward(x, batch: 1)  // (3, 6, 6) after the relu
        let concat = x + features + x
        #expect(out == concat.map { 3 * $0 }, "add of the concatenation with itself twice")
    }
}
