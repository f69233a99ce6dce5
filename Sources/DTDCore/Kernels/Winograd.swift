/// Winograd's minimal filtering F(2x2, 3x3) for the forward output z = W a + b of 3x3, stride-1,
/// dilation-1 convolutions (every convolution of a VGG-style network).
///
/// Each 2x2 output tile is A^T [(G g G^T) (.) (B^T d B)] A for its 4x4 input tile d. Per
/// element e of the 4x4 transform domain the products over channels are one GEMM,
/// M_e (Cout x tiles) = U_e (Cout x Cin) V_e (Cin x tiles), with U = G g G^T prepared once per
/// layer (`transform`): 16 Cout Cin multiply-adds per 4 outputs instead of 36 Cout Cin, in 16
/// independent GEMMs that split over the cores without splitting any one of them.
///
/// Rounding. The rows and columns of B^T and A^T are such that each output reads, even in
/// rounding, only the 9 transform elements its own 3x3 window determines: an output depends on no
/// input outside its window, and a window of zeros gives exactly 0. Its rounding error is at most
///   E = 1.01 (Cin + 16) u sum_{e of the output} ||(|G||g||G^T|)_e||_2 ||(|B^T||d||B|)_e||_2
/// (u the unit roundoff; the norms run over the input channels; GEMM, transforms and the output
/// sum each round relative to these magnitudes, and Cauchy-Schwarz bounds the channel sums),
/// about 2x im2col's in practice. The lowering uses the cheaper upper bound with the largest
/// (|B^T||d||B|)_e of the tile in place of each (one product per output). Every output with
/// |z| <= E, whose sign rounding could flip, is recomputed as an exact product (`exactOutput`), so
/// ReLU masks, gamma's gates and the sign of every denominator are the exact product's; every
/// other output is within E of it. Only the forward output uses the lowering: rule denominators
/// other than z itself and every transposed product keep im2col.
///
/// `DTD_WINOGRAD=0` (`Environment.winograd`) turns the lowering off (im2col everywhere).
enum Winograd {
    /// Whether the lowering is on (`Environment.winograd`).
    static var enabled: Bool { Environment.winograd }

    /// Whether `g` is lowered this way: a 3x3 kernel, stride 1, dilation 1, padding at most 2,
    /// and enough channels on both sides for the per-element GEMMs to be worth their transforms.
    static func applies(_ g: ConvGeometry) -> Bool {
        enabled && g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.dilationHeight == 1 && g.dilationWidth == 1 && g.padding.sides.allSatisfy({ $0 <= 2 })
            && g.inChannels >= 16 && g.outChannels >= 16
    }

    /// U = G g G^T of a (Cout, Cin, 3, 3) kernel, as 16 matrices (Cout x Cin): element
    /// `e * Cout * Cin + co * Cin + ci`; then, for the rounding bound, per output position k of a
    /// tile (top left, top right, bottom left, bottom right) and channel co, the sum over its 9
    /// elements e of ||(|G||g||G^T|)_e[co, :]||_2, at `16 * Cout * Cin + k * Cout + co`. Nil when
    /// `g` is not lowered this way.
    static func transform<T: DTDScalar>(_ weight: Storage<T>, geometry g: ConvGeometry) throws(DTDError) -> Storage<T>? {
        guard applies(g) else { return nil }
        let cout = g.outChannels, cin = g.inChannels, plane = cout * cin
        let result = try Storage<T>(uninitializedCount: 16 * plane + 4 * cout)
        let w = weight.pointer, u = result.base
        let half: T = 0.5
        for co in 0..<cout {
            var squares = SIMD16<Double>()
            for ci in 0..<cin {
                let k = w + (co * cin + ci) * 9
                let base = u + co * cin + ci
                // Rows of t = G g (4x3), each then times G^T into one row of U (4x4).
                @inline(__always) func row(_ i: Int, _ r0: T, _ r1: T, _ r2: T) {
                    base[(4 * i) * plane] = r0
                    base[(4 * i + 1) * plane] = half * (r0 + r1 + r2)
                    base[(4 * i + 2) * plane] = half * (r0 - r1 + r2)
                    base[(4 * i + 3) * plane] = r2
                }
                row(0, k[0], k[1], k[2])
                row(1, half * (k[0] + k[3] + k[6]), half * (k[1] + k[4] + k[7]), half * (k[2] + k[5] + k[8]))
                row(2, half * (k[0] - k[3] + k[6]), half * (k[1] - k[4] + k[7]), half * (k[2] - k[5] + k[8]))
                row(3, k[6], k[7], k[8])
                // The same with |G| and |g| (rows 1 and 2 of |G| agree): the bound's magnitudes.
                @inline(__always) func magnitude(_ i: Int) -> Double { abs(Double(k[i])) }
                var m = SIMD16<Double>()
                for c in 0..<3 {
                    let top = magnitude(c), middle = 0.5 * (magnitude(c) + magnitude(3 + c) + magnitude(6 + c)), bottom = magnitude(6 + c)
                    m[c] = top; m[4 + c] = middle; m[8 + c] = middle; m[12 + c] = bottom
                }
                for i in 0..<4 {
                    let spread = 0.5 * (m[4 * i] + m[4 * i + 1] + m[4 * i + 2]), last = m[4 * i + 2]
                    m[4 * i + 1] = spread; m[4 * i + 2] = spread; m[4 * i + 3] = last
                }
                squares += m * m
            }
            let norms = squares.squareRoot()
            for (k, (r, c)) in [(0, 0), (0, 1), (1, 0), (1, 1)].enumerated() {
                var sum = 0.0
                for i in r..<(r + 3) { for j in c..<(c + 3) { sum += norms[4 * i + j] } }
                u[16 * plane + k * cout + co] = T(sum * (1 + 1e-6))
            }
        }
        return result
    }

