/// Winograd's minimal filtering F(2x2, 3x3) for the forward product z = W a of 3x3, stride-1,
/// dilation-1 convolutions (every convolution of a VGG-style network).
///
/// Each 2x2 output tile is A^T [(G g G^T) (.) (B^T d B)] A for its 4x4 input tile d. Per
/// element e of the 4x4 transform domain the products over channels are one GEMM,
/// M_e (Cout x tiles) = U_e (Cout x Cin) V_e (Cin x tiles), with U = G g G^T prepared once per
/// layer (`transform`): 16 Cout Cin multiply-adds per 4 outputs instead of 36 Cout Cin, in 16
/// independent GEMMs that split over the cores without splitting any one of them.
///
/// Only the forward activations use it. Its rounding error is relative to the whole 4x4 input
/// tile, not to the output: an output that is exactly 0 (a dead window) comes out as noise, and a
/// z+ denominator (a sum of non-negative terms) loses im2col's error relative to itself. Rule
/// denominators and transposed products divide by or multiply such values (a huge share times
/// the noise of a neighbouring tile), so they keep the im2col lowering, whose rounding stays
/// inside each output's own window; alpha-beta on a random network lost 2 digits otherwise.
///
/// `DTD_WINOGRAD=0` (`Environment.winograd`) turns the lowering off (im2col everywhere).
enum Winograd {
    /// Whether the lowering is on (`Environment.winograd`).
    static var enabled: Bool { Environment.winograd }

    /// Whether `g` is lowered this way: a 3x3 kernel, stride 1, dilation 1, padding at most 2,
    /// and enough channels on both sides for the per-element GEMMs to be worth their transforms.
    static func applies(_ g: ConvGeometry) -> Bool {
        enabled && g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.dilationHeight == 1 && g.dilationWidth == 1 && g.paddingHeight <= 2 && g.paddingWidth <= 2
            && g.inChannels >= 16 && g.outChannels >= 16
    }

    /// U = G g G^T of a (Cout, Cin, 3, 3) kernel, as 16 matrices (Cout x Cin): element
    /// `e * Cout * Cin + co * Cin + ci`. Nil when `g` is not lowered this way.
    static func transform<T: DTDScalar>(_ weight: Storage<T>, geometry g: ConvGeometry) throws(DTDError) -> Storage<T>? {
        guard applies(g) else { return nil }
        let cout = g.outChannels, cin = g.inChannels, plane = cout * cin
        let result = try Storage<T>(uninitializedCount: 16 * plane)
        let w = weight.pointer, u = result.base
        let half: T = 0.5
        for co in 0..<cout {
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
            }
        }
        return result
    }

    /// output (batch, Cout * P) = scale * conv(input) (+ output when `accumulate`), no bias, with
    /// U from `transform`. Rounds of about 512 tiles (whole samples) keep V and M in the caches;
    /// each round's transforms split over channels and its 16 GEMMs over the workers.
    static func convolve<T: DTDScalar>(_ g: ConvGeometry, transformed: Storage<T>, input: BatchView<T>,
                                       output: MutableBatchView<T>, scale: T = 1, accumulate: Bool = false,
                                       scratch: Scratch<T>) throws(DTDError) {
        let u = transformed.pointer, batch = input.batch
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
        let inCount = g.inputShape.count, outCount = g.outputShape.count
        var first = 0
        while first < batch {
            let samples = min(chunk, batch - first), used = samples * perSample
            let source = input.base + first * inCount
            ParallelFor.forEachRange(cin, work: cin * used * 16) { channels, part in
                inputTransform(g, input: source, samples: samples, channels: channels, v: v, ld: ld, block: vBlock,
                               plane: planes + part * planeCount, planeWidth: planeWidth, planeHeight: planeHeight)
            }
            ParallelFor.run(16) { e in
                T.gemm(transposeA: false, transposeB: false, m: cout, n: used, k: cin, alpha: 1,
                       a: u + e * cout * cin, lda: cin, b: v + e * vBlock, ldb: ld,
                       beta: 0, c: m + e * mBlock, ldc: ld)
            }
            let target = output.base + first * outCount
            ParallelFor.forEachRange(cout, work: cout * used * 16) { channels, _ in
                outputTransform(g, m: m, ld: ld, block: mBlock, samples: samples, channels: channels, output: target,
                                scale: scale, accumulate: accumulate)
            }
            first += samples
        }
    }

    /// The distance between the 16 per-element blocks of `count` elements: a multiple of 1024
    /// elements plus 16, so consecutive blocks start in different cache sets.
    private static func blockStride(_ count: Int) -> Int { (count + 1023) / 1024 * 1024 + 16 }

    /// V_e[ci, t] = (B^T d B)_e for the 4x4 input tile d of tile t, channels `channels`, through a
    /// zero-bordered copy of each channel plane (so no tile read needs a bounds check).
    private static func inputTransform<T: DTDScalar>(_ g: ConvGeometry, input: UnsafePointer<T>, samples: Int,
                                                     channels: Range<Int>, v: UnsafeMutablePointer<T>, ld: Int, block: Int,
                                                     plane: UnsafeMutablePointer<T>, planeWidth: Int, planeHeight: Int) {
        let height = g.height, width = g.width, inCount = g.inputShape.count
        let tilesHigh = (g.outHeight + 1) / 2, tilesWide = (g.outWidth + 1) / 2, perSample = tilesHigh * tilesWide
        let stride = block
        plane.update(repeating: 0, count: planeWidth &* planeHeight)
        let interior = plane + (g.paddingHeight &* planeWidth &+ g.paddingWidth)
        for n in 0..<samples {
            for c in channels {
                let source = input + (n &* inCount &+ c &* height &* width)
                for y in 0..<height {
                    let from = source + y &* width, to = interior + y &* planeWidth
                    for x in 0..<width { to[x] = from[x] }
                }
                var out = v + (c &* ld &+ n &* perSample)
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
                        out += 1
                    }
                }
            }
        }
    }

    /// Y = A^T M A per tile of channels `channels`, written (scaled, accumulated or not) to the
    /// output positions inside the output.
    private static func outputTransform<T: DTDScalar>(_ g: ConvGeometry, m: UnsafePointer<T>, ld: Int, block: Int, samples: Int,
                                                      channels: Range<Int>, output: UnsafeMutablePointer<T>,
                                                      scale: T, accumulate: Bool) {
        let outH = g.outHeight, outW = g.outWidth, positions = outH &* outW
        let tilesHigh = (outH + 1) / 2, tilesWide = (outW + 1) / 2, perSample = tilesHigh * tilesWide
        let outCount = g.outChannels &* positions
        let stride = block
        for co in channels {
            let base = output + co &* positions
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
                        let y00 = scale * (s00 + s01 + s02), y01 = scale * (s01 - s02 - s03)
                        let y10 = scale * (s10 + s11 + s12), y11 = scale * (s11 - s12 - s13)
                        let x = 2 &* tx, lastColumn = x &+ 1 < outW
                        let top = sample + (y &* outW &+ x)
                        if accumulate {
                            top[0] += y00
                            if lastColumn { top[1] += y01 }
                            if lastRow {
                                top[outW] += y10
                                if lastColumn { top[outW &+ 1] += y11 }
                            }
                        } else {
                            top[0] = y00
                            if lastColumn { top[1] = y01 }
                            if lastRow {
                                top[outW] = y10
                                if lastColumn { top[outW &+ 1] = y11 }
                            }
                        }
                        t += 1
                    }
                }
            }
        }
    }
}
