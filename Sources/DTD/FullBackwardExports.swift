import CDTD
import DTDCore

// MARK: - 8. Full-backward DTD (the study's second experiment)

/// The C query as the engine's `FullBackwardQuery`.
func fullBackwardQuery(_ pointer: UnsafePointer<dtd_full_backward_query>?) throws(DTDError) -> FullBackwardQuery {
    guard let q = pointer?.pointee else { throw DTDError(.nullPointer, "query is NULL") }
    guard let method = FullBackwardMethod(rawValue: q.method) else {
        throw DTDError(.invalidArgument, "query->method = \(q.method) is none of DTD_FULL_BACKWARD_EXACT (1), _SAMPLED (2), _BISECT (3)")
    }
    guard q.target >= 0, q.target <= Int64(Limits.maxDimension) else {
        throw DTDError(.outOfRange, "query->target = \(q.target) is negative or too large")
    }
    guard q.directions >= 0 else {
        throw DTDError(.outOfRange, "query->directions = \(q.directions) must be 0 (the study's 50) or positive")
    }
    return FullBackwardQuery(target: Int(q.target), method: method, seed: q.seed,
                             directions: q.directions == 0 ? FullBackwardQuery.defaultDirections : Int(q.directions),
                             inputLower: q.input_lower)
}

/// The prepared problem for a network handle of element type `T`.
func fullBackward<T: BoundaryScalar>(_ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?,
                                     as type: T.Type) throws(DTDError) -> FullBackward {
    let net = try T.network(try Argument.network(network))
    return try FullBackward(network: net, query: try fullBackwardQuery(query))
}

/// `batch * perSample` elements, checked against a buffer of `count`.
func checkCapacity(_ count: Int, batch: Int, perSample: Int, _ name: String) throws(DTDError) {
    let need = try Limits.product(batch, perSample, "\(name): batch x elements per sample")
    guard count >= need else {
        throw DTDError(.bufferTooSmall, "\(name)_count = \(count) is below batch x \(perSample) = \(need)")
    }
}

/// The caller's input, sample by sample, as float64.
func sampleReader<T: BoundaryScalar>(_ input: UnsafeBufferPointer<T>, width: Int) -> (Int) -> [Double] {
    { n in (0..<width).map { Double(input[n * width + $0]) } }
}

/// Whether CLP loads. The corresponding Swift API is `ClpSolver.isAvailable`.
@c @implementation
public func dtd_full_backward_available() -> Int32 { ClpSolver.isAvailable ? 1 : 0 }

/// Output sizes per sample. The corresponding Swift API is `FullBackward.sizes`.
@c @implementation
public func dtd_full_backward_count(_ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?,
                                    _ out_sizes: UnsafeMutablePointer<dtd_full_backward_sizes>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let handle = try Argument.network(network)
        let out = try Argument.output(out_sizes, "out_sizes")
        let problem: FullBackward
        switch handle.model {
        case .float32(let n): problem = try FullBackward(network: n, query: try fullBackwardQuery(query))
        case .float64(let n): problem = try FullBackward(network: n, query: try fullBackwardQuery(query))
        }
        let s = problem.sizes
        out.pointee = dtd_full_backward_sizes(layers: Int64(s.layers), units: Int64(s.units),
                                              root_elements: Int64(s.rootElements), box_elements: Int64(s.boxElements))
    }
}

func computeFullBackward<T: BoundaryScalar>(
    _ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?, _ batch: Int64,
    _ input: UnsafePointer<T>?, _ inputCount: Int64,
    _ units: UnsafeMutablePointer<dtd_full_backward_unit>?, _ unitsCount: Int64,
    _ inputRelevance: UnsafeMutablePointer<T>?, _ inputRelevanceCount: Int64,
    _ inputSlope: UnsafeMutablePointer<T>?, _ inputSlopeCount: Int64,
    _ roots: UnsafeMutablePointer<T>?, _ rootsCount: Int64,
    _ samples: UnsafeMutablePointer<dtd_full_backward_sample>?, _ samplesCount: Int64
) throws(DTDError) {
    let problem = try fullBackward(network, query, as: T.self)
    let n = try Argument.size(batch, "batch")
    let d = problem.chain.inputCount, sizes = problem.sizes
    let x = try inputView(input, inputCount, "input")
    let unitView = try outputView(units, unitsCount, "units")
    let relevanceView = try outputView(inputRelevance, inputRelevanceCount, "input_relevance")
    let slopeView = try optionalOutputView(inputSlope, inputSlopeCount, "input_slope")
    let rootView = try optionalOutputView(roots, rootsCount, "roots")
    let sampleView = try optionalOutputView(samples, samplesCount, "samples")
    try checkCapacity(x.count, batch: n, perSample: d, "input")
    try checkCapacity(unitView.count, batch: n, perSample: sizes.units, "units")
    try checkCapacity(relevanceView.count, batch: n, perSample: d, "input_relevance")
    if let slopeView { try checkCapacity(slopeView.count, batch: n, perSample: d, "input_slope") }
    if let rootView { try checkCapacity(rootView.count, batch: n, perSample: sizes.rootElements, "roots") }
    if let sampleView { try checkCapacity(sampleView.count, batch: n, perSample: 1, "samples") }

    try problem.decompose(batch: n, input: sampleReader(x, width: d), keepRoots: rootView != nil) { s, result in
        for (k, u) in result.units.enumerated() {
            unitView[s * sizes.units + k] = dtd_full_backward_unit(
                layer: Int64(u.layer), unit: Int64(u.unit), dense_index: Int32(truncatingIfNeeded: u.denseIndex),
                flags: u.flags.rawValue, relevance: u.relevance, lp_min: u.lpMin, unresolved: u.unresolved,
                root_distance: u.rootDistance)
        }
        for i in 0..<d { relevanceView[s * d + i] = T(result.inputRelevance[i]) }
        if let slopeView { for i in 0..<d { slopeView[s * d + i] = T(result.inputSlope[i]) } }
        if let rootView {
            for (k, v) in result.roots.enumerated() { rootView[s * sizes.rootElements + k] = T(v) }
        }
        sampleView?[s] = dtd_full_backward_sample(
            output: result.output, input_sum: result.inputSum, unresolved_sum: result.unresolvedSum,
            skipped_sum: result.skippedSum, ledger_error: result.ledgerError,
            solver_calls: Int64(result.solverCalls), root_searches: Int64(result.rootSearches))
    }
}

