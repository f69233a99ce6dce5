// MARK: - DTD root points
//
// For layer l with input a, neuron j (weights w_j, z_j = w_j^T a + b_j), incoming relevance R_j
// (from the top-down pass) and the direction v_j of the layer's rule, the root is
//   root_j = a - t_j v_j,  t_j = z_j / (w_j^T v_j) (hyperplane) or R_j / (w_j^T v_j) (relevance).
// Everything here is computed in Double, whatever the network's element type.

/// One call's validated root request: the layer, its rule's direction, the upper layers' root
/// forms and the neuron range.
struct RootSession<T: DTDScalar> {
    let network: Network<T>
    let query: RootQuery
    let layer: LinearLayer<T>
    let rule: PreparedRule<T>
    let direction: RootDirection
    let forms: [PreparedRule<T>?]
    let neurons: Range<Int>
    /// W as Double, `outChannels * fanIn`.
    let weights: Storage<Double>

    var layerIndex: Int { query.layer }
    var rootsPerSample: Int { neurons.count * direction.partials }
    var inputCount: Int { layer.inputCount }

    init(network: Network<T>, rules: RuleSet<T>, query: RootQuery, needsRootRule: Bool = true) throws(DTDError) {
        try network.checkNotEmpty()
        try rules.checkUsable(with: network)
        try network.checkLayerIndex(query.layer)
        guard let layer = network.layers[query.layer].linear else {
            throw DTDError(.rule, "layer \(query.layer) is \(network.layers[query.layer].kind), which has no weights and so no roots; pick a dense or conv2d layer")
        }
        guard query.target >= 0, query.target < network.outputCount else {
            throw DTDError(.outOfRange, "target = \(query.target) is outside [0, \(network.outputCount)) for output \(network.outputShape)")
        }
        guard query.tolerance.isFinite, query.tolerance > 0 else {
            throw DTDError(.outOfRange, "tol must be finite and > 0, got \(query.tolerance)")
        }
        let neurons = query.neurons ?? 0..<layer.outputCount
        guard neurons.lowerBound >= 0, neurons.upperBound <= layer.outputCount, !neurons.isEmpty else {
            throw DTDError(.outOfRange, "neuron range [\(neurons.lowerBound), \(neurons.upperBound)) must be non-empty and inside [0, \(layer.outputCount)) of layer \(query.layer) (output \(layer.outputShape))")
        }
        guard neurons.count * (rules.rule(at: query.layer)?.partialsCount ?? 1) <= Limits.maxDimension else {
            throw DTDError(.size, "neuron range [\(neurons.lowerBound), \(neurons.upperBound)) gives more roots per sample than the limit \(Limits.maxDimension); audit a smaller range")
        }
        let rule = try rules.preparedRule(at: query.layer)
        if needsRootRule, !rule.rule.hasRoots {
            throw DTDError(.rule, "layer \(query.layer): \(rule.rule) is not a DTD root rule (epsilon > 0 and flat have no roots); use epsilon 0, zplus, alphabeta, gamma, wsquare or zbox")
        }
        self.network = network
        self.query = query
        self.layer = layer
        self.rule = rule
        self.direction = RootDirection(rule: rule.rule)
        self.forms = try network.upperRootForms(rules: rules, above: query.layer, tolerance: query.tolerance)
        self.neurons = neurons
        let w = try Storage<Double>(count: layer.weight.count)
        for i in 0..<w.count { w.mutablePointer[i] = Double(layer.weight[i]) }
        self.weights = w
    }

    /// Samples per chunk so that a chunk's points and traces stay within a fixed memory budget.
    func chunkSize(batch: Int) -> Int {
        let perSample = max(1, rootsPerSample * network.largestActivation(from: layerIndex))
        return max(1, min(batch, (1 << 22) / perSample))
    }

