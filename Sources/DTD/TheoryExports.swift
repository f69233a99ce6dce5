import CDTD
import DTDCore

// MARK: - 7. The study's theory as checks

func gxiDistance<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ batch: Int64,
                                    _ input: UnsafePointer<T>?, _ inputCount: Int64, _ seed: UnsafePointer<T>?, _ seedCount: Int64,
                                    _ distances: UnsafeMutablePointer<Double>?, _ distancesCount: Int64) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let set = try rules(rulesPointer, for: net)
    let n = try Argument.size(batch, "batch")
    let x = try inputView(input, inputCount, "input")
    let r = try inputView(seed, seedCount, "output_relevance")
    var out = try outputView(distances, distancesCount, "distances").mutableSpan
    try net.gradientTimesInputDistance(input: x.span, batch: n, outputRelevance: r.span, rules: set, distances: &out)
}

/// T2: distance of LRP to gradient x input. The corresponding Swift API is `Network.gradientTimesInputDistance(...)`.
@c @implementation
public func dtd_theory_gxi_distance_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                        _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                        _ output_relevance: UnsafePointer<Float>?, _ output_relevance_count: Int64,
                                        _ distances: UnsafeMutablePointer<Double>?, _ distances_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try gxiDistance(network, rules, batch, input, input_count, output_relevance, output_relevance_count, distances, distances_count)
    }
}

@c @implementation
public func dtd_theory_gxi_distance_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                        _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                        _ output_relevance: UnsafePointer<Double>?, _ output_relevance_count: Int64,
                                        _ distances: UnsafeMutablePointer<Double>?, _ distances_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try gxiDistance(network, rules, batch, input, input_count, output_relevance, output_relevance_count, distances, distances_count)
    }
}

func constantRoot<T: BoundaryScalar>(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
                                     _ root: UnsafePointer<T>?, _ rootCount: Int64, _ seed: UnsafePointer<T>?, _ seedCount: Int64,
                                     _ relevance: UnsafeMutablePointer<T>?, _ relevanceCount: Int64) throws(DTDError) {
    let a = try BackwardArguments(network, batch, input, inputCount, seed, seedCount, relevance, relevanceCount)
    let x0 = try inputView(root, rootCount, "root")
    var result = a.result.mutableSpan
    try a.network.constantRootExplanation(input: a.input.span, batch: a.batch, root: x0.span, outputRelevance: a.seed.span,
                                          result: &result)
}

/// T2: the explanation of a constant root. The corresponding Swift API is `Network.constantRootExplanation(...)`.
@c @implementation
public func dtd_theory_constant_root_f32(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                         _ root: UnsafePointer<Float>?, _ root_count: Int64,
                                         _ output_relevance: UnsafePointer<Float>?, _ output_relevance_count: Int64,
                                         _ relevance: UnsafeMutablePointer<Float>?, _ relevance_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try constantRoot(network, batch, input, input_count, root, root_count, output_relevance, output_relevance_count, relevance, relevance_count)
    }
}

@c @implementation
public func dtd_theory_constant_root_f64(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                         _ root: UnsafePointer<Double>?, _ root_count: Int64,
                                         _ output_relevance: UnsafePointer<Double>?, _ output_relevance_count: Int64,
                                         _ relevance: UnsafeMutablePointer<Double>?, _ relevance_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try constantRoot(network, batch, input, input_count, root, root_count, output_relevance, output_relevance_count, relevance, relevance_count)
    }
}

func constructRoots<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                       _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
                                       _ explanation: UnsafePointer<T>?, _ explanationCount: Int64,
                                       _ points: UnsafeMutablePointer<T>?, _ pointsCount: Int64,
                                       _ info: UnsafeMutablePointer<dtd_root_info>?, _ infoCount: Int64) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let set = try rules(rulesPointer, for: net)
    let q = try rootQuery(query, placementUsed: false)
    let n = try Argument.size(batch, "batch")
    let x = try inputView(input, inputCount, "input")
    let e = try inputView(explanation, explanationCount, "explanation")
    var p = try outputView(points, pointsCount, "points").mutableSpan
    if let records = try optionalOutputView(info, infoCount, "info") {
        try withRecordView(records, as: RootInfo.self, layoutMatches: rootInfoLayoutMatches) { (view) throws(DTDError) in
            var infoSpan = view.mutableSpan
            try net.constructRoots(input: x.span, batch: n, rules: set, query: q, explanation: e.span, points: &p, info: &infoSpan)
        }
    } else {
        try net.constructRoots(input: x.span, batch: n, rules: set, query: q, explanation: e.span, points: &p)
    }
}

/// T3: roots that reproduce a given explanation. The corresponding Swift API is `Network.constructRoots(...)`.
@c @implementation
public func dtd_theory_construct_roots_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                           _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                           _ explanation: UnsafePointer<Float>?, _ explanation_count: Int64,
                                           _ points: UnsafeMutablePointer<Float>?, _ points_count: Int64,
                                           _ info: UnsafeMutablePointer<dtd_root_info>?, _ info_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try constructRoots(network, rules, query, batch, input, input_count, explanation, explanation_count, points, points_count, info, info_count)
    }
}

@c @implementation
public func dtd_theory_construct_roots_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ query: UnsafePointer<dtd_root_query>?,
                                           _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                           _ explanation: UnsafePointer<Double>?, _ explanation_count: Int64,
                                           _ points: UnsafeMutablePointer<Double>?, _ points_count: Int64,
                                           _ info: UnsafeMutablePointer<dtd_root_info>?, _ info_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try constructRoots(network, rules, query, batch, input, input_count, explanation, explanation_count, points, points_count, info, info_count)
    }
}

func rankOne<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ batch: Int64,
                                _ input: UnsafePointer<T>?, _ inputCount: Int64, _ seedsPerSample: Int64,
                                _ seeds: UnsafePointer<T>?, _ seedsCount: Int64,
                                _ csc: UnsafeMutablePointer<Double>?, _ cscCount: Int64) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let set = try rules(rulesPointer, for: net)
    let n = try Argument.size(batch, "batch")
    let perSample = try Argument.size(seedsPerSample, "seeds_per_sample")
    let x = try inputView(input, inputCount, "input")
    let s = try inputView(seeds, seedsCount, "seeds")
    var out = try outputView(csc, cscCount, "csc").mutableSpan
    try net.rankOneSimilarity(input: x.span, batch: n, rules: set, seedsPerSample: perSample, seeds: s.span, csc: &out)
}

/// Rank-1 convergence: mean pairwise cosine similarity per layer. The corresponding Swift API is `Network.rankOneSimilarity(...)`.
@c @implementation
public func dtd_theory_rank1_csc_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                     _ input: UnsafePointer<Float>?, _ input_count: Int64, _ seeds_per_sample: Int64,
                                     _ seeds: UnsafePointer<Float>?, _ seeds_count: Int64,
                                     _ csc: UnsafeMutablePointer<Double>?, _ csc_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try rankOne(network, rules, batch, input, input_count, seeds_per_sample, seeds, seeds_count, csc, csc_count) }
}

@c @implementation
public func dtd_theory_rank1_csc_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                     _ input: UnsafePointer<Double>?, _ input_count: Int64, _ seeds_per_sample: Int64,
                                     _ seeds: UnsafePointer<Double>?, _ seeds_count: Int64,
                                     _ csc: UnsafeMutablePointer<Double>?, _ csc_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try rankOne(network, rules, batch, input, input_count, seeds_per_sample, seeds, seeds_count, csc, csc_count) }
}
