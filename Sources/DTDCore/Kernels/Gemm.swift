#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Matrix products for the engine: one CBLAS call for small products; large ones are split into
/// column (or row) blocks of C computed on all cores at once.
///
/// Splitting keeps every block an ordinary GEMM on sub-matrices (same leading dimensions), so
/// any single-threaded CBLAS provider gains the machine's cores without its own threading, and
/// concurrent callers never oversubscribe a BLAS thread pool.
enum Gemm {
    /// Worker threads: `DTD_NUM_THREADS` if set (1 disables threading), else the online cores (at most 16).
    static let threads: Int = {
        if let text = getenv("DTD_NUM_THREADS"), let value = Int(String(cString: text)), value >= 1 {
            return min(value, 64)
        }
        return max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 16))
    }()

    /// Products smaller than this many multiply-adds run on the calling thread.
    static let parallelThreshold = 1 << 18
    /// Columns per block at least, so each block stays a well-shaped GEMM.
    static let minimumColumns = 32
    /// Rows per block at least when a product is split by rows.
    static let minimumRows = 8

    /// C (m x n) = alpha op(A) op(B) + beta C, row-major.
    /// With `split` false the product runs on the calling thread (it is already one of several workers).
    static func multiply<T: DTDScalar>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                       alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                       beta: T, c: UnsafeMutablePointer<T>, ldc: Int, split: Bool = true) {
        // Split the longer of the two output sides; products of a few rows (matrix-vector
        // products, memory-bound) by columns too: with the pool's workers awake, two cores
        // stream the weights faster than one (MLP batch 1 0.31 -> 0.23 ms).
        let byColumns = n >= m || m < 2 * minimumRows
        let (mn, o1) = m.multipliedReportingOverflow(by: n), (work, o2) = mn.multipliedReportingOverflow(by: k)
        let large = o1 || o2 || work >= parallelThreshold
        let parts = !split || !large ? 1 : min(threads, byColumns ? n / minimumColumns : m / minimumRows)
        guard parts > 1 else {
            T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Blocks of a multiple of 16 columns (8 rows), the last taking the rest.
        let side = byColumns ? n : m, unit = byColumns ? 16 : 8
        let width = ((side + parts - 1) / parts + unit - 1) / unit * unit
        let blocks = (side + width - 1) / width
        parallel(blocks) { block in
            let first = block * width
            let count = min(width, side - first)
            guard count > 0 else { return }
            if byColumns {
                // Column j of op(B) starts at B + j*ldb when B is stored transposed (n x k), else at B + j.
                let bBlock = b + (transposeB ? first * ldb : first)
                T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: count, k: k, alpha: alpha, a: a,
                       lda: lda, b: bBlock, ldb: ldb, beta: beta, c: c + first, ldc: ldc)
            } else {
                // Row i of op(A) starts at A + i when A is stored transposed (k x m), else at A + i*lda.
                let aBlock = a + (transposeA ? first : first * lda)
                T.gemm(transposeA: transposeA, transposeB: transposeB, m: count, n: n, k: k, alpha: alpha, a: aBlock,
                       lda: lda, b: b, ldb: ldb, beta: beta, c: c + first * ldc, ldc: ldc)
            }
        }
    }

    /// Workers for a per-sample loop over `batch` samples: one per core, at most one per sample.
    static func workers(forSamples batch: Int) -> Int { max(1, min(threads, batch)) }

    /// Runs `body(sample, worker)` for every sample, samples dealt round-robin to `workers`
    /// threads; worker w owns scratch slice w. With one worker it runs on the calling thread.
    static func forEachSample(_ batch: Int, workers: Int, _ body: (Int, Int) -> Void) {
        guard workers > 1 else {
            for n in 0..<batch { body(n, 0) }
            return
        }
        parallel(workers) { worker in
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
        parallel(parts) { part in
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
    static func parallel(_ count: Int, _ body: (Int) -> Void) {
        if let pool = WorkerPool.shared { pool.run(count, body) } else { for i in 0..<count { body(i) } }
    }
}
