/// Full-backward DTD (`Include/dtd.h` section 8; the study's second experiment): every unit of every dense
/// layer is decomposed at a root searched inside its region, top-down, for one explained output.
///
/// A `FullBackward` is the network read once (`DenseChain`) and a validated query; it is
/// immutable and `Sendable`, and its calls run the samples of a batch on the worker pool.
///
///     let problem = try FullBackward(network: net, query: FullBackwardQuery(target: 0))
///     let samples = try problem.decompose([x])           // units, R^0, ledger
///     let regions = try problem.regions([x])             // hinge distance, boxes
public struct FullBackward: Sendable {
    public let chain: DenseChain
    public let query: FullBackwardQuery
    public let sizes: FullBackwardSizes

    /// - Throws: `.emptyNetwork`, `.unsupported` (not a chain of dense + ReLU layers),
    ///   `.outOfRange` (target, directions), `.invalidArgument` (input bound).
    public init<T: DTDScalar>(network: Network<T>, query: FullBackwardQuery) throws(DTDError) {
        let chain = try DenseChain(network)
        try query.validate(for: chain)
        self.chain = chain
        self.query = query
        self.sizes = try FullBackwardSizes(chain)
    }

    /// The solver the exact method needs (`ClpSolver.shared()` unless one is given); nil for
    /// the sampled methods, which solve nothing.
    private func solverIfNeeded(_ given: ClpSolver?) throws(DTDError) -> ClpSolver? {
        guard query.method == .exact else { return nil }
        if let given { return given }
        return try ClpSolver.shared()
    }

    /// Checks every sample before any work: finite, >= the input bound, f_k(x) > 0.
    private func validate(batch: Int, input: (Int) -> [Double]) throws(DTDError) {
        for n in 0..<batch {
            let x = input(n)
            for (i, v) in x.enumerated() {
                guard v.isFinite else { throw DTDError(.nonFinite, "input[\(n)][\(i)] = \(v) is not finite") }
                guard v >= query.inputLower else {
                    throw DTDError(.invalidArgument, "input[\(n)][\(i)] = \(v) is below input_lower = \(query.inputLower)")
                }
            }
            let z = chain.forward(x).preactivations[chain.layers.count - 1][query.target]
            guard z > 0 else {
                throw DTDError(.invalidArgument, "sample \(n): f_\(query.target)(x) = \(max(z, 0)) is not > 0 (z = \(z)); full-backward DTD decomposes a positive output")
            }
        }
    }

    /// Decomposes `batch` samples; `input(n)` gives sample n (input size elements, float64) and
    /// `emit(n, result)` receives its decomposition. Both may be called from several threads at
    /// once, for different n.
    /// - Throws: as `init`, plus `.nonFinite`, `.invalidArgument` (a sample below the bound or
    ///   with f_k(x) <= 0, checked before any work), `.unsupported` (exact without CLP),
    ///   `.internal` (CLP failed).
    public func decompose(batch: Int, input: (Int) -> [Double], keepRoots: Bool, solver: ClpSolver? = nil,
                          emit: (Int, FullBackwardSample) -> Void) throws(DTDError) {
        let solver = try solverIfNeeded(solver)
        try validate(batch: batch, input: input)
        try ParallelSamples.forEach(batch) { (n) throws(DTDError) in
            let x = input(n)
            if let solver {
                emit(n, try ExactPass(chain: chain, query: query, solver: solver).run(x, sample: n, keepRoots: keepRoots))
            } else {
                emit(n, SampledPass(chain: chain, query: query, sample: n).run(x, keepRoots: keepRoots))
            }
        }
    }

    /// The region sizes of every dense layer for `batch` samples (network order); arguments as
    /// `decompose`.
    public func regions(batch: Int, input: (Int) -> [Double], solver: ClpSolver? = nil,
                        emit: (Int, [RegionSize]) -> Void) throws(DTDError) {
        let solver = try solverIfNeeded(solver)
        try validate(batch: batch, input: input)
        try ParallelSamples.forEach(batch) { (n) throws(DTDError) in
            let x = input(n)
            let (pre, post) = chain.forward(x)
            var sizes: [RegionSize] = []
            for p in 0..<chain.layers.count {
                if let solver {
                    sizes.append(try RegionSize.exact(chain: chain, position: p, query: query, preactivations: pre,
                                                      input: post[p], solver: solver, sample: n))
                } else {
                    sizes.append(RegionSize.sampled(chain: chain, position: p, query: query, preactivations: pre,
                                                    input: post[p], sample: n))
                }
            }
            emit(n, sizes)
        }
    }

    /// `decompose` for samples given as arrays.
    public func decompose(_ inputs: [[Double]], keepRoots: Bool = false, solver: ClpSolver? = nil) throws(DTDError) -> [FullBackwardSample] {
        try collect(inputs) { (input, emit) throws(DTDError) in
            try decompose(batch: inputs.count, input: input, keepRoots: keepRoots, solver: solver, emit: emit)
        }
    }

    /// `regions` for samples given as arrays.
    public func regions(_ inputs: [[Double]], solver: ClpSolver? = nil) throws(DTDError) -> [[RegionSize]] {
        try collect(inputs) { (input, emit) throws(DTDError) in
            try regions(batch: inputs.count, input: input, solver: solver, emit: emit)
        }
    }

    private func collect<R: Sendable>(_ inputs: [[Double]],
                            _ run: ((Int) -> [Double], (Int, R) -> Void) throws(DTDError) -> Void) throws(DTDError) -> [R] {
        for (n, x) in inputs.enumerated() where x.count != chain.inputCount {
            throw DTDError(.shapeMismatch, "input \(n) has \(x.count) elements, the network takes \(chain.inputCount)")
        }
        let results = ResultSlots<R>(count: inputs.count)
        try run({ inputs[$0] }, { results.set($0, $1) })
        return results.values
    }
}
