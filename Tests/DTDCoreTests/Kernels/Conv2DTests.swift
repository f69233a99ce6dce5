import Testing
@testable import DTDCore

/// The convolution (im2col + GEMM forward, GEMM + col2im transpose): PyTorch's Conv2d with zero
/// padding, stride and dilation, groups 1.
@Suite("Conv2D kernel")
struct Conv2DTests {
    /// A one-layer conv network with weights `w` (1 → 1 channel, 2×2).
    private func oneLayer(_ w: [Double], input: (Int, Int), stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0)) throws -> Network<Double> {
        var network = try Network<Double>(inputShape: .image(channels: 1, height: input.0, width: input.1))
        try network.addConv2d(weight: w, outChannels: 1, inChannels: 1, kernel: (2, 2), bias: nil, stride: stride, padding: padding)
        return network
    }

    /// By hand: x = 1…9 as 3×3, kernel [[1, 0], [0, −1]] computes x[y][x] − x[y+1][x+1] = −4
    /// at every one of the 2×2 positions.
    @Test func computesAHandCase() throws {
        let network = try oneLayer([1, 0, 0, -1], input: (3, 3))
        #expect(try network.forward((1...9).map(Double.init), batch: 1) == [-4, -4, -4, -4])
    }

    /// With padding 1 and stride 2 the windows start at (−1, −1), (−1, 1), (1, −1), (1, 1); the
    /// padded cells are 0, so the outputs are 0 − x[0][0] = −1, 0 − x[0][2] = −3,
    /// 0 − x[2][0] = −7 and x[1][1] − x[2][2] = 5 − 9 = −4.
    @Test func padsWithZerosAndStrides() throws {
        let network = try oneLayer([1, 0, 0, -1], input: (3, 3), stride: (2, 2), padding: (1, 1))
        #expect(network.outputShape == .image(channels: 1, height: 2, width: 2))
        #expect(try network.forward((1...9).map(Double.init), batch: 1) == [-1, -3, -7, -4])
        // The transpose: the gradient of output (0, 0) alone is −1 at x[0][0] (the only in-bounds tap).
        var unit = [Double](repeating: 0, count: 4)
        unit[0] = 1
        #expect(try network.gradient((1...9).map(Double.init), batch: 1, outputRelevance: unit) == [-1, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    /// Geometries: rectangular kernels, strides, paddings and dilations, several channels.
    struct Geometry: Sendable, CustomTestStringConvertible {
        let input: [Int], out: Int, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
        var testDescription: String {
            "in \(input) out \(out) k \(kernel) s \(stride) p \(padding) d \(dilation)"
        }
    }

    static let geometries: [Geometry] = [
        .init(input: [1, 5, 5], out: 1, kernel: (3, 3), stride: (1, 1), padding: (0, 0), dilation: (1, 1)),
        .init(input: [3, 6, 5], out: 4, kernel: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (1, 1)),
        .init(input: [2, 7, 7], out: 3, kernel: (3, 3), stride: (2, 3), padding: (2, 1), dilation: (2, 2)),
        .init(input: [2, 4, 6], out: 2, kernel: (1, 1), stride: (1, 2), padding: (0, 0), dilation: (1, 1)),
        .init(input: [1, 3, 3], out: 2, kernel: (5, 5), stride: (1, 1), padding: (1, 1), dilation: (1, 1)),
        .init(input: [2, 5, 4], out: 3, kernel: (2, 3), stride: (3, 3), padding: (2, 2), dilation: (1, 1)),
    ]

    /// Forward against the naive convolution (explicit loops over output, channel and tap), and the
    /// gradient (the transposed map) against the naive transpose, on a batch of 2.
    @Test(arguments: geometries)
    func matchesTheNaiveConvolutionAndItsTranspose(_ g: Geometry) throws {
        var rng = SplitMix64(seed: UInt64(g.input.reduce(0, +) * 31 + g.out))
        let c = g.input[0]
        let spec = ConvSpec(weight: rng.uniform(g.out * c * g.kernel.0 * g.kernel.1, in: -1...1), outChannels: g.out, inChannels: c,
                            kernel: g.kernel, bias: rng.uniform(g.out, in: -1...1), stride: g.stride, padding: g.padding, dilation: g.dilation)
        let network = try NetworkSpec(name: "conv", inputShape: g.input, layers: [.conv2d(spec)]).build(Double.self)
        let affine = NaiveAffine(conv: spec, inputShape: g.input)
        #expect(network.outputCount == affine.outputCount)

        let count = affine.inputCount
        let x = rng.uniform(2 * count, in: -1...1), r = rng.uniform(2 * affine.outputCount, in: -1...1)
        var forward: [Double] = [], transposed: [Double] = []
        for n in 0..<2 {
            forward += NaiveLRP.sum(affine.forward({ $0 }, Array(x[(n * count)..<((n + 1) * count)])), affine.bias)
            transposed += affine.transposed({ $0 }, Array(r[(n * affine.outputCount)..<((n + 1) * affine.outputCount)]))
        }
        expectClose(try network.forward(x, batch: 2), forward, samples: 2, tolerance: 1e-14, "forward")
        expectClose(try network.gradient(x, batch: 2, outputRelevance: r), transposed, samples: 2, tolerance: 1e-14, "transpose")
    }

    /// The two element types agree on a convolution.
    @Test func floatAndDoubleAgree() throws {
        let g = Self.geometries[2]
        var rng = SplitMix64(seed: 9)
        let spec = ConvSpec(weight: rng.uniform(g.out * g.input[0] * 9, in: -1...1), outChannels: g.out, inChannels: g.input[0],
                            kernel: g.kernel, bias: nil, stride: g.stride, padding: g.padding, dilation: g.dilation)
        let net = NetworkSpec(name: "conv", inputShape: g.input, layers: [.conv2d(spec)])
        let x = rng.uniform(net.inputCount, in: -1...1)
        expectClose(try net.build(Float.self).forward(x.converted(to: Float.self), batch: 1),
                    try net.build(Double.self).forward(x, batch: 1), samples: 1, tolerance: 1e-6)
    }
}
