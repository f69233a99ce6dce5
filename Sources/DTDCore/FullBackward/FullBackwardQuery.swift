/// How full-backward DTD searches each unit's root (the header's `DTD_FULL_BACKWARD_*`).
public enum FullBackwardMethod: Int32, Sendable, CustomStringConvertible {
    /// Inside the region, exactly: the smallest relevance by LP, the nearest root by QP (CLP).
    case exact = 1
    /// The study's procedure: random directions, a 10-point grid, roots cached per region.
    case sampled = 2
    /// As `sampled`, with the refinement the study intended: 10 bisection steps per direction.
    case bisect = 3

    public var description: String {
        switch self {
        case .exact: "exact"
        case .sampled: "sampled"
        case .bisect: "bisect"
        }
    }
}

/// What to decompose and how.
public struct FullBackwardQuery: Sendable {
    /// The explained output k.
    public var target: Int
    public var method: FullBackwardMethod
    /// Seed of the sampled methods' directions (`StudyRandom`).
    public var seed: UInt64
    /// Random directions per root search of the sampled methods (the study: 50).
    public var directions: Int
    /// Lower bound of every network-input coordinate in P_1 (the study's clamp: 0); may be
    /// -infinity. Hidden layers always use 0, the ReLU's own range.
    public var inputLower: Double

    public static let defaultDirections = 50
    /// Largest accepted `directions`.
    public static let maxDirections = 1 << 20

    public init(target: Int, method: FullBackwardMethod = .exact, seed: UInt64 = 0,
                directions: Int = FullBackwardQuery.defaultDirections, inputLower: Double = 0) {
        self.target = target
        self.method = method
        self.seed = seed
        self.directions = directions
        self.inputLower = inputLower
    }

    /// Throws unless the fields are usable with `chain`.
    func validate(for chain: DenseChain) throws(DTDError) {
        guard target >= 0, target < chain.outputCount else {
            throw DTDError(.outOfRange, "target = \(target) is outside [0, \(chain.outputCount)) for the network's \(chain.outputCount) outputs")
        }
        guard directions >= 1, directions <= Self.maxDirections else {
            throw DTDError(.outOfRange, "directions = \(directions) must be in [1, \(Self.maxDirections)] (0 in the C query means the study's 50)")
        }
        guard !inputLower.isNaN, inputLower != .infinity else {
            throw DTDError(.invalidArgument, "input_lower = \(inputLower) must be a finite number or -infinity")
        }
    }
}

/// Output sizes per sample.
public struct FullBackwardSizes: Sendable, Equatable {
    /// Dense layers decomposed (L).
    public var layers: Int
    /// Unit records: every unit of layers 1..L-1 and the target unit of layer L.
    public var units: Int
    /// Root elements: for each unit record, its layer's input size.
    public var rootElements: Int
    /// Box elements: for each layer, 4 runs of its input size (low, high, clipped low, clipped high).
    public var boxElements: Int

    /// Largest region matrix (hinges x inputs) of one dense layer, in elements: the LPs and QPs
    /// hold it dense per sample and thread, and CLP indexes it with 32-bit integers.
    public static let maxRegionElements = 1 << 28

    init(_ chain: DenseChain) throws(DTDError) {
        var units = 0, roots = 0, boxes = 0
        var hinges = chain.layers.last.map { _ in 1 } ?? 0   // the target unit of the last layer
        for layer in chain.layers.dropLast().reversed() {
            hinges += layer.outputs
            let elements = try Limits.product(hinges, layer.inputs, "region of dense layer \(layer.index)")
            guard elements <= Self.maxRegionElements else {
                throw DTDError(.size, "full-backward DTD: the region of dense layer \(layer.index) has up to \(hinges) hinges x \(layer.inputs) inputs = \(elements) elements, above the limit \(Self.maxRegionElements)")
            }
        }
        for (p, layer) in chain.layers.enumerated() {
            let decomposed = p == chain.layers.count - 1 ? 1 : layer.outputs
            units += decomposed
            roots = try Limits.product(decomposed, layer.inputs, "root elements") + roots
            boxes = try Limits.product(4, layer.inputs, "box elements") + boxes
        }
        self.layers = chain.layers.count
        self.units = units
        self.rootElements = roots
        self.boxElements = boxes
    }
}
