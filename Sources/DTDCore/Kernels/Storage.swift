#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed-size, heap-allocated run of elements whose allocation can fail gracefully.
///
/// Swift arrays trap when memory runs out; libdtd must report that instead, so every buffer whose
/// size a caller controls (weights, activations, scratch) is a `Storage`. The memory is zeroed.
/// A `Storage` is written only while it is being filled (by its creator); once shared it is
/// read-only, which is what makes it `Sendable`.
public final class Storage<Element: DTDScalar>: @unchecked Sendable {
    /// Number of elements.
    public let count: Int
    @usableFromInline let base: UnsafeMutablePointer<Element>
    private let block: BufferPool.Block

    /// Allocates `count` zeroed elements.
    /// - Throws: `.outOfMemory` when the allocation fails, `.overflow` when the byte size does not fit.
    public convenience init(count: Int) throws(DTDError) {
        try self.init(uninitializedCount: count)
        base.update(repeating: 0, count: count)
    }

    /// Allocates `count` elements whose contents the caller will overwrite.
    public init(uninitializedCount count: Int) throws(DTDError) {
        guard count >= 0 else { throw DTDError(.size, "internal: negative storage size \(count)") }
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Element>.stride)
        guard !overflow else { throw DTDError(.overflow, "\(count) elements do not fit in memory addresses") }
        let block = try BufferPool.acquire(bytes)
        self.count = count
        self.block = block
        self.base = block.pointer.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    /// A copy of `source`.
    public convenience init(copying source: UnsafeBufferPointer<Element>) throws(DTDError) {
        try self.init(count: source.count)
        if let from = source.baseAddress { base.update(from: from, count: source.count) }
    }

    /// A copy of `source`.
    public convenience init(_ source: [Element]) throws(DTDError) {
        try self.init(count: source.count)
        source.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// A storage of `count` elements, each `f(index)`.
    public convenience init(count: Int, _ f: (Int) -> Element) throws(DTDError) {
        try self.init(count: count)
        for i in 0..<count { base[i] = f(i) }
    }

    deinit { BufferPool.release(block) }

    /// Read-only pointer to the elements.
    @inlinable public var pointer: UnsafePointer<Element> { UnsafePointer(base) }
    /// Pointer for filling the storage; only its creator may write.
    @inlinable public var mutablePointer: UnsafeMutablePointer<Element> { base }
    /// The elements as a buffer view.
    @inlinable public var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }
    /// The elements as an array (for tests and small results).
    public var array: [Element] { Array(buffer) }

    /// Element `i` (checked in debug builds).
    @inlinable public subscript(i: Int) -> Element {
        assert(i >= 0 && i < count)
        return base[i]
    }
}

/// A run of indices (max-pool winners) from the same per-thread cache as `Storage`, failing
/// gracefully like it. Not initialised: its creator writes every index.
public final class IndexStorage: @unchecked Sendable {
    public let count: Int
    @usableFromInline let base: UnsafeMutablePointer<Int>
    private let block: BufferPool.Block

    public init(count: Int) throws(DTDError) {
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Int>.stride)
        guard !overflow, count >= 0 else { throw DTDError(.overflow, "\(count) indices do not fit in memory addresses") }
        let block = try BufferPool.acquire(bytes)
        self.count = count
        self.block = block
        self.base = block.pointer.bindMemory(to: Int.self, capacity: max(count, 1))
    }

    deinit { BufferPool.release(block) }
}

/// A run of flags saying which taps of a patch are inside the input (not padding).
final class ValidityMask: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Bool>
    let count: Int

    init(count: Int) throws(DTDError) {
        guard let raw = calloc(max(count, 1), 1) else { throw DTDError(.outOfMemory, "could not allocate \(count) bytes") }
        self.pointer = raw.bindMemory(to: Bool.self, capacity: max(count, 1))
        self.count = count
    }

    func setAll(_ value: Bool) { pointer.update(repeating: value, count: count) }

    deinit { free(pointer) }
}

