import Testing
@testable import DTDCore

/// DESIGN §6's exact region checks against dense sampling. segment_inside is the largest s ∈ [0, 1]
/// with a → a + s(ã − a) inside the closure of a's linear region, found by the engine by walking
/// the breakpoints of g_ℓ along the line; admissible_t is the largest step along −v_j inside it.
/// Here the region is sampled instead: at each point the naive oracle computes every ReLU
/// pre-activation and max-pool winner of g_ℓ and compares them with a's (Support/NaiveDTD.swift).
/// A region of a ReLU network with max pooling is convex (linear inequalities once the pattern is
/// fixed), so the segment leaves it at most once and the samples bracket the exit exactly.
@Suite("Linear region")
struct LinearRegionTests {
    /// Samples per segment (the bracket's width is 1/steps).
    static let steps = 160

    /// The networks: the random MLPs and the CNN with a padded max-pool, whose winners bound the
    /// region too.
    static let networks = RandomNetworks.mlps + [RandomNetworks.cnns[0]]

    /// The last sample s = k/steps such that a + s'(ã − a) is in the closure for every sample s' ≤ s,
    /// and the first sample after it (nil if the whole segment is inside).
    static func bracket(_ tail: NaiveTail, a: [Double], root: [Double]) -> (inside: Double, outside: Double?) {
        let reference = tail.state(a)
        for k in 1...steps {
            let s = Double(k) / Double(steps)
            let point = zip(a, root).map { $0 + s * ($1 - $0) }
            if !tail.state(point).isInClosure(of: reference) { return (Double(k - 1) / Double(steps), s) }
        }
        return (1, nil)
    }

    /// last sample inside ≤ segment_inside ≤ first sample outside (1e-9 slack for the hinge
    /// tolerance), and segment_inside = 1 when every sample is inside; for zplus, LRP-0 and w² roots
    /// at the first and a middle layer, both placements. The test also requires that some segments
    /// do leave the region, so the bracket is exercised on both sides — except on the MLP without
    /// ReLUs, which is affine and so one region that no segment leaves.
    @Test(arguments: networks)
    func segmentInsideBracketsTheSampledExit(_ spec: NetworkSpec) throws {
        var exits = 0, checked = 0
        for rule in [Rule.zPlus(), .epsilon(0), .wSquare()] {
            for layer in spec.firstAndMiddleLinearLayers {
                for placement in [Placement.relevance, .hyperplane] {
                    let query = RootQuery(layer: layer, target: 0, placement: placement, neurons: spec.testNeurons(layer: layer, convCount: 10))
                    let c = try DTDCase(spec, rule: rule, query: query, batch: 2, seed: 4000)
                    let (records, _) = try c.audit()
                    let (points, _) = try c.roots()
                    let perSample = records.count / c.batch
                    for (i, record) in records.enumerated() where record.root.hasRoot && record.root.t != 0 {
                        let a = c.layerInput(i / perSample), root = points.row(i, size: c.layerInputCount)
                        let (inside, outside) = Self.bracket(c.tail, a: a, root: root)
                        let what = "\(rule) layer \(layer) \(placement) neuron \(record.root.neuron)"
                        #expect(record.segmentInside >= inside - 1e-9, "\(what): segment \(record.segmentInside), sampled inside up to \(inside)")
                        if let outside {
                            #expect(record.segmentInside <= outside + 1e-9, "\(what): segment \(record.segmentInside), sampled outside at \(outside)")
                            exits += 1
                        } else {
                            // A hyperplane root on neuron j's own hinge exits at s = 1 up to rounding.
                            #expect(record.segmentInside >= 1 - 1e-12, "\(what): the whole segment is inside, segment \(record.segmentInside)")
                        }
                        checked += 1
                    }
                }
            }
        }
        if spec.hasReLU {
            #expect(exits > 0 && exits < checked, "\(spec): \(exits) of \(checked) segments leave the region")
        } else {
            #expect(exits == 0 && checked > 0, "\(spec): an affine network is one region, yet \(exits) of \(checked) segments leave it")
        }
    }

    /// admissible_t, signed like t: the point a − admissible_t·v_j (v_j from DESIGN §5's table,
    /// computed naively) is on the region's boundary — some unit of g_ℓ at its hinge or a max-pool
    /// tie, within 1e-8 relative — just before it (1 − 1e-6 of the step) the line is inside the
    /// closure, just beyond it (1 + 1e-6) outside. Relevance placement, zplus and gamma. Without
    /// ReLUs (an affine network) every admissible step is infinite.
    @Test(arguments: networks)
    func admissibleStepEndsOnTheRegionBoundary(_ spec: NetworkSpec) throws {
        var bounded = 0, unbounded = 0
        for rule in [Rule.zPlus(), .gamma(0.25)] {
            for layer in spec.firstAndMiddleLinearLayers {
                let query = RootQuery(layer: layer, target: 1, placement: .relevance, neurons: spec.testNeurons(layer: layer, convCount: 10))
                let c = try DTDCase(spec, rule: rule, query: query, batch: 3, seed: 4100)
                let (records, _) = try c.audit()
                let perSample = records.count / c.batch
                for n in 0..<c.batch {
                    let a = c.layerInput(n), reference = c.tail.state(a)
                    for (slot, root) in c.naiveRoots(n).enumerated() where root.hasRoot && root.t != 0 {
                        let record = records[n * perSample + slot]
                        let admissible = record.admissibleT
                        let what = "\(rule) layer \(layer) neuron \(root.neuron)"
                        #expect(admissible.sign == record.root.t.sign, "\(what): admissible \(admissible) vs t \(record.root.t)")
                        guard admissible.isFinite else {
                            unbounded += 1
                            continue
                        }
                        func along(_ step: Double) -> RegionState { c.tail.state(zip(a, root.v).map { $0 - step * $1 }) }
                        #expect(along(admissible).distanceToBoundary(of: reference) <= 1e-8, "\(what): not at a boundary")
                        #expect(along(admissible * (1 - 1e-6)).isInClosure(of: reference), "\(what): outside before admissible_t")
                        #expect(!along(admissible * (1 + 1e-6)).isInClosure(of: reference), "\(what): inside beyond admissible_t")
                        bounded += 1
                    }
                }
            }
        }
        if spec.hasReLU {
            #expect(bounded >= 5, "\(spec): only \(bounded) bounded steps")
        } else {
            #expect(bounded == 0 && unbounded > 0, "\(spec): an affine network has \(bounded) bounded steps")
        }
    }
}
