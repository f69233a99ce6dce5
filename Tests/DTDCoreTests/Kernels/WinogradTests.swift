import Testing
@testable import DTDCore

/// Winograd's F(2x2, 3x3) for the forward output of 3x3 stride-1 convolutions with >= 16
/// channels on both sides (Kernels/Winograd.swift): its values against the naive convolution,
/// its rounding bound, the exact products that replace the outputs rounding could flip, a window
/// of zeros, and the whole engine with and without it (`Network.withoutWinograd`).
///
/// Every test here checks that the lowering really ran, so all of them fail when
/// `DTD_WINOGRAD=0` turns it off, as they must.
@Suite("Winograd")
struct WinogradTests {
    /// The lowering against the naive convolution, with the (im2col) transpose, float64 to 1e-12
    /// and float32 to 1e-5 per sample, on a batch of 3 whose tiles share rounds.
    @Test(arguments: [(1, 6, 7), (0, 5, 5), (2, 3, 4), (1, 9, 2)])
    func matchesTheNaiveConvolution(_ padding: Int, _ height: Int, _ width: Int) throws {
        var rng = SplitMix64(seed: UInt64(31 * padding + height * 7 + width))
        let (cin, cout) = (16, 18)
        let spec = ConvSpec(weight: rng.uniform(cout * cin * 9, in: -1...1), outChannels: cout, inChannels: cin, kernel: (3, 3),
                            bias: rng.uniform(cout, in: -1...1), stride: (1, 1), padding: (padding, padding), dilation: (1, 1))
        let net = NetworkSpec(name: "wide conv", inputShape: [cin, height, width], layers: [.conv2d(spec)])
        let network = try net.build(Double.self)
        #expect(Self.lowered(network) == 1, "the forward output is lowered with Winograd")
        let affine = NaiveAffine(conv: spec, inputShape: net.inputShape)
        let count = affine.inputCount, batch = 3
        let x = rng.uniform(batch * count, in: -1...1), r = rng.uniform(batch * affine.outputCount, in: -1...1)
        var forward: [Double] = [], transposed: [Double] = []
        for n in 0..<batch {
            forward += NaiveLRP.sum(affine.forward({ $0 }, Array(x[(n * count)..<((n + 1) * count)])), affine.bias)
            transposed += affine.transposed({ $0 }, Array(r[(n * affine.outputCount)..<((n + 1) * affine.outputCount)]))
        }
        expectClose(try network.forward(x, batch: batch), forward, samples: batch, tolerance: 1e-12, "forward")
        expectClose(try network.gradient(x, batch: batch, outputRelevance: r), transposed, samples: batch, tolerance: 1e-12, "transpose")
        let single = try net.build(Float.self)
        expectClose(try single.forward(x.converted(to: Float.self), batch: batch).map(Double.init), forward,
                    samples: batch, tolerance: 1e-5, "forward, float32")
        expectClose(try single.gradient(x.converted(to: Float.self), batch: batch,
                                        outputRelevance: r.converted(to: Float.self)).map(Double.init),
                    transposed, samples: batch, tolerance: 1e-5, "transpose, float32")
    }

    /// The wide random network, on which the oracle and property suites run every rule, really
    /// computes its three convolutions through Winograd.
    @Test func theWideRandomNetworkUsesWinograd() throws {
        #expect(Self.lowered(try RandomNetworks.wide.build(Double.self)) == 3)
        #expect(Self.lowered(try RandomNetworks.wide.build(Double.self).withoutWinograd()) == 0)
    }

    // MARK: - Rounding

    /// The bound E of every output holds: with the repair off, |z - z_exact| <= E (up to the
    /// rounding of the bias addition), on real-valued data with dead patches, zero padding and
    /// windows made to cancel. With the repair on, every output has the exact product's sign, and
    /// every output the transform left within E of 0 is the exact product, rounded once; the
    /// cancelling windows make some.
    @Test(arguments: [false, true])
    func outputsRoundingCouldFlipAreTheExactProduct(_ withBias: Bool) throws {
        try checkRepair(Float.self, withBias: withBias)
        try checkRepair(Double.self, withBias: withBias)
    }

