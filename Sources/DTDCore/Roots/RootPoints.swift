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
    /// The pooling and add rules of the top-down pass (the rule set's).
    let pools: [PoolRule?]
    let neurons: Range<Int>
    /// W as Double, `(outChannels, fanIn)`.
    let weights: Storage<Double>

    var layerIndex: Int { query.layer }
    var rootsPerSample: Int { neurons.count * direction.count }
    var inputCount: Int { layer.inputCount }

    init(network: Network<T>, rules: RuleSet<T>, query: RootQuery, needsRootRule: Bool = true) throws(DTDError) {
        try network.checkNotEmpty()
        try rules.checkUsable(with: network)
        try network.checkLayerIndex(query.layer)
        guard let layer = network.layers[query.layer].linear else {
            throw DTDError(.rule, "layer \(query.layer) is \(network.layers[query.layer].kind), which has no weights and so no roots; pick a dense or conv2d layer")
        }
        try network.checkNotBypassed(query.layer)
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
        let partials = rules.rule(at: query.layer)?.rootPartials.count ?? 1
        guard neurons.count * partials <= Limits.maxDimension else {
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
        self.pools = rules.poolRules
        self.neurons = neurons
        let weight = layer.weight
        self.weights = try Storage<Double>(count: weight.count) { Double(weight[$0]) }
    }

    /// Samples per chunk so that a chunk's points and traces stay within a fixed memory budget.
    func chunkSize(batch: Int) -> Int {
        let perSample = max(1, rootsPerSample * network.largestActivation(from: layerIndex))
        return max(1, min(batch, (1 << 22) / perSample))
    }

    /// Neuron j's weight row, `(1, fanIn)`.
    func weightRow(neuron j: Int) -> BatchView<Double> {
        weights.view(batch: layer.outChannels, count: layer.fanIn).sample(j / layer.positions)
    }

    /// Computes the roots of the samples of `trace`: `info` gets `(batch, rootsPerSample)` records,
    /// `directions` the matching v_j scattered onto the layer input `(batch * rootsPerSample, inputCount)`.
    func computeRoots(trace: ForwardTrace<T>, relevance: BatchView<T>, info: inout [RootInfo],
                      directions: MutableBatchView<Double>) throws(DTDError) {
        let inCount = layer.inputCount, fan = layer.fanIn, positions = layer.positions
        let a = trace.input(of: layerIndex), z = trace.output(of: layerIndex)
        // This neuron-position's input patch, bounds, validity and direction, contiguous.
        let patchStorage = try Storage<Double>(count: 4 * fan)
        let patches = patchStorage.mutableView(batch: 4, count: fan)
        let patch = patches.sample(0), lowPatch = patches.sample(1), highPatch = patches.sample(2), v = patches.sample(3)
        let validStorage = try Storage<Bool>(count: fan)
        let valid = validStorage.mutableView
        // This sample's input and bounds in Double and, for a conv layer, as im2col columns.
        let sampleStorage = try Storage<Double>(count: 3 * inCount)
        let samples = sampleStorage.mutableView(batch: 3, count: inCount)
        let an = samples.sample(0), low = samples.sample(1), high = samples.sample(2)
        var lowered: (columns: MutableBatchView<Double>, valid: BatchView<Double>, plane: MutableBatchView<Double>)?
        var loweredStorage: [Storage<Double>] = []
        if case .conv(let g) = layer.geometry {
            let count = g.patchSize * g.positions
            let columns = try Storage<Double>(count: 3 * count)
            let ones = try Storage<Double>(count: inCount) { _ in 1 }
            let validColumns = try Storage<Double>(count: count)
            let plane = try Storage<Double>(uninitializedCount: Im2col.planeCount(g))
            Conv2D.lower(g, sample: ones.view, columns: validColumns.mutableView, plane: plane.mutableView)
            lowered = (columns.mutableView(batch: 3, count: count), validColumns.view, plane.mutableView)
            loweredStorage = [columns, ones, validColumns, plane]
        }
        let hasBounds = rule.low != nil && rule.high != nil
        let perSample = rootsPerSample, partials = direction.count

        for n in 0..<trace.batch {
            for i in 0..<inCount { an[0, i] = Double(a[n, i]) }
            if hasBounds, let l = rule.low, let h = rule.high {
                for i in 0..<inCount { low[0, i] = Double(l[i]); high[0, i] = Double(h[i]) }
            }
            if case .conv(let g) = layer.geometry, let lowered {
                Conv2D.lower(g, sample: an.readOnly, columns: lowered.columns.sample(0), plane: lowered.plane)
                if hasBounds {
                    Conv2D.lower(g, sample: low.readOnly, columns: lowered.columns.sample(1), plane: lowered.plane)
                    Conv2D.lower(g, sample: high.readOnly, columns: lowered.columns.sample(2), plane: lowered.plane)
                }
            }
            var loadedPosition = -1
            for (slot, j) in neurons.enumerated() {
                let position = j % positions
                if position != loadedPosition {
                    switch layer.geometry {
                    case .dense:
                        patch.copy(from: an.readOnly)
                        if hasBounds {
                            lowPatch.copy(from: low.readOnly)
                            highPatch.copy(from: high.readOnly)
                        }
                        valid.fill(true)
                    case .conv:
                        guard let lowered else { throw DTDError(.internal, "a conv layer without its lowered patches") }
                        // Tap k of this position is element k * P + position of the columns.
                        for k in 0..<fan {
                            let column = k * positions + position
                            patch[k] = lowered.columns[0, column]
                            valid[k] = lowered.valid[column] != 0
                            if hasBounds {
                                lowPatch[k] = lowered.columns[1, column]
                                highPatch[k] = lowered.columns[2, column]
                            }
                        }
                    }
                    loadedPosition = position
                }
                let zj = Double(z[n, j]), rj = Double(relevance[n, j])
                for partial in 0..<partials {
                    let index = n * perSample + slot * partials + partial
                    var record = RootInfo(neuron: j, partial: Int32(partial), z: zj)
                    record.relevance = direction.relevanceFactor(partial: partial, z: zj) * rj
                    let wv = direction.direction(partial: partial, a: patch.readOnly, w: weightRow(neuron: j),
                                                 low: hasBounds ? lowPatch.readOnly : nil, high: hasBounds ? highPatch.readOnly : nil,
                                                 valid: valid.readOnly, z: zj, v: v)
                    let out = directions.sample(index)
                    out.fill(0)
                    if let wv {
                        record.wv = wv
                        scatter(v.readOnly, position: position, into: out)
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
        withExtendedLifetime((patchStorage, validStorage, sampleStorage, loweredStorage)) {}
    }

    /// Neuron j's weights laid onto the layer input: w_ij for every input element i (0 outside
    /// a conv neuron's receptive field).
    func weightsOnInput(neuron j: Int, into out: MutableBatchView<Double>) {
        out.fill(0)
        scatter(weightRow(neuron: j), position: j % layer.positions, into: out)
    }

    /// Adds a patch-space vector onto the layer input (padding taps dropped).
    private func scatter(_ v: BatchView<Double>, position: Int, into out: MutableBatchView<Double>) {
        switch layer.geometry {
        case .dense(let inFeatures, _):
            for i in 0..<inFeatures { out[i] = v[i] }
        case .conv(let g):
            let oy = position / g.outWidth, ox = position % g.outWidth
            var k = 0
            for c in 0..<g.inChannels {
                for ky in 0..<g.kernelHeight {
                    let iy = oy * g.strideHeight - g.padding.top + ky * g.dilationHeight
                    for kx in 0..<g.kernelWidth {
                        let ix = ox * g.strideWidth - g.padding.left + kx * g.dilationWidth
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
    /// - Throws: `DTDError` as `roots(input:batch:rules:query:info:)`, before any input is read.
    public func rootCount(rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> Int {
        try RootSession(network: self, rules: rules, query: query).rootsPerSample
    }

    /// The DTD roots of a layer for a batch, without the points.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - rules: a rule set made for this network; the query's layer and every dense/conv layer
    ///     above it need a root rule (epsilon 0, z+, alpha-beta, gamma, w^2, zbox).
    ///   - query: the layer, the explained output, the placement, the neuron range.
    ///   - info: receives `(batch, rootCount(rules:query:))` records.
    /// - Throws: `DTDError` `.emptyNetwork`, `.networkMismatch`, `.layerIndex`, `.rule`,
    ///   `.outOfRange` (target, tolerance, neuron range), `.size`, `.overflow`,
    ///   `.bufferTooSmall`, `.outOfMemory`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func roots(input: Span<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                      info: inout MutableSpan<RootInfo>) throws(DTDError) {
        let session = try rootsSession(input: input.count, batch: batch, rules: rules, query: query, info: info.count, points: nil)
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try forEachRootChunk(session, input: x, audit: false) { (chunk: RootChunk<T>) throws(DTDError) in
                let offset = chunk.firstSample * session.rootsPerSample
                for i in 0..<chunk.roots { info[offset + i] = chunk.info[i] }
            }
        }
    }

    /// The DTD roots of a layer for a batch, with the points.
    /// - Parameters:
    ///   - points: receives `(batch, rootCount(rules:query:), layer input size)` root points.
    ///   - others: as `roots(input:batch:rules:query:info:)`.
    /// - Throws: as `roots(input:batch:rules:query:info:)`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func roots(input: Span<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                      points: inout MutableSpan<T>, info: inout MutableSpan<RootInfo>) throws(DTDError) {
        let session = try rootsSession(input: input.count, batch: batch, rules: rules, query: query, info: info.count,
                                       points: points.count)
        let perSample = session.rootsPerSample, inCount = session.inputCount
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try points.withMutableBatchView(batch: batch * perSample, count: inCount) { (out) throws(DTDError) in
                try forEachRootChunk(session, input: x, audit: false) { (chunk: RootChunk<T>) throws(DTDError) in
                    let offset = chunk.firstSample * perSample
                    for i in 0..<chunk.roots { info[offset + i] = chunk.info[i] }
                    out.samples(offset..<(offset + chunk.roots)).copy(from: chunk.points.view(batch: chunk.roots, count: inCount))
                }
            }
        }
    }

    /// Validates a roots call: the session, the batch, and the output sizes.
    private func rootsSession(input: Int, batch: Int, rules: RuleSet<T>, query: RootQuery, info: Int,
                              points: Int?) throws(DTDError) -> RootSession<T> {
        let session = try RootSession(network: self, rules: rules, query: query)
        try checkBatch(batch, input: input, inputName: "input")
        let perSample = session.rootsPerSample
        let infoCount = try Limits.product(batch, perSample, "batch x roots per sample")
        guard info >= infoCount else {
            throw DTDError(.bufferTooSmall, "info holds \(info) records, batch \(batch) x \(perSample) roots needs \(infoCount)")
        }
        if let points {
            let needed = try Limits.product([batch, perSample, session.inputCount], "batch x roots x layer input size")
            guard points >= needed else {
                throw DTDError(.bufferTooSmall, "points holds \(points) values, batch \(batch) x \(perSample) roots x layer input \(session.layer.inputShape) needs \(needed)")
            }
        }
        return session
    }
}

extension Network {
    /// The root form of the relevance at layer `query.layer`'s input,
    /// R_i = sum_j c_j w_ij (a_i - root_ij) with c_j = R_j / (t_j w_j^T v_j), from the roots
    /// themselves. By the equivalence lemma it equals the layer rule's propagation with the bias
    /// excluded and no stabiliser, for either placement.
    /// - Returns: `(batch, layer input size)` values.
    /// - Throws: `DTDError` as `roots(input:batch:rules:query:info:)`.
    public func rootFormRelevance(_ input: [T], batch: Int, rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> [Double] {
        let session = try RootSession(network: self, rules: rules, query: query)
        try checkBatch(batch, input: input.count, inputName: "input")
        let inCount = session.inputCount, perSample = session.rootsPerSample
        let result = try Storage<Double>(count: batch * inCount)
        let sums = result.mutableView(batch: batch, count: inCount)
        let rowStorage = try Storage<Double>(count: inCount)
        let row = rowStorage.mutableView
        try input.span.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try forEachRootChunk(session, input: x, audit: false) { (chunk: RootChunk<T>) throws(DTDError) in
                let trace = try trace(input: x.samples(chunk.firstSample..<(chunk.firstSample + chunk.samples)),
                                      to: query.layer + 1, scratch: Scratch())
                let layerInput = trace.input(of: query.layer)
                let points = chunk.points.view(batch: chunk.roots, count: inCount)
                for i in 0..<chunk.roots {
                    let info = chunk.info[i]
                    guard info.hasRoot, info.t != 0, info.wv != 0 else { continue }
                    let n = i / perSample
                    let c = info.relevance / (info.t * info.wv)
                    session.weightsOnInput(neuron: info.neuron, into: row)
                    for e in 0..<inCount where row[e] != 0 {
                        let ai = Double(layerInput[n, e])
                        sums[chunk.firstSample + n, e] += c * row[e] * (ai - Double(points[i, e]))
                    }
                }
                withExtendedLifetime(trace) {}  // owns layerInput's storage
            }
        }
        withExtendedLifetime(rowStorage) {}
        return Array(result)
    }

    /// The roots of a batch as arrays.
    /// - Returns: `points`, `(batch, roots per sample, layer input size)`, and `info`, `(batch, roots per sample)`.
    /// - Throws: `DTDError` as `roots(input:batch:rules:query:points:info:)`.
    public func roots(_ input: [T], batch: Int, rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> (points: [T], info: [RootInfo]) {
        try checkBatch(batch, input: input.count, inputName: "input")
        let perSample = try rootCount(rules: rules, query: query)
        let inCount = layers[query.layer].inputShape.count
        var points = [T](repeating: 0, count: batch * perSample * inCount)
        var info = [RootInfo](repeating: RootInfo(neuron: 0), count: batch * perSample)
        var pointsSpan = points.mutableSpan, infoSpan = info.mutableSpan
        try roots(input: input.span, batch: batch, rules: rules, query: query, points: &pointsSpan, info: &infoSpan)
        _ = consume pointsSpan
        _ = consume infoSpan
        return (points, info)
    }

    /// Audits the roots of a batch given as an array.
    /// - Returns: `(batch, roots per sample)` records and the study's aggregates.
    /// - Throws: `DTDError` as `auditRoots(input:batch:rules:query:records:)`.
    public func auditRoots(_ input: [T], batch: Int, rules: RuleSet<T>, query: RootQuery) throws(DTDError) -> (records: [AuditRecord], summary: AuditSummary) {
        try checkBatch(batch, input: input.count, inputName: "input")
        let perSample = try rootCount(rules: rules, query: query)
        var records = [AuditRecord](repeating: AuditRecord(root: RootInfo(neuron: 0)), count: batch * perSample)
        var recordsSpan = records.mutableSpan
        let summary = try auditRoots(input: input.span, batch: batch, rules: rules, query: query, records: &recordsSpan)
        _ = consume recordsSpan
        return (records, summary)
    }
}
