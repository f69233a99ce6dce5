// MARK: - The linear map of a dense or conv layer
//
// The only code that depends on the layer kind. Rules call `apply` (forward, possibly with
// modified weights and inputs) and `applyTransposed` (the backward product); everything else in
// the propagation is elementwise and shared. The products themselves are kernels (`Dense`,
// `Conv2D`, `Winograd`).

extension LinearLayer {
    /// output (batch, outputCount) = scale * W' input (+ output when `accumulate`), no bias.
    /// - Parameters:
    ///   - weight: `outChannels * fanIn` elements: W or a rule-modified copy.
    ///   - winograd: W transformed by `Winograd.transform` (the layer's `winogradWeight`), for z = W a only.
    ///   - input: `(batch, inputCount)`.
    func apply(weight: Storage<T>, winograd: Storage<T>? = nil, input: BatchView<T>, output: MutableBatchView<T>,
               scale: T = 1, accumulate: Bool = false, scratch: Scratch<T>) throws(DTDError) {
        switch geometry {
        case .dense(let inFeatures, let outFeatures):
            Dense.forward(weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, input: input, output: output,
                          scale: scale, accumulate: accumulate)
        case .conv(let g):
            if let winograd {
                try Winograd.convolve(g, transformed: winograd, input: input, output: output, scale: scale,
                                      accumulate: accumulate, scratch: scratch)
            } else {
                try Conv2D.forward(g, weight: weight, input: input, output: output, scale: scale, accumulate: accumulate,
                                   scratch: scratch)
            }
        }
    }

    /// first = W a and second = W_d a for a conv layer from one im2col and one GEMM with the
    /// stacked [W; W_d] (`PreparedRule.fusedWeight`), no bias.
    func applyStacked(_ stacked: Storage<T>, input: BatchView<T>, first: MutableBatchView<T>,
                      second: MutableBatchView<T>, scratch: Scratch<T>) throws(DTDError) {
        guard case .conv(let g) = geometry else {
            throw DTDError(.internal, "a stacked product on a dense layer")
        }
        try Conv2D.forwardStacked(g, stacked: stacked, input: input, first: first, second: second, scratch: scratch)
    }

    /// gradInput (batch, inputCount) = W'^T gradOutput, overwriting gradInput.
    /// - Parameter transposedWeight: W' flipped and channel-swapped (`transposedKernel(of:)`), for
    ///   convolutions whose transpose runs as a convolution.
    func applyTransposed(weight: Storage<T>, transposedWeight: Storage<T>? = nil, gradOutput: BatchView<T>,
                         gradInput: MutableBatchView<T>, scratch: Scratch<T>) throws(DTDError) {
        switch geometry {
        case .dense(let inFeatures, let outFeatures):
            Dense.transposed(weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, gradOutput: gradOutput,
                             gradInput: gradInput)
        case .conv(let g):
            try Conv2D.transposed(g, weight: weight, transposedWeight: transposedWeight, gradOutput: gradOutput,
                                  gradInput: gradInput, scratch: scratch)
        }
    }

    /// gradInput = 1^T gradOutput, the transpose with all-one weights (the flat rule), as a
    /// broadcast sum instead of a product.
    func applyOnesTransposed(gradOutput: BatchView<T>, gradInput: MutableBatchView<T>, scratch: Scratch<T>) throws(DTDError) {
        switch geometry {
        case .dense:
            Dense.onesTransposed(gradOutput: gradOutput, gradInput: gradInput)
        case .conv(let g):
            try Conv2D.onesTransposed(g, gradOutput: gradOutput, gradInput: gradInput, scratch: scratch)
        }
    }

    /// output[n, c, p] += scale * bias[c] for every sample n and position p.
    func addBias(_ bias: Storage<T>, to output: MutableBatchView<T>, scale: T = 1) {
        Elementwise.addBias(bias, channels: outChannels, positions: positions, to: output, scale: scale)
    }
}
