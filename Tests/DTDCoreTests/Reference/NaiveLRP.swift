@testable import DTDCore

// MARK: - A naive, loop-based reference for forward, gradient and every LRP rule
//
// Written straight from `Include/dtd.h` sections 3–5 (the layers and the rule table), in Double, one sample at a time, with
// no BLAS, no im2col, no precomputed modified weights and no shortcuts. Speed does not matter;
// every line should be checkable against the table by eye. The engine's `Rule` enum is used only
// as a carrier of the parameters; its semantics are re-derived here.
//
// Every dense, conv and average-pooling layer is first written out as a `NaiveAffine`: per output
// neuron, the list of (input index, weight) connections it reads, plus its bias. For a conv
// layer the list holds the in-bounds kernel taps only, which is exactly "zero padding": a padded
// cell contributes nothing to any product, so the all-ones image of flat and w², and the bound
// images l, h of zbox, never extend into padding (`Include/dtd.h` section 5).

/// An affine map z_j = Σ_i w_ij a_i + b_j, written as explicit connection lists.
struct NaiveAffine {
    let inputShape: [Int]
    let inputCount: Int
    /// `connections[j]`: the inputs neuron j reads, with their weights.
    let connections: [[(input: Int, weight: Double)]]
    /// b_j per output neuron (zeros when the layer has no bias).
    let bias: [Double]

    var outputCount: Int { connections.count }

    /// Σ_i f(w_ij) x_i for every output neuron j.
    func forward(_ f: (Double) -> Double, _ x: [Double]) -> [Double] {
        connections.map { row in row.reduce(0) { $0 + f($1.weight) * x[$1.input] } }
    }

    /// Σ_j f(w_ij) s_j for every input i (the transposed map).
    func transposed(_ f: (Double) -> Double, _ s: [Double]) -> [Double] {
        var result = [Double](repeating: 0, count: inputCount)
        for (j, row) in connections.enumerated() {
            for (i, w) in row { result[i] += f(w) * s[j] }
        }
        return result
    }

    /// A dense layer with weight `(out, in)`.
    init(dense weight: [Double], outFeatures: Int, inFeatures: Int, bias: [Double]?) {
        inputShape = [inFeatures]
        inputCount = inFeatures
        connections = (0..<outFeatures).map { j in (0..<inFeatures).map { i in (i, weight[j * inFeatures + i]) } }
        self.bias = bias ?? [Double](repeating: 0, count: outFeatures)
    }

    /// A 2-D convolution with zero padding, over an input of shape `(C, H, W)`.
    init(conv c: ConvSpec, inputShape: [Int]) {
        let (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        let (kh, kw) = c.kernel
        let outH = (height + 2 * c.padding.0 - c.dilation.0 * (kh - 1) - 1) / c.stride.0 + 1
        let outW = (width + 2 * c.padding.1 - c.dilation.1 * (kw - 1) - 1) / c.stride.1 + 1
        var rows: [[(input: Int, weight: Double)]] = []
        var bias: [Double] = []
        for co in 0..<c.outChannels {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    var row: [(input: Int, weight: Double)] = []
                    for ci in 0..<channels {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let y = oy * c.stride.0 - c.padding.0 + ky * c.dilation.0
                                let x = ox * c.stride.1 - c.padding.1 + kx * c.dilation.1
                                guard y >= 0, y < height, x >= 0, x < width else { continue }
                                let w = c.weight[((co * channels + ci) * kh + ky) * kw + kx]
                                row.append((ci * height * width + y * width + x, w))
                            }
                        }
                    }
                    rows.append(row)
                    bias.append(c.bias?[co] ?? 0)
                }
            }
        }
        self.inputShape = inputShape
        inputCount = inputShape.reduce(1, *)
        connections = rows
        self.bias = bias
    }

    /// PyTorch's AvgPool2d (floor mode) as a linear map: weight 1/divisor on the in-bounds cells
    /// of each window. The divisor is PyTorch's: with `countIncludePad` the window clipped to the
    /// padded input, otherwise the in-bounds cells only.
    init(averagePool kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), countIncludePad: Bool,
         inputShape: [Int]) {
        let (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        let outH = (height + 2 * padding.0 - kernel.0) / stride.0 + 1
        let outW = (width + 2 * padding.1 - kernel.1) / stride.1 + 1
        var rows: [[(input: Int, weight: Double)]] = []
        for c in 0..<channels {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    let y0 = oy * stride.0 - padding.0, x0 = ox * stride.1 - padding.1
                    var cells: [Int] = []
                    for y in y0..<(y0 + kernel.0) {
                        for x in x0..<(x0 + kernel.1) where y >= 0 && y < height && x >= 0 && x < width {
                            cells.append(c * height * width + y * width + x)
                        }
                    }
                    let divisor = countIncludePad
                        ? (min(y0 + kernel.0, height + padding.0) - y0) * (min(x0 + kernel.1, width + padding.1) - x0)
                        : cells.count
                    rows.append(cells.map { ($0, 1 / Double(divisor)) })
                }
            }
        }
        self.inputShape = inputShape
        inputCount = inputShape.reduce(1, *)
        connections = rows
        bias = [Double](repeating: 0, count: rows.count)
    }
}