    /// Computes the roots of the samples of `trace`: `info` gets `(batch, rootsPerSample)` records,
    /// `directions` the matching v_j scattered onto the layer input `(batch, rootsPerSample, inputCount)`.
    func computeRoots(trace: ForwardTrace<T>, relevance: Storage<T>, info: UnsafeMutablePointer<RootInfo>,
                      directions: UnsafeMutablePointer<Double>, scratch: Scratch<T>) throws(DTDError) {
        let batch = trace.batch
        let inCount = layer.inputCount, outCount = layer.outputCount
        let fan = layer.fanIn, positions = layer.positions
        let a = trace.input(of: layerIndex), z = trace.output(of: layerIndex)
        let patchStorage = try Storage<Double>(count: 4 * fan)
        let patch = patchStorage.mutablePointer, lowPatch = patch + fan, highPatch = patch + 2 * fan, v = patch + 3 * fan
        let valid = try ValidityMask(count: fan)
        let sample = try Storage<Double>(count: 3 * inCount)
        let columnsCount: Int
        if case .conv(let g) = layer.geometry { columnsCount = g.patchSize * g.positions } else { columnsCount = 0 }
        let columns = try Storage<Double>(count: 3 * columnsCount)
        let ones = try Storage<Double>(count: inCount) { _ in 1 }
        let validColumns = try Storage<Double>(count: columnsCount)
        let plane: Storage<Double>
        if case .conv(let g) = layer.geometry {
            plane = try Storage<Double>(uninitializedCount: Im2col.planeCount(g))
            Im2col.im2col(g, input: ones.pointer, columns: validColumns.mutablePointer, plane: plane.mutablePointer)
        } else {
            plane = try Storage<Double>(uninitializedCount: 0)
        }
        let hasBounds = rule.low != nil && rule.high != nil
        let r = rootsPerSample

        for n in 0..<batch {
            // This sample's input and bounds, in Double and (for conv) as im2col columns.
            let an = sample.mutablePointer, low = an + inCount, high = an + 2 * inCount
            for i in 0..<inCount { an[i] = Double(a[n * inCount + i]) }
            if hasBounds, let l = rule.low, let h = rule.high {
                for i in 0..<inCount { low[i] = Double(l[i]); high[i] = Double(h[i]) }
            }
            if case .conv(let g) = layer.geometry {
                let p = plane.mutablePointer
                Im2col.im2col(g, input: an, columns: columns.mutablePointer, plane: p)
                if hasBounds {
                    Im2col.im2col(g, input: low, columns: columns.mutablePointer + columnsCount, plane: p)
                    Im2col.im2col(g, input: high, columns: columns.mutablePointer + 2 * columnsCount, plane: p)
                }
            }
            var loadedPosition = -1
            for (slot, j) in neurons.enumerated() {
                let channel = j / positions, position = j % positions
                if position != loadedPosition {
                    loadPatch(position: position, sample: an, low: low, high: high, columns: columns.pointer,
                              columnsCount: columnsCount, validColumns: validColumns.pointer, hasBounds: hasBounds,
                              patch: patch, lowPatch: lowPatch, highPatch: highPatch, valid: valid)
                    loadedPosition = position
                }
                let w = weights.pointer + channel * fan
                let zj = Double(z[n * outCount + j]), rj = Double(relevance[n * outCount + j])
                for partial in 0..<direction.partials {
                    let index = n * r + slot * direction.partials + partial
                    var record = RootInfo(neuron: j, partial: Int32(partial), z: zj)
                    record.relevance = direction.relevanceFactor(partial: partial) * rj
                    let wv = direction.direction(partial: partial, a: patch, w: w, low: hasBounds ? lowPatch : nil,
                                                 high: hasBounds ? highPatch : nil, valid: valid.pointer, count: fan, z: zj, v: v)
                    let out = directions + index * inCount
                    out.update(repeating: 0, count: inCount)
                    if let wv {
                        record.wv = wv
                        scatter(v, position: position, into: out)
                    } else {
                        record.wv = .nan
                    }
                    if let wv, abs(wv) > query.tolerance {
                        if record.relevance == 0 {
                            record.flags = .atInput
                        } else {
                            record.t = (query.placement == .hyperplane ? zj : record.relevance) / wv
                        }
                    } else {
                        record.flags = .noRoot
                    }
                    info[index] = record
                }
            }
        }
    }

