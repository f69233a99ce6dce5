// dtd-bench: a pure-Swift micro-benchmark of the engine (no Python, no ctypes).
//
//   swift run -c release dtd-bench                 # everything (~1 minute)
//   swift run -c release dtd-bench --quick         # fewer repetitions
//   swift run -c release dtd-bench gemm shapes nets layers   # pick sections
//
// Sections:
//   gemm    sgemm GFLOP/s of the linked BLAS through `cblas_sgemm` (the call the engine
//           makes), on square matrices: one thread, and split into column blocks over
//           DTD_NUM_THREADS workers the way the engine's Gemm.multiply splits (multiple-of-16
//           column blocks, DispatchQueue.concurrentPerform).
//   nets    forward, gradient, LRP epsilon and LRP composite (the benchmark's models: MLP,
//           LeNet-5, the VGG-style CIFAR CNN) through DTDCore's public API, median ms and GFLOP/s
//           (FLOP model as bindings/python/benchmarks/models.py).
//   layers  every dense/conv layer of the VGG CNN (and the MLP) alone, as a one-layer network:
//           forward, gradient (forward + transposed product), LRP epsilon / z+ / flat, each
//           against the time of exactly the GEMM calls the engine issues for those products
//           (same shapes, same per-sample / column split over the workers), with nothing else.
//           The gap is the engine's time outside the BLAS: im2col/col2im, elementwise passes,
//           pooling, allocation.
//   shapes  sgemm GFLOP/s at VGG's conv shapes (batch 16): per-sample GEMMs as the engine runs
//           them (1 thread and over the workers), one GEMM over the whole batch's columns, and the
//           transposed layout (positions as rows).
//   loop    `dtd-bench loop MODEL METHOD BATCH [SECONDS]`: one case back to back, for perf record.
//   calls   `dtd-bench calls MODEL METHOD BATCH COUNT`: one case exactly COUNT times, untimed, for
//           instruction counts (valgrind --tool=callgrind; the difference of two COUNTs is the
//           cost of the extra calls, setup excluded).
// Weights are He-uniform from a fixed SplitMix64 seed; inputs uniform [0, 1).

import CBLAS
import DTDCore
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Utilities

struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [low, high).
    mutating func uniform(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) / Float(1 << 24)
    }
}

nonisolated(unsafe) var rng = SplitMix64(state: 42)

func uniformArray(_ count: Int, _ low: Float, _ high: Float) -> [Float] {
    (0..<count).map { _ in rng.uniform(low, high) }
}

func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}

/// Median seconds per call: warm-up (>= 2 calls, >= 0.1 s), then `reps` samples of >= `minSample` s each.
func measure(reps: Int, minSample: Double = 0.03, _ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    var calls = 0
    let start = clock.now
    while calls < 2 || seconds(clock.now - start) < 0.1 {
        try body()
        calls += 1
    }
    let single = seconds(clock.now - start) / Double(calls)
    let inner = max(1, Int((minSample / max(single, 1e-9)).rounded(.up)))
    var samples: [Double] = []
    for _ in 0..<reps {
        let t0 = clock.now
        for _ in 0..<inner { try body() }
        samples.append(seconds(clock.now - t0) / Double(inner))
    }
    samples.sort()
    return samples[samples.count / 2]
}

func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

func padRight(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}

func fmt(_ x: Double, _ decimals: Int = 2) -> String {
    // No Foundation: fixed-point formatting by hand.
    guard x.isFinite else { return "\(x)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (abs(x) * scale).rounded()
    let whole = Int(rounded / scale)
    let frac = Int(rounded - Double(whole) * scale)
    var fracText = String(frac)
    while fracText.count < decimals { fracText = "0" + fracText }
    return (x < 0 ? "-" : "") + String(whole) + (decimals > 0 ? "." + fracText : "")
}

let threads: Int = {
    if let text = getenv("DTD_NUM_THREADS"), let value = Int(String(cString: text)), value >= 1 { return min(value, 64) }
    return max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 16))
}()