// MARK: - The rules of the rule table, one layer

enum NaiveLRP {
    /// stab(d) = d + ε·sign(d) with sign(0) = +1.
    static func stab(_ d: Double, _ epsilon: Double) -> Double { d >= 0 ? d + epsilon : d - epsilon }

    /// R / stab(d) per neuron, 0 where the stabilised denominator is exactly 0.
    static func shares(_ r: [Double], _ d: [Double], _ epsilon: Double) -> [Double] {
        zip(r, d).map { r, d in
            let denominator = stab(d, epsilon)
            return denominator == 0 ? 0 : r / denominator
        }
    }

    static func sum(_ vectors: [Double]...) -> [Double] {
        var result = vectors[0]
        for v in vectors.dropFirst() { for i in result.indices { result[i] += v[i] } }
        return result
    }

    static func times(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 * $1 } }
    static func scaled(_ c: Double, _ a: [Double]) -> [Double] { a.map { c * $0 } }
    static func positive(_ a: [Double]) -> [Double] { a.map { max($0, 0) } }
    static func negative(_ a: [Double]) -> [Double] { a.map { min($0, 0) } }

    /// The relevance at a linear layer's input under `rule` (the rule table, `Include/dtd.h` section 5).
    /// - Parameters:
    ///   - a: the layer input, one sample.
    ///   - r: the relevance at the layer output, one sample.
    static func relevance(_ rule: Rule, layer: NaiveAffine, input a: [Double], relevance r: [Double]) -> [Double] {
        let plain: (Double) -> Double = { $0 }
        let wPlus: (Double) -> Double = { max($0, 0) }
        let wMinus: (Double) -> Double = { min($0, 0) }
        let aPlus = positive(a), aMinus = negative(a)
        let zeros = [Double](repeating: 0, count: layer.outputCount)
        /// The bias term of a denominator: f(b) in mode include, nothing in mode exclude.
        func bias(_ mode: BiasMode, _ f: (Double) -> Double) -> [Double] {
            mode == .include ? layer.bias.map(f) : zeros
        }

        switch rule {
        case .epsilon(let epsilon, let mode):
            // a ⊙ Wᵀ(R / stab(z))
            let z = sum(layer.forward(plain, a), bias(mode, plain))
            let s = shares(r, z, epsilon)
            return times(a, layer.transposed(plain, s))

        case .zPlus(let epsilon, let mode):
            // s = R / stab(W⁺a⁺ + b⁺ + W⁻a⁻); a⁺ ⊙ W⁺ᵀs + a⁻ ⊙ W⁻ᵀs
            let d = sum(layer.forward(wPlus, aPlus), bias(mode, wPlus), layer.forward(wMinus, aMinus))
            let s = shares(r, d, epsilon)
            return sum(times(aPlus, layer.transposed(wPlus, s)), times(aMinus, layer.transposed(wMinus, s)))

        case .alphaBeta(let alpha, let beta, let epsilon, let mode):
            // s₊ = R / stab(W⁺a⁺ + b⁺ + W⁻a⁻), s₋ = R / stab(W⁻a⁺ + b⁻ + W⁺a⁻);
            // α(a⁺ ⊙ W⁺ᵀs₊ + a⁻ ⊙ W⁻ᵀs₊) − β(a⁺ ⊙ W⁻ᵀs₋ + a⁻ ⊙ W⁺ᵀs₋)
            let dPlus = sum(layer.forward(wPlus, aPlus), bias(mode, wPlus), layer.forward(wMinus, aMinus))
            let dMinus = sum(layer.forward(wMinus, aPlus), bias(mode, wMinus), layer.forward(wPlus, aMinus))
            let sPlus = shares(r, dPlus, epsilon), sMinus = shares(r, dMinus, epsilon)
            let positivePart = sum(times(aPlus, layer.transposed(wPlus, sPlus)), times(aMinus, layer.transposed(wMinus, sPlus)))
            let negativePart = sum(times(aPlus, layer.transposed(wMinus, sMinus)), times(aMinus, layer.transposed(wPlus, sMinus)))
            return sum(scaled(alpha, positivePart), scaled(-beta, negativePart))

        case .gamma(let gamma, let epsilon, let mode):
            // Wγ⁺ = W + γW⁺, Wγ⁻ = W + γW⁻;
            // s₊ = 1[z>0]·R / stab(Wγ⁺a⁺ + b + γb⁺ + Wγ⁻a⁻), s₋ = 1[z<0]·R / stab(Wγ⁻a⁺ + b + γb⁻ + Wγ⁺a⁻);
            // a⁺ ⊙ Wγ⁺ᵀs₊ + a⁻ ⊙ Wγ⁻ᵀs₊ + a⁺ ⊙ Wγ⁻ᵀs₋ + a⁻ ⊙ Wγ⁺ᵀs₋. The gate uses the true z = Wa + b.
            let wGammaPlus: (Double) -> Double = { $0 + gamma * max($0, 0) }
            let wGammaMinus: (Double) -> Double = { $0 + gamma * min($0, 0) }
            let z = sum(layer.forward(plain, a), layer.bias)
            let dPlus = sum(layer.forward(wGammaPlus, aPlus), bias(mode, wGammaPlus), layer.forward(wGammaMinus, aMinus))
            let dMinus = sum(layer.forward(wGammaMinus, aPlus), bias(mode, wGammaMinus), layer.forward(wGammaPlus, aMinus))
            let rPlus = zip(r, z).map { $1 > 0 ? $0 : 0 }, rMinus = zip(r, z).map { $1 < 0 ? $0 : 0 }
            let sPlus = shares(rPlus, dPlus, epsilon), sMinus = shares(rMinus, dMinus, epsilon)
            return sum(times(aPlus, layer.transposed(wGammaPlus, sPlus)), times(aMinus, layer.transposed(wGammaMinus, sPlus)),
                       times(aPlus, layer.transposed(wGammaMinus, sMinus)), times(aMinus, layer.transposed(wGammaPlus, sMinus)))

        case .wSquare(let epsilon, let mode):
            // (W²)ᵀ(R / stab(W²·1 + b²))
            let square: (Double) -> Double = { $0 * $0 }
            let ones = [Double](repeating: 1, count: layer.inputCount)
            let d = sum(layer.forward(square, ones), bias(mode, square))
            return layer.transposed(square, shares(r, d, epsilon))

        case .flat(let epsilon):
            // (1)ᵀ(R / stab(1·1)): all weights and inputs one, no bias.
            let one: (Double) -> Double = { _ in 1 }
            let ones = [Double](repeating: 1, count: layer.inputCount)
            return layer.transposed(one, shares(r, layer.forward(one, ones), epsilon))

        case .zBox(let low, let high, let epsilon, let mode):
            // s = R / stab(Wa + b − (W⁺l + b⁺) − (W⁻h + b⁻)); a ⊙ Wᵀs − l ⊙ W⁺ᵀs − h ⊙ W⁻ᵀs
            let l = image(low, layer.inputShape), h = image(high, layer.inputShape)
            let d = sum(layer.forward(plain, a), bias(mode, plain),
                        scaled(-1, sum(layer.forward(wPlus, l), bias(mode, wPlus))),
                        scaled(-1, sum(layer.forward(wMinus, h), bias(mode, wMinus))))
            let s = shares(r, d, epsilon)
            return sum(times(a, layer.transposed(plain, s)),
                       scaled(-1, times(l, layer.transposed(wPlus, s))),
                       scaled(-1, times(h, layer.transposed(wMinus, s))))
        }
    }

    /// zbox bounds as an image of the layer input's shape.
    static func image(_ bounds: Bounds, _ shape: [Int]) -> [Double] {
        let count = shape.reduce(1, *)
        switch bounds {
        case .scalar(let v): return [Double](repeating: v, count: count)
        case .perChannel(let v): return (0..<count).map { v[$0 / (count / shape[0])] }
        case .perElement(let v): return v
        }
    }
}

