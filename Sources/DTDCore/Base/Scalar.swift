import CBLAS

/// The element types libdtd computes in: `Float` and `Double`. Each maps onto the matching
/// CBLAS routine, so generic kernels specialise to `sgemm` / `dgemm`.
public protocol DTDScalar: BinaryFloatingPoint, Sendable, CustomStringConvertible {
    /// The element type's tag (the header's `dtd_dtype`).
    static var elementType: ElementType { get }

    /// C = alpha * op(A) * op(B) + beta * C, row-major; `op` transposes when the flag is set.
    /// All dimensions fit in `Int32` (the network limits guarantee it).
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

/// The two element types, with the raw values of the header's `DTD_DTYPE_*`.
public enum ElementType: Int32, Sendable, CustomStringConvertible {
    case float32 = 1
    case float64 = 2

    public var description: String { self == .float32 ? "float32" : "float64" }
}

extension Float: DTDScalar {
    public static var elementType: ElementType { .float32 }


    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

extension Double: DTDScalar {
    public static var elementType: ElementType { .float64 }


    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