extension Float {
    /// cblas_sgemm, row-major: the call the engine makes for float32 products (DTDCore's
    /// `DTDScalar.gemm`, which is internal).
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>,
                     lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

struct Shared: @unchecked Sendable {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
}

/// C (m x n) = op(A) op(B) split into column blocks over `parts` workers, as the engine does.
func splitGemm(transposeA: Bool = false, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
               b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, parts requested: Int) {
    let parts = max(1, min(requested, n / 32))
    guard parts > 1 else {
        Float.gemm(transposeA: transposeA, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                   beta: 0, c: c, ldc: ldc)
        return
    }
    let width = ((n + parts - 1) / parts + 15) / 16 * 16
    let blocks = (n + width - 1) / width
    let shared = Shared(a: a, b: b, c: c)
    DispatchQueue.concurrentPerform(iterations: blocks) { block in
        let first = block * width, columns = min(width, n - first)
        guard columns > 0 else { return }
        Float.gemm(transposeA: transposeA, transposeB: false, m: m, n: columns, k: k, alpha: 1, a: shared.a, lda: lda,
                   b: shared.b + first, ldb: ldb, beta: 0, c: shared.c + first, ldc: ldc)
    }
}

// MARK: - Models

enum Spec {
    case dense(Int, Int)                 // out, in
    case conv(Int, Int, Int, Int)        // out, in, kernel, padding
    case relu, pool, flatten
}

struct Model {
    let name: String
    let input: [Int]
    let layers: [Spec]
    let isCNN: Bool
    let batches: [Int]
}

let mlp = Model(name: "mlp", input: [784], layers: [.dense(1000, 784), .relu, .dense(1000, 1000), .relu, .dense(10, 1000)],
                isCNN: false, batches: [1, 64])
let lenet = Model(name: "lenet", input: [1, 28, 28],
                  layers: [.conv(6, 1, 5, 2), .relu, .pool, .conv(16, 6, 5, 0), .relu, .pool, .flatten,
                           .dense(120, 400), .relu, .dense(84, 120), .relu, .dense(10, 84)], isCNN: true, batches: [1, 64])
let vgg = Model(name: "vgg", input: [3, 32, 32],
                layers: [.conv(64, 3, 3, 1), .relu, .conv(64, 64, 3, 1), .relu, .pool,
                         .conv(128, 64, 3, 1), .relu, .conv(128, 128, 3, 1), .relu, .pool,
                         .conv(256, 128, 3, 1), .relu, .conv(256, 256, 3, 1), .relu, .pool,
                         .flatten, .dense(512, 4096), .relu, .dense(10, 512)], isCNN: true, batches: [1, 16])

func build(_ model: Model) throws -> Network<Float> {
    var net = try Network<Float>(inputShape: Shape(model.input))
    for layer in model.layers {
        switch layer {
        case .dense(let out, let inp):
            let bound = Float((6.0 / Double(inp)).squareRoot())
            let w = uniformArray(out * inp, -bound, bound)
            let b = uniformArray(out, -1 / Float(inp).squareRoot(), 1 / Float(inp).squareRoot())
            try net.addDense(weight: w, outFeatures: out, inFeatures: inp, bias: b)
        case .conv(let out, let inp, let k, let p):
            let fan = inp * k * k
            let bound = Float((6.0 / Double(fan)).squareRoot())
            let w = uniformArray(out * fan, -bound, bound)
            let b = uniformArray(out, -1 / Float(fan).squareRoot(), 1 / Float(fan).squareRoot())
            try net.addConv2d(weight: w, outChannels: out, inChannels: inp, kernel: (k, k), bias: b, padding: (p, p))
        case .relu: net.addReLU()
        case .pool: try net.addMaxPool2d(kernel: (2, 2), stride: (2, 2))
        case .flatten: net.addFlatten()
        }
    }
    return net
}

/// Multiply-adds of one forward product per sample, per dense/conv layer index.
func layerMACs(_ net: Network<Float>) -> [Int: Int] {
    var macs: [Int: Int] = [:]
    for (i, layer) in net.layers.enumerated() {
        if case .linear(let l) = layer { macs[i] = l.outputCount * l.fanIn }
    }
    return macs
}

enum Method: String, CaseIterable { case forward, gradient, lrpEps = "lrp-eps", lrpComp = "lrp-comp" }

/// The composite of the benchmark: flat on the first linear layer; z+ on the other linear layers
/// of an MLP; on a CNN z+ on the other convs and epsilon on dense layers.
func compositeRules(_ net: Network<Float>, cnn: Bool) throws -> RuleSet<Float> {
    var rules = try RuleSet<Float>(for: net)
    var first = true
    for (i, layer) in net.layers.enumerated() {
        guard case .linear(let l) = layer else { continue }
        let rule: Rule = first ? .flat() : (!cnn || l.isConv ? .zPlus() : .epsilon(1e-6))
        try rules.set(rule, layer: i, in: net)
        first = false
    }
    return rules
}

/// 2 x multiply-adds, libdtd's algorithm (models.py's FLOP model); all z+ layers here follow a ReLU or pool.
func flops(_ net: Network<Float>, _ method: Method, batch: Int, cnn: Bool) -> Double {
    let macs = layerMACs(net)
    let forward = macs.values.reduce(0, +)
    var total = forward
    switch method {
    case .forward: break
    case .gradient, .lrpEps: total += forward
    case .lrpComp:
        let first = macs.keys.min() ?? 0
        for (i, m) in macs {
            if i == first { total += m; continue }
            if case .linear(let l) = net.layers[i], !cnn || l.isConv { total += 2 * m } else { total += m }
        }
    }
    return 2 * Double(batch) * Double(total)
}

// MARK: - Sections

func gemmSection(quick: Bool) {
    print("== sgemm through cblas_sgemm (the engine's BLAS call); DTD_NUM_THREADS workers = \(threads)")
    for n in quick ? [1024] : [1024, 2048] {
        let a = uniformArray(n * n, -1, 1), b = uniformArray(n * n, -1, 1)
        var c = [Float](repeating: 0, count: n * n)
        let flop = 2 * Double(n) * Double(n) * Double(n)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    let one = measure(reps: quick ? 3 : 5) {
                        splitGemm(m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                                  c: cp.baseAddress!, ldc: n, parts: 1)
                    }
                    let all = measure(reps: quick ? 3 : 5) {
                        splitGemm(m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                                  c: cp.baseAddress!, ldc: n, parts: threads)
                    }
                    print("  n = \(pad(String(n), 5)): 1 thread \(pad(fmt(flop / one / 1e9, 1), 6)) GFLOP/s, "
                          + "\(threads) threads (engine's split) \(pad(fmt(flop / all / 1e9, 1), 6)) GFLOP/s")
                }
            }
        }
    }
}