    private func checkRepair<T: DTDScalar>(_: T.Type, withBias: Bool) throws {
        let c = CancellingConv(seed: withBias ? 41 : 42, bias: withBias)
        let network = try c.spec.build(T.self)
        guard case .linear(let layer) = network.layers[0], let u = layer.winogradWeight, case .conv(let g) = layer.geometry else {
            Issue.record("the layer is not lowered with Winograd")
            return
        }
        let x = c.input.converted(to: T.self), count = c.batch * g.outputShape.count
        var raw = [T](repeating: .nan, count: count), bounds = raw, repaired = raw
        let (exact, magnitude) = c.exactOutputs(x.map(Double.init), stored: { Double(T($0)) })
        let scratch = Scratch<T>(), outCount = g.outputShape.count
        let input = try Storage<T>(x), rawOut = try Storage<T>(count: count), boundsOut = try Storage<T>(count: count)
        let repairedOut = try Storage<T>(count: count)
        try Winograd.convolve(g, transformed: u, weight: layer.weight, bias: layer.bias,
                              input: input.view(batch: c.batch, count: g.inputShape.count),
                              output: rawOut.mutableView(batch: c.batch, count: outCount), scratch: scratch,
                              repair: false, bounds: boundsOut.mutableView(batch: c.batch, count: outCount))
        try Winograd.convolve(g, transformed: u, weight: layer.weight, bias: layer.bias,
                              input: input.view(batch: c.batch, count: g.inputShape.count),
                              output: repairedOut.mutableView(batch: c.batch, count: outCount), scratch: scratch)
        raw = Array(rawOut); bounds = Array(boundsOut); repaired = Array(repairedOut)
        let unit = Double(T.ulpOfOne) / 2
        var beyond = 0, wrongSign = 0, inexact = 0, replaced = 0, dead = 0
        for i in 0..<count {
            let z = Double(raw[i]), e = Double(bounds[i]), truth = exact[i]
            if abs(z - truth) > e + 2 * unit * abs(truth) { beyond += 1 }
            let fixed = Double(repaired[i])
            if (fixed > 0) != (truth > 0) || (fixed < 0) != (truth < 0) { wrongSign += 1 }
            // The exact product is summed in twice the working precision (Dot2): within an ulp plus
            // (n u)^2 of the terms' magnitude.
            if abs(z) <= e {
                replaced += 1
                let n = Double(9 * c.channels + 1)
                if abs(fixed - truth) > 2 * unit * abs(truth) + (n * unit) * (n * unit) * magnitude[i] { inexact += 1 }
            }
            if c.deadWindow(i, outputCount: g.outputShape.count), repaired[i] != T(c.biasOf(i, outputCount: g.outputShape.count)) {
                dead += 1
            }
        }
        let what = "\(T.self), bias \(withBias)"
        #expect(beyond == 0, "\(what): \(beyond) outputs beyond their bound")
        #expect(wrongSign == 0, "\(what): \(wrongSign) outputs without the exact product's sign")
        #expect(inexact == 0, "\(what): \(inexact) of \(replaced) outputs within their bound are not the exact product")
        #expect(replaced >= c.cancelling / 2, "\(what): only \(replaced) outputs within their bound; the cancelling windows make \(c.cancelling)")
        #expect(dead == 0, "\(what): \(dead) windows of zeros are not exactly the bias")
    }