/// Full-backward DTD of a batch. The corresponding Swift API is
/// `FullBackward.decompose(batch:input:keepRoots:solver:emit:)`.
@c @implementation
public func dtd_full_backward_compute_f32(_ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?,
                                          _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                          _ units: UnsafeMutablePointer<dtd_full_backward_unit>?, _ units_count: Int64,
                                          _ input_relevance: UnsafeMutablePointer<Float>?, _ input_relevance_count: Int64,
                                          _ input_slope: UnsafeMutablePointer<Float>?, _ input_slope_count: Int64,
                                          _ roots: UnsafeMutablePointer<Float>?, _ roots_count: Int64,
                                          _ samples: UnsafeMutablePointer<dtd_full_backward_sample>?, _ samples_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try computeFullBackward(network, query, batch, input, input_count, units, units_count, input_relevance,
                                input_relevance_count, input_slope, input_slope_count, roots, roots_count, samples, samples_count)
    }
}

@c @implementation
public func dtd_full_backward_compute_f64(_ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?,
                                          _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                          _ units: UnsafeMutablePointer<dtd_full_backward_unit>?, _ units_count: Int64,
                                          _ input_relevance: UnsafeMutablePointer<Double>?, _ input_relevance_count: Int64,
                                          _ input_slope: UnsafeMutablePointer<Double>?, _ input_slope_count: Int64,
                                          _ roots: UnsafeMutablePointer<Double>?, _ roots_count: Int64,
                                          _ samples: UnsafeMutablePointer<dtd_full_backward_sample>?, _ samples_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try computeFullBackward(network, query, batch, input, input_count, units, units_count, input_relevance,
                                input_relevance_count, input_slope, input_slope_count, roots, roots_count, samples, samples_count)
    }
}

func fullBackwardRegions<T: BoundaryScalar>(
    _ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?, _ batch: Int64,
    _ input: UnsafePointer<T>?, _ inputCount: Int64,
    _ regions: UnsafeMutablePointer<dtd_full_backward_region>?, _ regionsCount: Int64,
    _ boxes: UnsafeMutablePointer<T>?, _ boxesCount: Int64
) throws(DTDError) {
    let problem = try fullBackward(network, query, as: T.self)
    let n = try Argument.size(batch, "batch")
    let d = problem.chain.inputCount, sizes = problem.sizes
    let x = try inputView(input, inputCount, "input")
    let regionView = try outputView(regions, regionsCount, "regions")
    let boxView = try optionalOutputView(boxes, boxesCount, "boxes")
    try checkCapacity(x.count, batch: n, perSample: d, "input")
    try checkCapacity(regionView.count, batch: n, perSample: sizes.layers, "regions")
    if let boxView { try checkCapacity(boxView.count, batch: n, perSample: sizes.boxElements, "boxes") }

    try problem.regions(batch: n, input: sampleReader(x, width: d)) { s, result in
        var offset = s * sizes.boxElements
        for (p, r) in result.enumerated() {
            regionView[s * sizes.layers + p] = dtd_full_backward_region(
                layer: Int64(r.layer), constraints: Int64(r.constraints), unbounded: Int64(r.unboundedCoordinates),
                hinge_distance: r.hingeDistance, mean_width: r.meanWidth, mean_width_clipped: r.meanWidthClipped)
            guard let boxView else { continue }
            for run in [r.low, r.high, r.lowClipped, r.highClipped] {
                for v in run {
                    boxView[offset] = T(v)
                    offset += 1
                }
            }
        }
    }
}

/// The region sizes of every dense layer. The corresponding Swift API is
/// `FullBackward.regions(batch:input:solver:emit:)`.
@c @implementation
public func dtd_full_backward_regions_f32(_ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?,
                                          _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                          _ regions: UnsafeMutablePointer<dtd_full_backward_region>?, _ regions_count: Int64,
                                          _ boxes: UnsafeMutablePointer<Float>?, _ boxes_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try fullBackwardRegions(network, query, batch, input, input_count, regions, regions_count, boxes, boxes_count)
    }
}

@c @implementation
public func dtd_full_backward_regions_f64(_ network: OpaquePointer?, _ query: UnsafePointer<dtd_full_backward_query>?,
                                          _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                          _ regions: UnsafeMutablePointer<dtd_full_backward_region>?, _ regions_count: Int64,
                                          _ boxes: UnsafeMutablePointer<Double>?, _ boxes_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try fullBackwardRegions(network, query, batch, input, input_count, regions, regions_count, boxes, boxes_count)
    }
}