func run(_ net: Network<Float>, _ method: Method, _ rules: (eps: RuleSet<Float>, comp: RuleSet<Float>),
         x: [Float], seed: [Float], batch: Int, out: inout [Float], forwardOut: inout [Float]) throws {
    switch method {
    case .forward:
        var y = forwardOut.mutableSpan
        try net.forward(input: x.span, batch: batch, output: &y)
    case .gradient:
        var y = out.mutableSpan
        try net.gradient(input: x.span, batch: batch, outputRelevance: seed.span, result: &y)
    case .lrpEps:
        var y = out.mutableSpan
        try net.lrp(input: x.span, batch: batch, outputRelevance: seed.span, rules: rules.eps, result: &y)
    case .lrpComp:
        var y = out.mutableSpan
        try net.lrp(input: x.span, batch: batch, outputRelevance: seed.span, rules: rules.comp, result: &y)
    }
}

func netsSection(quick: Bool) throws {
    print("== whole networks through DTDCore's public API (float32, median ms per call, GFLOP/s)")
    print("  " + padRight("model", 6) + pad("batch", 6) + "  " + Method.allCases.map { pad($0.rawValue, 19) }.joined())
    var prepLines: [String] = []
    for model in [mlp, lenet, vgg] {
        let net = try build(model)
        let clock = ContinuousClock()
        var t0 = clock.now
        let epsRules = try RuleSet<Float>(for: net, everyLinearLayer: .epsilon(1e-6))
        let epsPrep = seconds(clock.now - t0)
        t0 = clock.now
        let compRules = try compositeRules(net, cnn: model.isCNN)
        let compPrep = seconds(clock.now - t0)
        let rules = (eps: epsRules, comp: compRules)
        let weights = net.layers.reduce(0) { total, layer in
            if case .linear(let l) = layer { return total + l.weight.count }
            return total
        }
        prepLines.append("  \(padRight(model.name, 6)) \(pad(String(weights), 8)) weights: epsilon \(fmt(epsPrep * 1e3, 1)) ms, "
                         + "composite \(fmt(compPrep * 1e3, 1)) ms (\(fmt(compPrep / Double(weights) * 1e9, 0)) ns per weight)")
        for batch in model.batches {
            let x = uniformArray(batch * net.inputCount, 0, 1)
            var forwardOut = [Float](repeating: 0, count: batch * net.outputCount)
            var out = [Float](repeating: 0, count: batch * net.inputCount)
            let y = try net.forward(x, batch: batch)
            var seed = [Float](repeating: 0, count: y.count)
            for n in 0..<batch { seed[n * net.outputCount] = y[n * net.outputCount] }
            var line = "  " + padRight(model.name, 6) + pad(String(batch), 6) + "  "
            for method in Method.allCases {
                let t = try measure(reps: quick ? 3 : 7) {
                    try run(net, method, rules, x: x, seed: seed, batch: batch, out: &out, forwardOut: &forwardOut)
                }
                let g = flops(net, method, batch: batch, cnn: model.isCNN) / t / 1e9
                line += pad(fmt(t * 1e3, 3) + " ms " + pad(fmt(g, 1), 5), 19)
            }
            print(line)
        }
    }
    print("  rule-set preparation (RuleSet creation, modified weights precomputed; once per rule set):")
    for line in prepLines { print(line) }
}

