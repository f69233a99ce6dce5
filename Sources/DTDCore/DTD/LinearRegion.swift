// MARK: - The input's linear region
//
// A ReLU network is piecewise linear: fixing the on/off state of every ReLU (and the winner of
// every max-pool window) at an input a gives an affine "local model" that equals the network on
// a's region. Along any line a + lambda * delta the local model's pre-activations are affine in
// lambda, so the first point where a unit changes state is found exactly, by solving one linear
// equation per unit: no sampling.

extension Network {
    /// Runs layers `start..<trace.end` on `batch` points with the state of `reference` frozen:
    /// point p uses the ReLU masks and max-pool winners of reference sample `p / pointsPerSample`.
    func frozenTrace(input: UnsafePointer<T>, batch: Int, from start: Int, reference: ForwardTrace<T>,
                     pointsPerSample: Int, scratch: Scratch<T>) throws(DTDError) -> ForwardTrace<T> {
        let trace = ForwardTrace<T>(batch: batch, start: start, end: reference.end, input: input)
        for index in start..<reference.end {
            let a = trace.input(of: index)
            switch layers[index] {
            case .linear(let layer):
                let z = try Storage<T>(count: batch * layer.outputCount)
                try layer.output(input: a, batch: batch, output: z.mutablePointer, scratch: scratch)
                trace.pushOwned(z)
            case .relu(let shape):
                let size = shape.count
                let out = try Storage<T>(count: batch * size)
                let mask = reference.input(of: index)
                for p in 0..<batch {
                    let m = mask + (p / pointsPerSample) * size
                    let src = a + p * size, dst = out.mutablePointer + p * size
                    for u in 0..<size { dst[u] = m[u] > 0 ? src[u] : 0 }
                }
                trace.pushOwned(out)
            case .maxPool2d(let g):
                let outCount = g.outputShape.count, inCount = g.inputShape.count
                let out = try Storage<T>(count: batch * outCount)
                let winners = try reference.winners(of: index)
                for p in 0..<batch {
                    let w = winners + (p / pointsPerSample) * outCount
                    let src = a + p * inCount, dst = out.mutablePointer + p * outCount
                    for o in 0..<outCount { dst[o] = src[w[o]] }
                }
                trace.pushOwned(out)
            case .avgPool2d(let g):
                let outCount = g.outputShape.count, inCount = g.inputShape.count
                let out = try Storage<T>(count: batch * outCount)
                for p in 0..<batch { Pooling.avgForward(g, input: a + p * inCount, output: out.mutablePointer + p * outCount) }
                trace.pushOwned(out)
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
                    direction: (Int) -> Double, into exit: UnsafeMutablePointer<Double>) throws(DTDError) {
        let batch = frozen.batch
        for p in 0..<batch { exit[p] = .infinity }
        for index in start..<reference.end {
            switch layers[index] {
            case .relu(let shape):
                let size = shape.count
                let z0All = reference.input(of: index), z1All = frozen.input(of: index)
                for p in 0..<batch {
                    let z0 = z0All + (p / pointsPerSample) * size, z1 = z1All + p * size
                    let sigma = direction(p)
                    var mu = exit[p]
                    for u in 0..<size {
                        let a0 = Double(z0[u]), slope = sigma * (Double(z1[u]) - a0)
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
                let inCount = g.inputShape.count, outCount = g.outputShape.count
                let v0All = reference.input(of: index), v1All = frozen.input(of: index)
                let winners = try reference.winners(of: index)
                for p in 0..<batch {
                    let n = p / pointsPerSample
                    let v0 = v0All + n * inCount, v1 = v1All + p * inCount, w = winners + n * outCount
                    let sigma = direction(p)
                    var mu = exit[p]
                    Self.forEachWindow(g) { o, c in
                        let winner = w[o]
                        guard c != winner else { return }
                        let gap0 = Double(v0[winner]) - Double(v0[c])
                        let slope = sigma * ((Double(v1[winner]) - Double(v1[c])) - gap0)
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
                     into result: UnsafeMutablePointer<Bool>) throws(DTDError) {
        let batch = points.batch
        for p in 0..<batch { result[p] = true }
        for index in start..<reference.end {
            switch layers[index] {
            case .relu(let shape):
                let size = shape.count
                let z0All = reference.input(of: index), z1All = points.input(of: index)
                for p in 0..<batch where result[p] {
                    let z0 = z0All + (p / pointsPerSample) * size, z1 = z1All + p * size
                    var largest = 0.0
                    for u in 0..<size { largest = max(largest, abs(Double(z1[u])), abs(Double(z0[u]))) }
                    let tolerance = 1e-9 * largest
                    for u in 0..<size where z1[u].isNaN || ((z0[u] > 0) != (z1[u] > 0) && abs(Double(z1[u])) > tolerance) {
                        result[p] = false
                        break
                    }
                }
            case .maxPool2d(let g):
                let inCount = g.inputShape.count, outCount = g.outputShape.count
                let v1All = points.input(of: index)
                let w0All = try reference.winners(of: index), w1All = try points.winners(of: index)
                let v0All = reference.input(of: index)
                for p in 0..<batch where result[p] {
                    let v1 = v1All + p * inCount, v0 = v0All + (p / pointsPerSample) * inCount
                    let w0 = w0All + (p / pointsPerSample) * outCount, w1 = w1All + p * outCount
                    var largest = 0.0
                    for i in 0..<inCount { largest = max(largest, abs(Double(v1[i])), abs(Double(v0[i]))) }
                    let tolerance = 1e-9 * largest
                    for o in 0..<outCount where w0[o] != w1[o] && Double(v1[w1[o]]) - Double(v1[w0[o]]) > tolerance {
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
