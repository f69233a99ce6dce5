import CDTD
import DTDCore

// MARK: - 6. DTD root points and the root audit

/// The C query as the engine's `RootQuery`. With `placementUsed` false (root construction)
/// the placement and flags are ignored, as documented.
func rootQuery(_ pointer: UnsafePointer<dtd_root_query>?, placementUsed: Bool = true) throws(DTDError) -> RootQuery {
    guard let q = pointer?.pointee else { throw DTDError(.nullPointer, "query is NULL") }
    var placement = Placement.relevance
    if placementUsed {
        guard let chosen = Placement(rawValue: q.placement) else {
            throw DTDError(.outOfRange, "query->placement = \(q.placement) is neither DTD_PLACEMENT_HYPERPLANE (1) nor DTD_PLACEMENT_RELEVANCE (2)")
        }
        placement = chosen
        guard q.flags & ~Int32(DTD_QUERY_CONSTRAIN_TO_REGION) == 0 else {
            throw DTDError(.outOfRange, "query->flags = \(q.flags) has bits other than DTD_QUERY_CONSTRAIN_TO_REGION")
        }
    }
    guard q.layer >= 0, q.layer <= Int64(Limits.maxDimension) else {
        throw DTDError(.layerIndex, "query->layer = \(q.layer) is negative or too large")
    }
    guard q.target >= 0, q.target <= Int64(Limits.maxDimension) else {
        throw DTDError(.outOfRange, "query->target = \(q.target) is negative or too large")
    }
    guard q.neuron_begin >= 0, q.neuron_end > q.neuron_begin, q.neuron_end <= Int64(Limits.maxDimension) else {
        throw DTDError(.outOfRange, "query neuron range [\(q.neuron_begin), \(q.neuron_end)) must be non-empty and non-negative")
    }
    return RootQuery(layer: Int(q.layer), target: Int(q.target), placement: placement,
                     constrainToRegion: placementUsed && q.flags & Int32(DTD_QUERY_CONSTRAIN_TO_REGION) != 0,
                     tolerance: q.tol, neurons: Int(q.neuron_begin)..<Int(q.neuron_end))
}

/// The caller's record array seen as the engine's layout-identical Swift records (checked).
func withRecordView<C, S>(_ buffer: UnsafeMutableBufferPointer<C>, as type: S.Type, layoutMatches: Bool,
                          _ body: (UnsafeMutableBufferPointer<S>) throws(DTDError) -> Void) throws(DTDError) {
    guard layoutMatches, MemoryLayout<C>.stride == MemoryLayout<S>.stride else {
        throw DTDError(.internal, "\(C.self) and \(S.self) layouts differ")
    }
    guard let base = buffer.baseAddress else { return try body(UnsafeMutableBufferPointer(start: nil, count: 0)) }
    let view = UnsafeMutableRawPointer(base).bindMemory(to: S.self, capacity: buffer.count)
    defer { UnsafeMutableRawPointer(view).bindMemory(to: C.self, capacity: buffer.count) }
    try body(UnsafeMutableBufferPointer(start: view, count: buffer.count))
}

let rootInfoLayoutMatches =
    MemoryLayout<RootInfo>.offset(of: \.flagBits) == MemoryLayout<dtd_root_info>.offset(of: \.flags)
    && MemoryLayout<RootInfo>.offset(of: \.t) == MemoryLayout<dtd_root_info>.offset(of: \.t)
let auditRecordLayoutMatches = rootInfoLayoutMatches
    && MemoryLayout<AuditRecord>.offset(of: \.samePatternFlag) == MemoryLayout<dtd_audit_record>.offset(of: \.same_pattern)
    && MemoryLayout<AuditRecord>.offset(of: \.unexplained) == MemoryLayout<dtd_audit_record>.offset(of: \.unexplained)