struct SharedMutable: @unchecked Sendable {
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
}

/// The engine's Gemm.multiply, reproduced: C (m x n) = op(A) op(B), split into column blocks over
/// the workers when m*n*k >= 2^18 and n allows >= 2 blocks of >= 32 columns, unless `split` is false.
func engineGemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
                b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int, split: Bool) {
    let parts = split ? min(threads, n / 32) : 1
    guard parts > 1, m * n * k >= 1 << 18 else {
        Float.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb,
                   beta: 0, c: c, ldc: ldc)
        return
    }
    let width = ((n + parts - 1) / parts + 15) / 16 * 16
    let blocks = (n + width - 1) / width
    let shared = SharedMutable(a: a, b: b, c: c)
    DispatchQueue.concurrentPerform(iterations: blocks) { block in
        let first = block * width, columns = min(width, n - first)
        guard columns > 0 else { return }
        Float.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: columns, k: k, alpha: 1, a: shared.a, lda: lda,
                   b: shared.b + (transposeB ? first * ldb : first), ldb: ldb, beta: 0, c: shared.c + first, ldc: ldc)
    }
}

/// The time of exactly the GEMM calls the engine makes for one product of `layer` over `batch`
/// samples (forward or transposed), with nothing else: dense layers one GEMM over the batch;
/// conv layers one GEMM per sample, samples dealt to min(threads, batch) workers (each GEMM on
/// its worker), or at batch 1 one GEMM split by columns. im2col/col2im are not included.
func rawGemm(_ layer: LinearLayer<Float>, batch: Int, transposed: Bool, reps: Int) -> Double {
    let fan = layer.fanIn, outC = layer.outChannels, p = layer.positions
    let w = uniformArray(outC * fan, -1, 1)
    if !layer.isConv {
        let inF = fan, outF = outC
        let x = uniformArray(batch * max(inF, outF), -1, 1)
        var c = [Float](repeating: 0, count: batch * max(inF, outF))
        return w.withUnsafeBufferPointer { wp in x.withUnsafeBufferPointer { xp in c.withUnsafeMutableBufferPointer { cp in
            measure(reps: reps) {
                if transposed {  // (batch x in) = S (batch x out) W
                    engineGemm(transposeA: false, transposeB: false, m: batch, n: inF, k: outF, a: xp.baseAddress!, lda: outF,
                               b: wp.baseAddress!, ldb: inF, c: cp.baseAddress!, ldc: inF, split: true)
                } else {         // (batch x out) = X (batch x in) W^T
                    engineGemm(transposeA: false, transposeB: true, m: batch, n: outF, k: inF, a: xp.baseAddress!, lda: inF,
                               b: wp.baseAddress!, ldb: inF, c: cp.baseAddress!, ldc: outF, split: true)
                }
            }
        } } }
    }
    let workers = max(1, min(threads, batch))
    let perSampleIn = transposed ? outC * p : fan * p, perSampleOut = transposed ? fan * p : outC * p
    let src = uniformArray(batch * perSampleIn, -1, 1)
    var dst = [Float](repeating: 0, count: batch * perSampleOut)
    return w.withUnsafeBufferPointer { wp in src.withUnsafeBufferPointer { sp in dst.withUnsafeMutableBufferPointer { dp in
        let shared = SharedMutable(a: wp.baseAddress!, b: sp.baseAddress!, c: dp.baseAddress!)
        return measure(reps: reps) {
            let one: @Sendable (Int) -> Void = { (n: Int) in
                if transposed {  // cols (K x P) = W^T (K x Cout) S (Cout x P)
                    engineGemm(transposeA: true, transposeB: false, m: fan, n: p, k: outC, a: shared.a, lda: fan,
                               b: shared.b + n * perSampleIn, ldb: p, c: shared.c + n * perSampleOut, ldc: p, split: workers == 1)
                } else {         // Z (Cout x P) = W (Cout x K) cols (K x P)
                    engineGemm(transposeA: false, transposeB: false, m: outC, n: p, k: fan, a: shared.a, lda: fan,
                               b: shared.b + n * perSampleIn, ldb: p, c: shared.c + n * perSampleOut, ldc: p, split: workers == 1)
                }
            }
            if workers == 1 {
                for n in 0..<batch { one(n) }
            } else {
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    var n = worker
                    while n < batch { one(n); n += workers }
                }
            }
        }
    } } }
}

