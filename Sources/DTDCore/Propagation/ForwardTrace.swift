/// The activations of one forward pass over a batch, kept for the backward passes.
///
/// `input(of: l)` is layer l's input and `output(of: l)` its output, `(batch, size)` each.
/// ReLU inputs are the preceding layer's outputs, so the ReLU masks and the gamma rule's gate
/// need nothing extra; max-pool layers also record their winners. Flatten and batch-norm alias
/// their input instead of copying it.
final class ForwardTrace<T: DTDScalar> {
    let batch: Int
    /// First layer run; the trace covers layers `start..<end`.
    let start: Int, end: Int
    private var activations: [UnsafePointer<T>]
    private var owned: [Storage<T>] = []
    private var winners: [Int: IndexStorage] = [:]
    /// Group 0's product W_d a of layers whose rule fused it into the forward pass.
    private var fused: [Int: Storage<T>] = [:]

    init(batch: Int, start: Int, end: Int, input: UnsafePointer<T>) {
        self.batch = batch
        self.start = start
        self.end = end
        self.activations = [input]
        activations.reserveCapacity(end - start + 1)
    }

    func input(of layer: Int) -> UnsafePointer<T> { activations[layer - start] }
    func output(of layer: Int) -> UnsafePointer<T> { activations[layer - start + 1] }
    /// The final output, `(batch, output size of layer end - 1)`.
    var output: UnsafePointer<T> { activations[activations.count - 1] }
    /// The max-pool winners of `layer`; the trace records them for every max-pool layer it ran.
    func winners(of layer: Int) throws(DTDError) -> UnsafePointer<Int> {
        guard let stored = winners[layer] else {
            throw DTDError(.internal, "layer \(layer): no max-pool winners in this trace")
        }
        return UnsafePointer(stored.base)
    }
    /// The signs present in `layer`'s input of `count` values (`SignScan`), scanned once per trace.
    func inputSigns(of layer: Int, count: Int) -> (positive: Bool, negative: Bool) {
        if let known = signs[layer] { return known }
        let found = SignScan.signs(input(of: layer), count: count)
        signs[layer] = found
        return found
    }
    private var signs: [Int: (positive: Bool, negative: Bool)] = [:]

    /// The fused first-group product of `layer`, if the forward pass computed it.
    func fusedDenominator(of layer: Int) -> UnsafePointer<T>? { fused[layer]?.pointer }

    fileprivate func push(_ pointer: UnsafePointer<T>) { activations.append(pointer) }
    fileprivate func push(_ storage: Storage<T>) {
        owned.append(storage)
        activations.append(storage.pointer)
    }
    func pushAlias(_ pointer: UnsafePointer<T>) { push(pointer) }
    func pushOwned(_ storage: Storage<T>) { push(storage) }
    fileprivate func setWinners(_ storage: IndexStorage, for layer: Int) { winners[layer] = storage }
    fileprivate func setFused(_ storage: Storage<T>, for layer: Int) { fused[layer] = storage }
}

extension Network {
    /// Runs layers `start..<end` on `(batch, layer start's input size)` values at `input` and
    /// keeps every activation. `input` must outlive the trace.
    /// With `rules` (an LRP pass), layers whose rule fuses its first denominator product into the
    /// forward pass get it computed here, when their input is non-negative.
    func trace(input: UnsafePointer<T>, batch: Int, from start: Int = 0, to end: Int? = nil,
               rules: [PreparedRule<T>?]? = nil, scratch: Scratch<T>) throws(DTDError) -> ForwardTrace<T> {
        let end = end ?? layers.count
        let trace = ForwardTrace<T>(batch: batch, start: start, end: end, input: input)
        for index in start..<end {
            let a = trace.input(of: index)
            switch layers[index] {
            case .linear(let layer):
                let z = try Storage<T>(uninitializedCount: try Limits.product(batch, layer.outputCount, "layer \(index) output"))
                // z through Winograd when the layer has it (the rule's denominator W_d a then runs
                // on im2col in the propagation step: 0.44 + 1 products instead of the fused 2);
                // else the rule's fused [W; W_d] product, one im2col and one GEMM of twice the rows.
                if layer.winogradWeight == nil, let rule = rules?[index], let stacked = rule.fusedWeight,
                   !trace.inputSigns(of: index, count: batch * layer.inputCount).negative {
                    let d = try Storage<T>(uninitializedCount: batch * layer.outputCount)
                    try layer.applyStacked(stacked.pointer, input: a, batch: batch, first: z.mutablePointer,
                                           second: d.mutablePointer, scratch: scratch)
                    trace.setFused(d, for: index)
                    if let bias = layer.bias { layer.addBias(bias.pointer, to: z.mutablePointer, batch: batch) }
                } else {
                    try layer.output(input: a, batch: batch, output: z.mutablePointer, scratch: scratch)
                }
                trace.push(z)
            case .relu(let shape):
                let count = try Limits.product(batch, shape.count, "layer \(index) output")
                let out = try Storage<T>(uninitializedCount: count)
                let o = out.mutablePointer
                // NaN stays NaN, as in PyTorch.
                Gemm.forEachRange(count, work: count) { range, _ in
                    for i in range {
                        let x = a[i]
                        o[i] = x > 0 ? x : (x.isNaN ? x : 0)
                    }
                }
                trace.push(out)
            case .maxPool2d(let g):
                let outCount = g.outputShape.count, inCount = g.inputShape.count
                let out = try Storage<T>(uninitializedCount: try Limits.product(batch, outCount, "layer \(index) output"))
                let winners = try IndexStorage(count: batch * outCount)
                let o = out.mutablePointer, w = winners.base
                Gemm.forEachPlanes(batch: batch, channels: g.channels, work: batch * inCount) { n, channels in
                    Pooling.maxForward(g, input: a + n * inCount, output: o + n * outCount, winners: w + n * outCount,
                                       channels: channels)
                }
                trace.push(out)
                trace.setWinners(winners, for: index)
            case .avgPool2d(let g):
                let outCount = g.outputShape.count, inCount = g.inputShape.count
                let out = try Storage<T>(uninitializedCount: try Limits.product(batch, outCount, "layer \(index) output"))
                for n in 0..<batch {
                    Pooling.avgForward(g, input: a + n * inCount, output: out.mutablePointer + n * outCount)
                }
                trace.push(out)
            case .flatten, .batchNorm:
                trace.push(a)
            }
        }
        return trace
    }

    /// The largest per-sample activation size over layers `start..<end` (inputs and outputs).
    func largestActivation(from start: Int = 0, to end: Int? = nil) -> Int {
        let end = end ?? layers.count
        var largest = start == 0 ? inputCount : layers[start].inputShape.count
        for index in start..<end { largest = max(largest, layers[index].outputShape.count) }
        return largest
    }
}
