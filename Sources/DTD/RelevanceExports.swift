import CDTD
import DTDCore

// MARK: - 4. Relevance: gradient, gradient x input, LRP

/// The (network, batch, input, seed, result) arguments shared by the backward methods.
struct BackwardArguments<T: BoundaryScalar> {
    let network: Network<T>
    let batch: Int
    let input: UnsafeBufferPointer<T>
    let seed: UnsafeBufferPointer<T>
    let result: UnsafeMutableBufferPointer<T>

    init(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
         _ seed: UnsafePointer<T>?, _ seedCount: Int64, _ result: UnsafeMutablePointer<T>?, _ resultCount: Int64,
         seedName: String = "output_relevance", resultName: String = "relevance") throws(DTDError) {
        self.network = try T.network(try Argument.network(network))
        self.batch = try Argument.size(batch, "batch")
        self.input = try inputView(input, inputCount, "input")
        self.seed = try inputView(seed, seedCount, seedName)
        self.result = try outputView(result, resultCount, resultName)
    }
}

func targetSeed<T: BoundaryScalar>(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<T>?, _ inputCount: Int64,
                                   _ targets: UnsafePointer<Int64>?, _ targetCount: Int64,
                                   _ seed: UnsafeMutablePointer<T>?, _ seedCount: Int64) throws(DTDError) {
    let net = try T.network(try Argument.network(network))
    let n = try Argument.size(batch, "batch")
    let x = try inputView(input, inputCount, "input")
    let k = try inputView(targets, targetCount, "targets")
    var out = try outputView(seed, seedCount, "output_seed").mutableSpan
    try net.targetSeed(input: x.span, batch: n, targets: k.span, seed: &out)
}

/// The seed f_k(x) e_k. The corresponding Swift API is `Network.targetSeed(input:batch:targets:seed:)`.
@c @implementation
public func dtd_relevance_target_seed_f32(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                          _ targets: UnsafePointer<Int64>?, _ target_count: Int64,
                                          _ output_seed: UnsafeMutablePointer<Float>?, _ output_seed_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try targetSeed(network, batch, input, input_count, targets, target_count, output_seed, output_seed_count) }
}

@c @implementation
public func dtd_relevance_target_seed_f64(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                          _ targets: UnsafePointer<Int64>?, _ target_count: Int64,
                                          _ output_seed: UnsafeMutablePointer<Double>?, _ output_seed_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in try targetSeed(network, batch, input, input_count, targets, target_count, output_seed, output_seed_count) }
}

/// J(x)^T r. The corresponding Swift API is `Network.gradient(input:batch:outputRelevance:result:)`.
@c @implementation
public func dtd_relevance_gradient_f32(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                       _ output_relevance: UnsafePointer<Float>?, _ output_relevance_count: Int64,
                                       _ relevance: UnsafeMutablePointer<Float>?, _ relevance_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        let a = try BackwardArguments(network, batch, input, input_count, output_relevance, output_relevance_count, relevance, relevance_count)
        var result = a.result.mutableSpan
        try a.network.gradient(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, result: &result)
    }
}

@c @implementation
public func dtd_relevance_gradient_f64(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                       _ output_relevance: UnsafePointer<Double>?, _ output_relevance_count: Int64,
                                       _ relevance: UnsafeMutablePointer<Double>?, _ relevance_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        let a = try BackwardArguments(network, batch, input, input_count, output_relevance, output_relevance_count, relevance, relevance_count)
        var result = a.result.mutableSpan
        try a.network.gradient(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, result: &result)
    }
}

/// x (.) J(x)^T r. The corresponding Swift API is `Network.gradientTimesInput(input:batch:outputRelevance:result:)`.
@c @implementation
public func dtd_relevance_gradient_x_input_f32(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                               _ output_relevance: UnsafePointer<Float>?, _ output_relevance_count: Int64,
                                               _ relevance: UnsafeMutablePointer<Float>?, _ relevance_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        let a = try BackwardArguments(network, batch, input, input_count, output_relevance, output_relevance_count, relevance, relevance_count)
        var result = a.result.mutableSpan
        try a.network.gradientTimesInput(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, result: &result)
    }
}

@c @implementation
public func dtd_relevance_gradient_x_input_f64(_ network: OpaquePointer?, _ batch: Int64, _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                               _ output_relevance: UnsafePointer<Double>?, _ output_relevance_count: Int64,
                                               _ relevance: UnsafeMutablePointer<Double>?, _ relevance_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        let a = try BackwardArguments(network, batch, input, input_count, output_relevance, output_relevance_count, relevance, relevance_count)
        var result = a.result.mutableSpan
        try a.network.gradientTimesInput(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, result: &result)
    }
}

