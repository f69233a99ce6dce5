// MARK: - The input's linear region
//
// A ReLU network is piecewise linear: fixing the on/off state of every ReLU (and the winner of
// every max-pool window) at an input a gives an affine "local model" that equals the network on
// a's region. Along any line a + lambda * delta the local model's pre-activations are affine in
// lambda, so the first point where a unit changes state is found exactly, by solving one linear
// equation per unit: no sampling.

extension Network {
    /// Runs layers `start..<reference.end` on `input`'s points with the state of `reference`
    /// frozen: point p uses the ReLU masks and max-pool winners of reference sample
    /// `p / pointsPerSample`.
    func frozenTrace(input: BatchView<T>, from start: Int, reference: ForwardTrace<T>,
                     pointsPerSample: Int, scratch: Scratch<T>) throws(DTDError) -> ForwardTrace<T> {
        let batch = input.batch
        let trace = ForwardTrace<T>(start: start, end: reference.end, input: input)
        for index in start..<reference.end {
            let a = trace.input(of: index)
            let outCount = layers[index].outputShape.count
            switch layers[index] {
            case .linear(let layer):
                let z = try Storage<T>(count: batch * outCount)
                let zView = z.mutableView(batch: batch, count: outCount)
                try layer.apply(weight: layer.weight, winograd: layer.winogradWeight, input: a, output: zView, scratch: scratch)
                if let bias = layer.bias { layer.addBias(bias, to: zView) }
                trace.push(z, count: outCount)
            case .relu:
                let out = try Storage<T>(count: batch * outCount)
                let o = out.mutableView(batch: batch, count: outCount)
                let mask = reference.input(of: index)
                for p in 0..<batch {
                    let n = p / pointsPerSample
                    for u in 0..<outCount { o[p, u] = mask[n, u] > 0 ? a[p, u] : 0 }
                }
                trace.push(out, count: outCount)
            case .maxPool2d:
                let out = try Storage<T>(count: batch * outCount)
                let o = out.mutableView(batch: batch, count: outCount)
                let winners = try reference.winners(of: index)
                for p in 0..<batch {
                    let n = p / pointsPerSample
                    for k in 0..<outCount { o[p, k] = a[p, winners[n, k]] }
                }
                trace.push(out, count: outCount)
            case .avgPool2d(let g):
                let out = try Storage<T>(count: batch * outCount)
                Pooling.avgForward(g, input: a, output: out.mutableView(batch: batch, count: outCount))
                trace.push(out, count: outCount)
            case .flatten, .batchNorm:
                trace.pushAlias(a)
            }
        }
        return trace
    }

    /// For each point p of `frozen` (the local model of reference sample p / pointsPerSample,
    /// evaluated at a + delta_p), the largest mu >= 0 such that a + direction_p * mu * delta_p stays
    /// in the closure of a's region (`.infinity` if the line never leaves it). `direction(p)` is
    /// +1 or -1.
    func regionExit(reference: ForwardTrace<T>, frozen: ForwardTrace<T>, from start: Int, pointsPerSample: Int,
                    direction: (Int) -> Double, into exit: MutableBatchView<Double>) throws(DTDError) {
        let batch = frozen.batch
        for p in 0..<batch { exit[p] = .infinity }
        for index in start..<reference.end {
            switch layers[index] {
            case .relu(let shape):
                let size = shape.count
                let z0 = reference.input(of: index), z1 = frozen.input(of: index)
                for p in 0..<batch {
                    let n = p / pointsPerSample
                    let sigma = direction(p)
                    var mu = exit[p]
                    for u in 0..<size {
                        let a0 = Double(z0[n, u]), slope = sigma * (Double(z1[p, u]) - a0)
                        if slope.isNaN { mu = .nan; break }
                        if a0 > 0 {
                            if slope < 0 { mu = min(mu, a0 / -slope) }
                        } else if slope > 0 {
                            mu = min(mu, -a0 / slope)
                        }
                    }
                    exit[p] = exit[p].isNaN ? .nan : mu
                }
            case .maxPool2d(let g):
                let v0 = reference.input(of: index), v1 = frozen.input(of: index)
                let winners = try reference.winners(of: index)
                for p in 0..<batch {
                    let n = p / pointsPerSample
                    let sigma = direction(p)
                    var mu = exit[p]
                    Self.forEachWindow(g) { o, c in
                        let winner = winners[n, o]
                        guard c != winner else { return }
                        let gap0 = Double(v0[n, winner]) - Double(v0[n, c])
                        let slope = sigma * ((Double(v1[p, winner]) - Double(v1[p, c])) - gap0)
                        if slope.isNaN { mu = .nan } else if slope < 0, !mu.isNaN { mu = min(mu, max(gap0, 0) / -slope) }
                    }
                    exit[p] = exit[p].isNaN ? .nan : mu
                }
            default:
                continue
            }
        }
    }

