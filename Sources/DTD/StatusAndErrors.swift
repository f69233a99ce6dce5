import CDTD
import DTDCore

// MARK: - 2. Status codes and errors

/// A static description of a status code ("unknown status" for codes this version does not define).
@c @implementation
public func dtd_status_string(_ status: dtd_status) -> UnsafePointer<CChar>? {
    let text: StaticString
    switch status {
    case DTD_OK: text = "ok"
    case DTD_ERROR_NULL_POINTER: text = "a required pointer is NULL"
    case DTD_ERROR_INVALID_ARGUMENT: text = "an argument is outside its valid domain"
    case DTD_ERROR_SIZE: text = "a size or count is zero, negative or too large"
    case DTD_ERROR_OVERFLOW: text = "a product of sizes overflows int64"
    case DTD_ERROR_SHAPE_MISMATCH: text = "shapes or counts do not fit"
    case DTD_ERROR_BUFFER_TOO_SMALL: text = "a buffer is too small"
    case DTD_ERROR_LAYER_INDEX: text = "layer index out of range"
    case DTD_ERROR_DTYPE: text = "the entry point does not match the network's dtype"
    case DTD_ERROR_EMPTY_NETWORK: text = "the network has no layers"
    case DTD_ERROR_RULE: text = "missing or unusable rule"
    case DTD_ERROR_NON_FINITE: text = "a weight or parameter is not finite"
    case DTD_ERROR_LAYER_ORDER: text = "the layer cannot follow the previous one"
    case DTD_ERROR_NETWORK_MISMATCH: text = "the rule set belongs to another network or revision"
    case DTD_ERROR_OUT_OF_RANGE: text = "a target, neuron range or tolerance is out of range"
    case DTD_ERROR_OUT_OF_MEMORY: text = "out of memory"
    case DTD_ERROR_UNSUPPORTED: text = "not supported by this version"
    case DTD_ERROR_INTERNAL: text = "internal error"
    default: text = "unknown status"
    }
    return staticCString(text)
}

/// This thread's message of its most recent libdtd call; empty after a success, never NULL.
@c @implementation
public func dtd_last_error_message() -> UnsafePointer<CChar>? {
    if let buffer = LastError.buffer { return UnsafePointer(buffer) }
    return staticCString("(no memory for the error message)")
}

/// Caps the memory one compute call may allocate. The corresponding Swift API is `ScratchLimit.set(_:)`.
@c @implementation
public func dtd_set_max_scratch_bytes(_ max_bytes: Int64, _ out_previous: UnsafeMutablePointer<Int64>?) -> dtd_status {
    guarded { () throws(DTDError) in
        let limit = try Argument.count(max_bytes, "max_bytes")
        let previous = ScratchLimit.set(limit)
        out_previous?.pointee = Int64(previous)
    }
}
