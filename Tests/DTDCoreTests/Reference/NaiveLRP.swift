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
        let pad = c.padSides
        let outH = (height + pad.top + pad.bottom - c.dilation.0 * (kh - 1) - 1) / c.stride.0 + 1
        let outW = (width + pad.left + pad.right - c.dilation.1 * (kw - 1) - 1) / c.stride.1 + 1
        var rows: [[(input: Int, weight: Double)]] = []
        var bias: [Double] = []
        for co in 0..<c.outChannels {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    var row: [(input: Int, weight: Double)] = []
                    for ci in 0..<channels {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let y = oy * c.stride.0 - pad.top + ky * c.dilation.0
                                let x = ox * c.stride.1 - pad.left + kx * c.dilation.1
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
    init(averagePool kernel: (Int, Int), stride: (Int, Int), padding: Padding, countIncludePad: Bool,
         inputShape: [Int]) {
        let (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        let outH = (height + padding.top + padding.bottom - kernel.0) / stride.0 + 1
        let outW = (width + padding.left + padding.right - kernel.1) / stride.1 + 1
        var rows: [[(input: Int, weight: Double)]] = []
        for c in 0..<channels {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    let y0 = oy * stride.0 - padding.top, x0 = ox * stride.1 - padding.left
                    var cells: [Int] = []
                    for y in y0..<(y0 + kernel.0) {
                        for x in x0..<(x0 + kernel.1) where y >= 0 && y < height && x >= 0 && x < width {
                            cells.append(c * height * width + y * width + x)
                        }
                    }
                    let divisor = countIncludePad
                        ? (min(y0 + kernel.0, height + padding.bottom) - y0) * (min(x0 + kernel.1, width + padding.right) - x0)
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

    /// PyTorch's AdaptiveAvgPool2d as a linear map: output (i, j) averages rows
    /// floor(i H / outH) ..< ceil((i + 1) H / outH) and the columns likewise.
    init(adaptivePool size: (Int, Int), inputShape: [Int]) {
        let (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        func bin(_ i: Int, _ n: Int, _ out: Int) -> Range<Int> {
            (i * n) / out..<Int((Double((i + 1) * n) / Double(out)).rounded(.up))
        }
        var rows: [[(input: Int, weight: Double)]] = []
        for c in 0..<channels {
            for oy in 0..<size.0 {
                for ox in 0..<size.1 {
                    let ys = bin(oy, height, size.0), xs = bin(ox, width, size.1)
                    let cells = ys.flatMap { y in xs.map { x in c * height * width + y * width + x } }
                    rows.append(cells.map { ($0, 1 / Double(cells.count)) })
                }
            }
        }
        self.inputShape = inputShape
        inputCount = inputShape.reduce(1, *)
        connections = rows
        bias = [Double](repeating: 0, count: rows.count)
    }

    /// This map with eval-mode batch-norm folded in, per output channel (rows of one channel are
    /// consecutive): s = gamma / sqrt(var + eps), w' = s w, b' = (b - mean) s + beta.
    func foldingBatchNorm(gamma: [Double], beta: [Double], mean: [Double], variance: [Double], eps: Double) -> NaiveAffine {
        let perChannel = connections.count / gamma.count
        var rows = connections, b = bias
        for j in rows.indices {
            let c = j / perChannel
            let scale = gamma[c] / (variance[c] + eps).squareRoot()
            rows[j] = rows[j].map { ($0.input, $0.weight * scale) }
            b[j] = (bias[j] - mean[c]) * scale + beta[c]
        }
        return NaiveAffine(inputShape: inputShape, connections: rows, bias: b)
    }

    private init(inputShape: [Int], connections: [[(input: Int, weight: Double)]], bias: [Double]) {
        self.inputShape = inputShape
        inputCount = inputShape.reduce(1, *)
        self.connections = connections
        self.bias = bias
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

/// A `NetworkSpec` evaluated naively, one sample at a time. Every layer reads the outputs of its
/// operands (`operands[l]`: the previous layer, or a route's or add's sources; -1 the input);
/// backward passes add every reader's contribution into the output it read.
struct NaiveNetwork {
    enum Layer {
        /// dense, conv (isLinear) or average pooling (not linear: it takes a pooling rule).
        case affine(NaiveAffine, isLinear: Bool)
        /// relu
        case relu
        /// flatten, identity, a folded batch-norm: the identity on values.
        case flatten
        /// Per output, the in-bounds input cells of its window in row-major order.
        case maxPool(windows: [[Int]])
        /// The concatenation of the operands (channels are outermost, so a plain concatenation).
        case route
        /// The sum of the operands.
        case add
    }

    let layers: [Layer]
    /// Per layer, the layer outputs it reads (-1: the network input).
    let operands: [[Int]]

    init(_ spec: NetworkSpec) {
        let shapes = spec.activationShapes
        var layers: [Layer] = []
        var operands: [[Int]] = []
        for (index, layer) in spec.layers.enumerated() {
            let shape = shapes[index]
            operands.append([index - 1])
            switch layer {
            case .dense(let w, let out, let inFeatures, let b):
                layers.append(.affine(NaiveAffine(dense: w, outFeatures: out, inFeatures: inFeatures, bias: b), isLinear: true))
            case .conv2d(let c):
                layers.append(.affine(NaiveAffine(conv: c, inputShape: shape), isLinear: true))
            case .relu:
                layers.append(.relu)
            case .flatten, .identity:
                layers.append(.flatten)
            case .batchNorm(let gamma, let beta, let mean, let variance, let eps):
                if case .affine(let map, true) = layers[index - 1] {
                    layers[index - 1] = .affine(map.foldingBatchNorm(gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps),
                                                isLinear: true)
                }
                layers.append(.flatten)
            case .maxPool2d(let kernel, let stride, let padding):
                layers.append(.maxPool(windows: Self.windows(kernel, stride, Padding(padding), shape)))
            case .paddedMaxPool2d(let kernel, let stride, let padding):
                layers.append(.maxPool(windows: Self.windows(kernel, stride, padding, shape)))
            case .avgPool2d(let kernel, let stride, let padding, let countIncludePad):
                layers.append(.affine(NaiveAffine(averagePool: kernel, stride: stride, padding: Padding(padding),
                                                  countIncludePad: countIncludePad, inputShape: shape), isLinear: false))
            case .paddedAvgPool2d(let kernel, let stride, let padding, let countIncludePad):
                layers.append(.affine(NaiveAffine(averagePool: kernel, stride: stride, padding: padding,
                                                  countIncludePad: countIncludePad, inputShape: shape), isLinear: false))
            case .adaptiveAvgPool2d(let size):
                layers.append(.affine(NaiveAffine(adaptivePool: size, inputShape: shape), isLinear: false))
            case .route(let sources):
                layers.append(.route)
                operands[index] = sources
            case .add(let sources):
                layers.append(.add)
                operands[index] = [index - 1] + sources
            }
        }
        self.layers = layers
        self.operands = operands
    }

    /// The in-bounds cells of every window of a pool (padding is never a cell).
    static func windows(_ kernel: (Int, Int), _ stride: (Int, Int), _ padding: Padding, _ shape: [Int]) -> [[Int]] {
        let (channels, height, width) = (shape[0], shape[1], shape[2])
        let outH = (height + padding.top + padding.bottom - kernel.0) / stride.0 + 1
        let outW = (width + padding.left + padding.right - kernel.1) / stride.1 + 1
        var windows: [[Int]] = []
        for c in 0..<channels {
            for oy in 0..<outH {
                for ox in 0..<outW {
                    let y0 = oy * stride.0 - padding.top, x0 = ox * stride.1 - padding.left
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
        return windows
    }

    static func convOutput(_ c: ConvSpec, input: [Int]) -> [Int] {
        let pad = c.padSides
        return [c.outChannels,
                (input[1] + pad.top + pad.bottom - c.dilation.0 * (c.kernel.0 - 1) - 1) / c.stride.0 + 1,
                (input[2] + pad.left + pad.right - c.dilation.1 * (c.kernel.1 - 1) - 1) / c.stride.1 + 1]
    }

    /// The first maximum of a window in row-major order (padding is −∞, so it never wins).
    static func winner(_ window: [Int], _ a: [Double]) -> Int {
        var best = window[0]
        for i in window.dropFirst() where a[i] > a[best] { best = i }
        return best
    }

    /// Every activation of one sample: `[x, output of layer 0, output of layer 1, ...]`, so layer
    /// l's output is `acts[l + 1]` and its input (the previous output) `acts[l]`.
    func activations(_ x: [Double]) -> [[Double]] {
        var result = [x]
        for (index, layer) in layers.enumerated() {
            let a = result[index]
            switch layer {
            case .affine(let affine, _): result.append(NaiveLRP.sum(affine.forward({ $0 }, a), affine.bias))
            case .relu: result.append(a.map { max($0, 0) })
            case .flatten: result.append(a)
            case .maxPool(let windows): result.append(windows.map { a[NaiveNetwork.winner($0, a)] })
            case .route: result.append(operands[index].flatMap { result[$0 + 1] })
            case .add:
                var sum = a.map { _ in 0.0 }
                for k in operands[index] { for i in sum.indices { sum[i] += result[k + 1][i] } }
                result.append(sum)
            }
        }
        return result
    }

    func forward(_ x: [Double]) -> [Double] { activations(x).last ?? x }

    /// A backward pass from the output down to the output of layer `stop - 1` (the input for
    /// stop 0): `step(l, value at its output)` returns the contribution to each of layer l's
    /// operands, which are added up per output. `visit(l, value)` sees every completed value,
    /// and may replace it (a mask). Returns the value at every output reached, by layer (-1: the input).
    func backward(_ acts: [[Double]], seed: [Double], stop: Int = 0,
                  visit: (Int, [Double]) -> [Double] = { $1 },
                  step: (Int, [Double]) -> [[Double]]) -> [Int: [Double]] {
        var values: [Int: [Double]] = [layers.count - 1: seed]
        for index in stride(from: layers.count - 1, through: stop, by: -1) {
            let value = visit(index, values[index] ?? acts[index + 1].map { _ in 0 })
            values[index] = value
            for (operand, part) in zip(operands[index], step(index, value)) {
                values[operand] = NaiveLRP.sum(values[operand] ?? part.map { _ in 0 }, part)
            }
        }
        values[stop - 1] = values[stop - 1] ?? acts[stop].map { _ in 0 }
        return values
    }

    /// Splits `value` (a route's output) back into its operands' slices.
    func slices(_ index: Int, _ value: [Double], _ acts: [[Double]]) -> [[Double]] {
        var offset = 0
        return operands[index].map { k in
            let n = acts[k + 1].count
            defer { offset += n }
            return Array(value[offset..<(offset + n)])
        }
    }

    /// Jᵀr with ReLU′(0) = 0 and max-pool routing to the first maximum.
    func gradient(_ x: [Double], seed: [Double]) -> [Double] {
        let acts = activations(x)
        let values = backward(acts, seed: seed) { index, g in
            let a = acts[index]
            switch layers[index] {
            case .affine(let affine, _): return [affine.transposed({ $0 }, g)]
            case .relu: return [zip(a, g).map { $0 > 0 ? $1 : 0 }]
            case .flatten: return [g]
            case .maxPool(let windows):
                var next = [Double](repeating: 0, count: a.count)
                for (o, window) in windows.enumerated() { next[NaiveNetwork.winner(window, a)] += g[o] }
                return [next]
            case .route: return slices(index, g, acts)
            case .add: return operands[index].map { _ in g }
            }
        }
        return values[-1] ?? []
    }

    /// The relevance of every output (by layer, -1 the input) for `seed`: `rules[l]` on each
    /// dense/conv layer l; ReLU, flatten, identity and batch-norm pass relevance, max-pool routes
    /// it to the first maximum, a route splits it by slice; average pools and adds use
    /// `rules[l]` when it is epsilon (norm) or flat, else epsilon 1e-6 (norm): an add's operand k
    /// gets x_k (.) R / stab(sum) (norm) or R / stab(operands) (flat). Down to layer `stop`;
    /// `masks[l]` zeroes the unflagged entries of the relevance at layer l's output first.
    func relevances(_ x: [Double], seed: [Double], rules: [Int: Rule], stop: Int = 0,
                    masks: [Int: [Bool]] = [:]) -> [Int: [Double]] {
        let acts = activations(x)
        return backward(acts, seed: seed, stop: stop, visit: { index, r in
            guard let mask = masks[index] else { return r }
            return zip(r, mask).map { $1 ? $0 : 0 }
        }) { index, r in
            let a = acts[index]
            switch layers[index] {
            case .affine(let affine, let isLinear):
                // A dense/conv layer without a rule gets NaN relevance, so any comparison fails loudly.
                let rule = isLinear ? rules[index] ?? .epsilon(.nan) : poolRule(rules[index])
                return [NaiveLRP.relevance(rule, layer: affine, input: a, relevance: r)]
            case .relu, .flatten: return [r]
            case .maxPool(let windows):
                var next = [Double](repeating: 0, count: a.count)
                for (o, window) in windows.enumerated() { next[NaiveNetwork.winner(window, a)] += r[o] }
                return [next]
            case .route: return slices(index, r, acts)
            case .add:
                let z = acts[index + 1]
                switch poolRule(rules[index]) {
                case .flat(let epsilon):
                    let n = Double(operands[index].count)
                    return operands[index].map { _ in r.map { $0 / NaiveLRP.stab(n, epsilon) } }
                case .epsilon(let epsilon, _):
                    let s = NaiveLRP.shares(r, z, epsilon)
                    return operands[index].map { k in NaiveLRP.times(acts[k + 1], s) }
                default:
                    return operands[index].map { _ in r.map { _ in .nan } }
                }
            }
        }
    }

    /// A pooling or add layer's rule: epsilon (norm) or flat as given, else epsilon 1e-6.
    private func poolRule(_ rule: Rule?) -> Rule {
        switch rule {
        case .some(.epsilon(let e, _)): .epsilon(e, bias: .include)
        case .some(.flat(let s)): .flat(stabilizer: s)
        case .some: .epsilon(.nan)
        case .none: .epsilon(1e-6, bias: .include)
        }
    }

    /// LRP of one sample: the relevance at the network input (`relevances`).
    func lrp(_ x: [Double], seed: [Double], rules: [Int: Rule]) -> [Double] {
        relevances(x, seed: seed, rules: rules)[-1] ?? []
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

    func samples(_ values: [Double], _ size: Int) -> [[Double]] {
        stride(from: 0, to: values.count, by: size).map { Array(values[$0..<($0 + size)]) }
    }
}
