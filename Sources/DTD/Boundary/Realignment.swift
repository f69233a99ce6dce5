#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DTDCore

/// Aligned stand-ins for caller buffers whose address is not a multiple of their element's
/// alignment.
///
/// C callers do pass such buffers (numpy arrays unpickled from a byte stream, e.g. by dask, often
/// are), and DTDCore takes `Span`s, which require alignment. A misaligned buffer is therefore
/// copied into fresh memory for the call; after a successful call the copies of output buffers
/// are copied back (the whole buffer, so what the call does not write stays as it was). Aligned
/// buffers, the usual case, are used in place and cost nothing. One realignment belongs to one
/// exported call on one thread: the buffer views make it on first need, `guarded` finishes it.
final class Realignment {
    private struct Copy {
        let aligned: UnsafeMutableRawPointer
        /// The caller's buffer to copy back to after a success, for outputs.
        let output: UnsafeMutableRawPointer?
        let bytes: Int
    }

    private var copies: [Copy] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// This thread's realignment for the current call, made on first use.
    private static var current: Realignment {
        if let raw = pthread_getspecific(key) { return Unmanaged<Realignment>.fromOpaque(raw).takeUnretainedValue() }
        let fresh = Realignment()
        pthread_setspecific(key, Unmanaged.passRetained(fresh).toOpaque())
        return fresh
    }

    /// Ends this thread's call: copies outputs back after a success, frees every copy.
    static func finish(success: Bool) {
        guard let raw = pthread_getspecific(key) else { return }
        pthread_setspecific(key, nil)
        let realignment = Unmanaged<Realignment>.fromOpaque(raw).takeRetainedValue()
        for copy in realignment.copies {
            if success, let output = copy.output { memcpy(output, copy.aligned, copy.bytes) }
            free(copy.aligned)
        }
    }

    /// `pointer` itself when it is aligned for `T`, else an aligned copy of its `count` elements.
    static func input<T>(_ pointer: UnsafePointer<T>, count: Int, _ name: String) throws(DTDError) -> UnsafePointer<T> {
        guard !isAligned(pointer) else { return pointer }
        return UnsafePointer(try current.copy(UnsafeMutableRawPointer(mutating: pointer), count: count, T.self,
                                              output: false, name))
    }

    /// `pointer` itself when it is aligned for `T`, else an aligned copy that is copied back
    /// after a successful call.
    static func output<T>(_ pointer: UnsafeMutablePointer<T>, count: Int, _ name: String) throws(DTDError) -> UnsafeMutablePointer<T> {
        guard !isAligned(pointer) else { return pointer }
        return try current.copy(UnsafeMutableRawPointer(pointer), count: count, T.self, output: true, name)
    }

    private static func isAligned<T>(_ pointer: UnsafePointer<T>) -> Bool {
        Int(bitPattern: pointer) % MemoryLayout<T>.alignment == 0
    }

    private func copy<T>(_ source: UnsafeMutableRawPointer, count: Int, _ type: T.Type, output: Bool,
                         _ name: String) throws(DTDError) -> UnsafeMutablePointer<T> {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !overflow else { throw DTDError(.overflow, "\(name)_count = \(count) elements do not fit in memory addresses") }
        // malloc's memory is aligned for every scalar type.
        guard let block = malloc(max(bytes, 1)) else {
            throw DTDError(.outOfMemory, "could not allocate \(bytes) bytes to align \(name), which is not aligned for its element type")
        }
        memcpy(block, source, bytes)
        copies.append(Copy(aligned: block, output: output ? source : nil, bytes: bytes))
        return block.bindMemory(to: T.self, capacity: max(count, 1))
    }
}
