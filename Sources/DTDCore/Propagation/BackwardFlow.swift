// MARK: - Where a backward pass collects its values
//
// A backward pass (gradient or relevance) visits the layers from the output down. Each layer
// turns the value at its output into contributions to the outputs it reads (`operands(of:)`):
// for a chain, the value at the output of layer l - 1, which layer l - 1 handles next, kept in
// two alternating scratch buffers. A layer output that several layers read (the source of a
// route or add), or that one layer reads twice, instead collects the sum of every contribution
// in a buffer of its own; it is complete when the pass reaches that layer, since every reader
// comes later in the list.

/// The values of one backward pass over layers `from..<end`, seeded at the output of `end - 1`.
final class BackwardFlow<T: DTDScalar> {
    private let batch: Int
    private let from: Int, end: Int
    /// Elements per sample of the output of layer k, at index k - from + 1 (k = -1: the input).
    private let sizes: [Int]
    /// Whether the output of layer k is read by layer k + 1 alone, once (same indexing).
    private let chained: [Bool]
    private let buffers: [MutableBatchView<T>]
    private let scratch: Scratch<T>
    /// A value at the output of a chained layer (or the seed, or a masked copy), and the chain
    /// buffer that holds it (`none` when it is in no chain buffer).
    private struct Held {
        static var none: Int { -1 }
        let view: BatchView<T>
        let buffer: Int
    }
    private var values: [Int: Held] = [:]
    /// The collected value at each other output that a reader has reached, and copies made by `modify`.
    private var collected: [Int: Storage<T>] = [:]
    /// Outputs whose first contribution is being written straight into their own buffer.
    private var first: Set<Int> = []

    /// A pass over layers `from..<end` of `network`, seeded with `seed` (the value at the output
    /// of layer `end - 1`), with two scratch slots for the chain buffers.
    /// - Throws: `.internal` when a layer of the pass reads an output below `from - 1` (callers
    ///   of partial passes check `Network.checkNotBypassed` first), `.overflow`, `.outOfMemory`.
    init(_ network: Network<T>, from: Int, end: Int, seed: BatchView<T>, scratch: Scratch<T>,
         slots: (Scratch<T>.Slot, Scratch<T>.Slot)) throws(DTDError) {
        batch = seed.batch
        self.from = from
        self.end = end
        self.scratch = scratch
        sizes = (from - 1..<end).map { $0 < 0 ? network.inputCount : network.layers[$0].outputShape.count }
        var readers = [[Int]](repeating: [], count: end - from + 1)
        for layer in from..<end {
            for source in network.operands(of: layer) {
                guard source >= from - 1 else {
                    throw DTDError(.internal, "layer \(layer) reads layer \(source), below the pass over layers \(from)..<\(end)")
                }
                readers[source - from + 1].append(layer)
            }
        }
        chained = (from - 1..<end).map { k in readers[k - from + 1] == [k + 1] }
        let capacity = try Limits.product(batch, sizes.max() ?? 1, "batch x activation size")
        buffers = [try scratch.view(slots.0, batch: 1, count: capacity), try scratch.view(slots.1, batch: 1, count: capacity)]
        values[end - 1] = Held(view: seed, buffer: Held.none)
    }

    private func size(_ layer: Int) -> Int { sizes[layer - from + 1] }

    /// The chain buffer that does not hold the value at the output of `reader` (0 when none does).
    private func chainBuffer(after reader: Int) -> Int { values[reader]?.buffer == 0 ? 1 : 0 }
    private func isChained(_ layer: Int) -> Bool { layer != end - 1 && chained[layer - from + 1] }

    /// The complete value at the output of `layer` (`from - 1 ... end - 1`): the seed for the
    /// last layer, zeros for an output no layer of the pass reads.
    func value(at layer: Int) throws(DTDError) -> BatchView<T> {
        if let value = values[layer] { return value.view }
        if let storage = collected[layer] { return storage.view(batch: batch, count: size(layer)) }
        let zeros = try Storage<T>(count: try Limits.product(batch, size(layer), "batch x activation size"))
        collected[layer] = zeros
        return zeros.view(batch: batch, count: size(layer))
    }

    /// Applies `change` to the value at the output of `layer`, in its own buffer, or in a copy
    /// when the value is the seed or a chain buffer that later steps may reuse.
    func modify(at layer: Int, _ change: (MutableBatchView<T>) -> Void) throws(DTDError) {
        let current = try value(at: layer)
        if values[layer] == nil, let storage = collected[layer] {
            change(storage.mutableView(batch: batch, count: size(layer)))
            return
        }
        let copy = try Storage<T>(uninitializedCount: current.total)
        let view = copy.mutableView(batch: batch, count: current.count)
        view.copy(from: current)
        change(view)
        collected[layer] = copy
        values[layer] = Held(view: copy.view(batch: batch, count: current.count), buffer: Held.none)
    }

    /// Where layer `reader` writes (assigns) its contribution to the output of `operand`; then
    /// `commit(reader:operand:)`. A chain buffer other than the one holding `reader`'s value,
    /// the operand's own buffer for its first contribution, or scratch that `commit` adds to it.
    func destination(reader: Int, operand: Int) throws(DTDError) -> MutableBatchView<T> {
        let n = size(operand)
        if isChained(operand) {
            return buffers[chainBuffer(after: reader)].prefix(batch: batch, count: n)
        }
        if collected[operand] == nil {
            let storage = try Storage<T>(uninitializedCount: try Limits.product(batch, n, "batch x activation size"))
            collected[operand] = storage
            first.insert(operand)
            return storage.mutableView(batch: batch, count: n)
        }
        return try scratch.view(.collect, batch: batch, count: n)
    }

    /// Records the contribution just written to `destination(reader:operand:)`.
    func commit(reader: Int, operand: Int) throws(DTDError) {
        let n = size(operand)
        if isChained(operand) {
            let buffer = chainBuffer(after: reader)
            values[operand] = Held(view: buffers[buffer].prefix(batch: batch, count: n).readOnly, buffer: buffer)
        } else if first.remove(operand) == nil, let storage = collected[operand] {
            Elementwise.add(try scratch.view(.collect, batch: batch, count: n).readOnly,
                            to: storage.mutableView(batch: batch, count: n))
        }
    }

    /// Passes the value at the output of `reader` on unchanged (reshaped) as its contribution to
    /// the output of `operand`: no copy for a chained operand.
    func pass(reader: Int, operand: Int) throws(DTDError) {
        let value = try value(at: reader).reshaped(batch: batch, count: size(operand))
        if isChained(operand) {
            values[operand] = Held(view: value, buffer: values[reader]?.buffer ?? Held.none)
            return
        }
        let target = try destination(reader: reader, operand: operand)
        target.copy(from: value)
        try commit(reader: reader, operand: operand)
    }
}