    /// A window of zeros yields exactly 0 (exactly the bias with one): F(2x2, 3x3) reads, even in
    /// rounding, only an output's own window, so neighbouring inputs cannot leak into it.
    @Test func aWindowOfZerosYieldsExactlyZero() throws {
        for withBias in [false, true] {
            let c = CancellingConv(seed: 43, bias: withBias)
            for (name, output) in [("float64", try c.spec.build(Double.self).forward(c.input, batch: c.batch)),
                                   ("float32", try c.spec.build(Float.self).forward(c.input.converted(to: Float.self),
                                                                                   batch: c.batch).map(Double.init))] {
                let outCount = output.count / c.batch
                let dead = output.indices.filter { c.deadWindow($0, outputCount: outCount) }
                #expect(dead.count >= 40, "\(name): \(dead.count) windows of zeros")
                #expect(dead.allSatisfy { output[$0] == stored(c.biasOf($0, outputCount: outCount), name) },
                        "\(name), bias \(withBias): a window of zeros is not exactly the bias")
            }
            #expect(Self.lowered(try c.spec.build(Double.self)) == 1)
        }
    }

    // MARK: - The engine with and without the lowering

    /// A wide CNN (two 16-channel 3x3 convolutions, ReLUs, max-pool, dense) on integer data,
    /// where im2col is exact: dead patches, zero padding, a bias-free first layer and windows
    /// made to cancel exactly. With and without Winograd the ReLU masks and max-pool winners are
    /// the same (the gradient is bit for bit the same), so are gamma's gates and the audit's
    /// checks, and every LRP rule agrees per element to 1e-12 (float64) and 1e-5 (float32).
    @Test func aWideCNNExplainsTheSameWithAndWithoutWinograd() throws {
        try compareLowerings(Double.self, tolerance: 1e-12)
        try compareLowerings(Float.self, tolerance: 1e-5)
    }

    private func compareLowerings<T: DTDScalar>(_: T.Type, tolerance: Double) throws {
        let c = ExactWideCNN(seed: 44)
        let winograd = try c.spec.build(T.self), im2col = winograd.withoutWinograd()
        #expect(Self.lowered(winograd) == 2 && Self.lowered(im2col) == 0)
        let x = c.input.converted(to: T.self), seed = c.seed.converted(to: T.self), batch = c.batch
        let what = "\(T.self)"
        expectClose(try winograd.forward(x, batch: batch), try im2col.forward(x, batch: batch), samples: batch,
                    perElementAbove: 1e-3, tolerance: tolerance, "\(what): forward")
        #expect(try winograd.gradient(x, batch: batch, outputRelevance: seed) == im2col.gradient(x, batch: batch, outputRelevance: seed),
                "\(what): the gradient, so every mask and winner")
        let rules: [Rule] = [.epsilon(0), .epsilon(1e-6), .zPlus(), .gamma(0.25), .gamma(0.25, bias: .exclude),
                             .alphaBeta(alpha: 2, beta: 1), .wSquare(), .flat()]
        for rule in rules {
            let set = try c.spec.ruleSet(c.spec.uniformRules(rule), for: winograd)
            expectClose(try winograd.lrp(x, batch: batch, outputRelevance: seed, rules: set),
                        try im2col.lrp(x, batch: batch, outputRelevance: seed, rules: set),
                        samples: batch, perElementAbove: 1e-3, tolerance: tolerance, "\(what): \(rule)")
        }
        let set = try RuleSet(for: winograd, everyLinearLayer: .zPlus())
        for layer in c.spec.linearLayerIndices {
            let query = RootQuery(layer: layer, target: 0, placement: .relevance, neurons: 0..<min(32, c.spec.outputCount(of: layer)))
            let a = try winograd.auditRoots(x, batch: batch, rules: set, query: query)
            let b = try im2col.auditRoots(x, batch: batch, rules: set, query: query)
            #expect(a.records.map(\.sameGradient) == b.records.map(\.sameGradient), "\(what) layer \(layer): same_gradient")
            #expect(a.records.map(\.samePattern) == b.records.map(\.samePattern), "\(what) layer \(layer): same_pattern")
        }
    }

    /// On real-valued data the two lowerings round differently: some forward output differs in
    /// its last bits (so Winograd ran), and all agree to 1e-12 / 1e-5 per sample.
    @Test func theLoweringsRoundDifferentlyOnRealData() throws {
        let spec = RandomNetworks.wide
        let x = RandomNetworks.inputs(spec, batch: 3, seed: 45)
        let double = try spec.build(Double.self), single = try spec.build(Float.self)
        let (a, b) = (try double.forward(x, batch: 3), try double.withoutWinograd().forward(x, batch: 3))
        let (c, d) = (try single.forward(x.converted(to: Float.self), batch: 3),
                      try single.withoutWinograd().forward(x.converted(to: Float.self), batch: 3))
        #expect(a != b && c != d, "the outputs are bit for bit im2col's: Winograd did not run")
        expectClose(a, b, samples: 3, tolerance: 1e-12, "float64")
        expectClose(c, d, samples: 3, tolerance: 1e-5, "float32")
    }

    /// Dense/conv layers whose forward output is lowered with Winograd.
    static func lowered<T: DTDScalar>(_ network: Network<T>) -> Int {
        network.layers.filter { layer in
            if case .linear(let l) = layer { l.winogradWeight != nil } else { false }
        }.count
    }
}

/// `value` as a network of element type `name` stores it.
private func stored(_ value: Double, _ name: String) -> Double { name == "float32" ? Double(Float(value)) : value }

// MARK: - Test data

/// One 16 -> 16 3x3 convolution (padding 1) on real-valued inputs with a dead patch (every
/// channel zero), zero padding at the borders and, at sparse centres, windows made to cancel:
/// channel 0's centre pixel is set so that one output channel's sum there is (nearly) 0.
private struct CancellingConv {
    let channels = 16, height = 11, width = 11, batch = 2
    let spec: NetworkSpec
    let input: [Double]
    let weight: [Double]
    let bias: [Double]?
    /// Windows made to cancel (one output each).
    let cancelling: Int

