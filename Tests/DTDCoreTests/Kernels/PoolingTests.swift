import Testing
@testable import DTDCore

/// Max and average pooling with PyTorch's conventions (`Include/dtd.h` sections 3–4): max-pool pads with −∞ and
/// routes gradient and relevance to the first maximum of its window in row-major order; avg-pool
/// counts padded cells in its divisor unless count_include_pad is false, and propagates relevance
/// with the epsilon form, ε = 1e-6.
@Suite("Pooling kernels")
struct PoolingTests {
    private func pool(_ shape: Shape, max: Bool, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0),
                      countIncludePad: Bool = true) throws -> Network<Double> {
        var network = try Network<Double>(inputShape: shape)
        if max {
            try network.addMaxPool2d(kernel: kernel, stride: stride, padding: padding)
        } else {
            try network.addAvgPool2d(kernel: kernel, stride: stride, padding: padding, countIncludePad: countIncludePad)
        }
        return network
    }

    // MARK: Max pooling

    /// A 4×4 input, 2×2 windows, stride 2, each window with a tie for its maximum in a different
    /// place: the first maximum in row-major order receives the whole gradient and relevance.
    ///
    ///     5 5 | 1 7      window (0,0): 5 at (0,0) and (0,1) → (0,0)
    ///     2 1 | 7 7      window (0,1): 7 at (0,3), (1,2), (1,3) → (0,3)
    ///     ----+----
    ///     0 3 | −2 −2    window (1,0): 3 at (2,1) and (3,0) → (2,1)
    ///     3 3 | −2 −2    window (1,1): −2 everywhere → (2,2)
    @Test func tiesGoToTheFirstMaximumInRowMajorOrder() throws {
        let network = try pool(.image(channels: 1, height: 4, width: 4), max: true, kernel: (2, 2), stride: (2, 2))
        let x: [Double] = [5, 5, 1, 7, 2, 1, 7, 7, 0, 3, -2, -2, 3, 3, -2, -2]
        #expect(try network.forward(x, batch: 1) == [5, 7, 3, -2])
        let seed: [Double] = [10, 20, 30, 40]
        var expected = [Double](repeating: 0, count: 16)
        expected[0] = 10; expected[3] = 20; expected[9] = 30; expected[10] = 40
        #expect(try network.gradient(x, batch: 1, outputRelevance: seed) == expected)
        #expect(try network.lrp(x, batch: 1, outputRelevance: seed, rules: RuleSet(for: network)) == expected)
    }

    /// Overlapping windows (3×3, stride 1) on a constant image: every window's first cell wins.
    @Test func tiesInOverlappingWindowsGoToEachWindowsFirstCell() throws {
        let network = try pool(.image(channels: 1, height: 4, width: 4), max: true, kernel: (3, 3), stride: (1, 1))
        let x = [Double](repeating: 1, count: 16)
        var expected = [Double](repeating: 0, count: 16)
        for (oy, ox) in [(0, 0), (0, 1), (1, 0), (1, 1)] { expected[oy * 4 + ox] = 1 }
        #expect(try network.gradient(x, batch: 1, outputRelevance: [1, 1, 1, 1]) == expected)
        #expect(try network.lrp(x, batch: 1, outputRelevance: [1, 1, 1, 1], rules: RuleSet(for: network)) == expected)
    }

    /// Padding is −∞, not 0: on an all-negative image, a 3×3 window with padding 1 and stride 1
    /// returns the largest in-bounds value. x = −1…−9 (row-major 3×3): the corner (0,0) window sees
    /// −1, −2, −4, −5 → −1; the centre sees everything → −1; the corner (2,2) sees −5, −6, −8, −9 → −5.
    @Test func maxPoolPaddingCountsAsMinusInfinity() throws {
        let network = try pool(.image(channels: 1, height: 3, width: 3), max: true, kernel: (3, 3), stride: (1, 1), padding: (1, 1))
        let x = (1...9).map { -Double($0) }
        #expect(try network.forward(x, batch: 1) == [-1, -1, -2, -1, -1, -2, -4, -4, -5])
        // Each output's gradient goes to its in-bounds winner, never to padding: x[0][0] = −1 wins
        // the four top-left windows, x[0][1] = −2 the two top-right, x[1][0] = −4 the two
        // bottom-left, and x[1][1] = −5 the bottom-right one.
        let g = try network.gradient(x, batch: 1, outputRelevance: [Double](repeating: 1, count: 9))
        #expect(g == [4, 2, 0, 2, 1, 0, 0, 0, 0])
    }

    // MARK: Average pooling

    /// x = [[1, 2], [3, 4]], 2×2 windows, stride 1, padding 1: nine windows. Counting padding, each
    /// divides by 4; not counting it, by its number of in-bounds cells (1 in the corners, 2 on the
    /// edges, 4 in the centre).
    @Test(arguments: [true, false])
    func averagePoolDivisorFollowsCountIncludePad(_ countIncludePad: Bool) throws {
        let network = try pool(.image(channels: 1, height: 2, width: 2), max: false, kernel: (2, 2), stride: (1, 1),
                               padding: (1, 1), countIncludePad: countIncludePad)
        let x: [Double] = [1, 2, 3, 4]
        let expected: [Double] = countIncludePad
            ? [0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1]
            : [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]
        #expect(try network.forward(x, batch: 1) == expected)
        // The transpose with seed ones: each input sits in four windows, so it collects
        // 4 · 1/4 = 1 when padding counts, and 1 + 1/2 + 1/2 + 1/4 = 2.25 when it does not.
        let g = try network.gradient(x, batch: 1, outputRelevance: [Double](repeating: 1, count: 9))
        #expect(g == [Double](repeating: countIncludePad ? 1 : 2.25, count: 4))
    }

    /// Relevance through average pooling: a ⊙ Pᵀ(R / stab(z)) with ε = 1e-6. One 2×2 window over
    /// [1, 2, 3, 4]: z = 2.5, so R_i = a_i · (1/4) · R / (2.5 + 1e-6).
    @Test func averagePoolRelevanceIsTheEpsilonForm() throws {
        let network = try pool(.image(channels: 1, height: 2, width: 2), max: false, kernel: (2, 2), stride: (2, 2))
        let x: [Double] = [1, 2, 3, 4]
        let relevance = try network.lrp(x, batch: 1, outputRelevance: [5], rules: RuleSet(for: network))
        expectClose(relevance, x.map { $0 / 4 * 5 / (2.5 + 1e-6) }, tolerance: 1e-15)
        expectClose(relevance.total, 5 * 2.5 / (2.5 + 1e-6), tolerance: 1e-15, "the stabiliser keeps R·ε/(z + ε)")
    }

    /// Random images against the naive pooling (Reference/NaiveLRP.swift), forward and gradient,
    /// for every padding mode.
    @Test(arguments: [(true, true), (false, true), (false, false)])
    func poolingMatchesTheNaiveReference(_ isMax: Bool, _ countIncludePad: Bool) throws {
        let layer: LayerSpec = isMax ? .maxPool2d(kernel: (3, 2), stride: (2, 1), padding: (1, 1))
            : .avgPool2d(kernel: (3, 2), stride: (2, 1), padding: (1, 1), countIncludePad: countIncludePad)
        let spec = NetworkSpec(name: "pool", inputShape: [2, 5, 6], layers: [layer])
        let network = try spec.build(Double.self)
        let naive = NaiveNetwork(spec)
        let x = RandomNetworks.inputs(spec, batch: 2, seed: 7)
        let r = RandomNetworks.seeds(2 * network.outputCount, seed: 8)
        expectClose(try network.forward(x, batch: 2), naive.forward(batch: x, inputCount: spec.inputCount), tolerance: 1e-15)
        expectClose(try network.gradient(x, batch: 2, outputRelevance: r),
                    naive.gradient(batch: x, seed: r, inputCount: spec.inputCount), tolerance: 1e-15)
        expectClose(try network.lrp(x, batch: 2, outputRelevance: r, rules: RuleSet(for: network)),
                    naive.lrp(batch: x, seed: r, rules: [:], inputCount: spec.inputCount), tolerance: 1e-12)
    }
}