func layersSection(quick: Bool) throws {
    print("== single layers (float32): engine ms per call vs the time of the engine's own GEMM calls alone")
    print("   raw = forward GEMMs (+ transposed GEMMs for gradient/LRP; z+ adds one more forward); % = raw / engine,")
    print("   so 100 - % is the engine's time outside the BLAS (im2col/col2im, elementwise, pooling, allocation)")
    let reps = quick ? 3 : 5
    for (model, batches) in [(vgg, quick ? [16] : [1, 16]), (mlp, [1, 64])] {
        let full = try build(model)
        for batch in batches {
            print("  \(model.name) batch \(batch)")
            print("    " + padRight("layer", 30) + pad("fwd GEMM", 10) + pad("T GEMM", 9)
                  + ["forward", "gradient", "lrp-eps", "lrp-z+", "lrp-flat"].map { pad($0, 17) }.joined())
            for (index, layer) in full.layers.enumerated() {
                guard case .linear(let l) = layer else { continue }
                var net = try Network<Float>(inputShape: l.inputShape)
                let w = Array(l.weight)
                let b = l.bias.map { Array($0) }
                switch l.geometry {
                case .dense(let inF, let outF):
                    try net.addDense(weight: w, outFeatures: outF, inFeatures: inF, bias: b)
                case .conv:
                    let k = Int(Double(l.fanIn / l.inputShape.channels).squareRoot())
                    let p = (l.outputShape.height - l.inputShape.height + k - 1) / 2
                    try net.addConv2d(weight: w, outChannels: l.outChannels, inChannels: l.inputShape.channels,
                                      kernel: (k, k), bias: b, padding: (p, p))
                }
                let x = uniformArray(batch * net.inputCount, 0, 1)  // >= 0, as after a ReLU
                let seed = uniformArray(batch * net.outputCount, -1, 1)
                var out = [Float](repeating: 0, count: x.count)
                var fo = [Float](repeating: 0, count: seed.count)
                let eps = try RuleSet<Float>(for: net, everyLinearLayer: .epsilon(1e-6))
                let zp = try RuleSet<Float>(for: net, everyLinearLayer: .zPlus())
                let flat = try RuleSet<Float>(for: net, everyLinearLayer: .flat())
                let fwd = rawGemm(l, batch: batch, transposed: false, reps: reps)
                let tr = rawGemm(l, batch: batch, transposed: true, reps: reps)
                var line = "    " + padRight("\(index) \(l.isConv ? "conv" : "dense") \(l.inputShape)->\(l.outputShape)", 30)
                line += pad(fmt(fwd * 1e3, 3), 10) + pad(fmt(tr * 1e3, 3), 9)
                let cases: [(Method, RuleSet<Float>, Double)] = [(.forward, eps, fwd), (.gradient, eps, fwd + tr),
                                                                 (.lrpEps, eps, fwd + tr), (.lrpComp, zp, 2 * fwd + tr),
                                                                 (.lrpComp, flat, fwd + tr)]
                for (method, rules, raw) in cases {
                    let t = try measure(reps: reps) {
                        try run(net, method, (eps: rules, comp: rules), x: x, seed: seed, batch: batch, out: &out, forwardOut: &fo)
                    }
                    line += pad(fmt(t * 1e3, 3) + " (" + pad(fmt(100 * raw / t, 0), 3) + "%)", 17)
                }
                print(line)
            }
        }
    }
}

