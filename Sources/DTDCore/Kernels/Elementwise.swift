/// Elementwise passes over whole batches: ReLU and its mask, bias broadcasts, the multiply step of
/// the propagation, and the sign parts of an input. Large passes are split over the workers.
enum Elementwise {
    /// Which elements of an input take part in a product: all, or only its positive or negative part.
    enum Part {
        case all, positive, negative
    }

    /// output = max(0, input); NaN stays NaN, as in PyTorch.
    static func relu<T: DTDScalar>(_ input: BatchView<T>, into output: MutableBatchView<T>) {
        let a = input.base, o = output.base, count = input.total
        ParallelFor.forEachRange(count, work: count) { range, _ in
            for i in range {
                let x = a[i]
                o[i] = x > 0 ? x : (x.isNaN ? x : 0)
            }
        }
    }

    /// output = gradient where the ReLU's input `z` is > 0, else 0 (ReLU'(0) = 0).
    static func reluGradient<T: DTDScalar>(input z: BatchView<T>, gradient: BatchView<T>, into output: MutableBatchView<T>) {
        let zz = z.base, g = gradient.base, o = output.base, count = z.total
        ParallelFor.forEachRange(count, work: count) { range, _ in
            for i in range { o[i] = zz[i] > 0 ? g[i] : 0 }
        }
    }

    /// output[n, c, p] += scale * bias[c] for every sample n, channel c and position p.
    static func addBias<T: DTDScalar>(_ bias: Storage<T>, channels: Int, positions p: Int, to output: MutableBatchView<T>,
                                      scale: T = 1) {
        let outCount = output.count, b = bias.pointer, out = output.base
        ParallelFor.forEachPlanes(batch: output.batch, channels: channels, work: output.total) { n, channels in
            let row = out + n * outCount
            for c in channels {
                let value = scale * b[c]
                let dst = row + c * p
                for q in 0..<p { dst[q] += value }
            }
        }
    }

    /// output[n, j] += part[j] for every sample n (`part` is one sample).
    static func addToEverySample<T: DTDScalar>(_ part: BatchView<T>, to output: MutableBatchView<T>) {
        let total = output.total, count = output.count, from = part.base, d = output.base
        ParallelFor.forEachRange(total, work: total) { range, _ in
            var i = range.lowerBound
            while i < range.upperBound {
                let j = i % count, end = min(range.upperBound, i - j + count)
                let row = d + i, source = from + j
                for k in 0..<(end - i) { row[k] += source[k] }
                i = end
            }
        }
    }

    /// The positive (`a <= 0 ? 0 : a`) or negative (`a >= 0 ? 0 : a`) part of `a`; NaN is kept in
    /// both parts, as PyTorch's clamp keeps it.
    static func signPart<T: DTDScalar>(_ a: BatchView<T>, positive: Bool, into output: MutableBatchView<T>) {
        let x = a.base, o = output.base, count = a.total
        if positive {
            for i in 0..<count { o[i] = x[i] <= 0 ? 0 : x[i] }
        } else {
            for i in 0..<count { o[i] = x[i] >= 0 ? 0 : x[i] }
        }
    }

    /// result = c * a (.) b, or result += c * a (.) b with `accumulate`, over the elements of
    /// `part` of `a` (the others contribute nothing).
    static func scaledProduct<T: DTDScalar>(_ c: T, _ input: BatchView<T>, _ other: BatchView<T>, part: Part,
                                            into result: MutableBatchView<T>, accumulate: Bool) {
        let a = input.base, from = other.base, out = result.base, total = result.total
        switch part {
        case .all:
            ParallelFor.forEachRange(total, work: total) { range, _ in
                if accumulate {
                    for i in range { out[i] += c * a[i] * from[i] }
                } else {
                    for i in range { out[i] = c * a[i] * from[i] }
                }
            }
        case .positive, .negative:
            let positive = part == .positive
            ParallelFor.forEachRange(total, work: total) { range, _ in
                if !accumulate { (out + range.lowerBound).update(repeating: 0, count: range.count) }
                if positive {
                    for i in range where !(a[i] <= 0) { out[i] += c * a[i] * from[i] }
                } else {
                    for i in range where !(a[i] >= 0) { out[i] += c * a[i] * from[i] }
                }
            }
        }
    }

    /// result[n, i] (+)= c * image[i] * other[n, i]: the multiply step of a term whose input is
    /// the same image for every sample.
    static func scaledProduct<T: DTDScalar>(_ c: T, image: BatchView<T>, _ other: BatchView<T>,
                                            into result: MutableBatchView<T>, accumulate: Bool) {
        if !accumulate { result.fill(0) }
        let count = result.count, x = image.base, from = other.base, out = result.base
        for n in 0..<result.batch {
            let row = out + n * count, part = from + n * count
            for i in 0..<count { row[i] += c * x[i] * part[i] }
        }
    }

    /// result *= factor, elementwise over the whole batch.
    static func multiply<T: DTDScalar>(_ result: MutableBatchView<T>, by factor: BatchView<T>) {
        let out = result.base, x = factor.base
        for i in 0..<result.total { out[i] *= x[i] }
    }

    /// Per sample, the sum of its elements in `Double`.
    static func sampleSums<T: DTDScalar>(_ values: BatchView<T>) -> [Double] {
        let v = values.base, count = values.count
        return (0..<values.batch).map { n in
            var total = 0.0
            for j in 0..<count { total += Double(v[n * count + j]) }
            return total
        }
    }
}
