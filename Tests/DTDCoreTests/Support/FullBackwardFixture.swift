import Foundation
@testable import DTDCore

/// `Tests/Fixtures/full_backward_cases.json`: the exact full-backward DTD (`Include/dtd.h` section 8) of 24
/// inputs of the study's network (inputs 500-505 of each block, output 0), computed in float64
/// with scipy's HiGHS LP/QP from the spec alone (a copy of ../shared/reference).
struct FullBackwardFixture: Sendable {
    struct Unit: Sendable {
        let unit: Int
        let relevance: Double
        let skipped: Bool
        /// nil when skipped; -infinity when unbounded.
        let lpMin: Double?
        let unresolved: Double?
        let rootDistance: Double?
        let root: [Double]?
    }

    struct Case: Sendable {
        let block: String
        let index: Int
        let f: Double
        let input: [Double]
        let inputRelevance: [Double]
        /// Per dense layer, first layer first.
        let layers: [[Unit]]
        /// Per dense layer: the width of the box of P_l within |a' - a|_inf <= 1.
        let clippedWidths: [[Double]]
        /// Per dense layer: the width of the box of P_l (infinity when unbounded).
        let widths: [[Double]]
    }

    let cases: [Case]

    static let path = FixturePaths.fixtures.appendingPathComponent("full_backward_cases.json")

    static func load() throws -> FullBackwardFixture {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: path)) as? [String: Any]
        guard let cases = root?["cases"] as? [[String: Any]] else { throw FixtureError("full_backward_cases: no cases") }
        return FullBackwardFixture(cases: try cases.map(parseCase))
    }

    /// A number, or "inf"/"-inf" strings as infinities.
    private static func value(_ v: Any?, _ what: String) throws -> Double {
        if let n = v as? NSNumber { return n.doubleValue }
        if let s = v as? String {
            switch s {
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: break
            }
        }
        throw FixtureError("\(what) is not a number")
    }

    private static func values(_ v: Any?, _ what: String) throws -> [Double] {
        guard let a = v as? [Any] else { throw FixtureError("\(what) is not a list") }
        return try a.enumerated().map { try value($1, "\(what)[\($0)]") }
    }

    private static func parseCase(_ c: [String: Any]) throws -> Case {
        let name = "\(c["block"] ?? "?") \(c["index"] ?? "?")"
        guard let layers = c["layers"] as? [String: [[String: Any]]] else { throw FixtureError("\(name): no layers") }
        var units: [[Unit]] = [], clipped: [[Double]] = [], widths: [[Double]] = []
        for l in 1... {
            guard let entries = layers["layer\(l)"] else { break }
            var list: [Unit] = []
            for e in entries {
                if let box = e["bbox_trust1"] {
                    clipped.append(try values(box, "\(name) layer\(l).bbox_trust1"))
                    widths.append(try values(e["bbox"], "\(name) layer\(l).bbox"))
                    continue
                }
                let what = "\(name) layer\(l) unit"
                let skipped = (e["skipped"] as? Bool) ?? false
                list.append(Unit(
                    unit: Int(try value(e["unit"], what)), relevance: try value(e["R"], what), skipped: skipped,
                    lpMin: skipped ? nil : try value(e["lp_min"], "\(what).lp_min"),
                    unresolved: skipped ? nil : try value(e["unresolved"], "\(what).unresolved"),
                    rootDistance: skipped ? nil : try value(e["root_dist"], "\(what).root_dist"),
                    root: skipped ? nil : try values(e["root"], "\(what).root")))
            }
            units.append(list)
        }
        return Case(block: c["block"] as? String ?? "?", index: Int(try value(c["index"], "\(name).index")),
                    f: try value(c["f"], "\(name).f"), input: try values(c["input"], "\(name).input"),
                    inputRelevance: try values(c["R0"], "\(name).R0"), layers: units, clippedWidths: clipped, widths: widths)
    }
}
