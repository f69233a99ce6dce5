@testable import DTDCore

// MARK: - A naive reference for DTD roots and the root audit (`Include/dtd.h` section 6)
//
// Written from `Include/dtd.h` section 6 (the direction table, the placements, the root form, g_ℓ, the
// top-down pass, the closure of the input's region), one sample at a time, on top of the naive
// oracle of Reference/NaiveLRP.swift. The engine's `Rule` enum only carries parameters; its
// `rootForm` and `hasRoots` are not used here, so the DTD tests compare the engine with an
// independent reading of the design.

extension NetworkSpec {
    /// The activation shape at every layer boundary: `shapes[l]` is layer l's input, the last one
    /// the network's output (PyTorch's output-size formulas, floor mode).
    var activationShapes: [[Int]] {
        var shapes = [inputShape]
        var shape = inputShape
        for layer in layers {
            switch layer {
            case .dense(_, let out, _, _):
                shape = [out]
            case .conv2d(let c):
                shape = NaiveNetwork.convOutput(c, input: shape)
            case .relu:
                break
            case .flatten:
                shape = [shape.reduce(1, *)]
            case .maxPool2d(let kernel, let stride, let padding), .avgPool2d(let kernel, let stride, let padding, _):
                shape = [shape[0], (shape[1] + 2 * padding.0 - kernel.0) / stride.0 + 1,
                         (shape[2] + 2 * padding.1 - kernel.1) / stride.1 + 1]
            }
            shapes.append(shape)
        }
        return shapes
    }

    /// g_ℓ of the audit (`Include/dtd.h` section 6) as a network of its own: the layers from `layer` on, fed layer `layer`'s input.
    func tail(from layer: Int) -> NetworkSpec {
        NetworkSpec(name: "\(name) from layer \(layer)", inputShape: activationShapes[layer], layers: Array(layers[layer...]))
    }

    /// The neurons a test asks for at layer `layer`: all of a dense layer; of a conv layer, up to
    /// `convCount` starting a third of the way in (exercising the neuron range, from a start that
    /// is not a channel boundary).
    func testNeurons(layer: Int, convCount: Int) -> Range<Int> {
        let count = activationShapes[layer + 1].reduce(1, *)
        guard case .conv2d = layers[layer] else { return 0..<count }
        return (count / 3)..<min(count, count / 3 + convCount)
    }

    /// Whether g contains a ReLU (else it is affine: one region, unbounded).
    var hasReLU: Bool { layers.contains { if case .relu = $0 { true } else { false } } }

    /// The first dense/conv layer and, when there is one, the second (a "middle" layer).
    var firstAndMiddleLinearLayers: [Int] { Array(linearLayerIndices.prefix(2)) }
}

extension NaiveNetwork {
    /// The affine map of dense/conv layer `index` (nil for any other layer).
    func affine(at index: Int) -> NaiveAffine? {
        if case .affine(let map, true) = layers[index] { return map }
        return nil
    }

    /// The relevance arriving at the output of layer `layer` when `seed` is propagated down from the
    /// output with `rules[l]` on every dense/conv layer above it (the top-down pass of `Include/dtd.h` section 6 when
    /// the rules are root forms). ReLU and flatten pass it, max-pool routes it to the first maximum,
    /// average pooling uses epsilon 1e-6, exactly as `lrp`.
    func relevance(_ x: [Double], seed: [Double], rules: [Int: Rule], above layer: Int) -> [Double] {
        let acts = activations(x)
        var r = seed
        for (index, current) in layers.enumerated().reversed() where index > layer {
            let a = acts[index]
            switch current {
            case .affine(let map, let isLinear):
                let rule = isLinear ? rules[index] ?? .epsilon(.nan) : .epsilon(1e-6, bias: .include)
                r = NaiveLRP.relevance(rule, layer: map, input: a, relevance: r)
            case .relu, .flatten:
                break
            case .maxPool(let windows):
                var next = [Double](repeating: 0, count: a.count)
                for (o, window) in windows.enumerated() { next[NaiveNetwork.winner(window, a)] += r[o] }
                r = next
            }
        }
        return r
    }

    /// The state that fixes the local linear model at a point: every ReLU's pre-activation and, for
    /// every max-pool layer, its input and windows.
    func regionState(_ x: [Double]) -> RegionState {
        let acts = activations(x)
        var state = RegionState()
        for (index, layer) in layers.enumerated() {
            switch layer {
            case .relu: state.reluInputs.append(acts[index])
            case .maxPool(let windows): state.pools.append((acts[index], windows))
            default: continue
            }
        }
        return state
    }
}

