/// Which signs occur in a run of values: the test that lets a rule skip its a+ or a- branch
/// (after a ReLU there is no a-) and the forward pass fuse a z+ denominator.
enum SignScan {
    /// Whether some value of `a` (all samples) is > 0 and whether some is < 0; NaN counts as
    /// both, so a NaN input takes every branch and propagates. Large runs are scanned on all cores.
    static func signs<T: DTDScalar>(_ a: BatchView<T>) -> (positive: Bool, negative: Bool) {
        let values = a.base, count = a.total
        var found = [(positive: Bool, negative: Bool)](repeating: (false, false), count: ParallelFor.threads)
        found.withUnsafeMutableBufferPointer { found in
            guard let parts = found.baseAddress else { return }
            ParallelFor.forEachRange(count, work: count) { range, part in
                // Bit 1: some x > 0 (or NaN); bit 2: some x < 0 (or NaN). Blocks of 1024 keep
                // the inner loop branch-free (it vectorises); stop once both signs are seen.
                var seen: UInt32 = 0
                var lower = range.lowerBound
                while lower < range.upperBound, seen != 3 {
                    let upper = min(lower + 1024, range.upperBound)
                    var block: UInt32 = 0
                    for x in UnsafeBufferPointer(start: values + lower, count: upper - lower) {
                        block |= (x <= 0 ? 0 : 1) | (x >= 0 ? 0 : 2)
                    }
                    seen |= block
                    lower = upper
                }
                parts[part] = (seen & 1 != 0, seen & 2 != 0)
            }
        }
        return (found.contains { $0.positive }, found.contains { $0.negative })
    }
}
