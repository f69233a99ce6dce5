// MARK: - The propagation step shared by every rule
//
// For one dense/conv layer and a batch, in four steps (RelevancePropagation.jl's `lrp!`):
//   1. forward      D_g = sum_t sign_t W_t in_t + bias_g           (per group g)
//   2. divide       s_g = gate_g R / stab(D_g), 0 where stab(D_g) = 0
//   3. transpose    c_t = W_t^T s_g                                 (per term t of g)
//   4. multiply     R_in += coef_g sign_t in_t (.) c_t
// Locals: `a` the layer input, `z` its true output, `r` the relevance at the output. Every
// choice that does not depend on the input (where D_g comes from, which transposes are
// broadcasts) was made when the rule was prepared (`PreparedRule`).

extension PreparedRule {
    /// Relevance at the input of `layer` (`result`, `(batch, inputCount)`) from the relevance `r`
    /// at its output.
    /// - Parameters:
    ///   - fused: group 0's product W_d a, when the forward pass computed it (`fusedWeight`).
    ///   - signs: the signs present in `a`, when the trace has scanned them (`SignScan`).
    ///   - ledger: if given, the `(batch, layer count)` ledger; this layer's entries are written.
    func propagate(layer: LinearLayer<T>, input a: BatchView<T>, output z: BatchView<T>, relevance r: BatchView<T>,
                   result: MutableBatchView<T>, ledger: MutableBatchView<LedgerEntry>?, fused: BatchView<T>? = nil,
                   signs: (positive: Bool, negative: Bool)? = nil, scratch: Scratch<T>) throws(DTDError) {
        let batch = a.batch
        // Branches over a+ or a- vanish when the input has no such part (a- after a ReLU).
        let parts = usesInputSigns ? signs ?? SignScan.signs(a) : (positive: true, negative: true)
        let d = try scratch.view(.denominator, batch: batch, count: z.count)
        let s = try scratch.view(.share, batch: batch, count: z.count)
        let contribution = try scratch.view(.contribution, batch: batch, count: a.count)
        if let ledger { openLedger(ledger, relevance: r) }

        var written = false
        for (index, group) in groups.enumerated() {
            // 1. forward
            let denominator = try forward(group, fused: index == 0 ? fused : nil, layer: layer, input: a, output: z,
                                          parts: parts, into: d, scratch: scratch)
            // 2. stabilise and divide
            if let ledger {
                divideWithLedger(group, denominator: denominator, output: z, relevance: r, shares: s, ledger: ledger)
            } else {
                divide(group.gate, denominator: denominator, output: z, relevance: r, shares: s)
            }
            for term in group.terms + group.constantTerms where Self.present(term.input, parts) {
                // 3. transpose
                if term.transposeIsBroadcast {
                    try layer.applyOnesTransposed(gradOutput: s.readOnly, gradInput: contribution, scratch: scratch)
                } else {
                    try layer.applyTransposed(weight: term.weight, transposedWeight: term.transposedWeight,
                                              gradOutput: s.readOnly, gradInput: contribution, scratch: scratch)
                }
                // 4. multiply (the first product assigns, the rest accumulate)
                try multiply(term, coefficient: group.coefficient, input: a, contribution: contribution.readOnly,
                             into: result, accumulate: written)
                written = true
            }
        }

        if !written { result.fill(0) }
        if let ledger { closeLedger(ledger, result: result.readOnly) }
    }

    // MARK: 1. forward

    /// The group's denominator D_g: the forward output z itself, or the sum of its terms'
    /// products (or the fused one), its constant part and its bias, computed into `d`.
    private func forward(_ group: Group, fused: BatchView<T>?, layer: LinearLayer<T>, input a: BatchView<T>,
                         output z: BatchView<T>, parts: (positive: Bool, negative: Bool), into d: MutableBatchView<T>,
                         scratch: Scratch<T>) throws(DTDError) -> BatchView<T> {
        switch group.denominator {
        case .forwardOutput:
            return z
        case .products:
            if let fused {
                d.copy(from: fused)
            } else {
                var accumulate = false
                for term in group.terms where Self.present(term.input, parts) {
                    // a+ is a itself when nothing is negative (or NaN), e.g. after a ReLU.
                    let x = term.input == .positive && !parts.negative ? a
                        : try termInput(term.input, a, scratch: scratch)
                    try layer.apply(weight: term.weight, input: x, output: d, scale: term.sign, accumulate: accumulate,
                                    scratch: scratch)
                    accumulate = true
                }
                if !accumulate { d.fill(0) }
            }
            for part in [group.constantPart, group.bias].compactMap({ $0 }) {
                Elementwise.addToEverySample(part.view, to: d)
            }
            return d.readOnly
        }
    }

    /// Whether a term's input has any elements in this call (its sign part exists).
    private static func present(_ input: InputChoice, _ parts: (positive: Bool, negative: Bool)) -> Bool {
        switch input {
        case .positive: parts.positive
        case .negative: parts.negative
        default: true
        }
    }

