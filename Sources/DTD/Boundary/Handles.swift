import DTDCore

/// An object behind an opaque C handle. Handles are mutated only while being built, which the
/// header forbids to overlap any other use; that contract is what makes them `Sendable`.
protocol Handle: AnyObject, Sendable {
    /// The C type name callers see, for messages ("dtd_network").
    static var typeName: String { get }
}

/// A network handle: the Swift network of the dtype chosen at creation.
final class NetworkHandle: Handle, @unchecked Sendable {
    static let typeName = "dtd_network"

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
    static let typeName = "dtd_rules"

    enum Model {
        case float32(RuleSet<Float>, Network<Float>)
        case float64(RuleSet<Double>, Network<Double>)
    }

    var model: Model

    init(_ model: Model) { self.model = model }
}

/// The live handles, as a table of generation-tagged slots.
///
/// The pointer a caller holds is not an address but an encoded (slot, generation) pair; freeing
/// a handle bumps its slot's generation, so a destroyed handle never matches again, even after
/// its slot is reused (the generational-index scheme of ECS engines and Vulkan-style handle
/// pools). A slot whose generation would wrap is retired instead of reused. Every entry point
/// looks its handle up here before touching it, so a destroyed, foreign, mistyped or garbage
/// pointer is reported instead of dereferenced, and a lookup returns a strong reference, so a
/// destroy racing a call (which the header forbids) cannot free the object under it. The table
/// sits behind a pthread mutex (`Locked`), which ThreadSanitizer can check.
enum HandleRegistry {
    /// Low bits of every handle value: odd, so it is never the address of a Swift or C object,
    /// and a fixed pattern, so most garbage pointers are rejected before the table is read.
    private static let marker: UInt = 0xD
    private static let slotBits = 24
    private static let generationBits = 32
    /// Live handles at once (the table's capacity).
    static let maxLive = 1 << slotBits

    private struct Slot {
        var generation: UInt32
        var object: (any Handle)?
    }

    private struct Table {
        var slots: [Slot] = []
        var free: [Int] = []   // empty slots whose generation can still advance
    }

    private static let table = Locked(Table())

    /// What a pointer refers to.
    enum Resolution<H: Handle> {
        case live(H)
        /// A live handle of another type; carries that type's C name.
        case wrongType(String)
        case destroyed
        case foreign
    }

    private static func encode(slot: Int, generation: UInt32) -> OpaquePointer? {
        let value = UInt(generation) << UInt(4 + slotBits) | UInt(slot) << 4 | marker
        return OpaquePointer(bitPattern: value)
    }

    /// (slot, generation) of a pointer that has the handle layout, or nil.
    private static func decode(_ pointer: OpaquePointer) -> (slot: Int, generation: UInt32)? {
        let value = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(pointer)))
        guard value & 0xF == marker, value >> UInt(4 + slotBits + generationBits) == 0 else { return nil }
        let slot = Int((value >> 4) & UInt(maxLive - 1))
        let generation = UInt32(truncatingIfNeeded: value >> UInt(4 + slotBits))
        return (slot, generation)
    }

    /// Registers `object` and returns the pointer that names it (the registry holds one reference).
    static func register(_ object: some Handle) throws(DTDError) -> OpaquePointer {
        let pointer: OpaquePointer? = table.withLock { (table: inout Table) -> OpaquePointer? in
            let slot: Int
            if let reused = table.free.popLast() {
                slot = reused
            } else if table.slots.count < maxLive {
                slot = table.slots.count
                table.slots.append(Slot(generation: 1, object: nil))
            } else {
                return nil
            }
            table.slots[slot].object = object
            return encode(slot: slot, generation: table.slots[slot].generation)
        }
        guard let pointer else {
            throw DTDError(.outOfMemory, "too many live handles: \(maxLive) at once is the limit; destroy some first")
        }
        return pointer
    }

    /// What `pointer` (not NULL) refers to, looked up as a handle of type `H`.
    static func resolve<H: Handle>(_ pointer: OpaquePointer, as type: H.Type) -> Resolution<H> {
        access(pointer, as: type, remove: false)
    }

    /// Removes the handle `pointer` names if it is a live `H`; otherwise changes nothing. Returns
    /// what the pointer referred to. The object itself is released after the lock is dropped.
    static func unregister<H: Handle>(_ pointer: OpaquePointer, as type: H.Type) -> Resolution<H> {
        access(pointer, as: type, remove: true)
    }

    private static func access<H: Handle>(_ pointer: OpaquePointer, as type: H.Type, remove: Bool) -> Resolution<H> {
        guard let (slot, generation) = decode(pointer) else { return .foreign }
        return table.withLock { (table: inout Table) -> Resolution<H> in
            guard slot < table.slots.count else { return .foreign }
            let current = table.slots[slot]
            // Generations start at 1 and only grow: an older one was destroyed, a newer one (or 0)
            // was never issued.
            guard generation > 0, generation <= current.generation else { return .foreign }
            guard generation == current.generation, let object = current.object else { return .destroyed }
            guard let handle = object as? H else { return .wrongType(Swift.type(of: object).typeName) }
            if remove {
                table.slots[slot].object = nil
                if current.generation < UInt32.max {
                    table.slots[slot].generation += 1
                    table.free.append(slot)
                }   // else: retired, so no generation ever repeats
            }
            return .live(handle)
        }
    }
}

extension HandleRegistry.Resolution {
    /// Why a pointer passed as argument `name` is not a live handle of type `H`.
    func problem(_ name: String) -> String? {
        switch self {
        case .live: return nil
        case .wrongType(let other):
            return "\(name) is a \(other) handle, not a \(H.typeName)"
        case .destroyed:
            return "\(name) is a \(H.typeName) handle that was already destroyed"
        case .foreign:
            return "\(name) is not a live \(H.typeName) handle (not made by libdtd)"
        }
    }
}

/// The body of a `_destroy` export: frees a live handle of type `H`. NULL is a harmless no-op;
/// any other pointer that is not a live `H` (destroyed, another handle type, not from libdtd)
/// is left alone and the reason goes to this thread's error message, since a `void` function
/// has no status to return.
func destroyHandle<H: Handle>(_ pointer: OpaquePointer?, as type: H.Type, _ function: String, _ name: String) {
    guard let pointer else {
        LastError.clear()
        return
    }
    if let problem = HandleRegistry.unregister(pointer, as: type).problem(name) {
        LastError.set("\(function): \(problem); nothing was freed")
    } else {
        LastError.clear()
    }
}