/// Every ReLU pre-activation and max-pool input of g at one point (`NaiveNetwork.regionState`).
struct RegionState {
    var reluInputs: [[Double]] = []
    var pools: [(input: [Double], windows: [[Int]])] = []

    /// Whether this point lies in the closure of `reference`'s linear region (`Include/dtd.h` section 6,
    /// same_pattern): every ReLU is on (> 0) or off exactly where it is at the reference, except that
    /// a unit within `tolerance` (relative to its layer's largest |pre-activation| here) of its hinge
    /// matches either state; every max-pool window's winner at the reference (its first maximum) is
    /// still a maximum here, to the same relative tolerance.
    func isInClosure(of reference: RegionState, tolerance: Double = 1e-9) -> Bool {
        // The hinge slack is relative to the layer's largest magnitude at either point (`Include/dtd.h` section 6).
        for (here, there) in zip(reluInputs, reference.reluInputs) {
            let slack = tolerance * ((here + there).map(abs).max() ?? 0)
            for (z, z0) in zip(here, there) where (z > 0) != (z0 > 0) && abs(z) > slack { return false }
        }
        for (here, there) in zip(pools, reference.pools) {
            let slack = tolerance * ((here.input + there.input).map(abs).max() ?? 0)
            for window in here.windows {
                let winner = NaiveNetwork.winner(window, there.input)
                let best = window.map { here.input[$0] }.max() ?? 0
                if best - here.input[winner] > slack { return false }
            }
        }
        return true
    }

    /// The smallest |pre-activation| over all ReLUs, and the smallest gap between a window's
    /// reference winner and any other cell of it (ties of zeros aside), each relative to the layer's
    /// largest magnitude here or at the reference: how close the point is to the boundary of the
    /// region of `reference`, where its gradient is defined only up to rounding. (Relative to the
    /// reference too, so that the apex of a bias-free network's cone, where everything is ~0, counts.)
    func distanceToBoundary(of reference: RegionState) -> Double {
        var closest = Double.infinity
        for (here, there) in zip(reluInputs, reference.reluInputs) {
            let scale = max(here.map(abs).max() ?? 0, there.map(abs).max() ?? 0, 1e-300)
            for z in here { closest = min(closest, abs(z) / scale) }
        }
        for (here, there) in zip(pools, reference.pools) {
            let scale = max(here.input.map(abs).max() ?? 0, there.input.map(abs).max() ?? 0, 1e-300)
            for window in here.windows {
                let winner = NaiveNetwork.winner(window, there.input)
                // Ties of exact zeros (ReLU-off cells) route the gradient to a unit that passes none.
                for cell in window where cell != winner && (here.input[winner] != 0 || here.input[cell] != 0) {
                    closest = min(closest, abs(here.input[winner] - here.input[cell]) / scale)
                }
            }
        }
        return closest
    }
}

// MARK: - Roots from `Include/dtd.h` section 6

/// One root of `Include/dtd.h` section 6 computed naively: the direction v_j laid onto the layer input, w_jᵀv_j,
/// the relevance it carries and the step t_j (nil when the neuron has no root).
struct NaiveRoot {
    let neuron: Int
    let partial: Int
    let v: [Double]
    /// nil where the rule defines no direction (gamma at z_j = 0).
    let wv: Double?
    let relevance: Double
    let z: Double
    let t: Double?

    var hasRoot: Bool { t != nil }

    /// ã_j = a − t_j v_j (a itself when there is no root).
    func point(at a: [Double]) -> [Double] {
        guard let t else { return a }
        return zip(a, v).map { $0 - t * $1 }
    }
}

enum NaiveDTD {
    /// Whether `Include/dtd.h` section 6 defines roots for `rule`: epsilon with ε = 0, zplus, alphabeta, gamma,
    /// wsquare, zbox — not epsilon with ε > 0, not flat.
    static func isRootRule(_ rule: Rule) -> Bool {
        switch rule {
        case .epsilon(let e, _): e == 0
        case .flat: false
        default: true
        }
    }

    /// The root form (`Include/dtd.h` section 6): the rule's propagation with bias mode exclude and no stabiliser.
    static func rootForm(_ rule: Rule) -> Rule {
        switch rule {
        case .epsilon: .epsilon(0, bias: .exclude)
        case .zPlus: .zPlus(stabilizer: 0, bias: .exclude)
        case .alphaBeta(let alpha, let beta, _, _): .alphaBeta(alpha: alpha, beta: beta, stabilizer: 0, bias: .exclude)
        case .gamma(let g, _, _): .gamma(g, stabilizer: 0, bias: .exclude)
        case .wSquare: .wSquare(stabilizer: 0, bias: .exclude)
        case .zBox(let l, let h, _, _): .zBox(low: l, high: h, stabilizer: 0, bias: .exclude)
        case .flat: rule
        }
    }

