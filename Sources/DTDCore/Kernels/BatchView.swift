// MARK: - Views of a batch
//
// Every activation, relevance and scratch buffer of a pass is `batch` samples of `count`
// elements each, back to back. A view names that layout once, so code outside `Kernels/` writes
// `a[n, i]` and `a.sample(n)` instead of `a[n * count + i]`. Views are plain structs around a
// pointer; subscripts are inlined and checked in debug builds only, so loops over views compile
// to the same code as loops over pointers. A view never owns memory: it is valid while the
// `Storage`, scratch slot or caller's buffer it was made from is.

/// Read-only view of `batch` samples of `count` elements each.
struct BatchView<Element> {
    let base: UnsafePointer<Element>
    /// Samples.
    let batch: Int
    /// Elements per sample.
    let count: Int

    @inline(__always)
    init(_ base: UnsafePointer<Element>, batch: Int, count: Int) {
        self.base = base
        self.batch = batch
        self.count = count
    }

    /// Elements in all samples.
    @inline(__always) var total: Int { batch &* count }

    /// Element `i` of sample `n`.
    @inline(__always)
    subscript(n: Int, i: Int) -> Element {
        assert(n >= 0 && n < batch && i >= 0 && i < count, "view index (\(n), \(i)) outside (\(batch), \(count))")
        return base[n &* count &+ i]
    }

    /// Element `i` of the whole batch, samples back to back.
    @inline(__always)
    subscript(i: Int) -> Element {
        assert(i >= 0 && i < total, "view index \(i) outside [0, \(total))")
        return base[i]
    }

    /// Sample `n` as a batch of one.
    @inline(__always)
    func sample(_ n: Int) -> BatchView {
        assert(n >= 0 && n < batch, "sample \(n) outside [0, \(batch))")
        return BatchView(base + n &* count, batch: 1, count: count)
    }

    /// Samples `range` as a batch of their own.
    @inline(__always)
    func samples(_ range: Range<Int>) -> BatchView {
        assert(range.lowerBound >= 0 && range.upperBound <= batch, "samples \(range) outside [0, \(batch))")
        return BatchView(base + range.lowerBound &* count, batch: range.count, count: count)
    }

    /// The same elements seen as `batch` samples of `count` (the totals must agree).
    @inline(__always)
    func reshaped(batch: Int, count: Int) -> BatchView {
        assert(batch * count == total, "reshape (\(self.batch), \(self.count)) to (\(batch), \(count))")
        return BatchView(base, batch: batch, count: count)
    }
}

/// Writable view of `batch` samples of `count` elements each. Writing through it is legal only
/// where the memory may be written (a fresh `Storage`, a scratch slot, a caller's output).
struct MutableBatchView<Element> {
    let base: UnsafeMutablePointer<Element>
    /// Samples.
    let batch: Int
    /// Elements per sample.
    let count: Int

    @inline(__always)
    init(_ base: UnsafeMutablePointer<Element>, batch: Int, count: Int) {
        self.base = base
        self.batch = batch
        self.count = count
    }

    /// Elements in all samples.
    @inline(__always) var total: Int { batch &* count }

    /// The same memory, read-only.
    @inline(__always) var readOnly: BatchView<Element> { BatchView(UnsafePointer(base), batch: batch, count: count) }

    /// Element `i` of sample `n`.
    @inline(__always)
    subscript(n: Int, i: Int) -> Element {
        get {
            assert(n >= 0 && n < batch && i >= 0 && i < count, "view index (\(n), \(i)) outside (\(batch), \(count))")
            return base[n &* count &+ i]
        }
        nonmutating set {
            assert(n >= 0 && n < batch && i >= 0 && i < count, "view index (\(n), \(i)) outside (\(batch), \(count))")
            base[n &* count &+ i] = newValue
        }
    }

    /// Element `i` of the whole batch, samples back to back.
    @inline(__always)
    subscript(i: Int) -> Element {
        get {
            assert(i >= 0 && i < total, "view index \(i) outside [0, \(total))")
            return base[i]
        }
        nonmutating set {
            assert(i >= 0 && i < total, "view index \(i) outside [0, \(total))")
            base[i] = newValue
        }
    }

