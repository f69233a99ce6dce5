import Foundation
import Testing
@testable import DTDCore

/// Building a network validates every argument against the current shape and either appends the
/// layer or throws, naming the layer index, the argument and the shapes, and leaving the network
/// exactly as it was (`Include/dtd.h` conventions and section 3).
@Suite("Building a network")
struct NetworkBuildingTests {
    // MARK: Input shape

    @Test(arguments: [[0], [-3], [2, 0, 4], [1, -1, 1], [3, 4, 0]])
    func rejectsNonPositiveInputSizes(_ dims: [Int]) throws {
        let bad = try #require(dims.firstIndex { $0 <= 0 })
        expectDTDError(.size, mentioning: ["input_shape[\(bad)]", "must be positive"]) {
            _ = try Network<Double>(inputShape: Shape(dims))
        }
    }

    @Test(arguments: [[], [2, 3], [1, 2, 3, 4]])
    func rejectsInputRanksOtherThanOneOrThree(_ dims: [Int]) {
        expectDTDError(.invalidArgument, mentioning: ["input_rank", "\(dims.count)"]) {
            _ = try Network<Float>(inputShape: Shape(dims))
        }
    }

    @Test func rejectsAnInputShapeWhoseElementCountOverflows() {
        let big = Int(Int32.max)
        expectDTDError(.overflow, mentioning: ["input_shape"]) { _ = try Network<Double>(inputShape: Shape([big, big, big])) }
    }

    @Test func rejectsInputSizesAboveTheLimit() {
        expectDTDError(.size, mentioning: ["input_shape[0]", "exceeds"]) {
            _ = try Network<Double>(inputShape: .flat(Int(Int32.max) + 1))
        }
        expectDTDError(.size, mentioning: ["input_shape", "4294967296 elements"]) {
            _ = try Network<Double>(inputShape: Shape([65536, 65536, 1]))
        }
    }

    // MARK: Layers

    /// Which network a bad layer is added to: one ending in an image or in a flat vector. Either
    /// way the next layer is layer 2.
    enum Base: Sendable {
        /// (1, 5, 5) → conv2d(2, 3×3, padding 1) → relu: output (2, 5, 5).
        case image
        /// (6) → dense(4) → relu: output (4).
        case flat

        func build() throws -> Network<Double> {
            switch self {
            case .image:
                var network = try Network<Double>(inputShape: .image(channels: 1, height: 5, width: 5))
                try network.addConv2d(weight: (0..<18).map { Double($0 % 5) - 2 }, outChannels: 2, inChannels: 1,
                                      kernel: (3, 3), bias: [0.5, -0.25], padding: (1, 1))
                network.addReLU()
                return network
            case .flat:
                var network = try Network<Double>(inputShape: .flat(6))
                try network.addDense(weight: (0..<24).map { Double($0 % 7) - 3 }, outFeatures: 4, inFeatures: 6, bias: [1, -1, 0.5, 0])
                network.addReLU()
                return network
            }
        }
    }

