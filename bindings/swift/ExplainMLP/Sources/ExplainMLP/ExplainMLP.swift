// Explains a small ReLU network with libdtd's Swift engine, DTDCore: the forward pass, LRP with
// a composite and its conservation ledger, the study's Theorem 2 (LRP-0 equals gradient x
// input), and the DTD roots of the first layer with their audit. Exits 1 if a check fails.
import DTDCore

#if canImport(Glibc)
import Glibc
#endif

@main
struct ExplainMLP {
    static func main() {
        var checks = Checks()
        do {
            try explain(&checks)
        } catch {
            print("error: \(error)")
            checks.failed = true
        }
        exit(checks.failed ? 1 : 0)
    }

    static func explain(_ checks: inout Checks) throws(DTDError) {
        // A 4-6-3 network: dense, ReLU, dense. Weights are (out, in), row-major, as in PyTorch.
        let w1: [Double] = [
            0.5, -0.3, 0.8, 0.1, -0.4, 0.9, 0.2, -0.6, 0.7, 0.4, -0.5, 0.3,
            -0.2, -0.7, 0.6, 0.9, 0.3, 0.2, 0.4, -0.8, 0.6, -0.1, -0.3, 0.5,
        ]
        let b1: [Double] = [0.1, -0.2, 0.05, 0, -0.1, 0.2]
        let w2: [Double] = [
            0.7, -0.5, 0.4, 0.2, -0.3, 0.6, -0.4, 0.8, 0.1, -0.6, 0.5, 0.3,
            0.2, 0.3, -0.7, 0.9, 0.4, -0.2,
        ]
        let b2: [Double] = [0.05, -0.05, 0.1]
        var net = try Network<Double>(inputShape: .flat(4))
        try net.addDense(weight: w1, outFeatures: 6, inFeatures: 4, bias: b1)
        net.addReLU()
        try net.addDense(weight: w2, outFeatures: 3, inFeatures: 6, bias: b2)

        let x: [Double] = [0.9, 0.1, 0.4, 0.7]
        let output = try net.forward(x, batch: 1)
        let k = output.indices.max { output[$0] < output[$1] } ?? 0
        var unit = [Double](repeating: 0, count: output.count)
        unit[k] = 1
        let seed = unit.map { $0 * output[k] }               // "explain output k": f_k(x) e_k
        print("f(x) = \(show(output)); explaining output \(k)")

        // LRP with the epsilon-plus composite: z+ on the hidden layer, epsilon on the output layer.
        var rules = try RuleSet(for: net)
        try rules.set(.epsilonPlus, in: net)
        let (relevance, ledger) = try net.lrpWithLedger(x, batch: 1, outputRelevance: seed, rules: rules)
        print("LRP, epsilon_plus: \(show(relevance))")
        for entry in ledger {
            let parts = entry.relevanceIn + entry.absorbedBias + entry.absorbedStabilizer + entry.dropped
            checks.expect(abs(entry.relevanceOut - parts) <= 1e-12,
                          "layer \(entry.layer): relevance out \(show(entry.relevanceOut)) = in \(show(entry.relevanceIn))"
                              + " + bias \(show(entry.absorbedBias)) + stabiliser + dropped")
        }
        checks.expect(abs(relevance.reduce(0, +) - ledger[0].relevanceIn) <= 1e-12,
                      "the input relevance sums to the ledger's bottom entry")

        // Theorem 2 of the study: LRP-0 with the bias included is gradient x input.
        let lrp0 = try RuleSet(for: net, everyLinearLayer: .epsilon(0))
        let r0 = try net.lrp(x, batch: 1, outputRelevance: seed, rules: lrp0)
        let gxi = try net.gradientTimesInput(x, batch: 1, outputRelevance: unit)
        let distance = zip(r0, gxi).map { abs($0 - $1) }.max() ?? .infinity
        print("LRP-0: \(show(r0)); gradient x input: \(show(gxi))")
        checks.expect(distance <= 1e-12, "LRP-0 equals gradient x input (largest difference \(distance))")

        // The DTD roots of the first layer under z+ (relevance placement), audited against the
        // network from that layer's input to output k.
        let zPlus = try RuleSet(for: net, everyLinearLayer: .zPlus())
        let query = RootQuery(layer: 0, target: k, placement: .relevance)
        let (points, info) = try net.roots(x, batch: 1, rules: zPlus, query: query)
        let (records, summary) = try net.auditRoots(x, batch: 1, rules: zPlus, query: query)
        print("z+ roots of layer 0 (neuron: relevance, root, same ReLU pattern, fraction of the segment in the region):")
        for (j, record) in records.enumerated() {
            let root = Array(points[(j * x.count)..<((j + 1) * x.count)])
            print("  \(info[j].neuron): \(show(info[j].relevance)), \(show(root)), \(record.samePattern), \(show(record.segmentInside))")
        }
        checks.expect(summary.maxConservationError <= 1e-12,
                      "the roots' relevance sums to f_k(x) (error \(summary.maxConservationError))")
        print("audit: \(summary.pairs) roots; a root outside the input's ReLU pattern: \(summary.outsideByPattern > 0)")
    }
}

/// Collects pass/fail lines.
struct Checks {
    var failed = false

    mutating func expect(_ ok: Bool, _ what: String) {
        print("  \(ok ? "ok  " : "FAIL") \(what)")
        if !ok { failed = true }
    }
}

/// Four decimals, for printing.
func show(_ value: Double) -> String { "\((value * 10_000).rounded() / 10_000)" }
func show(_ values: [Double]) -> String { "[" + values.map(show).joined(separator: ", ") + "]" }
