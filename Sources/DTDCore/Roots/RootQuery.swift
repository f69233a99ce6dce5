/// Where a DTD root lies along its direction.
public enum Placement: Int32, Sendable, CustomStringConvertible {
    /// t_j = z_j / (w_j^T v_j): the root sits on neuron j's hyperplane (textbook DTD).
    case hyperplane = 1
    /// t_j = R_j / (w_j^T v_j): the "train-free DTD" of the study's code; same relevance, other point.
    case relevance = 2

    public var description: String { self == .hyperplane ? "hyperplane" : "relevance" }
}

/// Which roots to compute: one dense/conv layer, one explained output, a range of its neurons.
public struct RootQuery: Sendable {
    /// Index of a dense or conv layer.
    public var layer: Int
    /// The explained output k.
    public var target: Int
    /// Where the root lies along its direction.
    public var placement: Placement
    /// Region-constrained DTD: clip each root to the input's linear region.
    public var constrainToRegion: Bool
    /// |w_j^T v_j| <= tolerance means "no root".
    public var tolerance: Double
    /// Neurons (flat indices into the layer output); nil means all.
    public var neurons: Range<Int>?

    /// A query; `neurons` nil means every neuron of the layer.
    public init(layer: Int, target: Int, placement: Placement = .relevance, constrainToRegion: Bool = false,
                tolerance: Double = 1e-5, neurons: Range<Int>? = nil) {
        self.layer = layer
        self.target = target
        self.placement = placement
        self.constrainToRegion = constrainToRegion
        self.tolerance = tolerance
        self.neurons = neurons
    }
}

/// Flags of one root (the header's `DTD_ROOT_*` bits).
public struct RootFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// |w_j^T v_j| <= tolerance (or gamma at z_j = 0): no root; the point is the input.
    public static let noRoot = RootFlags(rawValue: 1)
    /// R_j = 0: the root is the input itself.
    public static let atInput = RootFlags(rawValue: 2)
    /// Region-constrained query: the root was clipped to the region.
    public static let clipped = RootFlags(rawValue: 4)
}

/// One root (or alpha-beta partial root) of one neuron for one sample. The layout matches the
/// header's `dtd_root_info`.
public struct RootInfo: Equatable, Sendable {
    /// j, a flat index into the layer output.
    public var neuron: Int
    /// 0, or for alpha-beta 0 = the alpha root, 1 = the beta root.
    public var partial: Int32
    /// `RootFlags` bits.
    public var flagBits: Int32
    /// The relevance the root carries: R_j, alpha R_j or -beta R_j.
    public var relevance: Double
    /// z_j at the input.
    public var z: Double
    /// w_j^T v_j.
    public var wv: Double
    /// The step along -v_j (after clipping for constrained queries).
    public var t: Double

    /// A record with the given fields (the engine fills them).
    public init(neuron: Int, partial: Int32 = 0, flags: RootFlags = [], relevance: Double = 0, z: Double = 0,
                wv: Double = 0, t: Double = 0) {
        self.neuron = neuron
        self.partial = partial
        self.flagBits = flags.rawValue
        self.relevance = relevance
        self.z = z
        self.wv = wv
        self.t = t
    }

    /// `flagBits` as a set.
    public var flags: RootFlags {
        get { RootFlags(rawValue: flagBits) }
        set { flagBits = newValue.rawValue }
    }

    /// Whether the neuron has a root (counts as a pair in the audit).
    public var hasRoot: Bool { !flags.contains(.noRoot) }
}
