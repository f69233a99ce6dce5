import Testing
@testable import DTDCore

/// The exact region checks (`Include/dtd.h` section 6) against dense sampling. segment_inside is the largest s ∈ [0, 1]
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

    /// The exact walk and the pattern test describe the same convex set: a region's closure is
    /// convex, so a root in it (same_pattern) has its whole segment in it (segment_inside = 1, up to
    /// the 1e-9 hinge tolerance of same_pattern, so ≥ 1 − 1e-6 here), and a whole segment inside
    /// means the root is in it. Every root kind, both placements, all networks.
    @Test(arguments: networks)
    func segmentInsideAndSamePatternAgree(_ spec: NetworkSpec) throws {
        var inside = 0, outside = 0
        for rule in DTDNetworks.rootRuleKinds {
            for layer in spec.firstAndMiddleLinearLayers {
                for placement in [Placement.relevance, .hyperplane] {
                    let query = RootQuery(layer: layer, target: 0, placement: placement, neurons: spec.testNeurons(layer: layer, convCount: 10))
                    let c = try DTDCase(spec, rule: rule, query: query, batch: 3, seed: 4200)
                    for record in try c.audit().records where record.root.hasRoot {
                        let what = "\(rule) layer \(layer) \(placement) neuron \(record.root.neuron)"
                        if record.samePattern {
                            #expect(record.segmentInside >= 1 - 1e-6, "\(what): in the region, segment \(record.segmentInside)")
                            inside += 1
                        } else {
                            outside += 1
                        }
                        if record.segmentInside == 1 { #expect(record.samePattern, "\(what): whole segment inside, root outside") }
                    }
                }
            }
        }
        #expect(inside > 0 && (outside > 0 || !spec.hasReLU), "\(spec): \(inside) roots inside, \(outside) outside")
    }

    /// A hyperplane root lies on its own neuron's hinge — on the boundary of the closure of a's
    /// region when that neuron feeds a ReLU — and is in the closure. Region-constrained DTD must
    /// leave such a root alone: the exact walk reaches the hinge at t_j itself, so clipping is only
    /// right when another boundary comes first, i.e. when it moves the root by more than rounding
    /// (here 1e-9 of |t|), and a root in the closure has segment_inside exactly 1.
    @Test(arguments: networks)
    func hyperplaneRootsOnTheirOwnHingeAreNotClipped(_ spec: NetworkSpec) throws {
        var roundingClips = 0, roundingSegments = 0, clips = 0
        for rule in DTDNetworks.rootRuleKinds {
            for layer in spec.firstAndMiddleLinearLayers {
                let free = RootQuery(layer: layer, target: 0, placement: .hyperplane, neurons: spec.testNeurons(layer: layer, convCount: 10))
                var constrained = free
                constrained.constrainToRegion = true
                let c = try DTDCase(spec, rule: rule, query: free, batch: 3, seed: 4300)
                let unconstrained = try c.audit().records
                for (record, reference) in zip(try c.audit(constrained).records, unconstrained) where record.root.flags.contains(.clipped) {
                    clips += 1
                    if abs(reference.root.t) - abs(record.root.t) <= 1e-9 * abs(reference.root.t) { roundingClips += 1 }
                }
                roundingSegments += unconstrained.filter { $0.samePattern && $0.segmentInside < 1 && $0.segmentInside > 1 - 1e-12 }.count
            }
        }
        #expect(roundingClips == 0, "\(spec): \(roundingClips) of \(clips) clipped hyperplane roots moved by rounding only")
        #expect(roundingSegments == 0, "\(spec): \(roundingSegments) roots in the region with segment_inside = 1 − rounding")
    }

    /// admissible_t, signed like t: the point a − admissible_t·v_j (v_j from the direction table,
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
