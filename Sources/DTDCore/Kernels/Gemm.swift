import Dispatch

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
    /// Rows of C at least for a product to be split.
    static let minimumRows = 8

    /// C (m x n) = alpha op(A) op(B) + beta C, row-major.
    /// With `split` false the product runs on the calling thread (it is already one of several workers).
    static func multiply<T: DTDScalar>(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                       alpha: T, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                       beta: T, c: UnsafeMutablePointer<T>, ldc: Int, split: Bool = true) {
        // Products of a few rows are matrix-vector products: memory-bound, so waking a second
        // thread costs more than it gains. Otherwise split the longer of the two output sides.
        let byColumns = n >= m || m < 2 * minimumRows
        let (mn, o1) = m.multipliedReportingOverflow(by: n), (work, o2) = mn.multipliedReportingOverflow(by: k)
        let large = o1 || o2 || work >= parallelThreshold
        let parts = !split || m < minimumRows || !large ? 1
            : min(threads, byColumns ? n / minimumColumns : m / minimumRows)
        guard parts > 1 else {
            T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        // Blocks of a multiple of 16 columns (8 rows), the last taking the rest.
        let side = byColumns ? n : m, unit = byColumns ? 16 : 8
        let width = ((side + parts - 1) / parts + unit - 1) / unit * unit
        let blocks = (side + width - 1) / width
        let shared = SharedPointers(a: a, b: b, c: c)
        DispatchQueue.concurrentPerform(iterations: blocks) { block in
            let first = block * width
            let count = min(width, side - first)
            guard count > 0 else { return }
            if byColumns {
                // Column j of op(B) starts at B + j*ldb when B is stored transposed (n x k), else at B + j.
                let bBlock = shared.b + (transposeB ? first * ldb : first)
                T.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: count, k: k, alpha: alpha, a: shared.a,
                       lda: lda, b: bBlock, ldb: ldb, beta: beta, c: shared.c + first, ldc: ldc)
            } else {
                // Row i of op(A) starts at A + i when A is stored transposed (k x m), else at A + i*lda.
                let aBlock = shared.a + (transposeA ? first : first * lda)
                T.gemm(transposeA: transposeA, transposeB: transposeB, m: count, n: n, k: k, alpha: alpha, a: aBlock,
                       lda: lda, b: shared.b, ldb: ldb, beta: beta, c: shared.c + first * ldc, ldc: ldc)
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
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var n = worker
                while n < batch {
                    shared.value(n, worker)
                    n += workers
                }
            }
        }
    }

    /// Runs `body` on disjoint ranges covering 0..<count, one per worker, when `work` (elements
    /// touched) is large enough to pay for the threads; otherwise on the calling thread.
    static func forEachRange(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, count)
        guard parts > 1, work >= 1 << 16 else { return body(0..<count) }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let lower = part * count / parts, upper = (part + 1) * count / parts
                if lower < upper { shared.value(lower..<upper) }
            }
        }
    }

    /// A value handed to worker threads that only touch disjoint parts of shared memory.
    private struct UncheckedBox<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    /// The operands, handed to worker threads that write disjoint column blocks of C.
    private struct SharedPointers<T>: @unchecked Sendable {
        let a: UnsafePointer<T>, b: UnsafePointer<T>, c: UnsafeMutablePointer<T>
    }
}