    /// Whether each point of `points` (a real forward trace) has the ReLU states and max-pool
    /// winners of its reference sample; a unit within 1e-9 of its hinge, relative to the layer's
    /// largest magnitude at the point or at the reference input, matches either state (a point
    /// where every unit is at its hinge, like the origin of a bias-free net, is in every closure).
    func samePattern(reference: ForwardTrace<T>, points: ForwardTrace<T>, from start: Int, pointsPerSample: Int,
                     into result: MutableBatchView<Bool>) throws(DTDError) {
        let batch = points.batch
        for p in 0..<batch { result[p] = true }
        for index in start..<reference.end {
            switch layers[index] {
            case .relu(let shape):
                let size = shape.count
                let z0 = reference.input(of: index), z1 = points.input(of: index)
                for p in 0..<batch where result[p] {
                    let n = p / pointsPerSample
                    var largest = 0.0
                    for u in 0..<size { largest = max(largest, abs(Double(z1[p, u])), abs(Double(z0[n, u]))) }
                    let tolerance = 1e-9 * largest
                    for u in 0..<size where z1[p, u].isNaN || ((z0[n, u] > 0) != (z1[p, u] > 0) && abs(Double(z1[p, u])) > tolerance) {
                        result[p] = false
                        break
                    }
                }
            case .maxPool2d(let g):
                let inCount = g.inputShape.count, outCount = g.outputShape.count
                let v0 = reference.input(of: index), v1 = points.input(of: index)
                let w0 = try reference.winners(of: index), w1 = try points.winners(of: index)
                for p in 0..<batch where result[p] {
                    let n = p / pointsPerSample
                    var largest = 0.0
                    for i in 0..<inCount { largest = max(largest, abs(Double(v1[p, i])), abs(Double(v0[n, i]))) }
                    let tolerance = 1e-9 * largest
                    for o in 0..<outCount where w0[n, o] != w1[p, o] && Double(v1[p, w1[p, o]]) - Double(v1[p, w0[n, o]]) > tolerance {
                        result[p] = false
                        break
                    }
                }
            default:
                continue
            }
        }
    }

    /// Calls `body(window, candidate)` for every in-bounds cell of every pooling window, with
    /// flat indices into one sample's input.
    static func forEachWindow(_ g: PoolGeometry, _ body: (Int, Int) -> Void) {
        let planeIn = g.height * g.width
        for c in 0..<g.channels {
            for oy in 0..<g.outHeight {
                let y0 = oy * g.strideHeight - g.paddingHeight
                for ox in 0..<g.outWidth {
                    let x0 = ox * g.strideWidth - g.paddingWidth
                    let o = (c * g.outHeight + oy) * g.outWidth + ox
                    for y in max(y0, 0)..<min(y0 + g.kernelHeight, g.height) {
                        for x in max(x0, 0)..<min(x0 + g.kernelWidth, g.width) {
                            body(o, c * planeIn + y * g.width + x)
                        }
                    }
                }
            }
        }
    }
}