/// Copies an engine summary into the caller's struct.
func store(_ s: AuditSummary, in out: UnsafeMutablePointer<dtd_audit_summary>?) {
    guard let out else { return }
    out.pointee = dtd_audit_summary(
        samples: Int64(s.samples), pairs: Int64(s.pairs), outside_by_gradient: s.outsideByGradient,
        outside_by_pattern: s.outsideByPattern, unchanged_output: s.unchangedOutput,
        mean_segment_inside: s.meanSegmentInside, max_conservation_error: s.maxConservationError,
        unexplained_fraction: s.unexplainedFraction)
}

/// Roots per sample. The corresponding Swift API is `Network.rootCount(rules:query:)`.
@c @implementation
public func dtd_roots_count(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                            _ out_roots_per_sample: UnsafeMutablePointer<Int64>?) -> dtd_status {
    computing { () throws(DTDError) in
        let handle = try Argument.network(network)
        let out = try Argument.output(out_roots_per_sample, "out_roots_per_sample")
        let q = try rootQuery(query)
        switch handle.model {
        case .float32(let n): out.pointee = Int64(try n.rootCount(rules: try DTD.rules(rules, for: n), query: q))
        case .float64(let n): out.pointee = Int64(try n.rootCount(rules: try DTD.rules(rules, for: n), query: q))
        }
    }
}

func computeRoots<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                     _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
                                     _ points: UnsafeMutablePointer<T>?, _ pointsCount: Int64,
                                     _ info: UnsafeMutablePointer<dtd_root_info>?, _ infoCount: Int64) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let set = try rules(rulesPointer, for: net)
    let q = try rootQuery(query)
    let n = try Argument.size(batch, "batch")
    let x = try inputView(input, inputCount, "input")
    let p = try optionalOutputView(points, pointsCount, "points")
    let records = try outputView(info, infoCount, "info")
    try withRecordView(records, as: RootInfo.self, layoutMatches: rootInfoLayoutMatches) { (view) throws(DTDError) in
        var info = view.mutableSpan
        if let p {
            var pointsSpan = p.mutableSpan
            try net.roots(input: x.span, batch: n, rules: set, query: q, points: &pointsSpan, info: &info)
        } else {
            try net.roots(input: x.span, batch: n, rules: set, query: q, info: &info)
        }
    }
}

/// The root points of a layer. The corresponding Swift API is `Network.roots(input:batch:rules:query:points:info:)`
/// (without points: `Network.roots(input:batch:rules:query:info:)`).
@c @implementation
public func dtd_roots_compute_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                  _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                  _ points: UnsafeMutablePointer<Float>?, _ points_count: Int64,
                                  _ info: UnsafeMutablePointer<dtd_root_info>?, _ info_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try computeRoots(network, rules, query, batch, input, input_count, points, points_count, info, info_count) }
}

@c @implementation
public func dtd_roots_compute_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                  _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                  _ points: UnsafeMutablePointer<Double>?, _ points_count: Int64,
                                  _ info: UnsafeMutablePointer<dtd_root_info>?, _ info_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try computeRoots(network, rules, query, batch, input, input_count, points, points_count, info, info_count) }
}

func auditRoots<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                   _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
                                   _ records: UnsafeMutablePointer<dtd_audit_record>?, _ recordsCount: Int64,
                                   _ summary: UnsafeMutablePointer<dtd_audit_summary>?) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let set = try rules(rulesPointer, for: net)
    let q = try rootQuery(query)
    let n = try Argument.size(batch, "batch")
    let x = try inputView(input, inputCount, "input")
    let out = try outputView(records, recordsCount, "records")
    try withRecordView(out, as: AuditRecord.self, layoutMatches: auditRecordLayoutMatches) { (view) throws(DTDError) in
        var records = view.mutableSpan
        store(try net.auditRoots(input: x.span, batch: n, rules: set, query: q, records: &records), in: summary)
    }
}

