/// The one error type of the engine. Every failure that input can cause is a `DTDError` with a
/// kind (which the C boundary maps to a status code) and a message that names the argument, the
/// layer and the shapes involved.
public struct DTDError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What went wrong, in the categories of the header's status codes.
    public enum Kind: Sendable, Equatable {
        case nullPointer, invalidArgument, size, overflow, shapeMismatch, bufferTooSmall
        case layerIndex, dtype, emptyNetwork, rule, nonFinite, layerOrder, networkMismatch
        case outOfRange, outOfMemory, unsupported, `internal`
    }

    /// The category, which the C boundary maps to a status code.
    public let kind: Kind
    /// What went wrong, naming the argument, layer and shapes.
    public let message: String

    /// An error of `kind` with `message`.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
