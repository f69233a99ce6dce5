import CDTD

// MARK: - 1. Version

/// "MAJOR.MINOR.PATCH" from the header's `DTD_VERSION_*` macros, so the text and
/// `dtd_version_number()` cannot disagree. Made once, NUL-terminated, and kept for the life of
/// the process, as the header promises (never written after, hence `nonisolated(unsafe)`).
nonisolated(unsafe) private let versionText: UnsafePointer<CChar> = {
    let text = Array("\(DTD_VERSION_MAJOR).\(DTD_VERSION_MINOR).\(DTD_VERSION_PATCH)".utf8CString)
    let storage = UnsafeMutablePointer<CChar>.allocate(capacity: text.count)
    storage.initialize(from: text, count: text.count)
    return UnsafePointer(storage)
}()

/// The library version as static text. Swift code reads the same `DTD_VERSION_*` macros
/// through the `CDTD` module.
@c @implementation
public func dtd_version_string() -> UnsafePointer<CChar>? {
    versionText
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
