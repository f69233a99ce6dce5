// MARK: - The propagation step shared by every rule
//
// For one dense/conv layer and a batch, in four steps (RelevancePropagation.jl's `lrp!`):
//   1. forward      D_g = sum_t sign_t W_t in_t + bias_g           (per group g)
//   2. divide       s_g = gate_g R / stab(D_g), 0 where stab(D_g) = 0
//   3. transpose    c_t = W_t^T s_g                                 (per term t of g)
//   4. multiply     R_in += coef_g sign_t in_t (.) c_t
// Locals: `a` the layer input, `z` its true output, `r` the relevance at the output.

extension PreparedRule {
    /// - Parameter fused: group 0's product W_d a, when the forward pass computed it (`fusedWeight`).
    func propagate(layer: LinearLayer<T>, input a: UnsafePointer<T>, output z: UnsafePointer<T>,
                   relevance r: UnsafePointer<T>, batch: Int, result: UnsafeMutablePointer<T>,
                   ledger: LedgerSink?, fused: UnsafePointer<T>? = nil,
                   signs: (positive: Bool, negative: Bool)? = nil, scratch: Scratch<T>) throws(DTDError) {
        let inCount = layer.inputCount, outCount = layer.outputCount
        let totalIn = batch * inCount, totalOut = batch * outCount
        // Branches over a+ or a- vanish when the input has no such part (a- after a ReLU).
        // `signs`, when given, are the input's (the trace scans each layer input once).
        let (hasPositive, hasNegative) = usesInputSigns ? signs ?? SignScan.signs(a, count: totalIn) : (true, true)
        func present(_ input: InputChoice) -> Bool {
            switch input {
            case .positive: hasPositive
            case .negative: hasNegative
            default: true
            }
        }

        let d = try scratch.buffer(.denominator0, count: totalOut)
        let s = try scratch.buffer(.share0, count: totalOut)
        let contribution = try scratch.buffer(.contribution, count: totalIn)
        var written = false

        if let ledger {
            for n in 0..<batch {
                var total = 0.0
                for j in 0..<outCount { total += Double(r[n * outCount + j]) }
                let entry = ledger.entry(n, layerIndex)
                entry.pointee = LedgerEntry(layer: layerIndex)
                entry.pointee.relevanceOut = total
                entry.pointee.dropped = total
            }
        }

        for (groupIndex, group) in groups.enumerated() {
            // 1. forward (a plain product's denominator is z itself)
            let denominator: UnsafePointer<T>
            if group.isPlainProduct {
                denominator = z
            } else {
                if groupIndex == 0, let fused {
                    d.update(from: fused, count: totalOut)
                } else {
                    var accumulate = false
                    for term in group.terms where present(term.input) {
                        // a+ is a itself when nothing is negative (or NaN), e.g. after a ReLU.
                        let x = term.input == .positive && !hasNegative ? a
                            : try materialize(term.input, a, count: totalIn, scratch: scratch)
                        try layer.apply(weight: term.weight, input: x, batch: batch, output: d,
                                        scale: term.sign, accumulate: accumulate, scratch: scratch)
                        accumulate = true
                    }
                    if !accumulate { d.update(repeating: 0, count: totalOut) }
                }
                for part in [group.constantPart, group.bias].compactMap({ $0 }) {
                    Self.addToEverySample(part.pointer, d, batch: batch, count: outCount)
                }
                denominator = UnsafePointer(d)
            }

            // 2. divide
            let coefficient = group.coefficient
            if let ledger {
                divideWithLedger(group, d: denominator, z: z, r: r, s: s, batch: batch, outCount: outCount, ledger: ledger)
            } else {
                divide(group.gate, d: denominator, z: z, r: r, s: s, count: totalOut)
            }

            // 3. transpose and 4. multiply (the first product assigns, the rest accumulate)
            for term in group.terms + group.constantTerms where present(term.input) {
                if term.onesWeight {
                    try layer.applyOnesTransposed(gradOutput: s, batch: batch, gradInput: contribution, scratch: scratch)
                } else {
                    try layer.applyTransposed(weight: term.weight, transposedWeight: term.transposedWeight?.pointer,
                                              gradOutput: s, batch: batch, gradInput: contribution, scratch: scratch)
                }
                let c = coefficient * term.sign
                let assign = !written
                written = true
                let from = UnsafePointer(contribution)
                switch term.input {
                case .activation:
                    Gemm.forEachRange(totalIn, work: totalIn) { range, _ in
                        if assign {
                            for i in range { result[i] = c * a[i] * from[i] }
                        } else {
                            for i in range { result[i] += c * a[i] * from[i] }
                        }
                    }
                case .positive, .negative:
                    let positive = term.input == .positive
                    Gemm.forEachRange(totalIn, work: totalIn) { range, _ in
                        if assign { (result + range.lowerBound).update(repeating: 0, count: range.count) }
                        if positive {
                            for i in range where !(a[i] <= 0) { result[i] += c * a[i] * from[i] }
                        } else {
                            for i in range where !(a[i] >= 0) { result[i] += c * a[i] * from[i] }
                        }
                    }
                case .low, .high, .ones:
                    guard let image = constantImage(term.input)?.pointer else {
                        throw DTDError(.internal, "layer \(layerIndex): no image for \(term.input)")
                    }
                    if assign { result.update(repeating: 0, count: totalIn) }
                    for n in 0..<batch {
                        let row = result + n * inCount, part = from + n * inCount
                        for i in 0..<inCount { row[i] += c * image[i] * part[i] }
                    }
                }
            }
        }

        if !written { result.update(repeating: 0, count: totalIn) }
        if let ledger {
            for n in 0..<batch {
                var total = 0.0
                for i in 0..<inCount { total += Double(result[n * inCount + i]) }
                ledger.entry(n, layerIndex).pointee.relevanceIn = total
            }
        }
    }