    /// output (batch, Cout * P) = conv(input) + bias, with U (and the norms) from `transform` and
    /// the kernel itself, `weight`, for the exact recomputations. Rounds of about 512 tiles (whole
    /// samples) keep V and M in the caches; each round's transforms split over channels and its 16
    /// GEMMs over the workers.
    /// - Parameters:
    ///   - repair: false leaves every output as the transform computed it (tests of the bound).
    ///   - bounds: if given, receives each output's rounding bound E, laid out like `output`.
    static func convolve<T: DTDScalar>(_ g: ConvGeometry, transformed: Storage<T>, weight: Storage<T>, bias: Storage<T>?,
                                       input: BatchView<T>, output: MutableBatchView<T>, scratch: Scratch<T>,
                                       repair: Bool = true, bounds: MutableBatchView<T>? = nil) throws(DTDError) {
        let u = transformed.pointer, batch = input.batch
        let weight = weight.pointer, bias = bias?.pointer, bounds = bounds?.base
        let cin = g.inChannels, cout = g.outChannels
        let tilesHigh = (g.outHeight + 1) / 2, tilesWide = (g.outWidth + 1) / 2
        let perSample = tilesHigh * tilesWide
        let chunk = max(1, min(batch, (512 + perSample - 1) / perSample))
        let tiles = chunk * perSample
        // Rows 4 KiB apart alias in the caches (see `ConvGeometry.columnStride`).
        let ld = (tiles * MemoryLayout<T>.stride) % 1024 == 0 ? tiles + 64 / MemoryLayout<T>.stride : tiles
        let planeHeight = 2 * tilesHigh + 2, planeWidth = 2 * tilesWide + 2, planeCount = planeHeight * planeWidth
        // The transforms stream 16 blocks at once, one per element e; blocks a multiple of 4 KiB
        // apart would share cache sets, so each starts 64 bytes further into a 4 KiB page.
        let vBlock = blockStride(cin * ld), mBlock = blockStride(cout * ld)
        let v = try scratch.buffer(.columns, count: 16 * vBlock)
        let m = try scratch.buffer(.columnsGradient, count: 16 * mBlock)
        let planes = try scratch.buffer(.planes, count: planeCount * ParallelFor.threads)
        // Per part of the input transform, the tiles' squared magnitudes summed over its channels
        // and their largest; after them, the tiles' magnitudes.
        let parts = ParallelFor.threads
        let partial = try scratch.buffer(.bounds, count: (2 * parts + 1) * tiles)
        let magnitude = partial + 2 * parts * tiles
        let windowSums = u + 16 * cout * cin
        let inCount = g.inputShape.count, outCount = g.outputShape.count
        var first = 0
        while first < batch {
            let samples = min(chunk, batch - first), used = samples * perSample
            let source = input.base + first * inCount
            for part in 0..<(2 * parts) { (partial + part * tiles).update(repeating: 0, count: used) }
            ParallelFor.forEachRange(cin, work: cin * used * 16) { channels, part in
                inputTransform(g, input: source, samples: samples, channels: channels, v: v, ld: ld, block: vBlock,
                               plane: planes + part * planeCount, planeWidth: planeWidth, planeHeight: planeHeight,
                               magnitudes: partial + 2 * part * tiles, largest: partial + (2 * part + 1) * tiles)
            }
            // The 2-norm over the channels; where the squares underflowed, sqrt(Cin) times the largest.
            let roomy = T(Double(cin).squareRoot())
            for t in 0..<used {
                var sum: T = 0, top: T = 0
                for part in 0..<parts {
                    sum += partial[2 * part * tiles + t]
                    top = max(top, partial[(2 * part + 1) * tiles + t])
                }
                let norm = sum.squareRoot()
                magnitude[t] = norm >= top ? norm : roomy * top
            }
            ParallelFor.run(16) { e in
                T.gemm(transposeA: false, transposeB: false, m: cout, n: used, k: cin, alpha: 1,
                       a: u + e * cout * cin, lda: cin, b: v + e * vBlock, ldb: ld,
                       beta: 0, c: m + e * mBlock, ldc: ld)
            }
            let target = output.base + first * outCount
            ParallelFor.forEachRange(cout, work: cout * used * 16) { channels, _ in
                outputTransform(g, m: m, ld: ld, block: mBlock, samples: samples, channels: channels, output: target,
                                bias: bias, windowSums: windowSums, magnitude: magnitude, input: source, weight: weight,
                                repair: repair, bounds: bounds.map { $0 + first * outCount })
            }
            first += samples
        }
    }