    /// The term input for the whole batch: `a` itself, or its positive or negative part.
    private func termInput(_ input: InputChoice, _ a: BatchView<T>, scratch: Scratch<T>) throws(DTDError) -> BatchView<T> {
        switch input {
        case .activation:
            return a
        case .positive, .negative:
            let x = try scratch.view(.termInput, batch: a.batch, count: a.count)
            Elementwise.signPart(a, positive: input == .positive, into: x)
            return x.readOnly
        case .low, .high, .ones:
            throw DTDError(.internal, "layer \(layerIndex): constant input \(input) is not materialised per call")
        }
    }

    // MARK: 2. stabilise and divide

    /// One neuron's share s = gate R / stab(d) and the stabilised denominator it divided by: 0
    /// where the stabilised denominator is 0 or |d| is within the drop tolerance (a share of 0);
    /// a closed gate gives 0, or NaN at a NaN z, and is reported as not `open`.
    @inline(__always)
    private static func gatedShare(_ gate: Gate, d: T, z: T, r: T, stabilizer: T, drop: T)
        -> (share: T, denominator: T, open: Bool) {
        guard gate.admits(z) else { return (z.isNaN ? z : 0, 0, false) }
        let denominator = drop > 0 && abs(d) <= drop ? 0 : stabilize(d, stabilizer)
        return (share(r, denominator), denominator, true)
    }

    /// s = gate R / stab(d) over the batch (`gatedShare`): one tight loop per gate, split over
    /// the workers for large outputs.
    private func divide(_ gate: Gate, denominator d: BatchView<T>, output z: BatchView<T>, relevance r: BatchView<T>,
                        shares s: MutableBatchView<T>) {
        let eps = stabilizer, drop = dropTolerance, count = s.total
        ParallelFor.forEachRange(count, work: count) { range, _ in
            switch gate {
            case .all:
                for i in range { s[i] = Self.gatedShare(.all, d: d[i], z: z[i], r: r[i], stabilizer: eps, drop: drop).share }
            case .positiveOutput:
                for i in range {
                    s[i] = Self.gatedShare(.positiveOutput, d: d[i], z: z[i], r: r[i], stabilizer: eps, drop: drop).share
                }
            case .negativeOutput:
                for i in range {
                    s[i] = Self.gatedShare(.negativeOutput, d: d[i], z: z[i], r: r[i], stabilizer: eps, drop: drop).share
                }
            }
        }
    }

    /// `divide` while booking each sample's kept, bias and stabiliser parts in the ledger.
    private func divideWithLedger(_ group: Group, denominator d: BatchView<T>, output z: BatchView<T>,
                                  relevance r: BatchView<T>, shares s: MutableBatchView<T>,
                                  ledger: MutableBatchView<LedgerEntry>) {
        let bias = group.bias
        for n in 0..<s.batch {
            var kept = 0.0, biasPart = 0.0, stabilizerPart = 0.0
            for j in 0..<s.count {
                let (value, denominator, open) = Self.gatedShare(group.gate, d: d[n, j], z: z[n, j], r: r[n, j],
                                                                 stabilizer: stabilizer, drop: dropTolerance)
                s[n, j] = value
                guard open, denominator != 0 else { continue }
                kept += Double(r[n, j])
                stabilizerPart += Double(value) * Double(denominator - d[n, j])
                if let bias { biasPart += Double(value) * Double(bias[j]) }
            }
            let c = Double(group.coefficient)
            ledger[n, layerIndex].dropped -= c * kept
            ledger[n, layerIndex].absorbedBias += c * biasPart
            ledger[n, layerIndex].absorbedStabilizer += c * stabilizerPart
        }
    }

    // MARK: 4. multiply

    /// result (+)= coef sign in (.) contribution for one term.
    private func multiply(_ term: Term, coefficient: T, input a: BatchView<T>, contribution: BatchView<T>,
                          into result: MutableBatchView<T>, accumulate: Bool) throws(DTDError) {
        let c = coefficient * term.sign
        switch term.input {
        case .activation:
            Elementwise.scaledProduct(c, a, contribution, part: .all, into: result, accumulate: accumulate)
        case .positive:
            Elementwise.scaledProduct(c, a, contribution, part: .positive, into: result, accumulate: accumulate)
        case .negative:
            Elementwise.scaledProduct(c, a, contribution, part: .negative, into: result, accumulate: accumulate)
        case .low, .high, .ones:
            guard let image = constantImage(term.input) else {
                throw DTDError(.internal, "layer \(layerIndex): no image for \(term.input)")
            }
            Elementwise.scaledProduct(c, image: image.view, contribution, into: result, accumulate: accumulate)
        }
    }

    // MARK: Ledger

    /// Starts this layer's entries: all relevance arriving counts as dropped until a group keeps it.
    private func openLedger(_ ledger: MutableBatchView<LedgerEntry>, relevance r: BatchView<T>) {
        for (n, total) in Elementwise.sampleSums(r).enumerated() {
            var entry = LedgerEntry(layer: layerIndex)
            entry.relevanceOut = total
            entry.dropped = total
            ledger[n, layerIndex] = entry
        }
    }

    /// Books the relevance passed to the layer's input.
    private func closeLedger(_ ledger: MutableBatchView<LedgerEntry>, result: BatchView<T>) {
        for (n, total) in Elementwise.sampleSums(result).enumerated() { ledger[n, layerIndex].relevanceIn = total }
    }
}