    /// An `add*` call that must fail, the error kind, and what its message must name.
    struct BadLayer: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let base: Base
        let kind: DTDError.Kind
        let mentions: [String]
        let add: @Sendable (inout Network<Double>) throws -> Void
    }

    static let big = Int(Int32.max)
    static func conv(_ n: inout Network<Double>, out: Int = 1, in c: Int = 2, kernel: (Int, Int) = (3, 3), weights: Int? = nil,
                     bias: [Double]? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                     dilation: (Int, Int) = (1, 1), value: Double = 0.5) throws {
        let count = weights ?? max(out * c * kernel.0 * kernel.1, 0)
        try n.addConv2d(weight: [Double](repeating: value, count: min(count, 1000)), outChannels: out, inChannels: c,
                        kernel: kernel, bias: bias, stride: stride, padding: padding, dilation: dilation)
    }

    static let badLayers: [BadLayer] = [
        // conv2d on (2, 5, 5)
        .init(testDescription: "conv2d with 0 output channels", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "out_channels"]) {
            try conv(&$0, out: 0) },
        .init(testDescription: "conv2d with negative input channels", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "in_channels"]) {
            try conv(&$0, in: -1, weights: 9) },
        .init(testDescription: "conv2d whose in_channels do not match", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (conv2d)", "in_channels = 3", "(2, 5, 5)"]) { try conv(&$0, in: 3) },
        .init(testDescription: "conv2d with stride_h 0", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "stride_h"]) {
            try conv(&$0, stride: (0, 1)) },
        .init(testDescription: "conv2d with stride_w 0", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "stride_w"]) {
            try conv(&$0, stride: (1, 0)) },
        .init(testDescription: "conv2d with kernel_h 0", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "kernel_h"]) {
            try conv(&$0, kernel: (0, 3)) },
        .init(testDescription: "conv2d with dilation 0", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "dilation_h"]) {
            try conv(&$0, dilation: (0, 1)) },
        .init(testDescription: "conv2d with negative padding", base: .image, kind: .size, mentions: ["layer 2 (conv2d)", "padding"]) {
            try conv(&$0, padding: (-1, 0)) },
        .init(testDescription: "conv2d kernel larger than the input", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (conv2d)", "larger than the padded input", "(2, 5, 5)"]) { try conv(&$0, kernel: (6, 6)) },
        .init(testDescription: "conv2d kernel larger than the padded input", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (conv2d)", "larger than the padded input"]) { try conv(&$0, kernel: (8, 3), padding: (1, 1)) },
        .init(testDescription: "conv2d dilated kernel larger than the input", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (conv2d)", "larger than the padded input"]) { try conv(&$0, dilation: (3, 1)) },
        .init(testDescription: "conv2d whose im2col size overflows", base: .image, kind: .overflow, mentions: ["layer 2 (conv2d)"]) {
            try conv(&$0, kernel: (big, big), weights: 1, padding: (1 << 30, 1 << 30)) },
        .init(testDescription: "conv2d weight of the wrong size", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (conv2d)", "weight has 17 elements", "(1, 2, 3, 3)", "18"]) { try conv(&$0, weights: 17) },
        .init(testDescription: "conv2d bias of the wrong size", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (conv2d)", "bias has 2 elements"]) { try conv(&$0, bias: [1, 2]) },
        .init(testDescription: "conv2d with a NaN weight", base: .image, kind: .nonFinite, mentions: ["layer 2 (conv2d)", "weight[0]"]) {
            try conv(&$0, value: .nan) },
        .init(testDescription: "conv2d with an infinite bias", base: .image, kind: .nonFinite, mentions: ["layer 2 (conv2d)", "bias[0]"]) {
            try conv(&$0, bias: [.infinity]) },
        .init(testDescription: "dense on an image", base: .image, kind: .shapeMismatch, mentions: ["layer 2 (dense)", "flatten"]) {
            try $0.addDense(weight: [Double](repeating: 1, count: 50), outFeatures: 1, inFeatures: 50, bias: nil) },
        // pooling on (2, 5, 5)
        .init(testDescription: "max-pool with stride 0", base: .image, kind: .size, mentions: ["layer 2 (maxpool2d)", "stride_h"]) {
            try $0.addMaxPool2d(kernel: (2, 2), stride: (0, 2)) },
        .init(testDescription: "max-pool with kernel 0", base: .image, kind: .size, mentions: ["layer 2 (maxpool2d)", "kernel_w"]) {
            try $0.addMaxPool2d(kernel: (2, 0), stride: (2, 2)) },
        .init(testDescription: "max-pool kernel larger than the input", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (maxpool2d)", "larger than the padded input"]) { try $0.addMaxPool2d(kernel: (6, 6), stride: (1, 1)) },
        .init(testDescription: "max-pool padding above half the kernel", base: .image, kind: .invalidArgument,
              mentions: ["layer 2 (maxpool2d)", "padding"]) { try $0.addMaxPool2d(kernel: (2, 2), stride: (1, 1), padding: (2, 0)) },
        .init(testDescription: "avg-pool with stride_w 0", base: .image, kind: .size, mentions: ["layer 2 (avgpool2d)", "stride_w"]) {
            try $0.addAvgPool2d(kernel: (2, 2), stride: (1, 0)) },
        .init(testDescription: "avg-pool kernel larger than the padded input", base: .image, kind: .shapeMismatch,
              mentions: ["layer 2 (avgpool2d)", "larger than the padded input"]) {
            try $0.addAvgPool2d(kernel: (8, 8), stride: (1, 1), padding: (1, 1)) },
        .init(testDescription: "batch-norm after relu (image)", base: .image, kind: .layerOrder,
              mentions: ["layer 2 (batchnorm)", "layer 1 is relu"]) {
            try $0.addBatchNorm(gamma: [1, 1], beta: [0, 0], runningMean: [0, 0], runningVar: [1, 1], eps: 1e-5) },
        // dense on (4)
        .init(testDescription: "dense with 0 outputs", base: .flat, kind: .size, mentions: ["layer 2 (dense)", "out_features"]) {
            try $0.addDense(weight: [], outFeatures: 0, inFeatures: 4, bias: nil) },
        .init(testDescription: "dense with negative inputs", base: .flat, kind: .size, mentions: ["layer 2 (dense)", "in_features"]) {
            try $0.addDense(weight: [1, 2], outFeatures: 2, inFeatures: -1, bias: nil) },
        .init(testDescription: "dense with outputs above the limit", base: .flat, kind: .size,
              mentions: ["layer 2 (dense)", "out_features", "exceeds"]) {
            try $0.addDense(weight: [1], outFeatures: big + 1, inFeatures: 4, bias: nil) },
        .init(testDescription: "dense whose in_features do not match", base: .flat, kind: .shapeMismatch,
              mentions: ["layer 2 (dense)", "in_features = 5", "(4)"]) {
            try $0.addDense(weight: [Double](repeating: 1, count: 15), outFeatures: 3, inFeatures: 5, bias: nil) },
        .init(testDescription: "dense weight of the wrong size", base: .flat, kind: .shapeMismatch,
              mentions: ["layer 2 (dense)", "weight has 11 elements", "(3, 4)", "12"]) {
            try $0.addDense(weight: [Double](repeating: 1, count: 11), outFeatures: 3, inFeatures: 4, bias: nil) },
        .init(testDescription: "dense bias of the wrong size", base: .flat, kind: .shapeMismatch,
              mentions: ["layer 2 (dense)", "bias has 2 elements", "3 outputs"]) {
            try $0.addDense(weight: [Double](repeating: 1, count: 12), outFeatures: 3, inFeatures: 4, bias: [1, 2]) },
        .init(testDescription: "dense with a NaN weight", base: .flat, kind: .nonFinite, mentions: ["layer 2 (dense)", "weight[5]", "nan"]) {
            var w = [Double](repeating: 1, count: 12); w[5] = .nan
            try $0.addDense(weight: w, outFeatures: 3, inFeatures: 4, bias: nil) },
        .init(testDescription: "dense with an infinite weight", base: .flat, kind: .nonFinite, mentions: ["layer 2 (dense)", "weight[11]"]) {
            var w = [Double](repeating: 1, count: 12); w[11] = -.infinity
            try $0.addDense(weight: w, outFeatures: 3, inFeatures: 4, bias: nil) },
        .init(testDescription: "dense with an infinite bias", base: .flat, kind: .nonFinite, mentions: ["layer 2 (dense)", "bias[1]"]) {
            try $0.addDense(weight: [Double](repeating: 1, count: 12), outFeatures: 3, inFeatures: 4, bias: [0, .infinity, 0]) },
        .init(testDescription: "conv2d on a flat input", base: .flat, kind: .shapeMismatch, mentions: ["layer 2 (conv2d)", "(C, H, W)", "(4)"]) {
            try conv(&$0, in: 4, kernel: (1, 1)) },
        .init(testDescription: "max-pool on a flat input", base: .flat, kind: .shapeMismatch, mentions: ["layer 2 (maxpool2d)", "(C, H, W)"]) {
            try $0.addMaxPool2d(kernel: (1, 1), stride: (1, 1)) },
        .init(testDescription: "avg-pool on a flat input", base: .flat, kind: .shapeMismatch, mentions: ["layer 2 (avgpool2d)", "(C, H, W)"]) {
            try $0.addAvgPool2d(kernel: (1, 1), stride: (1, 1)) },
        .init(testDescription: "batch-norm after relu (flat)", base: .flat, kind: .layerOrder,
              mentions: ["layer 2 (batchnorm)", "layer 1 is relu"]) {
            try $0.addBatchNorm(gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0], runningMean: [0, 0, 0, 0], runningVar: [1, 1, 1, 1], eps: 1e-5) },
    ]

    /// Each bad layer is rejected with the right kind and a message naming the layer and argument,
    /// and the network is untouched: same layer count, same fingerprint (a rule set made before
    /// still works), same forward output.
    @Test(arguments: badLayers)
    func rejectsABadLayerAndLeavesTheNetworkUnchanged(_ bad: BadLayer) throws {
        var network = try bad.base.build()
        let x = (0..<network.inputCount).map { Double($0 % 7) / 3 - 1 }
        let (count, fingerprint, output) = (network.layers.count, network.fingerprint, try network.forward(x, batch: 1))
        let rules = try RuleSet(for: network, everyLinearLayer: .epsilon(1e-6))

        expectDTDError(bad.kind, mentioning: bad.mentions) { try bad.add(&network) }

        #expect(network.layers.count == count)
        #expect(network.fingerprint == fingerprint)
        #expect(try network.forward(x, batch: 1) == output)
        #expect(throws: Never.self) {
            _ = try network.lrp(x, batch: 1, outputRelevance: output, rules: rules)
        }
    }

    /// True if adding a pooling layer with padding `padding` to a (1, 4, 4) network throws
    /// `.invalidArgument` naming the padding (it exceeds half the 2×2 kernel).
    static func poolRejectsPadding(_ padding: Int, max isMax: Bool) -> Bool {
        do {
            var network = try Network<Double>(inputShape: .image(channels: 1, height: 4, width: 4))
            if isMax {
                try network.addMaxPool2d(kernel: (2, 2), stride: (1, 1), padding: (padding, 0))
            } else {
                try network.addAvgPool2d(kernel: (2, 2), stride: (1, 1), padding: (0, padding))
            }
            return false
        } catch {
            return error.kind == .invalidArgument && error.message.contains("padding")
        }
    }

    /// A huge pooling padding is an argument error, not an arithmetic-overflow trap (`Include/dtd.h`
    /// conventions: every product of sizes is overflow-checked, nothing crashes the process). Run in a child process (exit test).
    @Test(arguments: [Int.max, Int.max / 2 + 1, Int(Int32.max) + 1], [true, false])
    func poolingRejectsAHugePaddingWithoutTrapping(_ padding: Int, _ isMax: Bool) async {
        await #expect(processExitsWith: .success) { [padding, isMax] in
            if !NetworkBuildingTests.poolRejectsPadding(padding, max: isMax) { exit(1) }
        }
    }

    // MARK: Shapes of a valid network

    /// Layer shapes follow PyTorch's formulas; relu and flatten keep or reshape the activation.
    @Test func reportsPyTorchOutputShapes() throws {
        var network = try Network<Double>(inputShape: .image(channels: 3, height: 9, width: 7))
        try network.addConv2d(weight: [Double](repeating: 0.1, count: 4 * 3 * 3 * 2), outChannels: 4, inChannels: 3, kernel: (3, 2),
                              bias: nil, stride: (2, 1), padding: (1, 0), dilation: (1, 2))
        #expect(network.outputShape == .image(channels: 4, height: 5, width: 5))
        network.addReLU()
        try network.addMaxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        #expect(network.outputShape == .image(channels: 4, height: 3, width: 3))
        try network.addAvgPool2d(kernel: (2, 2), stride: (1, 1), padding: (1, 1), countIncludePad: false)
        #expect(network.outputShape == .image(channels: 4, height: 4, width: 4))
        network.addFlatten()
        #expect(network.outputShape == .flat(64))
        try network.addDense(weight: [Double](repeating: 0.01, count: 128), outFeatures: 2, inFeatures: 64, bias: [0, 1])
        #expect(network.outputShape == .flat(2))
        #expect(network.layers.map(\.kind) == [.conv2d, .relu, .maxPool2d, .avgPool2d, .flatten, .dense])
        #expect(try network.forward([Double](repeating: 1, count: 2 * 189), batch: 2).count == 4)
    }

    /// Weights are copied when a layer is added: changing the caller's buffer afterwards does
    /// not change the network (`Include/dtd.h` conventions: weights are copied).
    @Test func copiesTheWeightsItIsGiven() throws {
        var weight: [Double] = [1, 2, 3, 4]
        var bias: [Double] = [0.5, -0.5]
        var network = try Network<Double>(inputShape: .flat(2))
        try network.addDense(weight: weight.span, outFeatures: 2, inFeatures: 2, bias: bias.span)
        let before = try network.forward([1, 1], batch: 1)
        weight[0] = 100
        bias[1] = 100
        #expect(try network.forward([1, 1], batch: 1) == before)
        #expect(before == [3.5, 6.5])
    }
}