/// sgemm at VGG's conv shapes, batch 16: the engine's per-sample GEMMs (Cout x P x K, row-major,
/// W times the sample's im2col columns) on one thread and over the workers; one GEMM over the
/// whole batch's columns (N = 16 P) split by columns; and the other orientation, positions as rows
/// (P x Cout = cols^T W^T), on one thread. Forward products only.
func shapesSection(quick: Bool) {
    print("== sgemm GFLOP/s at VGG's conv shapes, batch 16 (forward products W (Cout x K) x cols (K x P))")
    print("   " + padRight("Cout x K x P", 18) + pad("per-sample 1 thr", 18) + pad("per-sample \(threads) wkr", 18)
          + pad("batched N=16P", 15) + pad("P-rows 1 thr", 14))
    let batch = 16, reps = quick ? 3 : 7
    for (m, k, p) in [(64, 27, 1024), (64, 576, 1024), (128, 576, 256), (128, 1152, 256), (256, 1152, 64), (256, 2304, 64)] {
        let w = uniformArray(m * k, -1, 1), cols = uniformArray(batch * k * p, -1, 1)
        var out = [Float](repeating: 0, count: batch * m * p)
        let flop = 2 * Double(m) * Double(k) * Double(p) * Double(batch)
        let times: [Double] = w.withUnsafeBufferPointer { wp in cols.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
            let sh = SharedMutable(a: wp.baseAddress!, b: cp.baseAddress!, c: op.baseAddress!)
            let single = measure(reps: reps) {
                for n in 0..<batch {
                    Float.gemm(transposeA: false, transposeB: false, m: m, n: p, k: k, alpha: 1, a: sh.a, lda: k,
                               b: sh.b + n * k * p, ldb: p, beta: 0, c: sh.c + n * m * p, ldc: p)
                }
            }
            let workers = max(1, min(threads, batch))
            let parallel = measure(reps: reps) {
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    var n = worker
                    while n < batch {
                        Float.gemm(transposeA: false, transposeB: false, m: m, n: p, k: k, alpha: 1, a: sh.a, lda: k,
                                   b: sh.b + n * k * p, ldb: p, beta: 0, c: sh.c + n * m * p, ldc: p)
                        n += workers
                    }
                }
            }
            let batched = measure(reps: reps) {  // cols as one K x (16 P) matrix
                engineGemm(transposeA: false, transposeB: false, m: m, n: batch * p, k: k, a: sh.a, lda: k, b: sh.b,
                           ldb: batch * p, c: sh.c, ldc: batch * p, split: true)
            }
            let rows = measure(reps: reps) {  // (P x Cout) = cols^T (P x K) W^T
                for n in 0..<batch {
                    Float.gemm(transposeA: false, transposeB: true, m: p, n: m, k: k, alpha: 1, a: sh.b + n * k * p, lda: k,
                               b: sh.a, ldb: k, beta: 0, c: sh.c + n * m * p, ldc: m)
                }
            }
            return [single, parallel, batched, rows]
        } } }
        print("   " + padRight("\(m) x \(k) x \(p)", 18) + times.enumerated().map { i, t in
            pad(fmt(flop / t / 1e9, 1), [18, 18, 15, 14][i])
        }.joined())
    }
}

