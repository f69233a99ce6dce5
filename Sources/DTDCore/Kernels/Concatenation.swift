/// Channel-wise concatenation of several batches and its transpose, the slice: a route layer's
/// forward and backward step. Within one sample, part k occupies elements
/// `offset_k ..< offset_k + count_k` of the concatenation (channels are the outermost axis).
enum Concatenation {
    /// Writes `parts` side by side into each sample of `output`, part k at `offsets[k]`.
    static func concatenate<T: DTDScalar>(_ parts: [BatchView<T>], offsets: [Int], into output: MutableBatchView<T>) {
        for (part, offset) in zip(parts, offsets) {
            for n in 0..<output.batch {
                (output.base + (n &* output.count &+ offset)).update(from: part.base + n &* part.count, count: part.count)
            }
        }
    }

    /// The `output.count` elements at `offset` of each sample of `value` into `output` (assigned),
    /// or added to it with `accumulate`.
    static func slice<T: DTDScalar>(_ value: BatchView<T>, offset: Int, into output: MutableBatchView<T>, accumulate: Bool) {
        let count = output.count
        for n in 0..<output.batch {
            let from = value.base + (n &* value.count &+ offset), to = output.base + n &* count
            if accumulate {
                for i in 0..<count { to[i] += from[i] }
            } else {
                to.update(from: from, count: count)
            }
        }
    }
}