    /// s = gate R / stab(d), 0 where the stabilised denominator is 0 (or within the drop
    /// tolerance); a closed gate at a NaN z passes NaN on. One tight loop per gate, split over
    /// the workers for large outputs.
    private func divide(_ gate: Gate, d: UnsafePointer<T>, z: UnsafePointer<T>, r: UnsafePointer<T>,
                        s: UnsafeMutablePointer<T>, count: Int) {
        let eps = stabilizer, drop = dropTolerance
        @inline(__always) func value(_ i: Int) -> T {
            let denominator = drop > 0 && abs(d[i]) <= drop ? 0 : stabilize(d[i], eps)
            return share(r[i], denominator)
        }
        Gemm.forEachRange(count, work: count) { range, _ in
            switch gate {
            case .all:
                for i in range { s[i] = value(i) }
            case .positiveOutput:
                for i in range { s[i] = z[i] > 0 ? value(i) : (z[i].isNaN ? z[i] : 0) }
            case .negativeOutput:
                for i in range { s[i] = z[i] < 0 ? value(i) : (z[i].isNaN ? z[i] : 0) }
            }
        }
    }

    /// d[n, j] += part[j] for every sample n, split over the workers for large outputs.
    private static func addToEverySample(_ part: UnsafePointer<T>, _ d: UnsafeMutablePointer<T>, batch: Int, count: Int) {
        let total = batch * count
        Gemm.forEachRange(total, work: total) { range, _ in
            var i = range.lowerBound
            while i < range.upperBound {
                let j = i % count, end = min(range.upperBound, i - j + count)
                let row = d + i, from = part + j
                for k in 0..<(end - i) { row[k] += from[k] }
                i = end
            }
        }
    }

    /// Whether a term reads the positive or negative part of the input (so the sign scan pays).
    var usesInputSigns: Bool {
        groups.contains { group in
            (group.terms + group.constantTerms).contains { $0.input == .positive || $0.input == .negative }
        }
    }

    /// `divide` while booking each sample's kept, bias and stabiliser parts in the ledger.
    private func divideWithLedger(_ group: Group, d: UnsafePointer<T>, z: UnsafePointer<T>, r: UnsafePointer<T>,
                                  s: UnsafeMutablePointer<T>, batch: Int, outCount: Int, ledger: LedgerSink) {
        let eps = stabilizer
        let bias = group.bias?.pointer
        for n in 0..<batch {
            var kept = 0.0, biasPart = 0.0, stabilizerPart = 0.0
            for j in 0..<outCount {
                let i = n * outCount + j
                let open: Bool
                switch group.gate {
                case .all: open = true
                case .positiveOutput: open = z[i] > 0
                case .negativeOutput: open = z[i] < 0
                }
                guard open else { s[i] = z[i].isNaN ? z[i] : 0; continue }
                let denominator = dropTolerance > 0 && abs(d[i]) <= dropTolerance ? 0 : stabilize(d[i], eps)
                let value = share(r[i], denominator)
                s[i] = value
                if denominator != 0 {
                    kept += Double(r[i])
                    stabilizerPart += Double(value) * Double(denominator - d[i])
                    if let bias { biasPart += Double(value) * Double(bias[j]) }
                }
            }
            let entry = ledger.entry(n, layerIndex)
            let c = Double(group.coefficient)
            entry.pointee.dropped -= c * kept
            entry.pointee.absorbedBias += c * biasPart
            entry.pointee.absorbedStabilizer += c * stabilizerPart
        }
    }

    /// The term input for the whole batch: `a` itself, or its positive or negative part.
    private func materialize(_ input: InputChoice, _ a: UnsafePointer<T>, count: Int,
                             scratch: Scratch<T>) throws(DTDError) -> UnsafePointer<T> {
        switch input {
        case .activation:
            return a
        case .positive, .negative:
            let x = try scratch.buffer(.termInput, count: count)
            // NaN is kept in both parts, as PyTorch's clamp keeps it.
            if input == .positive {
                for i in 0..<count { x[i] = a[i] <= 0 ? 0 : a[i] }
            } else {
                for i in 0..<count { x[i] = a[i] >= 0 ? 0 : a[i] }
            }
            return UnsafePointer(x)
        case .low, .high, .ones:
            throw DTDError(.internal, "layer \(layerIndex): constant input \(input) is not materialised per call")
        }
    }
}
