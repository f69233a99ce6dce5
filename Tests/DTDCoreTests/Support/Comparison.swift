import Testing
@testable import DTDCore

// MARK: - Comparing results

/// max|actual − expected| / max|expected|: the agreement measure of the Zennit fixtures and of
/// every tolerance in this suite. Falls back to the absolute difference when `expected` is all
/// zeros, and is infinite when the lengths differ or a value is NaN.
func relativeError<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(_ actual: [A], _ expected: [E]) -> Double {
    guard actual.count == expected.count else { return .infinity }
    var difference = 0.0, scale = 0.0
    for (a, e) in zip(actual, expected) {
        let d = abs(Double(a) - Double(e))
        guard !d.isNaN else { return .infinity }
        difference = max(difference, d)
        scale = max(scale, abs(Double(e)))
    }
    return scale > 0 ? difference / scale : difference
}

/// Expects `relativeError(actual, expected) <= tolerance`, reporting the error and `what`.
func expectClose<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [E], tolerance: Double, _ what: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let error = relativeError(actual, expected)
    #expect(error <= tolerance, "\(what()): relative error \(error) > \(tolerance) (\(actual.count) vs \(expected.count) values)",
            sourceLocation: sourceLocation)
}

/// Expects two numbers to agree to `tolerance`, relative to the larger magnitude (or absolutely
/// when both are below 1).
func expectClose(_ actual: Double, _ expected: Double, tolerance: Double, _ what: @autoclosure () -> String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = max(abs(actual), abs(expected), 1)
    #expect(abs(actual - expected) <= tolerance * scale, "\(what()): \(actual) vs \(expected)", sourceLocation: sourceLocation)
}

// MARK: - Expecting errors

/// Runs `body`, expecting a `DTDError` of `kind` whose message contains every fragment (the
/// layer, argument or shape it must name).
func expectDTDError(_ kind: DTDError.Kind, mentioning fragments: [String] = [],
                    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a DTDError of kind \(kind), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as DTDError {
        #expect(error.kind == kind, "kind \(error.kind), expected \(kind): \(error.message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error.message.contains(fragment), "message \"\(error.message)\" does not mention \"\(fragment)\"",
                    sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a DTDError of kind \(kind), got \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - Element type conversions

extension Array where Element == Double {
    /// The values in element type `T`.
    func converted<T: DTDScalar>(to _: T.Type) -> [T] { map { T($0) } }
}

extension Array where Element: BinaryFloatingPoint {
    /// The values as Double.
    var doubles: [Double] { map { Double($0) } }
    /// The sum, accumulated in Double.
    var total: Double { reduce(0) { $0 + Double($1) } }
}

extension Network {
    /// LRP with `rules[l]` on each named layer, on arrays of Double (converted to `T`).
    func lrp(_ spec: NetworkSpec, _ input: [Double], batch: Int, seed: [Double], rules: [Int: Rule]) throws -> [T] {
        let set = try spec.ruleSet(rules, for: self)
        return try lrp(input.converted(to: T.self), batch: batch, outputRelevance: seed.converted(to: T.self), rules: set)
    }
}
