// MARK: - Graph layers: route and add
//
// `route` and `add` read outputs of earlier layers (DESIGN: one layer list, references only
// backwards, -1 the network input). Everything that depends on which outputs a layer reads goes
// through `operands(of:)`.

extension Network {
    /// Appends a route: the output of layer `sources[0]` (a side branch), or the channel-wise
    /// concatenation of the outputs of `sources` (each `(C_i, H, W)` with one H and W).
    /// - Parameter sources: layer indices in `[-1, layers.count)`, -1 the network input; repeats allowed.
    /// - Throws: `DTDError` `.size` (no source), `.layerIndex` (a reference forward or to itself),
    ///   `.layerOrder` (a dense/conv layer a batch-norm was folded into), `.shapeMismatch` (flat
    ///   sources concatenated, different H or W), `.overflow`. The network is unchanged on failure.
    public mutating func addRoute(from sources: [Int]) throws(DTDError) {
        let name = "layer \(layers.count) (route)"
        let shapes = try sourceShapes(sources, name)
        var output = shapes[0]
        if shapes.count > 1 {
            var channels = 0
            for (i, shape) in shapes.enumerated() {
                guard shape.isImage else {
                    throw DTDError(.shapeMismatch, "\(name): concatenates along channels, but from[\(i)] = layer \(sources[i]) has the flat shape \(shape)")
                }
                guard shape.height == shapes[0].height, shape.width == shapes[0].width else {
                    throw DTDError(.shapeMismatch,
                        "\(name): from[\(i)] = layer \(sources[i]) has shape \(shape) but from[0] = layer \(sources[0]) has \(shapes[0]); concatenated outputs need one height and width")
                }
                channels = try Limits.sum(channels, shape.channels, "\(name): concatenated channels")
            }
            output = .image(channels: channels, height: shapes[0].height, width: shapes[0].width)
            let count = try Limits.product(output.dims, "\(name): output size")
            guard count <= Limits.maxDimension else {
                throw DTDError(.size, "\(name): output \(output) has \(count) elements, above the limit \(Limits.maxDimension)")
            }
        }
        append(.route(RouteLayer(sources: sources, sourceShapes: shapes, previousShape: outputShape, outputShape: output)))
    }

    /// Appends the residual sum: the previous output plus the outputs of `sources`, all of one shape.
    /// - Parameter sources: layer indices in `[-1, layers.count)`; repeats allowed.
    /// - Throws: as `addRoute(from:)`; `.shapeMismatch` when an operand's shape differs from the
    ///   previous output's.
    public mutating func addAdd(from sources: [Int]) throws(DTDError) {
        let name = "layer \(layers.count) (add)"
        let shapes = try sourceShapes(sources, name)
        let previous = outputShape
        for (i, shape) in shapes.enumerated() where shape != previous {
            let what = layers.isEmpty ? "the network input" : "the previous layer \(layers.count - 1)"
            throw DTDError(.shapeMismatch,
                "\(name): from[\(i)] = layer \(sources[i]) has shape \(shape) but \(what) has \(previous); added outputs need one shape")
        }
        append(.add(AddLayer(sources: sources, shape: previous)))
    }

    /// Validates a route's or add's sources and returns their output shapes.
    private func sourceShapes(_ sources: [Int], _ name: String) throws(DTDError) -> [Shape] {
        guard !sources.isEmpty else { throw DTDError(.size, "\(name): from is empty; name at least one layer (-1: the network input)") }
        var shapes: [Shape] = []
        for (i, source) in sources.enumerated() {
            guard source >= -1, source < layers.count else {
                let why = source >= layers.count ? "refers to itself or a later layer" : "is below -1"
                throw DTDError(.layerIndex,
                    "\(name): from[\(i)] = \(source) \(why); sources are earlier layers in [0, \(layers.count)) or -1 for the network input")
            }
            if source >= 0, layers[source].linear != nil, source + 1 < layers.count,
               case .batchNorm(_, let folded) = layers[source + 1], folded == source {
                throw DTDError(.layerOrder,
                    "\(name): from[\(i)] = layer \(source) (\(layers[source].kind)) had the batch-norm at layer \(source + 1) folded into it, so its output before normalisation no longer exists; read layer \(source + 1) instead")
            }
            shapes.append(try shape(after: source))
        }
        return shapes
    }

    /// The outputs layer `index` reads, in operand order: `index - 1` (-1: the network input)
    /// for every layer but a route, which reads its sources; an add reads `index - 1` and then
    /// its sources.
    public func operands(of index: Int) -> [Int] {
        switch layers[index] {
        case .route(let r): r.sources
        case .add(let a): [index - 1] + a.sources
        default: [index - 1]
        }
    }

    /// Whether some layer reads an output other than its predecessor's (a route or add).
    var isGraph: Bool {
        layers.contains { if case .route = $0 { true } else if case .add = $0 { true } else { false } }
    }

    /// Throws `.layerOrder` unless the network from layer `layer`'s input to the output depends
    /// on earlier layers only through that input, and layer `layer` reads it: no route or add at
    /// or above `layer` reads an output below `layer` (except `layer` reading its own input).
    /// The DTD roots and the audit of `layer` need it (g must be a function of that input).
    public func checkNotBypassed(_ layer: Int) throws(DTDError) {
        guard operands(of: layer) == [layer - 1] else {
            throw DTDError(.layerOrder,
                "layer \(layer) (\(layers[layer].kind)) reads the outputs of layers \(operands(of: layer)), not only its input; roots and the audit need a layer whose output depends on its input alone")
        }
        for index in (layer + 1)..<layers.count {
            for source in operands(of: index) where source < layer {
                throw DTDError(.layerOrder,
                    "layer \(index) (\(layers[index].kind)) reads the output of layer \(source), so it bypasses layer \(layer); roots and the audit of layer \(layer) need the network above it to depend on that layer's input alone")
            }
        }
    }
}