/// LRP with a rule set and an optional ledger. The corresponding Swift API is
/// `Network.lrp(input:batch:outputRelevance:rules:result:ledger:)` (without: `...result:)`).
func lrp<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ batch: Int64,
                            _ input: UnsafePointer<T>?, _ inputCount: Int64, _ seed: UnsafePointer<T>?, _ seedCount: Int64,
                            _ relevance: UnsafeMutablePointer<T>?, _ relevanceCount: Int64,
                            _ ledger: UnsafeMutablePointer<dtd_ledger_entry>?, _ ledgerCount: Int64) throws(DTDError) {
    let a = try BackwardArguments(network, batch, input, inputCount, seed, seedCount, relevance, relevanceCount)
    let set = try rules(rulesPointer, for: a.network)
    let entries = try optionalOutputView(ledger, ledgerCount, "ledger")
    var result = a.result.mutableSpan
    try withLedgerView(entries) { (view: UnsafeMutableBufferPointer<LedgerEntry>?) throws(DTDError) in
        if let view {
            var ledger = view.mutableSpan
            try a.network.lrp(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, rules: set, result: &result,
                              ledger: &ledger)
        } else {
            try a.network.lrp(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, rules: set, result: &result)
        }
    }
}

/// The caller's `dtd_ledger_entry` array seen as `LedgerEntry` values: the two structs have the
/// same layout (checked here), so the engine writes the caller's memory directly.
func withLedgerView(_ entries: UnsafeMutableBufferPointer<dtd_ledger_entry>?,
                    _ body: (UnsafeMutableBufferPointer<LedgerEntry>?) throws(DTDError) -> Void) throws(DTDError) {
    guard let entries, let base = entries.baseAddress else { return try body(nil) }
    guard MemoryLayout<LedgerEntry>.stride == MemoryLayout<dtd_ledger_entry>.stride,
          MemoryLayout<LedgerEntry>.offset(of: \.relevanceOut) == MemoryLayout<dtd_ledger_entry>.offset(of: \.relevance_out),
          MemoryLayout<LedgerEntry>.offset(of: \.dropped) == MemoryLayout<dtd_ledger_entry>.offset(of: \.dropped) else {
        throw DTDError(.internal, "dtd_ledger_entry and LedgerEntry layouts differ")
    }
    let view = UnsafeMutableRawPointer(base).bindMemory(to: LedgerEntry.self, capacity: entries.count)
    defer { UnsafeMutableRawPointer(view).bindMemory(to: dtd_ledger_entry.self, capacity: entries.count) }
    try body(UnsafeMutableBufferPointer(start: view, count: entries.count))
}

@c @implementation
public func dtd_relevance_lrp_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                  _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                  _ output_relevance: UnsafePointer<Float>?, _ output_relevance_count: Int64,
                                  _ relevance: UnsafeMutablePointer<Float>?, _ relevance_count: Int64,
                                  _ ledger: UnsafeMutablePointer<dtd_ledger_entry>?, _ ledger_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try lrp(network, rules, batch, input, input_count, output_relevance, output_relevance_count, relevance, relevance_count, ledger, ledger_count)
    }
}

@c @implementation
public func dtd_relevance_lrp_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                  _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                  _ output_relevance: UnsafePointer<Double>?, _ output_relevance_count: Int64,
                                  _ relevance: UnsafeMutablePointer<Double>?, _ relevance_count: Int64,
                                  _ ledger: UnsafeMutablePointer<dtd_ledger_entry>?, _ ledger_count: Int64) -> dtd_status {
    computing { () throws(DTDError) in
        try lrp(network, rules, batch, input, input_count, output_relevance, output_relevance_count, relevance, relevance_count, ledger, ledger_count)
    }
}

// MARK: LRP with relevance at layers

/// The most recorded layers and masks one call may name.
private let maxTaps = 1 << 16

