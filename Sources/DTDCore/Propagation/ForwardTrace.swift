/// The activations of one forward pass over a batch, kept for the backward passes.
///
/// `output(of: l)` is layer l's output and `input(of: l)` its input, `(batch, size)` views each;
/// `output(of: start - 1)` is the trace's input. ReLU inputs are the preceding layer's outputs, so
/// the ReLU masks and the gamma rule's gate need nothing extra; max-pool layers also record their
/// winners. Flatten and batch-norm alias their input instead of copying it.
final class ForwardTrace<T: DTDScalar> {
    let batch: Int
    /// First layer run; the trace covers layers `start..<end`.
    let start: Int, end: Int
    /// The trace's input, then the output of each layer run, by layer index - start + 1.
    private var outputs: [BatchView<T>]
    private var owned: [Storage<T>] = []
    private var winners: [Int: Storage<Int>] = [:]
    /// Group 0's product W_d a of layers whose rule fused it into the forward pass.
    private var fused: [Int: Storage<T>] = [:]
    private var signs: [Int: (positive: Bool, negative: Bool)] = [:]

    /// A trace of layers `start..<end` whose input is `input` (which must outlive the trace).
    init(start: Int, end: Int, input: BatchView<T>) {
        self.batch = input.batch
        self.start = start
        self.end = end
        self.outputs = [input]
        outputs.reserveCapacity(end - start + 1)
    }

    /// Layer `layer`'s output, `(batch, output size)`; `layer == start - 1` is the trace's input.
    func output(of layer: Int) -> BatchView<T> { outputs[layer - start + 1] }

    /// Layer `layer`'s input, `(batch, input size)`. A layer reads the output of the layer before
    /// it: this is the one place that assumes a chain of layers.
    func input(of layer: Int) -> BatchView<T> { output(of: layer - 1) }

    /// The final output, `(batch, output size of layer end - 1)`.
    var output: BatchView<T> { output(of: end - 1) }

    /// The max-pool winners of `layer` (per output, the flat index within the sample of its
    /// window's winner); the trace records them for every max-pool layer it ran.
    func winners(of layer: Int) throws(DTDError) -> BatchView<Int> {
        guard let stored = winners[layer] else {
            throw DTDError(.internal, "layer \(layer): no max-pool winners in this trace")
        }
        return stored.view(batch: batch, count: stored.count / max(batch, 1))
    }

    /// The signs present in `layer`'s input (`SignScan`), scanned once per trace.
    func inputSigns(of layer: Int) -> (positive: Bool, negative: Bool) {
        if let known = signs[layer] { return known }
        let found = SignScan.signs(input(of: layer))
        signs[layer] = found
        return found
    }

    /// The fused first-group product of `layer`, if the forward pass computed it.
    func fusedDenominator(of layer: Int) -> BatchView<T>? {
        guard let stored = fused[layer] else { return nil }
        return stored.view(batch: batch, count: stored.count / max(batch, 1))
    }

    /// Appends the next layer's output: `storage` holds `(batch, count)` values and is kept alive
    /// with the trace.
    func push(_ storage: Storage<T>, count: Int) {
        owned.append(storage)
        outputs.append(storage.view(batch: batch, count: count))
    }

    /// Appends the next layer's output as a view of memory the trace already holds (flatten,
    /// batch-norm: the input itself).
    func pushAlias(_ view: BatchView<T>) { outputs.append(view) }

    func setWinners(_ storage: Storage<Int>, for layer: Int) { winners[layer] = storage }
    func setFused(_ storage: Storage<T>, for layer: Int) { fused[layer] = storage }
}

extension Network {
    /// Runs layers `start..<end` on `input` (`(batch, layer start's input size)`) and keeps every
    /// activation; `input` must outlive the trace. With `rules` (an LRP pass), layers whose rule
    /// fuses its first denominator product into the forward pass get it computed here, when
    /// their input is non-negative.
    func trace(input: BatchView<T>, from start: Int = 0, to end: Int? = nil,
               rules: [PreparedRule<T>?]? = nil, scratch: Scratch<T>) throws(DTDError) -> ForwardTrace<T> {
        let end = end ?? layers.count
        let batch = input.batch
        let trace = ForwardTrace<T>(start: start, end: end, input: input)
        for index in start..<end {
            let a = trace.input(of: index)
            let outCount = layers[index].outputShape.count
            let total = try Limits.product(batch, outCount, "layer \(index) output")
            switch layers[index] {
            case .linear(let layer):
                let z = try Storage<T>(uninitializedCount: total)
                let zView = z.mutableView(batch: batch, count: outCount)
                // z through Winograd when the layer has it (the rule's denominator W_d a then runs
                // on im2col in the propagation step: 0.44 + 1 products instead of the fused 2);
                // else the rule's fused [W; W_d] product, one im2col and one GEMM of twice the rows.
                if layer.winogradWeight == nil, let rule = rules?[index], let stacked = rule.fusedWeight,
                   !trace.inputSigns(of: index).negative {
                    let d = try Storage<T>(uninitializedCount: total)
                    try layer.applyStacked(stacked, input: a, first: zView, second: d.mutableView(batch: batch, count: outCount),
                                           scratch: scratch)
                    trace.setFused(d, for: index)
                } else {
                    try layer.apply(weight: layer.weight, winograd: layer.winogradWeight, input: a, output: zView,
                                    scratch: scratch)
                }
                if let bias = layer.bias { layer.addBias(bias, to: zView) }
                trace.push(z, count: outCount)
            case .relu:
                let out = try Storage<T>(uninitializedCount: total)
                Elementwise.relu(a, into: out.mutableView(batch: batch, count: outCount))
                trace.push(out, count: outCount)
            case .maxPool2d(let g):
                let out = try Storage<T>(uninitializedCount: total)
                let winners = try Storage<Int>(uninitializedCount: total)
                Pooling.maxForward(g, input: a, output: out.mutableView(batch: batch, count: outCount),
                                   winners: winners.mutableView(batch: batch, count: outCount))
                trace.push(out, count: outCount)
                trace.setWinners(winners, for: index)
            case .avgPool2d(let g):
                let out = try Storage<T>(uninitializedCount: total)
                Pooling.avgForward(g, input: a, output: out.mutableView(batch: batch, count: outCount))
                trace.push(out, count: outCount)
            case .flatten, .batchNorm:
                trace.pushAlias(a)
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
