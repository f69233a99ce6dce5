/// Per-call scratch memory, reused across the layers of one pass.
///
/// Each slot is one buffer that grows to the largest size any layer asks of it, so a pass
/// allocates a handful of times however deep the network is, and every allocation can fail
/// with `.outOfMemory` instead of trapping. A `Scratch` belongs to one call on one thread.
final class Scratch<T: DTDScalar> {
    /// The named buffers a pass uses.
    enum Slot: Int, CaseIterable {
        /// im2col columns of the forward product (and Winograd's transformed input).
        case columns
        /// im2col or col2im columns of the transposed product (and Winograd's products).
        case columnsGradient
        /// Zero-bordered channel planes of im2col, one per worker.
        case planes
        /// A rule group's denominator, its shares, its term input (a+ or a-) and one term's
        /// transposed product (also the fused forward's stacked output).
        case denominator, share, termInput, contribution
        /// The two alternating buffers of the gradient and of the relevance pass.
        case gradientA, gradientB, relevanceA, relevanceB
    }

    private var slots: [Storage<T>?] = Array(repeating: nil, count: Slot.allCases.count)

    init() {}

    /// A buffer of at least `count` elements; its contents are unspecified.
    func buffer(_ slot: Slot, count: Int) throws(DTDError) -> UnsafeMutablePointer<T> {
        if let existing = slots[slot.rawValue], existing.count >= count { return existing.base }
        let fresh = try Storage<T>(uninitializedCount: count)
        slots[slot.rawValue] = fresh
        return fresh.base
    }

    /// A buffer of `batch` samples of `count` elements; its contents are unspecified.
    func view(_ slot: Slot, batch: Int, count: Int) throws(DTDError) -> MutableBatchView<T> {
        let total = try Limits.product(batch, count, "scratch (\(batch), \(count))")
        return MutableBatchView(try buffer(slot, count: total), batch: batch, count: count)
    }
}