    /// The distance between the 16 per-element blocks of `count` elements: a multiple of 1024
    /// elements plus 16, so consecutive blocks start in different cache sets.
    private static func blockStride(_ count: Int) -> Int { (count + 1023) / 1024 * 1024 + 16 }

    /// V_e[ci, t] = (B^T d B)_e for the 4x4 input tile d of tile t, channels `channels`, through a
    /// zero-bordered copy of each channel plane (so no tile read needs a bounds check); and, for
    /// the rounding bound, per channel the tile's largest (|B^T||d||B|)_e: its square added to
    /// `magnitudes[t]`, itself kept in `largest[t]` if larger.
    private static func inputTransform<T: DTDScalar>(_ g: ConvGeometry, input: UnsafePointer<T>, samples: Int,
                                                     channels: Range<Int>, v: UnsafeMutablePointer<T>, ld: Int, block: Int,
                                                     plane: UnsafeMutablePointer<T>, planeWidth: Int, planeHeight: Int,
                                                     magnitudes: UnsafeMutablePointer<T>, largest: UnsafeMutablePointer<T>) {
        let height = g.height, width = g.width, inCount = g.inputShape.count
        let tilesHigh = (g.outHeight + 1) / 2, tilesWide = (g.outWidth + 1) / 2, perSample = tilesHigh * tilesWide
        let stride = block
        plane.update(repeating: 0, count: planeWidth &* planeHeight)
        let interior = plane + (g.padding.top &* planeWidth &+ g.padding.left)
        for n in 0..<samples {
            for c in channels {
                let source = input + (n &* inCount &+ c &* height &* width)
                for y in 0..<height {
                    let from = source + y &* width, to = interior + y &* planeWidth
                    for x in 0..<width { to[x] = from[x] }
                }
                var out = v + (c &* ld &+ n &* perSample), mag = magnitudes + n &* perSample, big = largest + n &* perSample
                for ty in 0..<tilesHigh {
                    let r0 = UnsafePointer(plane) + (2 &* ty &* planeWidth)
                    let r1 = r0 + planeWidth, r2 = r1 + planeWidth, r3 = r2 + planeWidth
                    for tx in 0..<tilesWide {
                        let x = 2 &* tx
                        // B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3 (per column j).
                        var a = (T(0), T(0), T(0), T(0)), b = a, cc = a, d = a
                        a.0 = r0[x] - r2[x]; a.1 = r0[x &+ 1] - r2[x &+ 1]; a.2 = r0[x &+ 2] - r2[x &+ 2]; a.3 = r0[x &+ 3] - r2[x &+ 3]
                        b.0 = r1[x] + r2[x]; b.1 = r1[x &+ 1] + r2[x &+ 1]; b.2 = r1[x &+ 2] + r2[x &+ 2]; b.3 = r1[x &+ 3] + r2[x &+ 3]
                        cc.0 = r2[x] - r1[x]; cc.1 = r2[x &+ 1] - r1[x &+ 1]; cc.2 = r2[x &+ 2] - r1[x &+ 2]; cc.3 = r2[x &+ 3] - r1[x &+ 3]
                        d.0 = r1[x] - r3[x]; d.1 = r1[x &+ 1] - r3[x &+ 1]; d.2 = r1[x &+ 2] - r3[x &+ 2]; d.3 = r1[x &+ 3] - r3[x &+ 3]
                        // (.) B: per row, r0 - r2, r1 + r2, r2 - r1, r1 - r3.
                        out[0] = a.0 - a.2; out[stride] = a.1 + a.2; out[2 &* stride] = a.2 - a.1; out[3 &* stride] = a.1 - a.3
                        out[4 &* stride] = b.0 - b.2; out[5 &* stride] = b.1 + b.2
                        out[6 &* stride] = b.2 - b.1; out[7 &* stride] = b.1 - b.3
                        out[8 &* stride] = cc.0 - cc.2; out[9 &* stride] = cc.1 + cc.2
                        out[10 &* stride] = cc.2 - cc.1; out[11 &* stride] = cc.1 - cc.3
                        out[12 &* stride] = d.0 - d.2; out[13 &* stride] = d.1 + d.2
                        out[14 &* stride] = d.2 - d.1; out[15 &* stride] = d.1 - d.3
                        // |B^T| |d| |B|: per column the rows |d0| + |d2|, |d1| + |d2| (twice), |d1| + |d3|,
                        // then per row the columns c0 + c2, c1 + c2 (twice), c1 + c3; the largest.
                        @inline(__always) func column(_ j: Int) -> (T, T, T) {
                            let d0 = abs(r0[x &+ j]), d1 = abs(r1[x &+ j]), d2 = abs(r2[x &+ j]), d3 = abs(r3[x &+ j])
                            return (d0 + d2, d1 + d2, d1 + d3)
                        }
                        let k0 = column(0), k1 = column(1), k2 = column(2), k3 = column(3)
                        @inline(__always) func largest(_ c0: T, _ c1: T, _ c2: T, _ c3: T) -> T { max(c0 + c2, max(c1 + c2, c1 + c3)) }
                        let top = max(largest(k0.0, k1.0, k2.0, k3.0), max(largest(k0.1, k1.1, k2.1, k3.1), largest(k0.2, k1.2, k2.2, k3.2)))
                        mag[0] += top * top
                        big[0] = max(big[0], top)
                        out += 1
                        mag += 1
                        big += 1
                    }
                }
            }
        }
    }