    /// Copies neuron-position `position`'s input patch (and bounds, validity) into contiguous buffers.
    private func loadPatch(position: Int, sample: UnsafePointer<Double>, low: UnsafePointer<Double>, high: UnsafePointer<Double>,
                           columns: UnsafePointer<Double>, columnsCount: Int, validColumns: UnsafePointer<Double>,
                           hasBounds: Bool, patch: UnsafeMutablePointer<Double>, lowPatch: UnsafeMutablePointer<Double>,
                           highPatch: UnsafeMutablePointer<Double>, valid: ValidityMask) {
        let fan = layer.fanIn
        switch layer.geometry {
        case .dense:
            patch.update(from: sample, count: fan)
            if hasBounds {
                lowPatch.update(from: low, count: fan)
                highPatch.update(from: high, count: fan)
            }
            valid.setAll(true)
        case .conv(let g):
            let p = g.positions
            for k in 0..<fan {
                patch[k] = columns[k * p + position]
                valid.pointer[k] = validColumns[k * p + position] != 0
                if hasBounds {
                    lowPatch[k] = columns[columnsCount + k * p + position]
                    highPatch[k] = columns[2 * columnsCount + k * p + position]
                }
            }
        }
    }

    /// Neuron j's weights laid onto the layer input: w_ij for every input element i (0 outside
    /// a conv neuron's receptive field).
    func weightsOnInput(neuron j: Int, into out: UnsafeMutablePointer<Double>) {
        out.update(repeating: 0, count: inputCount)
        scatter(weights.pointer + (j / layer.positions) * layer.fanIn, position: j % layer.positions, into: out)
    }

    /// Writes a patch-space vector onto the layer input (padding taps dropped).
    private func scatter(_ v: UnsafePointer<Double>, position: Int, into out: UnsafeMutablePointer<Double>) {
        switch layer.geometry {
        case .dense(let inFeatures, _):
            out.update(from: v, count: inFeatures)
        case .conv(let g):
            let oy = position / g.outWidth, ox = position % g.outWidth
            var k = 0
            for c in 0..<g.inChannels {
                for ky in 0..<g.kernelHeight {
                    let iy = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight
                    for kx in 0..<g.kernelWidth {
                        let ix = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth
                        if iy >= 0, iy < g.height, ix >= 0, ix < g.width {
                            out[(c * g.height + iy) * g.width + ix] += v[k]
                        }
                        k += 1
                    }
                }
            }
        }
    }
}

extension Network {
    /// Roots per sample for `query`: the neurons in its range, twice that for alpha-beta.
    public func rootCount(rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> Int {
        try RootSession(network: self, rules: rules, query: query).rootsPerSample
    }

    /// The DTD roots of a layer for a batch.
    /// - Parameters:
    ///   - points: if given, receives `(batch, roots per sample, layer input size)` root points.
    ///   - info: receives `(batch, roots per sample)` records.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func roots(input: UnsafeBufferPointer<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                      points: UnsafeMutableBufferPointer<T>?, info: UnsafeMutableBufferPointer<RootInfo>) throws(DTDError) {
        let session = try RootSession(network: self, rules: rules, query: query)
        try checkBatch(batch, input: input.count, inputName: "input")
        let perSample = session.rootsPerSample
        let infoCount = try Limits.product(batch, perSample, "batch x roots per sample")
        guard info.count >= infoCount else {
            throw DTDError(.bufferTooSmall, "info holds \(info.count) records, batch \(batch) x \(perSample) roots needs \(infoCount)")
        }
        if let points {
            let needed = try Limits.product([batch, perSample, session.inputCount], "batch x roots x layer input size")
            guard points.count >= needed else {
                throw DTDError(.bufferTooSmall, "points holds \(points.count) values, batch \(batch) x \(perSample) roots x layer input \(session.layer.inputShape) needs \(needed)")
            }
        }
        guard let x = input.baseAddress, let infoBase = info.baseAddress else { return }
        try forEachRootChunk(session, input: x, batch: batch, audit: false) { (chunk: RootChunk<T>) throws(DTDError) in
            let offset = chunk.firstSample * perSample
            for i in 0..<chunk.roots { infoBase[offset + i] = chunk.info[i] }
            if let base = points?.baseAddress {
                (base + offset * session.inputCount).update(from: chunk.points.pointer, count: chunk.roots * session.inputCount)
            }
        }
    }
}