// MARK: - A whole network

/// A `NetworkSpec` evaluated naively, one sample at a time.
struct NaiveNetwork {
    enum Layer {
        /// dense, conv (isLinear) or average pooling (not linear: it takes no rule).
        case affine(NaiveAffine, isLinear: Bool)
        case relu
        case flatten
        /// Per output, the in-bounds input cells of its window in row-major order.
        case maxPool(windows: [[Int]])
    }

    let layers: [Layer]

    init(_ spec: NetworkSpec) {
        var shape = spec.inputShape
        var layers: [Layer] = []
        for layer in spec.layers {
            switch layer {
            case .dense(let w, let out, let inFeatures, let b):
                layers.append(.affine(NaiveAffine(dense: w, outFeatures: out, inFeatures: inFeatures, bias: b), isLinear: true))
                shape = [out]
            case .conv2d(let c):
                let affine = NaiveAffine(conv: c, inputShape: shape)
                layers.append(.affine(affine, isLinear: true))
                shape = NaiveNetwork.convOutput(c, input: affine.inputShape)
            case .relu:
                layers.append(.relu)
            case .flatten:
                layers.append(.flatten)
                shape = [shape.reduce(1, *)]
            case .maxPool2d(let kernel, let stride, let padding):
                let (channels, height, width) = (shape[0], shape[1], shape[2])
                let outH = (height + 2 * padding.0 - kernel.0) / stride.0 + 1
                let outW = (width + 2 * padding.1 - kernel.1) / stride.1 + 1
                var windows: [[Int]] = []
                for c in 0..<channels {
                    for oy in 0..<outH {
                        for ox in 0..<outW {
                            let y0 = oy * stride.0 - padding.0, x0 = ox * stride.1 - padding.1
                            var cells: [Int] = []
                            for y in y0..<(y0 + kernel.0) {
                                for x in x0..<(x0 + kernel.1) where y >= 0 && y < height && x >= 0 && x < width {
                                    cells.append(c * height * width + y * width + x)
                                }
                            }
                            windows.append(cells)
                        }
                    }
                }
                layers.append(.maxPool(windows: windows))
                shape = [channels, outH, outW]
            case .avgPool2d(let kernel, let stride, let padding, let countIncludePad):
                let affine = NaiveAffine(averagePool: kernel, stride: stride, padding: padding,
                                         countIncludePad: countIncludePad, inputShape: shape)
                layers.append(.affine(affine, isLinear: false))
                shape = [shape[0], (shape[1] + 2 * padding.0 - kernel.0) / stride.0 + 1,
                         (shape[2] + 2 * padding.1 - kernel.1) / stride.1 + 1]
            }
        }
        self.layers = layers
    }