    /// Y = A^T M A + b per tile of channels `channels`, written to the output positions inside the
    /// output; then every output within its rounding bound of 0 is replaced by the exact product.
    private static func outputTransform<T: DTDScalar>(_ g: ConvGeometry, m: UnsafePointer<T>, ld: Int, block: Int, samples: Int,
                                                      channels: Range<Int>, output: UnsafeMutablePointer<T>,
                                                      bias: UnsafePointer<T>?, windowSums: UnsafePointer<T>,
                                                      magnitude: UnsafePointer<T>, input: UnsafePointer<T>, weight: UnsafePointer<T>,
                                                      repair: Bool, bounds: UnsafeMutablePointer<T>?) {
        let outH = g.outHeight, outW = g.outWidth, positions = outH &* outW
        let tilesHigh = (outH + 1) / 2, tilesWide = (outW + 1) / 2, perSample = tilesHigh * tilesWide
        let outCount = g.outChannels &* positions, cout = g.outChannels
        let stride = block
        let factor = 1.01 * Double(g.inChannels + 16) * Double(T.ulpOfOne) / 2
        for co in channels {
            let base = output + co &* positions
            let b = bias.map { $0[co] } ?? 0
            for n in 0..<samples {
                let sample = base + n &* outCount
                var t = m + (co &* ld &+ n &* perSample)
                for ty in 0..<tilesHigh {
                    let y = 2 &* ty, lastRow = y &+ 1 < outH
                    for tx in 0..<tilesWide {
                        // A^T M: rows m0 + m1 + m2 and m1 - m2 - m3 (per column j).
                        let s00 = t[0] + t[4 &* stride] + t[8 &* stride]
                        let s01 = t[stride] + t[5 &* stride] + t[9 &* stride]
                        let s02 = t[2 &* stride] + t[6 &* stride] + t[10 &* stride]
                        let s03 = t[3 &* stride] + t[7 &* stride] + t[11 &* stride]
                        let s10 = t[4 &* stride] - t[8 &* stride] - t[12 &* stride]
                        let s11 = t[5 &* stride] - t[9 &* stride] - t[13 &* stride]
                        let s12 = t[6 &* stride] - t[10 &* stride] - t[14 &* stride]
                        let s13 = t[7 &* stride] - t[11 &* stride] - t[15 &* stride]
                        let x = 2 &* tx, lastColumn = x &+ 1 < outW
                        let top = sample + (y &* outW &+ x)
                        top[0] = s00 + s01 + s02 + b
                        if lastColumn { top[1] = s01 - s02 - s03 + b }
                        if lastRow {
                            top[outW] = s10 + s11 + s12 + b
                            if lastColumn { top[outW &+ 1] = s11 - s12 - s13 + b }
                        }
                        t += 1
                    }
                }
            }
            guard repair || bounds != nil else { continue }
            // The bound of output k of a tile (top left, top right, bottom left, bottom right): its
            // window sum of the kernel norms times the tile's magnitude. A first test against the
            // largest of the four, in the element type, passes only outputs near 0.
            let w = (factor * Double(windowSums[co]), factor * Double(windowSums[cout &+ co]),
                     factor * Double(windowSums[2 &* cout &+ co]), factor * Double(windowSums[3 &* cout &+ co]))
            let screen = T(1.001 * max(max(w.0, w.1), max(w.2, w.3)))
            for n in 0..<samples {
                let sample = base + n &* outCount, tiles = magnitude + n &* perSample
                for y in 0..<outH {
                    let row = sample + y &* outW, tileRow = tiles + (y >> 1) &* tilesWide
                    for x in 0..<outW where abs(row[x]) <= screen * tileRow[x >> 1] || bounds != nil {
                        let k = (y & 1) << 1 | (x & 1)
                        let e = (k == 0 ? w.0 : k == 1 ? w.1 : k == 2 ? w.2 : w.3) * Double(tileRow[x >> 1])
                        if let bounds { bounds[co &* positions &+ n &* outCount &+ y &* outW &+ x] = T(e) }
                        guard repair, e > 0, abs(Double(row[x])) <= e else { continue }
                        row[x] = exactOutput(g, input, weight, b, n, co, y, x)
                    }
                }
            }
        }
    }