extension Network {
    /// The root form of the relevance at layer `query.layer`'s input,
    /// R_i = sum_j c_j w_ij (a_i - root_ij) with c_j = R_j / (t_j w_j^T v_j), from the roots
    /// themselves. By the equivalence lemma it equals the layer rule's propagation with the bias
    /// excluded and no stabiliser, for either placement. Returns `(batch, layer input size)` values.
    public func rootFormRelevance(_ input: [T], batch: Int, rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> [Double] {
        let session = try RootSession(network: self, rules: rules, query: query)
        try checkBatch(batch, input: input.count, inputName: "input")
        let inCount = session.inputCount, perSample = session.rootsPerSample
        var result = [Double](repeating: 0, count: batch * inCount)
        let row = try Storage<Double>(count: inCount)
        try input.withUnsafeBufferPointer { (x) throws(DTDError) in
            guard let base = x.baseAddress else { return }
            try forEachRootChunk(session, input: base, batch: batch, audit: false) { (chunk: RootChunk<T>) throws(DTDError) in
                let a = try Storage<T>(count: chunk.samples * inputCount)
                a.mutablePointer.update(from: base + chunk.firstSample * inputCount, count: chunk.samples * inputCount)
                let trace = try trace(input: a.pointer, batch: chunk.samples, to: query.layer + 1, scratch: Scratch())
                let layerInput = trace.input(of: query.layer)
                for i in 0..<chunk.roots {
                    let info = chunk.info[i]
                    guard info.hasRoot, info.t != 0, info.wv != 0 else { continue }
                    let n = i / perSample
                    let c = info.relevance / (info.t * info.wv)
                    session.weightsOnInput(neuron: info.neuron, into: row.mutablePointer)
                    let point = chunk.points.pointer + i * inCount
                    for e in 0..<inCount where row[e] != 0 {
                        let ai = Double(layerInput[n * inCount + e])
                        result[(chunk.firstSample + n) * inCount + e] += c * row[e] * (ai - Double(point[e]))
                    }
                }
            }
        }
        return result
    }

    /// The roots of a batch as arrays: `points` is `(batch, roots per sample, layer input size)`.
    public func roots(_ input: [T], batch: Int, rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> (points: [T], info: [RootInfo]) {
        try checkBatch(batch, input: input.count, inputName: "input")
        let perSample = try rootCount(rules: rules, query: query)
        let inCount = layers[query.layer].inputShape.count
        var points = [T](repeating: 0, count: batch * perSample * inCount)
        var info = [RootInfo](repeating: RootInfo(neuron: 0), count: batch * perSample)
        var failure: DTDError?
        input.withUnsafeBufferPointer { x in
            points.withUnsafeMutableBufferPointer { p in
                info.withUnsafeMutableBufferPointer { r in
                    do throws(DTDError) { try roots(input: x, batch: batch, rules: rules, query: query, points: p, info: r) }
                    catch { failure = error }
                }
            }
        }
        if let failure { throw failure }
        return (points, info)
    }

    /// Audits the roots of a batch given as an array.
    public func auditRoots(_ input: [T], batch: Int, rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> (records: [AuditRecord], summary: AuditSummary) {
        try checkBatch(batch, input: input.count, inputName: "input")
        let perSample = try rootCount(rules: rules, query: query)
        var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: batch * perSample)
        var summary = AuditSummary()
        var failure: DTDError?
        input.withUnsafeBufferPointer { x in
            records.withUnsafeMutableBufferPointer { r in
                do throws(DTDError) { summary = try auditRoots(input: x, batch: batch, rules: rules, query: query, records: r) }
                catch { failure = error }
            }
        }
        if let failure { throw failure }
        return (records, summary)
    }
}

extension Rule {
    /// Roots per neuron: 2 for alpha-beta, else 1.
    var partialsCount: Int { if case .alphaBeta = self { 2 } else { 1 } }
}
