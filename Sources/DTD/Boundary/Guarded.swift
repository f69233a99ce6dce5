import CDTD
import DTDCore

/// The header's status codes as a Swift type, so no magic numbers appear in the boundary.
struct DTDStatus: RawRepresentable, Equatable {
    let rawValue: dtd_status

    static let ok = DTDStatus(rawValue: dtd_status(DTD_OK))

    /// The status code of an engine error kind.
    init(_ kind: DTDError.Kind) {
        let code: Int32
        switch kind {
        case .nullPointer: code = DTD_ERROR_NULL_POINTER
        case .invalidArgument: code = DTD_ERROR_INVALID_ARGUMENT
        case .size: code = DTD_ERROR_SIZE
        case .overflow: code = DTD_ERROR_OVERFLOW
        case .shapeMismatch: code = DTD_ERROR_SHAPE_MISMATCH
        case .bufferTooSmall: code = DTD_ERROR_BUFFER_TOO_SMALL
        case .layerIndex: code = DTD_ERROR_LAYER_INDEX
        case .dtype: code = DTD_ERROR_DTYPE
        case .emptyNetwork: code = DTD_ERROR_EMPTY_NETWORK
        case .rule: code = DTD_ERROR_RULE
        case .nonFinite: code = DTD_ERROR_NON_FINITE
        case .layerOrder: code = DTD_ERROR_LAYER_ORDER
        case .networkMismatch: code = DTD_ERROR_NETWORK_MISMATCH
        case .outOfRange: code = DTD_ERROR_OUT_OF_RANGE
        case .outOfMemory: code = DTD_ERROR_OUT_OF_MEMORY
        case .unsupported: code = DTD_ERROR_UNSUPPORTED
        case .internal: code = DTD_ERROR_INTERNAL
        }
        rawValue = dtd_status(code)
    }

    init(rawValue: dtd_status) { self.rawValue = rawValue }
}

/// Runs one exported call: clears this thread's message, runs `body`, finishes the call's
/// realigned buffers (`Realignment`), and maps a thrown `DTDError` to its status code and
/// message. Every fallible entry point is one `guarded { }`.
func guarded(_ function: StaticString = #function, _ body: () throws(DTDError) -> Void) -> dtd_status {
    do {
        try body()
        Realignment.finish(success: true)
        LastError.clear()
        return DTDStatus.ok.rawValue
    } catch {
        Realignment.finish(success: false)
        let name = "\(function)".split(separator: "(").first.map(String.init) ?? "\(function)"
        LastError.set("\(name): \(error.message)")
        return DTDStatus(error.kind).rawValue
    }
}

/// `guarded` for a compute call (forward, the relevance methods, roots, the audit, the theory
/// checks): the memory it allocates for itself counts against the scratch cap
/// (`ScratchLimit`, `dtd_set_max_scratch_bytes`). Building calls are not capped: what they
/// allocate is the model the caller asked for.
func computing(_ function: StaticString = #function, _ body: () throws(DTDError) -> Void) -> dtd_status {
    guarded(function) { () throws(DTDError) in try ScratchLimit.withBudget(body) }
}
