/// Which entries of the relevance arriving at one layer's output LRP keeps before propagating
/// further down (the rest become 0): "which input pixels made channel 17 of layer 5 matter?", the
/// building block of concept-level explanations (CRP). One mask applies to every sample.
public struct RelevanceMask: Sendable, Equatable {
    /// The layer whose output relevance is masked.
    public let layer: Int
    /// One flag per channel of a `(C, H, W)` output, or one per element of the output.
    public let keep: [Bool]

    /// A mask of layer `layer` keeping the entries whose flag is true.
    public init(layer: Int, keep: [Bool]) {
        self.layer = layer
        self.keep = keep
    }

    /// A mask keeping only `channels` (conv, pooling: channels; flat outputs: neurons) of a layer
    /// with `count` of them.
    /// - Throws: `.size` for a negative `count`, `.outOfRange` for a channel outside `0..<count`
    ///   (keeping a channel the layer does not have would silently explain nothing).
    public init(layer: Int, keepingChannels channels: [Int], of count: Int) throws(DTDError) {
        guard count >= 0 else { throw DTDError(.size, "the mask of layer \(layer): channel count \(count) is negative") }
        var keep = [Bool](repeating: false, count: count)
        for c in channels {
            guard c >= 0 && c < count else {
                throw DTDError(.outOfRange, "the mask of layer \(layer) keeps channel \(c), outside [0, \(count))")
            }
            keep[c] = true
        }
        self.init(layer: layer, keep: keep)
    }

    /// The flag of every element of one sample of the layer's output (`shape`).
    /// - Throws: `.layerIndex` is the caller's; `.shapeMismatch` when `keep` is neither one flag
    ///   per channel nor one per element.
    func elementFlags(for shape: Shape) throws(DTDError) -> [Bool] {
        if keep.count == shape.count { return keep }
        if shape.isImage, keep.count == shape.channels {
            let plane = shape.height * shape.width
            return (0..<shape.count).map { keep[$0 / plane] }
        }
        let channels = shape.isImage ? "\(shape.channels) channel flags or " : ""
        throw DTDError(.shapeMismatch,
            "the mask of layer \(layer) has \(keep.count) flags; its output \(shape) takes \(channels)\(shape.count) element flags")
    }
}

/// Relevance taps of one LRP pass: the layers whose output relevance is recorded, where, and the
/// masks, validated against the network.
struct RelevanceTaps<T: DTDScalar> {
    /// Per layer: element flags of its mask.
    let masks: [Int: [Bool]]
    /// The recorded layers, in order, and where each one's `(batch, size)` block starts.
    let record: [Int]
    let offsets: [Int]
    /// Total elements of all recorded blocks.
    let total: Int

    /// Validates `record` and `masks` against `network` for `batch` samples.
    /// - Throws: `.layerIndex` (a layer outside the network), `.shapeMismatch` (a mask's
    ///   flags), `.invalidArgument` (two masks for one layer), `.overflow`.
    init(_ network: Network<T>, batch: Int, record: [Int], masks: [RelevanceMask]) throws(DTDError) {
        var flags: [Int: [Bool]] = [:]
        for (i, mask) in masks.enumerated() {
            try network.checkLayerIndex(mask.layer, "masks[\(i)].layer")
            guard flags[mask.layer] == nil else {
                throw DTDError(.invalidArgument, "masks[\(i)]: layer \(mask.layer) has a mask already; give one mask per layer")
            }
            flags[mask.layer] = try mask.elementFlags(for: network.layers[mask.layer].outputShape)
        }
        var offsets: [Int] = [], total = 0
        for (i, layer) in record.enumerated() {
            try network.checkLayerIndex(layer, "record[\(i)]")
            offsets.append(total)
            let block = try Limits.product(batch, network.layers[layer].outputShape.count, "record[\(i)] (batch x layer \(layer) output)")
            total = try Limits.sum(total, block, "recorded relevance")
        }
        self.masks = flags
        self.record = record
        self.offsets = offsets
        self.total = total
    }

    /// Copies `relevance` (at the output of `layer`) into the blocks that record it.
    func store(_ relevance: BatchView<T>, of layer: Int, into recorded: MutableBatchView<T>) {
        for (i, recordedLayer) in record.enumerated() where recordedLayer == layer {
            recorded.block(at: offsets[i], batch: relevance.batch, count: relevance.count).copy(from: relevance)
        }
    }
}

extension RelevanceMask {
    /// Zeroes the masked-out entries of every sample of `view`, whose per-sample flags are `flags`.
    static func apply<T: DTDScalar>(_ flags: [Bool], to view: MutableBatchView<T>) {
        for n in 0..<view.batch {
            for i in 0..<view.count where !flags[i] { view[n, i] = 0 }
        }
    }
}