/// Runs one case exactly `count` times (for instruction counts under callgrind).
func callsSection(_ args: [String]) throws {
    guard args.count >= 4, let model = [mlp, lenet, vgg].first(where: { $0.name == args[0] }),
          let method = Method(rawValue: args[1]), let batch = Int(args[2]), let count = Int(args[3]) else {
        print("usage: dtd-bench calls mlp|lenet|vgg forward|gradient|lrp-eps|lrp-comp BATCH COUNT")
        exit(2)
    }
    let net = try build(model)
    let rules = (eps: try RuleSet<Float>(for: net, everyLinearLayer: .epsilon(1e-6)),
                 comp: try compositeRules(net, cnn: model.isCNN))
    let x = uniformArray(batch * net.inputCount, 0, 1)
    var fo = [Float](repeating: 0, count: batch * net.outputCount)
    var out = [Float](repeating: 0, count: x.count)
    let y = try net.forward(x, batch: batch)
    var seed = [Float](repeating: 0, count: y.count)
    for n in 0..<batch { seed[n * net.outputCount] = y[n * net.outputCount] }
    for _ in 0..<count { try run(net, method, rules, x: x, seed: seed, batch: batch, out: &out, forwardOut: &fo) }
    let checksum = (method == .forward ? fo : out).reduce(0.0) { $0 + Double($1) }
    print("\(model.name) \(method.rawValue) batch \(batch): \(count) calls, checksum \(checksum)")
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Runs one case back to back for `duration` seconds (for `perf record`), then prints its median.
func loopSection(_ args: [String]) throws {
    guard args.count >= 3, let model = [mlp, lenet, vgg].first(where: { $0.name == args[0] }),
          let method = Method(rawValue: args[1]), let batch = Int(args[2]) else {
        print("usage: dtd-bench loop mlp|lenet|vgg forward|gradient|lrp-eps|lrp-comp BATCH [SECONDS]")
        exit(2)
    }
    let duration = args.count > 3 ? Double(args[3]) ?? 5 : 5
    let net = try build(model)
    let rules = (eps: try RuleSet<Float>(for: net, everyLinearLayer: .epsilon(1e-6)),
                 comp: try compositeRules(net, cnn: model.isCNN))
    let x = uniformArray(batch * net.inputCount, 0, 1)
    var fo = [Float](repeating: 0, count: batch * net.outputCount)
    var out = [Float](repeating: 0, count: x.count)
    let y = try net.forward(x, batch: batch)
    var seed = [Float](repeating: 0, count: y.count)
    for n in 0..<batch { seed[n * net.outputCount] = y[n * net.outputCount] }
    try run(net, method, rules, x: x, seed: seed, batch: batch, out: &out, forwardOut: &fo)  // warm-up
    let clock = ContinuousClock()
    let start = clock.now, cpuStart = processCPUSeconds()
    var times: [Double] = []
    while seconds(clock.now - start) < duration {
        let t0 = clock.now
        try run(net, method, rules, x: x, seed: seed, batch: batch, out: &out, forwardOut: &fo)
        times.append(seconds(clock.now - t0))
    }
    let cpu = (processCPUSeconds() - cpuStart) / Double(times.count)
    times.sort()
    // CPU ms per call: the process's CPU time (all threads, spinning included) per call. With
    // DTD_NUM_THREADS=1 it is the work itself, which a busy machine barely disturbs.
    print("\(model.name) \(method.rawValue) batch \(batch): \(times.count) calls, median \(fmt(times[times.count / 2] * 1e3, 3)) ms, "
          + "min \(fmt(times[0] * 1e3, 3)) ms, CPU \(fmt(cpu * 1e3, 3)) ms per call")
}

// MARK: - Main

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
    print("usage: dtd-bench [--quick] [gemm] [shapes] [nets] [layers]   (default: all sections)")
    print("       dtd-bench loop MODEL METHOD BATCH [SECONDS]   (one case back to back, for perf record)")
    print("       dtd-bench calls MODEL METHOD BATCH COUNT     (one case COUNT times, for callgrind)")
    exit(0)
}
if arguments.first == "calls" {
    do { try callsSection(Array(arguments.dropFirst())) } catch { print("error: \(error)"); exit(1) }
    exit(0)
}
if arguments.first == "loop" {
    do { try loopSection(Array(arguments.dropFirst())) } catch { print("error: \(error)"); exit(1) }
    exit(0)
}
let quick = arguments.contains("--quick")
var sections = arguments.filter { !$0.hasPrefix("-") }
if sections.isEmpty { sections = ["gemm", "shapes", "nets", "layers"] }
print("dtd-bench: DTD_NUM_THREADS workers \(threads)\(quick ? ", quick" : "")")
do {
    for section in sections {
        switch section {
        case "gemm": gemmSection(quick: quick)
        case "nets": try netsSection(quick: quick)
        case "layers": try layersSection(quick: quick)
        case "shapes": shapesSection(quick: quick)
        default:
            print("unknown section \(section); use gemm, shapes, nets, layers")
            exit(2)
        }
    }
} catch {
    print("error: \(error)")
    exit(1)
}
