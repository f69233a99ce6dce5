import Testing
@testable import DTDCore

/// Hand-computed cases: one dense unit with a ReLU, two inputs (`Include/dtd.h` section 8 worked by hand).
@Suite("Full-backward DTD: hand-computed cases", .enabled(if: ClpSolver.isAvailable, "needs COIN-OR CLP (coinor-libclp1)"))
struct AnalyticCasesTests {
    static func problem(weight: [Double], bias: Double) throws -> FullBackward {
        var network = try Network<Double>(inputShape: Shape([2]))
        try network.addDense(weight: weight, outFeatures: 1, inFeatures: 2, bias: [bias])
        network.addReLU()
        return try FullBackward(network: network, query: FullBackwardQuery(target: 0))
    }

    /// z = a1 + 2 a2 - 1 at x = (1, 1): f = 2. P = {a >= 0 : z >= 0}, so min z = 0 (u = 0) and the
    /// root is the projection of x onto z = 0: (1, 1) - (2/5)(1, 2) = (0.6, 0.2), at distance
    /// 2/sqrt(5); R^0 = (1, 2) (.) (x - root) = (0.4, 1.6). The box of P is [0, inf)^2; within
    /// distance 1 of x it is [0, 2]^2. The nearest hinge is z = 0, at 2/sqrt(5).
    @Test func biasBelowZeroResolvesTheUnit() throws {
        let problem = try Self.problem(weight: [1, 2], bias: -1)
        let sample = try #require(try problem.decompose([[1, 1]], keepRoots: true).first)
        let unit = try #require(sample.units.first)
        #expect(sample.units.count == 1 && unit.layer == 0 && unit.unit == 0 && unit.flags == [])
        #expect(abs(sample.output - 2) < 1e-15 && abs(unit.relevance - 2) < 1e-15)
        #expect(abs(unit.lpMin) < 1e-12 && abs(unit.unresolved) < 1e-12)
        #expect(abs(sample.roots[0] - 0.6) < 1e-12 && abs(sample.roots[1] - 0.2) < 1e-12)
        #expect(abs(unit.rootDistance - 2 / 5.0.squareRoot()) < 1e-12)
        #expect(abs(sample.inputRelevance[0] - 0.4) < 1e-12 && abs(sample.inputRelevance[1] - 1.6) < 1e-12)
        #expect(sample.inputSlope == [1, 2])
        let size = try #require(try problem.regions([[1, 1]]).first?.first)
        #expect(size.constraints == 1 && abs(size.hingeDistance - 2 / 5.0.squareRoot()) < 1e-15)
        #expect(size.low == [0, 0] && size.high == [.infinity, .infinity] && size.unboundedCoordinates == 2)
        #expect(size.lowClipped.allSatisfy { abs($0) < 1e-12 } && size.highClipped.allSatisfy { abs($0 - 2) < 1e-12 })
    }

    /// z = a1 + a2 + 0.5 at x = (1, 1): f = 2.5. P is the whole orthant, min z = 0.5 at a = 0,
    /// so u = 0.5 is left unresolved; the root is the nearest point with z <= 0.5 + 1e-9, i.e.
    /// a1 + a2 <= 1e-9: (5e-10, 5e-10). R^0 = (1 - 5e-10) each; 2.5 = R^0 + 0.5 + 1e-9.
    @Test func positiveBiasLeavesRelevanceUnresolved() throws {
        let problem = try Self.problem(weight: [1, 1], bias: 0.5)
        let sample = try #require(try problem.decompose([[1, 1]], keepRoots: true).first)
        let unit = try #require(sample.units.first)
        #expect(unit.flags == .unresolved)
        #expect(abs(unit.lpMin - 0.5) < 1e-12 && abs(unit.unresolved - (0.5 + 1e-9)) < 1e-13)
        #expect(abs(sample.roots[0] - 5e-10) < 1e-13 && abs(sample.roots[1] - 5e-10) < 1e-13)
        #expect(abs(sample.inputRelevance[0] - (1 - 5e-10)) < 1e-13 && abs(sample.inputRelevance[1] - (1 - 5e-10)) < 1e-13)
        #expect(abs(sample.ledgerError) < 1e-14)
        let size = try #require(try problem.regions([[1, 1]]).first?.first)
        #expect(abs(size.hingeDistance - 2.5 / 2.0.squareRoot()) < 1e-15)
    }

    /// With an unbounded input domain the same unit's relevance has no minimum: u = 0, flagged unbounded.
    @Test func unboundedInputDomainMakesTheMinimumInfinite() throws {
        var network = try Network<Double>(inputShape: Shape([2]))
        try network.addDense(weight: [1, 1], outFeatures: 1, inFeatures: 2, bias: [0.5])
        network.addReLU()
        // Only the top unit exists, and P_1 then still has z >= 0: bounded below by 0.
        let bounded = try FullBackward(network: network, query: FullBackwardQuery(target: 0, inputLower: -.infinity))
        let top = try #require(try bounded.decompose([[1, 1]]).first?.units.first)
        #expect(!top.flags.contains(.unbounded) && abs(top.lpMin) < 1e-12 && top.flags == [])
        // Two layers: the first layer's unit relevance gamma * z_1 - kappa is unbounded below once
        // a' may go negative along the directions that keep z_2 > 0.
        var deep = try Network<Double>(inputShape: Shape([2]))
        try deep.addDense(weight: [1, -1, 1, 1], outFeatures: 2, inFeatures: 2, bias: [0, 0])
        deep.addReLU()
        try deep.addDense(weight: [1, 1], outFeatures: 1, inFeatures: 2, bias: [0])
        deep.addReLU()
        let problem = try FullBackward(network: deep, query: FullBackwardQuery(target: 0, inputLower: -.infinity))
        let sample = try #require(try problem.decompose([[2, 1]]).first)
        #expect(abs(sample.ledgerError) <= 1e-12 * sample.output)
    }
}
