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
                var positive = false, negative = false
                // Blocks of 1024 keep the inner loop branch-free; stop once both signs are seen.
                var lower = range.lowerBound
                while lower < range.upperBound, !(positive && negative) {
                    let upper = min(lower + 1024, range.upperBound)
                    var anyPositive = false, anyNegative = false
                    for i in lower..<upper {
                        let x = values[i]
                        anyPositive = anyPositive || !(x <= 0)
                        anyNegative = anyNegative || !(x >= 0)
                    }
                    positive = positive || anyPositive
                    negative = negative || anyNegative
                    lower = upper
                }
                parts[part] = (positive, negative)
            }
        }
        return (found.contains { $0.positive }, found.contains { $0.negative })
    }
}
