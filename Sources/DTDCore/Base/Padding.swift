/// Zero (conv, avg-pool) or -infinity (max-pool) padding on each side of an image: PyTorch's
/// symmetric `(pH, pW)` or ONNX's pads, reordered to top, bottom, left, right.
public struct Padding: Hashable, Sendable, CustomStringConvertible {
    /// Rows added above and below, columns added left and right.
    public let top: Int, bottom: Int, left: Int, right: Int

    /// Padding on each side.
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }

    /// PyTorch's `(pH, pW)`: `pH` above and below, `pW` left and right.
    public init(_ symmetric: (Int, Int)) {
        self.init(top: symmetric.0, bottom: symmetric.0, left: symmetric.1, right: symmetric.1)
    }

    /// No padding.
    public static let zero = Padding((0, 0))

    /// Rows added in all (top + bottom); columns added in all (left + right).
    public var height: Int { top &+ bottom }
    public var width: Int { left &+ right }

    /// The four sides as a list, in the order top, bottom, left, right.
    public var sides: [Int] { [top, bottom, left, right] }

    /// `(pH, pW)` when symmetric, else `[top, bottom, left, right]`.
    public var description: String {
        top == bottom && left == right ? "(\(top), \(left))" : "[\(top), \(bottom), \(left), \(right)]"
    }
}