    static func convOutput(_ c: ConvSpec, input: [Int]) -> [Int] {
        [c.outChannels,
         (input[1] + 2 * c.padding.0 - c.dilation.0 * (c.kernel.0 - 1) - 1) / c.stride.0 + 1,
         (input[2] + 2 * c.padding.1 - c.dilation.1 * (c.kernel.1 - 1) - 1) / c.stride.1 + 1]
    }

    /// The first maximum of a window in row-major order (padding is −∞, so it never wins).
    static func winner(_ window: [Int], _ a: [Double]) -> Int {
        var best = window[0]
        for i in window.dropFirst() where a[i] > a[best] { best = i }
        return best
    }

    /// Every activation of one sample: `[x, output of layer 0, output of layer 1, ...]`.
    func activations(_ x: [Double]) -> [[Double]] {
        var result = [x]
        for layer in layers {
            let a = result[result.count - 1]
            switch layer {
            case .affine(let affine, _): result.append(NaiveLRP.sum(affine.forward({ $0 }, a), affine.bias))
            case .relu: result.append(a.map { max($0, 0) })
            case .flatten: result.append(a)
            case .maxPool(let windows): result.append(windows.map { a[NaiveNetwork.winner($0, a)] })
            }
        }
        return result
    }

    func forward(_ x: [Double]) -> [Double] { activations(x).last ?? x }

