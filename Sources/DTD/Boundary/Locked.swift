#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex: the shape of `Synchronization.Mutex`, on a lock that
/// ThreadSanitizer sees.
///
/// On Linux, `Mutex`'s lock and unlock run in `libswiftSynchronization.so`, which is not
/// instrumented, so TSan misses the happens-before edge between threads and reports every access
/// to the protected value as a race (Tests/sanitizers/README.md). TSan intercepts
/// `pthread_mutex_lock`, so with this lock the handle registry is checked for real instead of
/// suppressed.
final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