    init(seed: UInt64, bias withBias: Bool) {
        var rng = SplitMix64(seed: seed)
        let c = channels, h = height, w = width
        var weight = rng.uniform(c * c * 9, in: -1...1)
        for co in 0..<c { weight[(co * c) * 9 + 4] = co % 2 == 0 ? 0.75 : -0.625 } // channel 0's centre tap
        let bias = withBias ? rng.uniform(c, in: -0.5...0.5) : nil
        var x = rng.uniform(batch * c * h * w, in: -1...1)
        for n in 0..<batch {
            for ch in 0..<c { for y in 6..<11 { for xx in 0..<5 { x[((n * c + ch) * h + y) * w + xx] = 0 } } }
        }
        var made = 0
        for n in 0..<batch {
            for (k, (y, xx)) in [(1, 1), (1, 5), (1, 9), (4, 3), (4, 7), (8, 8)].enumerated() {
                let co = (3 * k + n) % c
                // The window sum for channel co without channel 0's centre, then that centre.
                x[((n * c) * h + y) * w + xx] = 0
                var rest = bias?[co] ?? 0
                for ch in 0..<c {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = y + ky - 1, ix = xx + kx - 1
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            rest += weight[((co * c + ch) * 3 + ky) * 3 + kx] * x[((n * c + ch) * h + iy) * w + ix] * 1e3
                        }
                    }
                }
                x[((n * c) * h + y) * w + xx] = -rest / (weight[(co * c) * 9 + 4] * 1e3)
                made += 1
            }
        }
        self.weight = weight
        self.bias = bias
        self.input = x.map { $0 * 1e3 }
        self.cancelling = made
        spec = NetworkSpec(name: "cancelling conv", inputShape: [c, h, w], layers: [
            .conv2d(ConvSpec(weight: weight, outChannels: c, inChannels: c, kernel: (3, 3), bias: bias,
                             stride: (1, 1), padding: (1, 1), dilation: (1, 1))),
        ])
    }

    /// Output `i`'s bias.
    func biasOf(_ i: Int, outputCount: Int) -> Double { bias?[(i % outputCount) / (height * width)] ?? 0 }

    /// Whether output `i`'s window (every channel) is all zero.
    func deadWindow(_ i: Int, outputCount: Int) -> Bool {
        let n = i / outputCount, position = i % (height * width), y = position / width, x = position % width
        for ch in 0..<channels {
            for iy in (y - 1)...(y + 1) where iy >= 0 && iy < height {
                for ix in (x - 1)...(x + 1) where ix >= 0 && ix < width {
                    if input[((n * channels + ch) * height + iy) * width + ix] != 0 { return false }
                }
            }
        }
        return true
    }

    /// The outputs of input `x` summed exactly, with the parameters as the network stores them
    /// (`stored`): each product split into its value and error, the sum carried in two Doubles
    /// (TwoSum), rounded once.
    func exactOutputs(_ x: [Double], stored: (Double) -> Double) -> (values: [Double], magnitudes: [Double]) {
        let c = channels, h = height, w = width
        var out = [Double](repeating: 0, count: batch * c * h * w), magnitudes = out
        for n in 0..<batch {
            for co in 0..<c {
                for y in 0..<h {
                    for xx in 0..<w {
                        var sum = ExactSum(stored(bias?[co] ?? 0)), magnitude = abs(stored(bias?[co] ?? 0))
                        for ch in 0..<c {
                            for ky in 0..<3 {
                                for kx in 0..<3 {
                                    let iy = y + ky - 1, ix = xx + kx - 1
                                    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                                    let a = stored(weight[((co * c + ch) * 3 + ky) * 3 + kx]), b = x[((n * c + ch) * h + iy) * w + ix]
                                    sum.addProduct(a, b)
                                    magnitude += abs(a * b)
                                }
                            }
                        }
                        out[((n * c + co) * h + y) * w + xx] = sum.value
                        magnitudes[((n * c + co) * h + y) * w + xx] = magnitude
                    }
                }
            }
        }
        return (out, magnitudes)
    }
}

/// A sum carried as value + error (Knuth's TwoSum, the products split with a fused multiply-add).
private struct ExactSum {
    var high: Double, low = 0.0
    init(_ start: Double) { high = start }
    mutating func addProduct(_ a: Double, _ b: Double) {
        let p = a * b, e = (-p).addingProduct(a, b)
        let s = high + p, bb = s - high
        low += (high - (s - bb)) + (p - bb) + e
        high = s
    }
    var value: Double { high + low }
}

