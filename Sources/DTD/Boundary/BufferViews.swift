import DTDCore

// MARK: - Caller buffers as validated Swift views
//
// Each C (pointer, count) pair becomes an `Unsafe[Mutable]BufferPointer` here, after the NULL
// and count checks (and realigned when its address does not suit its element type,
// `Realignment`), and a `Span` / `MutableSpan` (`.span`, `.mutableSpan`) where DTDCore is
// called; the engine then checks the count against the shapes. The boundary is the only place
// where the caller's raw pointers meet the engine.

/// A required input buffer.
func inputView<T>(_ pointer: UnsafePointer<T>?, _ count: Int64, _ name: String) throws(DTDError) -> UnsafeBufferPointer<T> {
    let n = try Argument.count(count, "\(name)_count")
    guard let pointer else { throw DTDError(.nullPointer, "\(name) is NULL") }
    return UnsafeBufferPointer(start: try Realignment.input(pointer, count: n, name), count: n)
}

/// An optional input buffer: NULL goes with a count of 0.
func optionalInputView<T>(_ pointer: UnsafePointer<T>?, _ count: Int64, _ name: String) throws(DTDError) -> UnsafeBufferPointer<T>? {
    let n = try Argument.count(count, "\(name)_count")
    guard let pointer else {
        guard n == 0 else { throw DTDError(.nullPointer, "\(name) is NULL but \(name)_count is \(n)") }
        return nil
    }
    return UnsafeBufferPointer(start: try Realignment.input(pointer, count: n, name), count: n)
}

/// A required, caller-allocated output buffer.
func outputView<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int64, _ name: String) throws(DTDError) -> UnsafeMutableBufferPointer<T> {
    let n = try Argument.count(count, "\(name)_count")
    guard let pointer else { throw DTDError(.nullPointer, "\(name) is NULL") }
    return UnsafeMutableBufferPointer(start: try Realignment.output(pointer, count: n, name), count: n)
}

/// An optional output buffer: NULL goes with a count of 0.
func optionalOutputView<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int64, _ name: String) throws(DTDError) -> UnsafeMutableBufferPointer<T>? {
    let n = try Argument.count(count, "\(name)_count")
    guard let pointer else {
        guard n == 0 else { throw DTDError(.nullPointer, "\(name) is NULL but \(name)_count is \(n)") }
        return nil
    }
    return UnsafeMutableBufferPointer(start: try Realignment.output(pointer, count: n, name), count: n)
}
