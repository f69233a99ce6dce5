/// One layer's relevance balance for one sample:
/// `relevanceOut = relevanceIn + absorbedBias + absorbedStabilizer + dropped`, up to rounding.
/// The layout matches the header's `dtd_ledger_entry`. A pass writes its ledger as
/// `(batch, layer count)` entries, sample-major (a `MutableBatchView<LedgerEntry>` inside).
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

    /// An entry for layer `layer` with every amount 0.
    public init(layer: Int) { self.layer = layer }
}
