import Synchronization

/// Independent per-sample work on the worker pool (the calling thread alone without one).
enum ParallelSamples {
    /// Runs `body(n)` for n in 0..<count, several at once, and rethrows the error of the lowest
    /// failing n (so which error a caller sees does not depend on the scheduling). Every `body`
    /// runs to completion or throws; results go wherever `body` puts them.
    static func forEach(_ count: Int, _ body: (Int) throws(DTDError) -> Void) throws(DTDError) {
        let firstError = Mutex<(index: Int, error: DTDError)?>(nil)
        ParallelFor.run(count) { n in
            do throws(DTDError) {
                try body(n)
            } catch {
                firstError.withLock { current in
                    if let earlier = current, earlier.index < n { return }
                    current = (n, error)
                }
            }
        }
        if let failure = firstError.withLock({ $0 }) { throw failure.error }
    }
}

/// One result slot per sample, filled from several threads at once.
final class ResultSlots<R: Sendable>: Sendable {
    private let slots: Mutex<[R?]>

    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    func set(_ index: Int, _ value: R) { slots.withLock { $0[index] = value } }

    /// The results in index order (every slot must have been set).
    var values: [R] { slots.withLock { $0.compactMap { $0 } } }
}