/// Computes and audits the roots of a layer. The corresponding Swift API is `Network.auditRoots(input:batch:rules:query:records:)`.
@c @implementation
public func dtd_audit_roots_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                _ records: UnsafeMutablePointer<dtd_audit_record>?, _ records_count: Int64,
                                _ summary: UnsafeMutablePointer<dtd_audit_summary>?) -> dtd_status {
    computing { () throws(DTDError) in try auditRoots(network, rules, query, batch, input, input_count, records, records_count, summary) }
}

@c @implementation
public func dtd_audit_roots_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                _ records: UnsafeMutablePointer<dtd_audit_record>?, _ records_count: Int64,
                                _ summary: UnsafeMutablePointer<dtd_audit_summary>?) -> dtd_status {
    computing { () throws(DTDError) in try auditRoots(network, rules, query, batch, input, input_count, records, records_count, summary) }
}

func auditPoints<T: BoundaryScalar>(_ network: OpaquePointer?, _ layer: Int64, _ target: Int64, _ batch: Int64,
                                    _ input: UnsafePointer<T>?, _ inputCount: Int64, _ pointsPerSample: Int64,
                                    _ points: UnsafePointer<T>?, _ pointsCount: Int64,
                                    _ records: UnsafeMutablePointer<dtd_audit_record>?, _ recordsCount: Int64,
                                    _ summary: UnsafeMutablePointer<dtd_audit_summary>?) throws(DTDError) {
    let handle = try Argument.network(network)
    let net = try T.network(handle)
    try net.checkNotEmpty()
    let index = try Argument.layer(layer, of: handle)
    guard target >= 0, target < Int64(net.outputCount) else {
        throw DTDError(.outOfRange, "target = \(target) is outside [0, \(net.outputCount)) for output \(net.outputShape)")
    }
    let n = try Argument.size(batch, "batch")
    let perSample = try Argument.size(pointsPerSample, "points_per_sample")
    let x = try inputView(input, inputCount, "input")
    let p = try inputView(points, pointsCount, "points")
    let out = try outputView(records, recordsCount, "records")
    try withRecordView(out, as: AuditRecord.self, layoutMatches: auditRecordLayoutMatches) { (view) throws(DTDError) in
        var records = view.mutableSpan
        store(try net.auditPoints(input: x.span, batch: n, layer: index, target: Int(target), pointsPerSample: perSample,
                                  points: p.span, records: &records), in: summary)
    }
}

/// Audits arbitrary points. The corresponding Swift API is `Network.auditPoints(input:batch:layer:target:pointsPerSample:points:records:)`.
@c @implementation
public func dtd_audit_points_f32(_ network: OpaquePointer?, _ layer: Int64, _ target: Int64, _ batch: Int64,
                                 _ input: UnsafePointer<Float>?, _ input_count: Int64, _ points_per_sample: Int64,
                                 _ points: UnsafePointer<Float>?, _ points_count: Int64,
                                 _ records: UnsafeMutablePointer<dtd_audit_record>?, _ records_count: Int64,
                                 _ summary: UnsafeMutablePointer<dtd_audit_summary>?) -> dtd_status {
    computing { () throws(DTDError) in
        try auditPoints(network, layer, target, batch, input, input_count, points_per_sample, points, points_count, records, records_count, summary)
    }
}

@c @implementation
public func dtd_audit_points_f64(_ network: OpaquePointer?, _ layer: Int64, _ target: Int64, _ batch: Int64,
                                 _ input: UnsafePointer<Double>?, _ input_count: Int64, _ points_per_sample: Int64,
                                 _ points: UnsafePointer<Double>?, _ points_count: Int64,
                                 _ records: UnsafeMutablePointer<dtd_audit_record>?, _ records_count: Int64,
                                 _ summary: UnsafeMutablePointer<dtd_audit_summary>?) -> dtd_status {
    computing { () throws(DTDError) in
        try auditPoints(network, layer, target, batch, input, input_count, points_per_sample, points, points_count, records, records_count, summary)
    }
}
