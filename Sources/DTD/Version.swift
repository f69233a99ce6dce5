import CDTD

// MARK: - 1. Version

private let versionText: StaticString = "1.0.0"

/// The library version as static text. The corresponding Swift value is `DTDVersion.text`.
@c @implementation
public func dtd_version_string() -> UnsafePointer<CChar>? {
    staticCString(versionText)
}

/// MAJOR*10000 + MINOR*100 + PATCH.
@c @implementation
public func dtd_version_number() -> Int32 {
    Int32(DTD_VERSION_MAJOR * 10000 + DTD_VERSION_MINOR * 100 + DTD_VERSION_PATCH)
}

/// The ABI generation (matches the soname libdtd.so.1).
@c @implementation
public func dtd_abi_version() -> Int32 {
    Int32(DTD_ABI_VERSION)
}

/// A `const char *` to static text.
func staticCString(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}
