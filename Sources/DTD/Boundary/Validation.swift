import DTDCore

// MARK: - Argument checks shared by every entry point

enum Argument {
    /// The live network behind `pointer`.
    static func network(_ pointer: OpaquePointer?, _ name: String = "network") throws(DTDError) -> NetworkHandle {
        try handle(pointer, NetworkHandle.self, name)
    }

    /// The live rule set behind `pointer`.
    static func rules(_ pointer: OpaquePointer?, _ name: String = "rules") throws(DTDError) -> RulesHandle {
        try handle(pointer, RulesHandle.self, name)
    }

    /// The live handle of type `H` behind `pointer`; a destroyed, mistyped or foreign pointer is
    /// `.invalidArgument` naming what it is.
    static func handle<H: Handle>(_ pointer: OpaquePointer?, _ type: H.Type, _ name: String) throws(DTDError) -> H {
        guard let pointer else { throw DTDError(.nullPointer, "\(name) is NULL") }
        let resolution = HandleRegistry.resolve(pointer, as: type)
        guard case .live(let handle) = resolution else {
            throw DTDError(.invalidArgument, resolution.problem(name) ?? "\(name) is not a live \(H.typeName) handle")
        }
        return handle
    }

    /// A non-negative count or size.
    static func count(_ value: Int64, _ name: String) throws(DTDError) -> Int {
        guard value >= 0 else { throw DTDError(.size, "\(name) must be >= 0, got \(value)") }
        return Int(value)
    }

    /// A size that must be positive (batch, dimensions).
    static func size(_ value: Int64, _ name: String) throws(DTDError) -> Int {
        guard value > 0 else { throw DTDError(.size, "\(name) must be positive, got \(value)") }
        return Int(value)
    }

    /// A layer index of `handle`'s network.
    static func layer(_ value: Int64, of handle: NetworkHandle, _ name: String = "layer") throws(DTDError) -> Int {
        guard value >= 0, value < Int64(handle.layerCount) else {
            throw DTDError(.layerIndex, "\(name) = \(value) is outside [0, \(handle.layerCount)) for a network of \(handle.layerCount) layers")
        }
        return Int(value)
    }

    /// A required out-pointer.
    static func output<Pointee>(_ pointer: UnsafeMutablePointer<Pointee>?, _ name: String) throws(DTDError) -> UnsafeMutablePointer<Pointee> {
        guard let pointer else { throw DTDError(.nullPointer, "\(name) is NULL") }
        return pointer
    }

    /// The bias mode code.
    static func biasMode(_ value: Int32) throws(DTDError) -> BiasMode {
        guard let mode = BiasMode(rawValue: value) else {
            throw DTDError(.invalidArgument, "bias = \(value) is neither DTD_BIAS_INCLUDE (0) nor DTD_BIAS_EXCLUDE (1)")
        }
        return mode
    }
}

/// The wrong `_f32`/`_f64` entry point for a network.
func dtypeMismatch(_ handle: NetworkHandle, expected: ElementType) -> DTDError {
    DTDError(.dtype, "this is the \(expected) entry point, the network is \(handle.elementType); call the _\(handle.elementType == .float32 ? "f32" : "f64") variant")
}
