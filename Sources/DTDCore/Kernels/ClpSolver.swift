#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A polyhedron {x : rowLower <= G x <= rowUpper, columnLower <= x <= columnUpper} in the form
/// the solver loads: G is kept dense (row-major, for row access) and column-compressed (what CLP
/// loads), built once because one polyhedron serves many LPs and QPs. Infinite bounds are
/// `±Double.infinity`.
public struct LinearConstraints: Sendable {
    public let rows: Int
    public let columns: Int
    public let rowLower: [Double]
    public let rowUpper: [Double]
    public let columnLower: [Double]
    public let columnUpper: [Double]
    /// G, row-major.
    let matrix: [Double]
    /// G column-compressed: column c holds entries starts[c]..<starts[c + 1] of rowIndex/values.
    let starts: [Int32]
    let rowIndex: [Int32]
    let values: [Double]

    /// - Parameter matrix: G, `rows * columns` elements, row-major; exact zeros are left out.
    public init(matrix: [Double], rows: Int, columns: Int, rowLower: [Double], rowUpper: [Double],
                columnLower: [Double], columnUpper: [Double]) {
        assert(matrix.count == rows * columns && rowLower.count == rows && rowUpper.count == rows)
        assert(columnLower.count == columns && columnUpper.count == columns)
        var starts = [Int32](repeating: 0, count: columns + 1)
        var rowIndex: [Int32] = [], values: [Double] = []
        rowIndex.reserveCapacity(matrix.count)
        values.reserveCapacity(matrix.count)
        for c in 0..<columns {
            for r in 0..<rows where matrix[r * columns + c] != 0 {
                rowIndex.append(Int32(truncatingIfNeeded: r))
                values.append(matrix[r * columns + c])
            }
            starts[c + 1] = Int32(truncatingIfNeeded: values.count)
        }
        self.rows = rows
        self.columns = columns
        self.rowLower = rowLower
        self.rowUpper = rowUpper
        self.columnLower = columnLower
        self.columnUpper = columnUpper
        self.matrix = matrix
        self.starts = starts
        self.rowIndex = rowIndex
        self.values = values
    }

    /// The same polyhedron with one more row `lower <= coefficients . x <= upper`.
    public func adding(row coefficients: [Double], lower: Double, upper: Double) -> LinearConstraints {
        LinearConstraints(matrix: matrix + coefficients, rows: rows + 1, columns: columns, rowLower: rowLower + [lower],
                          rowUpper: rowUpper + [upper], columnLower: columnLower, columnUpper: columnUpper)
    }

    /// Row r of G.
    public func row(_ r: Int) -> ArraySlice<Double> { matrix[(r * columns)..<((r + 1) * columns)] }

    /// G x.
    public func rowValues(at x: [Double]) -> [Double] {
        (0..<rows).map { r in
            var s = 0.0
            let base = r * columns
            for c in 0..<columns { s += matrix[base + c] * x[c] }
            return s
        }
    }

    /// The same polyhedron with other column bounds.
    public func with(columnLower: [Double], columnUpper: [Double]) -> LinearConstraints {
        LinearConstraints(rows: rows, columns: columns, rowLower: rowLower, rowUpper: rowUpper, columnLower: columnLower,
                          columnUpper: columnUpper, matrix: matrix, starts: starts, rowIndex: rowIndex, values: values)
    }

    private init(rows: Int, columns: Int, rowLower: [Double], rowUpper: [Double], columnLower: [Double],
                 columnUpper: [Double], matrix: [Double], starts: [Int32], rowIndex: [Int32], values: [Double]) {
        self.rows = rows
        self.columns = columns
        self.rowLower = rowLower
        self.rowUpper = rowUpper
        self.columnLower = columnLower
        self.columnUpper = columnUpper
        self.matrix = matrix
        self.starts = starts
        self.rowIndex = rowIndex
        self.values = values
    }
}

/// What a solve gave.
public enum SolverOutcome: Sendable, Equatable {
    /// The optimum: objective value (without any constant the caller adds) and the minimiser.
    case optimal(value: Double, point: [Double])
    /// The objective is unbounded below on the polyhedron.
    case unbounded
    /// The polyhedron is empty (up to the solver's tolerance).
    case infeasible
    /// The solver stopped without an answer; its `Clp_status`.
    case failed(status: Int32)

    /// A short description for messages.
    public var summary: String {
        switch self {
        case .optimal(let value, _): "optimal (\(value))"
        case .unbounded: "unbounded"
        case .infeasible: "infeasible"
        case .failed(let status): "stopped with Clp_status \(status)"
        }
    }
}