/// LRP with recorded layers and masks. The corresponding Swift API is
/// `Network.lrp(input:batch:outputRelevance:rules:result:ledger:record:recorded:masks:)`.
func lrpLayers<T: BoundaryScalar>(_ network: OpaquePointer?, _ rulesPointer: OpaquePointer?, _ batch: Int64,
                                  _ input: UnsafePointer<T>?, _ inputCount: Int64, _ seed: UnsafePointer<T>?, _ seedCount: Int64,
                                  _ relevance: UnsafeMutablePointer<T>?, _ relevanceCount: Int64,
                                  _ ledger: UnsafeMutablePointer<dtd_ledger_entry>?, _ ledgerCount: Int64,
                                  _ recordLayers: UnsafePointer<Int64>?, _ recordCount: Int64,
                                  _ recorded: UnsafeMutablePointer<T>?, _ recordedCount: Int64,
                                  _ masks: UnsafePointer<dtd_relevance_mask>?, _ maskCount: Int64) throws(DTDError) {
    let a = try BackwardArguments(network, batch, input, inputCount, seed, seedCount, relevance, relevanceCount)
    let set = try rules(rulesPointer, for: a.network)
    let entries = try optionalOutputView(ledger, ledgerCount, "ledger")
    let recordList = try optionalInputView(recordLayers, recordCount, "record_layers")
    guard (recordList?.count ?? 0) <= maxTaps else { throw DTDError(.size, "record_count exceeds the limit \(maxTaps)") }
    let record = (recordList ?? UnsafeBufferPointer(start: nil, count: 0)).map { Int($0) }
    let blocks = try optionalOutputView(recorded, recordedCount, "recorded")
    let maskList = try optionalInputView(masks, maskCount, "masks")
    guard (maskList?.count ?? 0) <= maxTaps else { throw DTDError(.size, "mask_count exceeds the limit \(maxTaps)") }
    var relevanceMasks: [RelevanceMask] = []
    for (i, mask) in (maskList ?? UnsafeBufferPointer(start: nil, count: 0)).enumerated() {
        // The flag count is checked against the layer's shape below; read no more flags than
        // that layer has (a count beyond its output size is an error, not a read).
        let layer = try Argument.layer(mask.layer, of: try Argument.network(network), "masks[\(i)].layer")
        let limit = a.network.layers[layer].outputShape.count
        guard mask.keep_count >= 0, mask.keep_count <= Int64(limit) else {
            throw DTDError(.shapeMismatch, "masks[\(i)]: keep_count = \(mask.keep_count); layer \(layer)'s output \(a.network.layers[layer].outputShape) takes its channel count or \(limit) flags")
        }
        let flags = try inputView(mask.keep, mask.keep_count, "masks[\(i)].keep")
        relevanceMasks.append(RelevanceMask(layer: layer, keep: flags.map { $0 != 0 }))
    }
    var result = a.result.mutableSpan
    var recordedSpan = (blocks ?? UnsafeMutableBufferPointer(start: nil, count: 0)).mutableSpan
    try withLedgerView(entries) { (view: UnsafeMutableBufferPointer<LedgerEntry>?) throws(DTDError) in
        if let view {
            var ledger = view.mutableSpan
            try a.network.lrp(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, rules: set, result: &result,
                              ledger: &ledger, record: record, recorded: &recordedSpan, masks: relevanceMasks)
        } else {
            try a.network.lrp(input: a.input.span, batch: a.batch, outputRelevance: a.seed.span, rules: set, result: &result,
                              record: record, recorded: &recordedSpan, masks: relevanceMasks)
        }
    }
}

@c @implementation
public func dtd_relevance_lrp_layers_f32(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                         _ input: UnsafePointer<Float>?, _ input_count: Int64,
                                         _ output_relevance: UnsafePointer<Float>?, _ output_relevance_count: Int64,
                                         _ relevance: UnsafeMutablePointer<Float>?, _ relevance_count: Int64,
                                         _ ledger: UnsafeMutablePointer<dtd_ledger_entry>?, _ ledger_count: Int64,
                                         _ record_layers: UnsafePointer<Int64>?, _ record_count: Int64,
                                         _ recorded: UnsafeMutablePointer<Float>?, _ recorded_count: Int64,
                                         _ masks: UnsafePointer<dtd_relevance_mask>?, _ mask_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try lrpLayers(network, rules, batch, input, input_count, output_relevance, output_relevance_count, relevance,
                      relevance_count, ledger, ledger_count, record_layers, record_count, recorded, recorded_count,
                      masks, mask_count)
    }
}

@c @implementation
public func dtd_relevance_lrp_layers_f64(_ network: OpaquePointer?, _ rules: OpaquePointer?, _ batch: Int64,
                                         _ input: UnsafePointer<Double>?, _ input_count: Int64,
                                         _ output_relevance: UnsafePointer<Double>?, _ output_relevance_count: Int64,
                                         _ relevance: UnsafeMutablePointer<Double>?, _ relevance_count: Int64,
                                         _ ledger: UnsafeMutablePointer<dtd_ledger_entry>?, _ ledger_count: Int64,
                                         _ record_layers: UnsafePointer<Int64>?, _ record_count: Int64,
                                         _ recorded: UnsafeMutablePointer<Double>?, _ recorded_count: Int64,
                                         _ masks: UnsafePointer<dtd_relevance_mask>?, _ mask_count: Int64) -> dtd_status {
    guarded { () throws(DTDError) in
        try lrpLayers(network, rules, batch, input, input_count, output_relevance, output_relevance_count, relevance,
                      relevance_count, ledger, ledger_count, record_layers, record_count, recorded, recorded_count,
                      masks, mask_count)
    }
}