    /// Sample `n` as a batch of one.
    @inline(__always)
    func sample(_ n: Int) -> MutableBatchView {
        assert(n >= 0 && n < batch, "sample \(n) outside [0, \(batch))")
        return MutableBatchView(base + n &* count, batch: 1, count: count)
    }

    /// Samples `range` as a batch of their own.
    @inline(__always)
    func samples(_ range: Range<Int>) -> MutableBatchView {
        assert(range.lowerBound >= 0 && range.upperBound <= batch, "samples \(range) outside [0, \(batch))")
        return MutableBatchView(base + range.lowerBound &* count, batch: range.count, count: count)
    }

    /// The first `batch * count` elements as `batch` samples of `count` (a scratch slot sized
    /// for the largest layer, seen as one layer's activations).
    @inline(__always)
    func prefix(batch: Int, count: Int) -> MutableBatchView {
        assert(batch * count <= total, "prefix (\(batch), \(count)) of \(total) elements")
        return MutableBatchView(base, batch: batch, count: count)
    }

    /// Sets every element to `value`.
    func fill(_ value: Element) { base.update(repeating: value, count: total) }

    /// Copies `source`'s elements (the same total) into this view.
    func copy(from source: BatchView<Element>) {
        assert(source.total == total, "copy of \(source.total) elements into \(total)")
        base.update(from: source.base, count: total)
    }
}

// MARK: - Views of storage, scratch and caller buffers

extension Storage {
    /// The storage as `batch` samples of `count` elements (`batch * count <= self.count`).
    @inline(__always)
    func view(batch: Int, count: Int) -> BatchView<Element> {
        assert(batch * count <= self.count, "view (\(batch), \(count)) of \(self.count) elements")
        return BatchView(UnsafePointer(base), batch: batch, count: count)
    }

    /// The storage as one sample of all its elements.
    @inline(__always) var view: BatchView<Element> { view(batch: 1, count: count) }

    /// The storage as writable `batch` samples of `count` elements, for its creator.
    @inline(__always)
    func mutableView(batch: Int, count: Int) -> MutableBatchView<Element> {
        assert(batch * count <= self.count, "view (\(batch), \(count)) of \(self.count) elements")
        return MutableBatchView(base, batch: batch, count: count)
    }

    /// The storage as one writable sample of all its elements, for its creator.
    @inline(__always) var mutableView: MutableBatchView<Element> { mutableView(batch: 1, count: count) }

    /// Read-only pointer to the elements, for kernels.
    @inline(__always) var pointer: UnsafePointer<Element> { UnsafePointer(base) }
}

extension Span {
    /// Runs `body` on the first `batch * count` elements as a batch view (the caller has
    /// checked that the span holds that many).
    /// - Throws: what `body` throws.
    func withBatchView<R>(batch: Int, count: Int,
                          _ body: (BatchView<Element>) throws(DTDError) -> R) throws(DTDError) -> R {
        try withUnsafeBufferPointer { (buffer) throws(DTDError) -> R in
            guard let start = buffer.baseAddress, buffer.count >= batch * count else {
                throw DTDError(.internal, "a buffer of \(buffer.count) elements viewed as (\(batch), \(count))")
            }
            return try body(BatchView(start, batch: batch, count: count))
        }
    }
}

extension MutableSpan {
    /// Runs `body` on the first `batch * count` elements as a writable batch view (the caller
    /// has checked that the span holds that many).
    /// - Throws: what `body` throws.
    mutating func withMutableBatchView<R>(batch: Int, count: Int,
                                          _ body: (MutableBatchView<Element>) throws(DTDError) -> R) throws(DTDError) -> R {
        try withUnsafeMutableBufferPointer { (buffer) throws(DTDError) -> R in
            guard let start = buffer.baseAddress, buffer.count >= batch * count else {
                throw DTDError(.internal, "a buffer of \(buffer.count) elements viewed as (\(batch), \(count))")
            }
            return try body(MutableBatchView(start, batch: batch, count: count))
        }
    }
}