/// COIN-OR CLP, found at run time, for the LPs and QPs of full-backward DTD.
///
/// libdtd has no link-time dependency on CLP: the first use `dlopen`s `libClp.so.1` (Debian's
/// `coinor-libclp1`; `DTD_CLP_LIBRARY` in the environment, read once per process, names another
/// file) and looks up the C API of `<coin/Clp_C_Interface.h>`. Without it, `shared()` throws
/// `.unsupported`. Every solve builds its own CLP model and deletes it before returning, so a
/// solver is safe to use from any number of threads at once (models are never shared).
/// Tolerances: primal and dual 1e-10.
public final class ClpSolver: Sendable {
    /// The default library name, the versioned soname of Debian's `coinor-libclp1`.
    public static let defaultLibrary = "libClp.so.1"
    /// Primal and dual feasibility tolerance of every solve.
    public static let tolerance = 1e-10

    // Clp_Simplex * is opaque; the C API's `CoinBigIndex` is `int` in every Debian/Ubuntu build.
    typealias NewModel = @convention(c) () -> OpaquePointer?
    typealias DeleteModel = @convention(c) (OpaquePointer?) -> Void
    typealias LoadProblem = @convention(c) (OpaquePointer?, Int32, Int32, UnsafePointer<Int32>?, UnsafePointer<Int32>?,
                                            UnsafePointer<Double>?, UnsafePointer<Double>?, UnsafePointer<Double>?,
                                            UnsafePointer<Double>?, UnsafePointer<Double>?, UnsafePointer<Double>?) -> Void
    typealias LoadQuadratic = @convention(c) (OpaquePointer?, Int32, UnsafePointer<Int32>?, UnsafePointer<Int32>?,
                                              UnsafePointer<Double>?) -> Void
    typealias SetInt = @convention(c) (OpaquePointer?, Int32) -> Void
    typealias SetDouble = @convention(c) (OpaquePointer?, Double) -> Void
    typealias Solve = @convention(c) (OpaquePointer?, Int32) -> Int32
    typealias Status = @convention(c) (OpaquePointer?) -> Int32
    typealias ColumnSolution = @convention(c) (OpaquePointer?) -> UnsafePointer<Double>?
    typealias ObjectiveValue = @convention(c) (OpaquePointer?) -> Double

    private let newModel: NewModel
    private let deleteModel: DeleteModel
    private let loadProblem: LoadProblem
    private let loadQuadratic: LoadQuadratic
    private let setLogLevel: SetInt
    private let setMaximumIterations: SetInt
    private let setPrimalTolerance: SetDouble
    private let setDualTolerance: SetDouble
    private let dual: Solve
    private let primal: Solve
    private let status: Status
    private let columnSolution: ColumnSolution
    private let objectiveValue: ObjectiveValue
    /// The file the functions came from (for messages).
    public let library: String

    private static let sharedResult: Result<ClpSolver, DTDError> = {
        let name = Environment.clpLibrary ?? defaultLibrary
        return Result { () throws(DTDError) in try ClpSolver(library: name) }
    }()

    /// The process's solver: `libClp.so.1`, or the file `DTD_CLP_LIBRARY` names.
    /// - Throws: `.unsupported` ("install coinor-libclp ...") when it cannot be loaded.
    public static func shared() throws(DTDError) -> ClpSolver { try sharedResult.get() }

    /// Whether `shared()` succeeds.
    public static var isAvailable: Bool { (try? shared()) != nil }

