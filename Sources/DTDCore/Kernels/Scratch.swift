/// Per-call scratch memory, reused across the layers of one pass.
///
/// Each slot is one buffer that grows to the largest size any layer asks of it, so a pass
/// allocates a handful of times however deep the network is, and every allocation can fail
/// with `.outOfMemory` instead of trapping. A `Scratch` belongs to one call on one thread.
final class Scratch<T: DTDScalar> {
    /// The named buffers a pass uses.
    enum Slot: Int, CaseIterable {
        case columns, columnsGradient, planes
        case denominator0, denominator1, share0, share1
        case termInput, contribution
        case gradientA, gradientB
        case relevanceA, relevanceB
        case audit0, audit1, audit2, audit3
        case bounds
    }

    private var slots: [Storage<T>?] = Array(repeating: nil, count: Slot.allCases.count)

    init() {}

    /// A buffer of at least `count` elements; its contents are unspecified.
    func buffer(_ slot: Slot, count: Int) throws(DTDError) -> UnsafeMutablePointer<T> {
        if let existing = slots[slot.rawValue], existing.count >= count { return existing.mutablePointer }
        let fresh = try Storage<T>(uninitializedCount: count)
        slots[slot.rawValue] = fresh
        return fresh.mutablePointer
    }

    /// A buffer of at least `count` elements, set to zero.
    func zeroed(_ slot: Slot, count: Int) throws(DTDError) -> UnsafeMutablePointer<T> {
        let p = try buffer(slot, count: count)
        p.update(repeating: 0, count: count)
        return p
    }
}