    /// z of channel `co` at (y, x) of sample `n`, W a + b summed in twice the working precision and
    /// rounded once: for Double each product split into its rounded value and error and the running
    /// sum compensated (Ogita, Rump and Oishi's Dot2); for Float a Double sum. A window that lies
    /// partly in the padding reads only its rows and columns inside the input.
    static func exactOutput<T: DTDScalar>(_ g: ConvGeometry, _ input: UnsafePointer<T>, _ weight: UnsafePointer<T>, _ bias: T,
                                          _ n: Int, _ co: Int, _ y: Int, _ x: Int) -> T {
        let height = g.height, width = g.width, plane = height &* width
        // The kernel rows and columns inside the input (the rest read padding).
        let top = y &- g.padding.top, left = x &- g.padding.left
        let rows = max(0, -top)..<min(3, height &- top), columns = max(0, -left)..<min(3, width &- left)
        let sample = input + n &* g.inputShape.count, kernels = weight + co &* g.inChannels &* 9
        if T.self == Float.self {
            // Float's products are exact in Double, and a Double sum is far inside Float's rounding.
            var sum = Double(bias)
            for c in 0..<g.inChannels {
                let channel = sample + c &* plane, kernel = kernels + c &* 9
                for ky in rows {
                    let row = channel + ((top &+ ky) &* width &+ left), k = kernel + 3 &* ky
                    for kx in columns { sum += Double(k[kx]) * Double(row[kx]) }
                }
            }
            return T(sum)
        }
        var sum = Double(bias), compensation = 0.0
        for c in 0..<g.inChannels {
            let channel = sample + c &* plane, kernel = kernels + c &* 9
            for ky in rows {
                let row = channel + ((top &+ ky) &* width &+ left), k = kernel + 3 &* ky
                for kx in columns {
                    let a = Double(k[kx]), b = Double(row[kx])
                    let product = a * b, productError = fmaError(a, b, product)
                    let next = sum + product, z = next - sum
                    compensation += (sum - (next - z)) + (product - z) + productError
                    sum = next
                }
            }
        }
        return T(sum + compensation)
    }

    /// a * b - product, exactly (one fused multiply-add).
    @inline(__always) private static func fmaError(_ a: Double, _ b: Double, _ product: Double) -> Double {
        (-product).addingProduct(a, b)
    }
}