    /// The root forms of `rules` on every layer of `spec` (for the top-down pass).
    static func rootForms(_ rules: [Int: Rule]) -> [Int: Rule] { rules.mapValues(rootForm) }

    /// The share of R_j a partial root carries: α and −β for alphabeta's two, 1 otherwise.
    static func partials(_ rule: Rule) -> [(partial: Int, factor: Double)] {
        if case .alphaBeta(let alpha, let beta, _, _) = rule { return [(0, alpha), (1, -beta)] }
        return [(0, 1)]
    }

    /// v_j of the direction table (`Include/dtd.h` section 6) on neuron j's connections (padding taps carry nothing), laid onto
    /// the layer input, and w_jᵀv_j; nil where the rule defines no root (gamma at z_j = 0).
    static func direction(_ rule: Rule, partial: Int, a: [Double], row: [(input: Int, weight: Double)], z: Double,
                          low: [Double], high: [Double]) -> (v: [Double], wv: Double)? {
        var v = [Double](repeating: 0, count: a.count)
        for (i, w) in row {
            let ai = a[i]
            switch rule {
            case .epsilon: v[i] += ai
            case .zPlus: v[i] += ai * w > 0 ? ai : 0
            case .alphaBeta: v[i] += (partial == 0 ? ai * w > 0 : ai * w < 0) ? ai : 0
            case .gamma(let g, _, _):
                guard z != 0 else { return nil }
                v[i] += ai * (1 + ((z > 0 ? ai * w > 0 : ai * w < 0) ? g : 0))
            case .wSquare: v[i] += w
            case .zBox: v[i] += ai - (w > 0 ? low[i] : 0) - (w < 0 ? high[i] : 0)
            case .flat: return nil
            }
        }
        // w_jᵀv_j over the neuron's connections (a conv neuron's taps never repeat an input).
        let wv = row.reduce(0) { $0 + $1.weight * v[$1.input] }
        return (v, wv)
    }

    /// Every root (`Include/dtd.h` section 6) of layer `layer` for one sample, for neurons `neurons`, with the
    /// top-down relevance (`Include/dtd.h` section 6; seed f_k(x) e_k, upper layers in root form).
    static func roots(_ spec: NetworkSpec, _ x: [Double], layer: Int, target: Int, rules: [Int: Rule], placement: Placement,
                      tolerance: Double = 1e-5, neurons: Range<Int>? = nil) -> [NaiveRoot] {
        let naive = NaiveNetwork(spec)
        let acts = naive.activations(x)
        let output = acts[acts.count - 1]
        var seed = [Double](repeating: 0, count: output.count)
        seed[target] = output[target]
        let relevance = naive.relevance(x, seed: seed, rules: rootForms(rules), above: layer)
        guard let map = naive.affine(at: layer), let rule = rules[layer] else { return [] }
        let a = acts[layer]
        let z = NaiveLRP.sum(map.forward({ $0 }, a), map.bias)
        var low: [Double] = [], high: [Double] = []
        if case .zBox(let l, let h, _, _) = rule {
            low = NaiveLRP.image(l, map.inputShape)
            high = NaiveLRP.image(h, map.inputShape)
        }
        var result: [NaiveRoot] = []
        for j in neurons ?? 0..<map.outputCount {
            for (partial, factor) in partials(rule) {
                let r = factor * relevance[j]
                let d = direction(rule, partial: partial, a: a, row: map.connections[j], z: z[j], low: low, high: high)
                var t: Double?
                if let d, abs(d.wv) > tolerance {
                    t = r == 0 ? 0 : (placement == .hyperplane ? z[j] : r) / d.wv
                }
                result.append(NaiveRoot(neuron: j, partial: partial, v: d?.v ?? [Double](repeating: 0, count: a.count),
                                        wv: d?.wv, relevance: r, z: z[j], t: t))
            }
        }
        return result
    }
}

// MARK: - g_ℓ

/// g_ℓ of the audit (`Include/dtd.h` section 6), naively: the network from layer ℓ's input to output `target`, its gradient
/// (ReLU′(0) = 0, max-pool to the first maximum) and its region state.
struct NaiveTail {
    let network: NaiveNetwork
    let target: Int
    let outputCount: Int

