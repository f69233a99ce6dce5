import DTDCore
import Synchronization

/// An object behind an opaque C handle. Handles are mutated only while being built, which the
/// header forbids to overlap any other use; that contract is what makes them `Sendable`.
protocol Handle: AnyObject, Sendable {}

/// A network handle: the Swift network of the dtype chosen at creation.
final class NetworkHandle: Handle, @unchecked Sendable {
    enum Model {
        case float32(Network<Float>)
        case float64(Network<Double>)
    }

    var model: Model

    init(_ model: Model) { self.model = model }

    var elementType: ElementType {
        switch model {
        case .float32: .float32
        case .float64: .float64
        }
    }

    var layerCount: Int {
        switch model {
        case .float32(let n): n.layers.count
        case .float64(let n): n.layers.count
        }
    }
}

/// A rule-set handle. It keeps the network (a value sharing its weights) it was made for, so
/// rules can be prepared without the network handle and survive its destruction.
final class RulesHandle: Handle, @unchecked Sendable {
    enum Model {
        case float32(RuleSet<Float>, Network<Float>)
        case float64(RuleSet<Double>, Network<Double>)
    }

    var model: Model

    init(_ model: Model) { self.model = model }
}

/// The set of live handles. Every entry point looks its handle up here before touching it, so
/// a destroyed, foreign or garbage pointer is reported instead of dereferenced.
enum HandleRegistry {
    private static let live = Mutex<[UInt: any Handle]>([:])

    /// Registers `object` and returns its opaque pointer (one retain held by the registry).
    static func register(_ object: some Handle) -> OpaquePointer {
        let pointer = OpaquePointer(Unmanaged.passUnretained(object).toOpaque())
        live.withLock { $0[UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(pointer)))] = object }
        return pointer
    }

    /// The live object behind `pointer`, if it is one of ours and of type `Handle`.
    static func lookup<H: Handle>(_ pointer: OpaquePointer?, as type: H.Type) -> H? {
        guard let pointer else { return nil }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(pointer)))
        return live.withLock { $0[key] } as? H
    }

    /// Drops the registry's reference; returns false if `pointer` was not live.
    @discardableResult
    static func unregister(_ pointer: OpaquePointer?) -> Bool {
        guard let pointer else { return false }
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(pointer)))
        return live.withLock { $0.removeValue(forKey: key) } != nil
    }
}