/// conv 16 -> 16 (padding 1, no bias) -> relu -> conv 16 -> 16 (padding 1, integer bias) -> relu
/// -> maxpool 2 -> flatten -> dense 3, with weights in {-1, 0, 1} and integer inputs below 2^8
/// (the cancelling centres below 2^11), so that sums stay integers far below 2^24 and im2col is
/// exact in float32: a dead patch, and windows of the first convolution made to cancel exactly
/// (to 0 or +-1).
private struct ExactWideCNN {
    let batch = 3, channels = 16, size = 10
    let spec: NetworkSpec
    let input: [Double]
    let seed: [Double]

    init(seed s: UInt64) {
        var rng = SplitMix64(seed: s)
        let c = channels, h = size
        func ternary(_ count: Int) -> [Double] { (0..<count).map { _ in Double(Int(rng.uniform(0...2.999)) - 1) } }
        var w1 = ternary(c * c * 9)
        for co in 0..<c { w1[(co * c) * 9 + 4] = co % 2 == 0 ? 1 : -1 }
        let w2 = ternary(c * c * 9), b2 = (0..<c).map { _ in Double(Int(rng.uniform(-8...8))) }
        let w3 = ternary(3 * c * 5 * 5)
        var x = (0..<(batch * c * h * h)).map { _ in Double(Int(rng.uniform(0...255.999))) }
        for n in 0..<batch { for ch in 0..<c { for y in 0..<4 { for xx in 6..<10 { x[((n * c + ch) * h + y) * h + xx] = 0 } } } }
        for n in 0..<batch {
            for (k, (y, xx)) in [(1, 1), (1, 4), (4, 1), (4, 4), (7, 2), (7, 7), (8, 5)].enumerated() {
                let co = (5 * k + n) % c, target = Double(k % 3 - 1)
                x[((n * c) * h + y) * h + xx] = 0
                var rest = 0.0
                for ch in 0..<c {
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = y + ky - 1, ix = xx + kx - 1
                            guard iy >= 0, iy < h, ix >= 0, ix < h else { continue }
                            rest += w1[((co * c + ch) * 3 + ky) * 3 + kx] * x[((n * c + ch) * h + iy) * h + ix]
                        }
                    }
                }
                // w1[co, 0, 1, 1] = +-1: the centre that makes the sum `target` (kept in [0, 2^11)).
                let centre = (target - rest) * w1[(co * c) * 9 + 4]
                x[((n * c) * h + y) * h + xx] = max(0, min(centre, 2047))
            }
        }
        input = x
        self.seed = rng.uniform(batch * 3, in: -1...1).map { ($0 * 64).rounded() / 64 }
        spec = NetworkSpec(name: "exact wide cnn", inputShape: [c, h, h], layers: [
            .conv2d(ConvSpec(weight: w1, outChannels: c, inChannels: c, kernel: (3, 3), bias: nil, padding: (1, 1))), .relu,
            .conv2d(ConvSpec(weight: w2, outChannels: c, inChannels: c, kernel: (3, 3), bias: b2, padding: (1, 1))), .relu,
            .maxPool2d(kernel: (2, 2), stride: (2, 2), padding: (0, 0)), .flatten,
            .dense(weight: w3, outFeatures: 3, inFeatures: c * 5 * 5, bias: nil),
        ])
    }
}

extension NetworkSpec {
    /// Elements of layer `index`'s output per sample.
    func outputCount(of index: Int) -> Int {
        var shape = inputShape
        for layer in layers.prefix(index + 1) {
            switch layer {
            case .dense(_, let out, _, _): shape = [out]
            case .conv2d(let c):
                shape = [c.outChannels, (shape[1] + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1) / c.stride.0 + 1,
                         (shape[2] + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1) / c.stride.1 + 1]
            case .maxPool2d(let k, let s, let p), .avgPool2d(let k, let s, let p, _):
                shape = [shape[0], (shape[1] + 2 * p.0 - k.0) / s.0 + 1, (shape[2] + 2 * p.1 - k.1) / s.1 + 1]
            case .flatten: shape = [shape.reduce(1, *)]
            case .relu: break
            default: fatalError("outputCount(of:) covers the chain layers the Winograd tests build")
            }
        }
        return shape.reduce(1, *)
    }
}
