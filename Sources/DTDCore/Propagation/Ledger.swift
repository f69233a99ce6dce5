/// One layer's relevance balance for one sample:
/// `relevanceOut = relevanceIn + absorbedBias + absorbedStabilizer + dropped`, up to rounding.
public struct LedgerEntry: Equatable, Sendable {
    /// Layer index.
    public var layer: Int
    /// Total relevance arriving at the layer's output.
    public var relevanceOut: Double = 0
    /// Total relevance passed to the layer's input.
    public var relevanceIn: Double = 0
    /// Part taken by the bias terms of the denominators.
    public var absorbedBias: Double = 0
    /// Part taken by the stabiliser.
    public var absorbedStabilizer: Double = 0
    /// Relevance at zero denominators and at gamma's z = 0 gate.
    public var dropped: Double = 0

    public init(layer: Int) { self.layer = layer }
}

/// Where a pass writes its ledger: `(batch, layerCount)` entries, sample-major.
struct LedgerSink {
    let entries: UnsafeMutablePointer<LedgerEntry>
    let layerCount: Int

    /// The entry of sample `n` at `layer`.
    @inline(__always)
    func entry(_ n: Int, _ layer: Int) -> UnsafeMutablePointer<LedgerEntry> { entries + n * layerCount + layer }
}
