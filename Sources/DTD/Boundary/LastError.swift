#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread-local message behind `dtd_last_error_message()`.
///
/// Each thread gets one fixed buffer, allocated on its first libdtd call and freed when the
/// thread exits, so the returned pointer never dangles; its text changes with the next call.
enum LastError {
    static let capacity = 1024

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { buffer in free(buffer) }
        return key
    }()

    /// This thread's buffer, or nil if it could not be allocated.
    static var buffer: UnsafeMutablePointer<CChar>? {
        if let existing = pthread_getspecific(key) { return existing.assumingMemoryBound(to: CChar.self) }
        guard let fresh = calloc(capacity, 1) else { return nil }
        pthread_setspecific(key, fresh)
        return fresh.assumingMemoryBound(to: CChar.self)
    }

    /// Replaces this thread's message (truncated to the buffer, at a UTF-8 boundary).
    static func set(_ message: String) {
        guard let buffer else { return }
        var utf8 = Array(message.utf8.prefix(capacity - 1))
        while let last = utf8.last, last & 0xC0 == 0x80 { utf8.removeLast() }   // drop a cut sequence's tail
        if let last = utf8.last, last >= 0xC0 { utf8.removeLast() }              // and its lead byte
        utf8.withUnsafeBufferPointer { bytes in
            for (i, byte) in bytes.enumerated() { buffer[i] = CChar(bitPattern: byte) }
        }
        buffer[utf8.count] = 0
    }

    static func clear() {
        buffer?[0] = 0
    }
}
