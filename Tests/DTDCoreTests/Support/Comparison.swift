import Testing
@testable import DTDCore

// MARK: - Comparing results

/// The worst element of a comparison and where it is.
struct Discrepancy: CustomStringConvertible {
    var error = 0.0
    var sample = 0, element = 0
    var actual = 0.0, expected = 0.0
    var description: String {
        "sample \(sample) element \(element): \(actual) vs \(expected), relative error \(error)"
    }
}

/// The agreement measure of every array tolerance in this suite, per sample: `expected` holds
/// `samples` rows of equal length, and element i of sample n is off by
/// |a_i − e_i| / max(|e_i|, perElementAbove · S_n), with S_n the sample's largest |e|. By default
/// (`perElementAbove` 1) every element is measured against its own sample's scale, so a sample
/// far smaller than the rest of the batch cannot hide its error; with `perElementAbove` < 1
/// the elements at least that fraction of S_n are measured against themselves (per element)
/// and only the near-zero rest against that floor. A sample whose reference is all zero is
/// measured absolutely. Infinite when the lengths differ, `samples` does not divide them, or a
/// value is NaN.
func discrepancy<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [E], samples: Int, perElementAbove floor: Double = 1
) -> Discrepancy {
    var worst = Discrepancy()
    guard actual.count == expected.count, samples > 0, expected.count % samples == 0 else {
        worst.error = .infinity
        return worst
    }
    let size = expected.count / samples
    for n in 0..<samples {
        let row = (n * size)..<((n + 1) * size)
        let scale = expected[row].reduce(0.0) { max($0, abs(Double($1))) }
        for i in row {
            let a = Double(actual[i]), e = Double(expected[i])
            let denominator = max(abs(e), floor * scale)
            var error = abs(a - e) / (denominator > 0 ? denominator : 1)
            if error.isNaN || a.isNaN != e.isNaN { error = .infinity }
            if error > worst.error {
                worst = Discrepancy(error: error, sample: n, element: i - row.lowerBound, actual: a, expected: e)
            }
        }
    }
    return worst
}

/// The error `discrepancy` reports.
func relativeError<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [E], samples: Int, perElementAbove floor: Double = 1
) -> Double {
    discrepancy(actual, expected, samples: samples, perElementAbove: floor).error
}

/// Expects `relativeError(actual, expected, samples:, perElementAbove:) <= tolerance`, reporting
/// the worst element and `what`.
func expectClose<A: BinaryFloatingPoint, E: BinaryFloatingPoint>(
    _ actual: [A], _ expected: [E], samples: Int, perElementAbove floor: Double = 1, tolerance: Double,
    _ what: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    let worst = discrepancy(actual, expected, samples: samples, perElementAbove: floor)
    #expect(worst.error <= tolerance,
            "\(what()): \(worst) > \(tolerance) (\(actual.count) vs \(expected.count) values, \(samples) samples)",
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