    init(_ spec: NetworkSpec, layer: Int, target: Int) {
        let tail = spec.tail(from: layer)
        network = NaiveNetwork(tail)
        self.target = target
        outputCount = tail.activationShapes.last?.reduce(1, *) ?? 0
    }

    func value(_ a: [Double]) -> Double { network.forward(a)[target] }

    func gradient(_ a: [Double]) -> [Double] {
        var seed = [Double](repeating: 0, count: outputCount)
        seed[target] = 1
        return network.gradient(a, seed: seed)
    }

    func state(_ a: [Double]) -> RegionState { network.regionState(a) }
}

// MARK: - Small helpers

extension Array where Element == Double {
    /// The `index`-th row of `size` values.
    func row(_ index: Int, size: Int) -> [Double] { Array(self[(index * size)..<((index + 1) * size)]) }
}

/// The DTD suites' networks: the seeded random MLPs (biases of every sign, one without ReLUs) and
/// the CNNs with max pooling or no pooling (whose regions the audit walks exactly).
enum DTDNetworks {
    static var dense: [NetworkSpec] { RandomNetworks.mlps }
    static var conv: [NetworkSpec] { RandomNetworks.cnnsWithoutAveragePooling }
    static var all: [NetworkSpec] { dense + conv }

    /// Every root rule (with assorted stabilisers and bias modes, which the root form
    /// must ignore): the catalogue's rules minus epsilon > 0 and flat.
    static var rootRules: [Rule] { Rule.allTestCases.filter(NaiveDTD.isRootRule) }

    /// One rule of each root kind (the heavier audit tests, where stabiliser and bias mode, which
    /// the root form drops, would only repeat the work).
    static let rootRuleKinds: [Rule] = [
        .epsilon(0), .zPlus(), .alphaBeta(alpha: 2, beta: 1), .gamma(0.25), .wSquare(),
        .zBox(low: .scalar(-1), high: .scalar(1)),
    ]
}

// MARK: - One root query on a seeded random network

/// A root query on a seeded random network in float64, with the pieces the DTD suites compare:
/// the engine network and rule set, the inputs (uniform in [−1, 1], both signs), the naive network
/// and g_ℓ.
struct DTDCase {
    let spec: NetworkSpec
    let network: Network<Double>
    let rules: [Int: Rule]
    let ruleSet: RuleSet<Double>
    let batch: Int
    let x: [Double]
    let query: RootQuery
    let naive: NaiveNetwork
    let tail: NaiveTail

    /// `rule` on every dense/conv layer, or each layer's rule from `rules`.
    init(_ spec: NetworkSpec, rule: Rule, rules: [Int: Rule]? = nil, query: RootQuery, batch: Int, seed: UInt64) throws {
        self.spec = spec
        network = try spec.build(Double.self)
        self.rules = rules ?? spec.uniformRules(rule)
        ruleSet = try spec.ruleSet(self.rules, for: network)
        self.batch = batch
        x = RandomNetworks.inputs(spec, batch: batch, seed: seed)
        self.query = query
        naive = NaiveNetwork(spec)
        tail = NaiveTail(spec, layer: query.layer, target: query.target)
    }

    /// Elements of the audited layer's input.
    var layerInputCount: Int { spec.activationShapes[query.layer].reduce(1, *) }

    /// Input sample n.
    func sample(_ n: Int) -> [Double] { x.row(n, size: spec.inputCount) }

    /// The audited layer's input a for sample n, computed naively.
    func layerInput(_ n: Int) -> [Double] { naive.activations(sample(n))[query.layer] }

    /// f_k(x) for sample n, computed naively.
    func output(_ n: Int) -> Double { naive.forward(sample(n))[query.target] }

    /// The naive roots of sample n.
    func naiveRoots(_ n: Int) -> [NaiveRoot] {
        NaiveDTD.roots(spec, sample(n), layer: query.layer, target: query.target, rules: rules, placement: query.placement,
                       tolerance: query.tolerance, neurons: query.neurons)
    }

    func roots(_ query: RootQuery? = nil) throws -> (points: [Double], info: [RootInfo]) {
        try network.roots(x, batch: batch, rules: ruleSet, query: query ?? self.query)
    }

    func audit(_ query: RootQuery? = nil) throws -> (records: [AuditRecord], summary: AuditSummary) {
        try network.auditRoots(x, batch: batch, rules: ruleSet, query: query ?? self.query)
    }
}
