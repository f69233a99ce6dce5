// MARK: - T3: input-dependent roots can reproduce any explanation
//
// Sixt & Landgraf (2022), Theorem 3: if roots may depend on the input, then for any target
// explanation e of a dense layer's input with the right total, roots exist that reproduce it.
// With R_j from the top-down pass, R = sum_j R_j, shares R_{i<-j} = e_i R_j / R and
// c_j = R_j / z_j (1 when z_j = 0 or R_j = 0), root_ij = a_i - R_{i<-j} / (c_j w_ij) gives
// sum_j c_j w_ij (a_i - root_ij) = e_i, and (with c_j = R_j / z_j) every root lies on its
// hyperplane: w_j^T root_j + b_j = z_j - sum_i R_{i<-j} / c_j = z_j - R_j z_j / R_j = 0.

extension Network {
    /// Roots of dense layer `query.layer` that reproduce `explanation` (per sample, of the layer
    /// input) for the neurons of `query.neurons`; the query's placement and region flag are ignored.
    /// - Parameters:
    ///   - input: `(batch, inputCount)` values.
    ///   - batch: the number of samples, > 0.
    ///   - rules: a rule set made for this network; the layers above need root rules.
    ///   - explanation: `(batch, layer input size)` values, each sample summing to the relevance
    ///     that reaches the layer (up to 1e-6 relative).
    ///   - points: receives `(batch, neurons, layer input size)` values.
    /// - Throws: `DTDError` as `roots(input:batch:rules:query:info:)`, `.unsupported` for a conv
    ///   layer, `.invalidArgument` for an explanation with the wrong total.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func constructRoots(input: Span<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                               explanation: Span<T>, points: inout MutableSpan<T>) throws(DTDError) {
        try constructRoots(input: input, batch: batch, rules: rules, query: query, explanation: explanation,
                           points: &points, infoCount: nil) { _ throws(DTDError) in }
    }

    /// `constructRoots(input:batch:rules:query:explanation:points:)` with records.
    /// - Parameter info: receives `(batch, neurons)` records (t = 1 / c_j, wv = NaN).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func constructRoots(input: Span<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                               explanation: Span<T>, points: inout MutableSpan<T>,
                               info: inout MutableSpan<RootInfo>) throws(DTDError) {
        try constructRoots(input: input, batch: batch, rules: rules, query: query, explanation: explanation,
                           points: &points, infoCount: info.count) { (records) throws(DTDError) in
            for (i, record) in records.enumerated() { info[i] = record }
        }
    }

    private func constructRoots(input: Span<T>, batch: Int, rules: RuleSet<T>, query: RootQuery,
                                explanation: Span<T>, points: inout MutableSpan<T>, infoCount: Int?,
                                store: ([RootInfo]) throws(DTDError) -> Void) throws(DTDError) {
        let session = try RootSession(network: self, rules: rules, query: query, needsRootRule: false)
        guard case .dense = session.layer.geometry else {
            throw DTDError(.unsupported, "layer \(query.layer) is conv2d; root construction (T3) needs a dense layer, whose every input reaches every neuron")
        }
        try checkBatch(batch, input: input.count, inputName: "input")
        let inCount = session.inputCount, neurons = session.neurons
        let eCount = try Limits.product(batch, inCount, "batch x layer input size")
        guard explanation.count >= eCount else {
            throw DTDError(.bufferTooSmall, "explanation holds \(explanation.count) values, batch \(batch) x layer input \(session.layer.inputShape) needs \(eCount)")
        }
        let pCount = try Limits.product([batch, neurons.count, inCount], "batch x neurons x layer input size")
        guard points.count >= pCount else {
            throw DTDError(.bufferTooSmall, "points holds \(points.count) values, batch \(batch) x \(neurons.count) neurons x layer input \(session.layer.inputShape) needs \(pCount)")
        }
        if let infoCount, infoCount < batch * neurons.count {
            throw DTDError(.bufferTooSmall, "info holds \(infoCount) records, batch \(batch) x \(neurons.count) neurons needs \(batch * neurons.count)")
        }
        var records = [RootInfo]()
        try input.withBatchView(batch: batch, count: inputCount) { (x) throws(DTDError) in
            try explanation.withBatchView(batch: batch, count: inCount) { (e) throws(DTDError) in
                try points.withMutableBatchView(batch: batch * neurons.count, count: inCount) { (out) throws(DTDError) in
                    records = try constructRoots(session, input: x, explanation: e, points: out)
                }
            }
        }
        try store(records)
    }

    /// The construction itself, per sample and neuron; returns the records.
    private func constructRoots(_ session: RootSession<T>, input x: BatchView<T>, explanation e: BatchView<T>,
                                points out: MutableBatchView<T>) throws(DTDError) -> [RootInfo] {
        let query = session.query, neurons = session.neurons, batch = x.batch
        let inCount = session.inputCount, outCount = session.layer.outputCount
        let scratch = Scratch<T>()
        let trace = try trace(input: x, scratch: scratch)
        let relevanceStorage = try topDownRelevance(trace, forms: session.forms, pools: session.pools, layer: query.layer, target: query.target,
                                                    scratch: scratch)
        let relevance = relevanceStorage.view(batch: batch, count: outCount)
        let a = trace.input(of: query.layer), z = trace.output(of: query.layer)
        var records: [RootInfo] = []
        records.reserveCapacity(batch * neurons.count)

        for n in 0..<batch {
            var total = 0.0, target = 0.0, scale = 0.0
            for j in 0..<outCount { total += Double(relevance[n, j]) }
            for i in 0..<inCount {
                target += Double(e[n, i])
                scale = max(scale, abs(Double(e[n, i])))
            }
            guard abs(target - total) <= 1e-6 * max(abs(total), scale, 1e-300) else {
                throw DTDError(.invalidArgument, "explanation of sample \(n) sums to \(target), but the relevance reaching layer \(query.layer) is \(total); rescale it to that total")
            }
            guard total != 0 || scale == 0 else {
                throw DTDError(.invalidArgument, "no relevance reaches layer \(query.layer) for sample \(n) (its total is 0); only the zero explanation can be reproduced")
            }
            for (slot, j) in neurons.enumerated() {
                let rj = Double(relevance[n, j]), zj = Double(z[n, j])
                let c = (zj == 0 || rj == 0) ? 1 : rj / zj
                var record = RootInfo(neuron: j, relevance: rj, z: zj, wv: .nan, t: 1 / c)
                let row = session.weightRow(neuron: j), point = out.sample(n * neurons.count + slot)
                for i in 0..<inCount {
                    let ai = Double(a[n, i])
                    let share = total != 0 ? Double(e[n, i]) * rj / total : 0
                    if row[i] != 0 {
                        point[i] = T(ai - share / (c * row[i]))
                    } else {
                        point[i] = T(ai)
                        if share != 0 { record.flags.insert(.noRoot) }
                    }
                }
                if rj == 0 { record.flags.insert(.atInput) }
                records.append(record)
            }
        }
        withExtendedLifetime((trace, relevanceStorage)) {}  // they own a, z and relevance
        return records
    }
}
