import Testing
@testable import DTDCore

/// oneDNN's float32 convolutions (forward and backward-data), when the library is loaded,
/// against a naive float64 convolution: every geometry the engine can hand it, batches that split
/// by samples and a lone sample that splits by channels, and plain and blocked layouts.
@Suite("oneDNN kernels")
struct OneDNNTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let cin: Int, h: Int, w: Int, cout: Int, k: (Int, Int), stride: (Int, Int), pad: (Int, Int), dilation: (Int, Int)
        let batch: Int
        var testDescription: String { "\(cin)x\(h)x\(w) -> \(cout) k\(k) s\(stride) p\(pad) d\(dilation) b\(batch)" }
    }

    static let cases: [Case] = [
        .init(cin: 32, h: 9, w: 9, cout: 48, k: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1), batch: 1),
        .init(cin: 32, h: 9, w: 9, cout: 48, k: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1), batch: 5),
        .init(cin: 64, h: 14, w: 14, cout: 64, k: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1), batch: 1),
        .init(cin: 3, h: 23, w: 21, cout: 16, k: (7, 7), stride: (2, 2), pad: (3, 3), dilation: (1, 1), batch: 2),
        .init(cin: 3, h: 16, w: 16, cout: 64, k: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1), batch: 1),
        .init(cin: 32, h: 15, w: 15, cout: 64, k: (3, 3), stride: (2, 2), pad: (1, 1), dilation: (1, 1), batch: 1),
        .init(cin: 32, h: 15, w: 15, cout: 64, k: (1, 1), stride: (2, 2), pad: (0, 0), dilation: (1, 1), batch: 3),  // refused
        .init(cin: 32, h: 15, w: 15, cout: 64, k: (2, 2), stride: (2, 2), pad: (0, 0), dilation: (1, 1), batch: 3),
        .init(cin: 17, h: 11, w: 10, cout: 33, k: (3, 2), stride: (1, 2), pad: (2, 0), dilation: (2, 1), batch: 2),
    ]

    @Test(arguments: cases)
    func matchesTheNaiveConvolution(_ c: Case) throws {
        guard OneDNN.isActive else {
            print("oneDNN kernels: skipped, oneDNN is not loaded (libdnnl.so.2 missing, DTD_KERNELS=blas, or no AVX-512 with DTD_KERNELS=auto)")
            return
        }
        let g = try ConvGeometry(input: .image(channels: c.cin, height: c.h, width: c.w), outChannels: c.cout, kernel: c.k,
                                 stride: c.stride, padding: c.pad, dilation: c.dilation, layer: 0)
        var rng = SplitMix64(seed: UInt64(c.cin * 1000 + c.cout * 10 + c.batch))
        let wValues = rng.uniform(g.outChannels * g.patchSize, in: -1...1)
        let inCount = c.cin * c.h * c.w, outCount = c.cout * g.positions
        let x = rng.uniform(c.batch * inCount, in: -1...1), r = rng.uniform(c.batch * outCount, in: -1...1)
        let weight = try Storage<Float>(wValues.map(Float.init))
        let input = try Storage<Float>(x.map(Float.init)), gradOutput = try Storage<Float>(r.map(Float.init))
        let output = try Storage<Float>(count: c.batch * outCount), gradInput = try Storage<Float>(count: c.batch * inCount)

        // The naive convolution and its transpose, in float64.
        var y = [Double](repeating: 0, count: c.batch * outCount), dx = [Double](repeating: 0, count: c.batch * inCount)
        for n in 0..<c.batch {
            for o in 0..<c.cout {
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        let yi = n * outCount + (o * g.outHeight + oy) * g.outWidth + ox
                        for i in 0..<c.cin {
                            for ky in 0..<c.k.0 {
                                for kx in 0..<c.k.1 {
                                    let iy = oy * c.stride.0 - c.pad.0 + ky * c.dilation.0
                                    let ix = ox * c.stride.1 - c.pad.1 + kx * c.dilation.1
                                    guard iy >= 0, iy < c.h, ix >= 0, ix < c.w else { continue }
                                    let wv = Double(Float(wValues[((o * c.cin + i) * c.k.0 + ky) * c.k.1 + kx]))
                                    let xi = n * inCount + (i * c.h + iy) * c.w + ix
                                    y[yi] += wv * Double(Float(x[xi]))
                                    dx[xi] += wv * Double(Float(r[yi]))
                                }
                            }
                        }
                    }
                }
            }
        }
        // The shapes oneDNN does not serve (few channels) are refused, untouched, for im2col + BLAS.
        let forward = OneDNN.Library.serves(.forward, g), backward = OneDNN.Library.serves(.backwardData, g)
        #expect(try OneDNN.forward(g, weight: weight, input: input.pointer, batch: c.batch,
                                   output: output.base) == forward)
        #expect(OneDNN.backwardData(g, weight: weight, gradOutput: gradOutput.pointer, batch: c.batch,
                                    gradInput: gradInput.base) == backward)
        if backward {
            expectClose((0..<gradInput.count).map { Double(gradInput.pointer[$0]) }, dx, tolerance: 1e-5, "backward data")
        }
        guard forward else { return }
        expectClose((0..<output.count).map { Double(output.pointer[$0]) }, y, tolerance: 1e-5, "forward")
        // A second call reuses the cached primitives and gives the same result.
        #expect(try OneDNN.forward(g, weight: weight, input: input.pointer, batch: c.batch, output: output.base))
        expectClose((0..<output.count).map { Double(output.pointer[$0]) }, y, tolerance: 1e-5, "forward, cached")
        // Scaled and accumulated: output = y - 2 y = -y.
        #expect(try OneDNN.forward(g, weight: weight, input: input.pointer, batch: c.batch, output: output.base,
                                   scale: -2, accumulate: true))
        expectClose((0..<output.count).map { Double(output.pointer[$0]) }, y.map { -$0 }, tolerance: 1e-5, "accumulated")
    }
}