    /// Loads CLP from `library` (a soname or a path). The handle stays open for the life of the
    /// process; the function pointers are immutable afterwards.
    /// - Throws: `.unsupported` naming the library and `dlerror()`'s reason.
    public init(library: String) throws(DTDError) {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown reason"
            throw DTDError(.unsupported, "full-backward DTD needs the COIN-OR CLP solver: install coinor-libclp1 "
                           + "(Debian/Ubuntu: apt-get install coinor-libclp-dev); \(library) could not be loaded: \(reason)")
        }
        func symbol<F>(_ name: String, _ type: F.Type) throws(DTDError) -> F {
            guard let address = dlsym(handle, name) else {
                throw DTDError(.unsupported, "\(library) lacks \(name)(); install coinor-libclp1 (COIN-OR CLP >= 1.16)")
            }
            return unsafeBitCast(address, to: F.self)
        }
        newModel = try symbol("Clp_newModel", NewModel.self)
        deleteModel = try symbol("Clp_deleteModel", DeleteModel.self)
        loadProblem = try symbol("Clp_loadProblem", LoadProblem.self)
        loadQuadratic = try symbol("Clp_loadQuadraticObjective", LoadQuadratic.self)
        setLogLevel = try symbol("Clp_setLogLevel", SetInt.self)
        setMaximumIterations = try symbol("Clp_setMaximumIterations", SetInt.self)
        setPrimalTolerance = try symbol("Clp_setPrimalTolerance", SetDouble.self)
        setDualTolerance = try symbol("Clp_setDualTolerance", SetDouble.self)
        dual = try symbol("Clp_dual", Solve.self)
        primal = try symbol("Clp_primal", Solve.self)
        status = try symbol("Clp_status", Status.self)
        columnSolution = try symbol("Clp_getColSolution", ColumnSolution.self)
        objectiveValue = try symbol("Clp_objectiveValue", ObjectiveValue.self)
        self.library = library
    }

    /// min c . x over `constraints`: CLP's dual simplex, and its primal simplex whenever the
    /// dual one gives no verified optimum. (With free variables the dual simplex works inside
    /// artificial bounds of ~1e10: it can call an unbounded LP infeasible, or end on a far point
    /// of an unbounded optimal face whose rows cancel to ~1e-6.)
    public func minimize(_ objective: [Double], over constraints: LinearConstraints) -> SolverOutcome {
        assert(objective.count == constraints.columns)
        let first = solve(constraints, objective: objective, quadratic: false, useDual: true)
        if case .optimal = first { return first }
        return solve(constraints, objective: objective, quadratic: false, useDual: false)
    }

    /// Whether `point` satisfies `constraints` to 1e-9 (relative to the point's and the bounds'
    /// magnitudes) and stays clear of the dual simplex's artificial bounds.
    static func verifies(_ point: [Double], _ p: LinearConstraints) -> Bool {
        let size = point.reduce(0) { max($0, abs($1)) }
        guard size.isFinite, size < 1e9 else { return false }
        let scale = max(1, size)
        for i in 0..<p.columns where point[i] < p.columnLower[i] - 1e-9 * scale || point[i] > p.columnUpper[i] + 1e-9 * scale {
            return false
        }
        let values = p.rowValues(at: point)
        for r in 0..<p.rows {
            let bound = max(scale, p.rowLower[r].isFinite ? abs(p.rowLower[r]) : 0, p.rowUpper[r].isFinite ? abs(p.rowUpper[r]) : 0)
            if values[r] < p.rowLower[r] - 1e-9 * bound || values[r] > p.rowUpper[r] + 1e-9 * bound { return false }
        }
        return true
    }

    /// The point of `constraints` nearest to `point` in Euclidean norm: min 1/2 |x|^2 - point . x
    /// (CLP's primal simplex with the quadratic objective Q = I). `value` is that objective.
    public func nearestPoint(to point: [Double], over constraints: LinearConstraints) -> SolverOutcome {
        assert(point.count == constraints.columns)
        return solve(constraints, objective: point.map { -$0 }, quadratic: true, useDual: false)
    }

    /// CLP's "infinity" for bounds.
    private static func bound(_ value: Double) -> Double {
        value.isInfinite ? (value > 0 ? Double.greatestFiniteMagnitude : -Double.greatestFiniteMagnitude) : value
    }

    private func solve(_ p: LinearConstraints, objective: [Double], quadratic: Bool, useDual: Bool) -> SolverOutcome {
        guard let model = newModel() else { return .failed(status: -1) }
        defer { deleteModel(model) }
        setLogLevel(model, 0)
        setMaximumIterations(model, 1_000_000)
        let rowLower = p.rowLower.map(Self.bound), rowUpper = p.rowUpper.map(Self.bound)
        let columnLower = p.columnLower.map(Self.bound), columnUpper = p.columnUpper.map(Self.bound)
        let columns = Int32(truncatingIfNeeded: p.columns), rows = Int32(truncatingIfNeeded: p.rows)
        // CLP reads index/value arrays even when empty: pass one dummy element then.
        let index = p.rowIndex.isEmpty ? [Int32(0)] : p.rowIndex, values = p.values.isEmpty ? [0.0] : p.values
        loadProblem(model, columns, rows, p.starts, index, values, columnLower, columnUpper, objective, rowLower, rowUpper)
        if quadratic {
            let starts = (0...p.columns).map { Int32(truncatingIfNeeded: $0) }
            let diagonal = (0..<p.columns).map { Int32(truncatingIfNeeded: $0) }
            let ones = [Double](repeating: 1, count: max(p.columns, 1))
            loadQuadratic(model, columns, starts, diagonal.isEmpty ? [0] : diagonal, ones)
        }
        setPrimalTolerance(model, Self.tolerance)
        setDualTolerance(model, Self.tolerance)
        _ = useDual ? dual(model, 0) : primal(model, 0)
        let code = status(model)
        switch code {
        case 0:
            guard let solution = columnSolution(model) else { return .failed(status: code) }
            let point = Array(UnsafeBufferPointer(start: solution, count: p.columns))
            guard Self.verifies(point, p) else { return .failed(status: code) }
            return .optimal(value: objectiveValue(model), point: point)
        case 1: return .infeasible
        case 2: return .unbounded
        default: return .failed(status: code)
        }
    }
}
