/// The element types libdtd computes in: `Float` and `Double`.
///
/// The protocol carries no BLAS: `Kernels/Scalar+BLAS.swift` maps each type onto its CBLAS
/// routine (`sgemm` / `dgemm`), so the generic engine specialises to the right call. Conforming
/// any other type is not supported (its products would take a slow reference loop).
public protocol DTDScalar: BinaryFloatingPoint, Sendable, CustomStringConvertible, BitwiseCopyable {
    /// The element type's tag (the header's `dtd_dtype`).
    static var elementType: ElementType { get }
}

/// The two element types, with the raw values of the header's `DTD_DTYPE_*`.
public enum ElementType: Int32, Sendable, CustomStringConvertible {
    case float32 = 1
    case float64 = 2

    public var description: String { self == .float32 ? "float32" : "float64" }
}

extension Float: DTDScalar {
    public static var elementType: ElementType { .float32 }
}

extension Double: DTDScalar {
    public static var elementType: ElementType { .float64 }
}
