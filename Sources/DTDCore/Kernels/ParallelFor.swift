/// The engine's parallel loops over the worker pool (`WorkerPool`): per-sample loops, ranges of
/// elements and runs of channel planes. Each runs inline on the calling thread when there is one
/// thread, or when the work is too small to pay for waking the workers.
enum ParallelFor {
    /// Threads per call (`Environment.threads`): the caller plus `threads - 1` pool workers.
    static var threads: Int { Environment.threads }

    /// Workers for a per-sample loop over `batch` samples: one per core, at most one per sample.
    static func workers(forSamples batch: Int) -> Int { max(1, min(threads, batch)) }

    /// Runs `body(sample, worker)` for every sample, samples dealt round-robin to `workers`
    /// threads; worker w owns scratch slice w. With one worker it runs on the calling thread.
    static func forEachSample(_ batch: Int, workers: Int, _ body: (Int, Int) -> Void) {
        guard workers > 1 else {
            for n in 0..<batch { body(n, 0) }
            return
        }
        run(workers) { worker in
            var n = worker
            while n < batch {
                body(n, worker)
                n += workers
            }
        }
    }

    /// Runs `body(range, part)` on disjoint ranges covering 0..<count, one per worker (part <
    /// `threads`), when `work` (elements touched) is large enough to pay for the threads;
    /// otherwise `body(0..<count, 0)` on the calling thread.
    static func forEachRange(_ count: Int, work: Int, _ body: (Range<Int>, Int) -> Void) {
        let parts = min(threads, count)
        guard parts > 1, work >= 1 << 14 else { return body(0..<count, 0) }
        run(parts) { part in
            let lower = part * count / parts, upper = (part + 1) * count / parts
            if lower < upper { body(lower..<upper, part) }
        }
    }

    /// Runs `body(sample, channels)` over every channel plane of `batch` samples, the planes split
    /// into contiguous runs over the workers when `work` (elements touched) pays for the threads.
    static func forEachPlanes(batch: Int, channels: Int, work: Int, _ body: (Int, Range<Int>) -> Void) {
        forEachRange(batch * channels, work: work) { planes, _ in
            var q = planes.lowerBound
            while q < planes.upperBound {
                let n = q / channels, c = q % channels
                let end = min(channels, c + planes.upperBound - q)
                body(n, c..<end)
                q += end - c
            }
        }
    }

    /// Runs `body(i)` for i in 0..<count on the worker pool (inline without one).
    static func run(_ count: Int, _ body: (Int) -> Void) {
        if let pool = WorkerPool.shared { pool.run(count, body) } else { for i in 0..<count { body(i) } }
    }
}
