import CBLAS

// MARK: - The BLAS call of each element type

extension DTDScalar {
    /// C = alpha * op(A) * op(B) + beta * C, row-major; `op` transposes when the flag is set.
    /// All dimensions fit in `Int32` (the network limits guarantee it). `Float` calls
    /// `cblas_sgemm`, `Double` `cblas_dgemm`; the test on `Self` folds away when the engine is
    /// specialised. Any other conforming type takes a plain loop (correct, slow).
    @inline(__always)
    static func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int) {
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        if Self.self == Float.self {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k),
                        unsafeBitCast(alpha, to: Float.self), UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), Int32(ldb),
                        unsafeBitCast(beta, to: Float.self), UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), Int32(ldc))
        } else if Self.self == Double.self {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k),
                        unsafeBitCast(alpha, to: Double.self), UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), Int32(lda),
                        UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), Int32(ldb),
                        unsafeBitCast(beta, to: Double.self), UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), Int32(ldc))
        } else {
            referenceGemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// The product as a plain loop, for element types without a BLAS routine.
    @inline(never)
    private static func referenceGemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                                      alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
                                      beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum: Self = 0
                for p in 0..<k {
                    sum += (transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j])
                }
                c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }
}
