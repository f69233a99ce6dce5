/// Flags of one unit's decomposition (the header's `DTD_UNIT_*` bits).
public struct UnitFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// R_j(a) <= 1e-9 f (sampled: <= 0): dropped, not decomposed.
    public static let skipped = UnitFlags(rawValue: 1)
    /// Relevance is left at the root: u_j > 0 (exact), R_j(root) > 1e-9 f (sampled).
    public static let unresolved = UnitFlags(rawValue: 2)
    /// The LP minimum is -infinity (exact only).
    public static let unbounded = UnitFlags(rawValue: 4)
    /// alpha_j = 0: the unit is off at a (or receives no slope), its relevance constant on the region.
    public static let inactive = UnitFlags(rawValue: 8)
}

/// One unit's decomposition for one sample.
public struct FullBackwardUnit: Sendable, Equatable {
    /// Position of the unit's dense layer in the network's layer list.
    public var layer: Int
    /// j, an output unit of that layer.
    public var unit: Int
    /// Position of the dense layer in the chain (0 = the first dense layer).
    public var denseIndex: Int
    public var flags: UnitFlags
    /// R_j(a).
    public var relevance: Double
    /// m_j = min over P_l of R_j; -infinity when unbounded; NaN when skipped or sampled.
    public var lpMin: Double
    /// R_j(root): what the decomposition leaves at the root (exact: u_j up to the solver's
    /// tolerance); 0 when skipped.
    public var unresolved: Double
    /// ||root - a||_2; NaN when skipped.
    public var rootDistance: Double
}

/// The full-backward decomposition of one sample.
public struct FullBackwardSample: Sendable {
    /// f_k(x).
    public var output: Double
    /// Unit records, dense layers in network order, units ascending (the top layer: the target).
    public var units: [FullBackwardUnit]
    /// R^0, one value per input element.
    public var inputRelevance: [Double]
    /// gamma': the slope of R^0 in x (R^0 = gamma' (.) x - kappa'); the gradient of f_k at x
    /// when no unit with a nonzero slope was skipped (T2).
    public var inputSlope: [Double]
    /// The roots, one run of the layer's input size per unit record; NaN for skipped units.
    /// Empty unless asked for.
    public var roots: [Double]
    /// LPs and QPs solved (exact).
    public var solverCalls: Int
    /// Root searches run (sampled: one per region met; exact: 0).
    public var rootSearches: Int

    /// Sum of R^0.
    public var inputSum: Double { inputRelevance.reduce(0, +) }
    /// Sum of `unresolved` over the decomposed units.
    public var unresolvedSum: Double {
        units.reduce(0) { $1.flags.contains(.skipped) ? $0 : $0 + $1.unresolved }
    }
    /// Sum of `relevance` over the skipped units.
    public var skippedSum: Double {
        units.reduce(0) { $1.flags.contains(.skipped) ? $0 + $1.relevance : $0 }
    }
    /// f - (input sum + unresolved sum + skipped sum): 0 up to rounding for the exact method.
    public var ledgerError: Double { output - (inputSum + unresolvedSum + skippedSum) }
}
