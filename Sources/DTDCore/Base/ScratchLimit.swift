import Synchronization

/// A cap on the memory one call may allocate for itself (activations, im2col columns, relevance
/// buffers: everything it takes from `BufferPool`), so that a request too large for the machine
/// is a `.outOfMemory` error before the allocation, not an OOM kill after the pages are touched.
///
/// The cap is process-wide: `DTD_MAX_SCRATCH_MB` sets it when libdtd first needs it, `set(_:)`
/// changes it (0 = no cap, the default). A call run inside `withBudget` gets its own budget;
/// every block it acquires, on its own thread or on the worker pool's threads while they run its
/// steps, is charged to that budget, and a block that would take the call past the cap is refused.
/// Blocks are uncharged when they are released, so the cap bounds the call's peak.
public enum ScratchLimit {
    private static let bytes = Atomic<Int>(Environment.maxScratchBytes)

    /// The cap in bytes (0 = none).
    public static var current: Int { bytes.load(ordering: .relaxed) }

    /// Sets the cap (0 removes it) for calls that start afterwards; returns the previous one.
    @discardableResult
    public static func set(_ newValue: Int) -> Int {
        bytes.exchange(max(0, newValue), ordering: .relaxed)
    }

    /// Runs one call with a budget of the current cap (none when there is no cap).
    public static func withBudget<R>(_ body: () throws(DTDError) -> R) throws(DTDError) -> R {
        try withBudget(limit: current, body)
    }

    /// Runs `body` with a budget of `limit` bytes (none when 0), whatever the process-wide cap.
    static func withBudget<R>(limit cap: Int, _ body: () throws(DTDError) -> R) throws(DTDError) -> R {
        guard cap > 0 else { return try body() }
        let budget = ScratchBudget(limit: cap)
        let outer = ScratchBudget.current
        ScratchBudget.current = budget
        defer { ScratchBudget.current = outer }
        return try body()
    }
}

/// The memory one call has taken from `BufferPool`, against its cap.
final class ScratchBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Charges `bytes`, or throws when that would exceed the limit (nothing is charged then).
    func charge(_ bytes: Int) throws(DTDError) {
        let total = used.add(bytes, ordering: .relaxed).newValue
        guard total <= limit else {
            used.subtract(bytes, ordering: .relaxed)
            throw DTDError(.outOfMemory, "this call needs more than the scratch limit of \(ScratchBudget.megabytes(limit)) (DTD_MAX_SCRATCH_MB or dtd_set_max_scratch_bytes): \(ScratchBudget.megabytes(total - bytes)) in use, \(bytes) bytes more requested")
        }
    }

    func uncharge(_ bytes: Int) { used.subtract(bytes, ordering: .relaxed) }

    private static func megabytes(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}
