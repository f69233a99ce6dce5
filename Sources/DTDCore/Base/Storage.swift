#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size, heap-allocated run of elements whose allocation can fail gracefully.
///
/// Swift arrays trap when memory runs out; libdtd must report that instead, so every buffer whose
/// size a caller controls (weights, activations, scratch, max-pool winners, masks) is a `Storage`.
/// A `Storage` is written only while it is being filled (by its creator); once shared it is
/// read-only, which is what makes it `Sendable`.
///
/// With `BufferPool`, one of the two files outside `Kernels/` that touch raw memory: `Storage`
/// owns every allocation the engine makes. Its pointer is internal and read only by `Kernels/`
/// (`BatchView`, the kernels); everything else reads and writes through subscripts and views.
public final class Storage<Element: BitwiseCopyable>: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    let base: UnsafeMutablePointer<Element>
    private let block: BufferPool.Block

    /// Allocates `count` elements, every byte zero (0, 0.0 or false).
    /// - Parameter count: the number of elements, >= 0.
    /// - Throws: `DTDError` `.outOfMemory` when the allocation fails, `.overflow` when the byte
    ///   size does not fit in an `Int`, `.size` for a negative count.
    public convenience init(count: Int) throws(DTDError) {
        try self.init(uninitializedCount: count)
        memset(base, 0, count * MemoryLayout<Element>.stride)
    }

    /// Allocates `count` elements whose contents the caller will overwrite.
    /// - Parameter count: the number of elements, >= 0.
    /// - Throws: `DTDError` as `init(count:)`.
    public init(uninitializedCount count: Int) throws(DTDError) {
        guard count >= 0 else { throw DTDError(.size, "internal: negative storage size \(count)") }
        let (bytes, overflow) = Swift.max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard !overflow else { throw DTDError(.overflow, "\(count) elements do not fit in memory addresses") }
        let block = try BufferPool.acquire(bytes)
        self.count = count
        self.block = block
        self.base = block.pointer.bindMemory(to: Element.self, capacity: Swift.max(count, 1))
    }

    /// A copy of `source`.
    /// - Throws: `DTDError` as `init(count:)`.
    public convenience init(copying source: Span<Element>) throws(DTDError) {
        try self.init(uninitializedCount: source.count)
        let target = base
        source.withUnsafeBufferPointer { from in
            if let start = from.baseAddress { target.update(from: start, count: from.count) }
        }
    }

    /// A copy of `source`.
    /// - Throws: `DTDError` as `init(count:)`.
    public convenience init(_ source: [Element]) throws(DTDError) {
        try self.init(copying: source.span)
    }

    /// A storage of `count` elements, element `i` being `element(i)`.
    /// - Throws: `DTDError` as `init(count:)`, or what `element` throws.
    public convenience init(count: Int, _ element: (Int) throws(DTDError) -> Element) throws(DTDError) {
        try self.init(uninitializedCount: count)
        // Elements are bitwise-copyable, so assigning into uninitialised memory is initialising it.
        for i in 0..<count { base[i] = try element(i) }
    }

    deinit { BufferPool.release(block) }

    /// Element `i`; the setter is for the storage's creator while it fills it. Like
    /// `UnsafeBufferPointer`, checked in debug builds only: every index the engine forms comes
    /// from shapes validated when the layer was added.
    public internal(set) subscript(i: Int) -> Element {
        @inline(__always) get {
            assert(i >= 0 && i < count, "storage index \(i) outside [0, \(count))")
            return base[i]
        }
        @inline(__always) set {
            assert(i >= 0 && i < count, "storage index \(i) outside [0, \(count))")
            base[i] = newValue
        }
    }
}

/// The elements as a collection (`Array(storage)` copies them out).
extension Storage: RandomAccessCollection {
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
}