    /// Jᵀr with ReLU′(0) = 0 and max-pool routing to the first maximum.
    func gradient(_ x: [Double], seed: [Double]) -> [Double] {
        let acts = activations(x)
        var g = seed
        for (index, layer) in layers.enumerated().reversed() {
            let a = acts[index]
            switch layer {
            case .affine(let affine, _): g = affine.transposed({ $0 }, g)
            case .relu: g = zip(a, g).map { $0 > 0 ? $1 : 0 }
            case .flatten: break
            case .maxPool(let windows):
                var next = [Double](repeating: 0, count: a.count)
                for (o, window) in windows.enumerated() { next[NaiveNetwork.winner(window, a)] += g[o] }
                g = next
            }
        }
        return g
    }

    /// LRP of one sample: `rules[l]` on each dense/conv layer l; ReLU and flatten pass relevance,
    /// max-pool routes it to the first maximum, average pooling uses epsilon with ε = 1e-6.
    func lrp(_ x: [Double], seed: [Double], rules: [Int: Rule]) -> [Double] {
        let acts = activations(x)
        var r = seed
        for (index, layer) in layers.enumerated().reversed() {
            let a = acts[index]
            switch layer {
            case .affine(let affine, let isLinear):
                // A dense/conv layer without a rule gets NaN relevance, so any comparison fails loudly.
                let rule = isLinear ? rules[index] ?? .epsilon(.nan) : .epsilon(1e-6, bias: .include)
                r = NaiveLRP.relevance(rule, layer: affine, input: a, relevance: r)
            case .relu, .flatten: break
            case .maxPool(let windows):
                var next = [Double](repeating: 0, count: a.count)
                for (o, window) in windows.enumerated() { next[NaiveNetwork.winner(window, a)] += r[o] }
                r = next
            }
        }
        return r
    }

    // MARK: Batches, laid out `(batch, size)` like the engine's

    func forward(batch x: [Double], inputCount: Int) -> [Double] {
        samples(x, inputCount).flatMap { forward($0) }
    }

    func gradient(batch x: [Double], seed: [Double], inputCount: Int) -> [Double] {
        let outputs = samples(seed, seed.count / (x.count / inputCount))
        return zip(samples(x, inputCount), outputs).flatMap { gradient($0, seed: $1) }
    }

    func lrp(batch x: [Double], seed: [Double], rules: [Int: Rule], inputCount: Int) -> [Double] {
        let outputs = samples(seed, seed.count / (x.count / inputCount))
        return zip(samples(x, inputCount), outputs).flatMap { lrp($0, seed: $1, rules: rules) }
    }

    private func samples(_ values: [Double], _ size: Int) -> [[Double]] {
        stride(from: 0, to: values.count, by: size).map { Array(values[$0..<($0 + size)]) }
    }
}
