@testable import DTDCore

/// Full-backward DTD's *genuine* recursive relevance, written with plain loops from the
/// definitions (`Include/dtd.h` section 8), to check the engine's decomposition from the outside.
///
/// Given a network (dense layers each followed by a ReLU), the explained output k and the
/// engine's roots and skip decisions for one sample x, the relevance of unit j of dense layer l
/// at a point p of that layer's input is evaluated through the real ReLUs:
///   top layer: R_k(p) = max(z_k(p), 0);
///   below:     R_j(p) = sum over the decomposed units v of layer l + 1 of
///              c_vj (max(z_j(p), 0) - root_vj),
/// where c_v, the slope of R_v, is the genuine gradient of R_v at the midpoint of a and root_v
/// (inside the region, away from the kinks on its border; ReLU'(0) = 0). No LP, no affine form.
struct NaiveFullBackward {
    struct Layer {
        let weight: [Double]   // (outputs, inputs)
        let bias: [Double]
        let inputs: Int
        let outputs: Int

        func z(_ p: [Double]) -> [Double] {
            (0..<outputs).map { j in (0..<inputs).reduce(bias[j]) { $0 + weight[j * inputs + $1] * p[$1] } }
        }
    }

    let layers: [Layer]
    let target: Int
    /// Per dense layer, per unit position (top: one), its root; nil when skipped.
    let roots: [[[Double]?]]
    /// Activations: `inputs[l]` is the input of dense layer l at x.
    let inputs: [[Double]]
    private var slopes: [[[Double]?]] = []

    /// - Parameters: `spec` must be dense, relu, dense, relu, ...; `sample` the engine's result
    ///   for `x` with its roots kept.
    init(spec: NetworkSpec, target: Int, x: [Double], sample: FullBackwardSample) {
        var layers: [Layer] = []
        for case .dense(let w, let out, let inFeatures, let b) in spec.layers {
            layers.append(Layer(weight: w, bias: b ?? [Double](repeating: 0, count: out), inputs: inFeatures, outputs: out))
        }
        self.layers = layers
        self.target = target
        var inputs = [x]
        for layer in layers.dropLast() { inputs.append(layer.z(inputs[inputs.count - 1]).map { max($0, 0) }) }
        self.inputs = inputs
        var roots: [[[Double]?]] = []
        var record = 0, offset = 0
        for (l, layer) in layers.enumerated() {
            let count = l == layers.count - 1 ? 1 : layer.outputs
            var list: [[Double]?] = []
            for _ in 0..<count {
                let skipped = sample.units[record].flags.contains(.skipped)
                list.append(skipped ? nil : Array(sample.roots[offset..<(offset + layer.inputs)]))
                record += 1
                offset += layer.inputs
            }
            roots.append(list)
        }
        self.roots = roots
        // Slopes from the top down (each needs only the slopes above it).
        slopes = roots.map { $0.map { _ in nil } }
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            for (v, root) in roots[l].enumerated() {
                guard let root else { continue }
                let middle = zip(inputs[l], root).map { ($0 + $1) / 2 }
                slopes[l][v] = gradient(l, v, at: middle)
            }
        }
    }

    /// The genuine relevance of unit position `u` of dense layer l at `point`.
    func relevance(_ l: Int, _ u: Int, at point: [Double]) -> Double {
        let z = layers[l].z(point)
        if l == layers.count - 1 { return max(z[target], 0) }
        let q = max(z[u], 0)
        var sum = 0.0
        for (v, root) in roots[l + 1].enumerated() {
            guard let root, let c = slopes[l + 1][v] else { continue }
            sum += c[u] * (q - root[u])
        }
        return sum
    }

    /// The genuine gradient of that relevance (ReLU'(0) = 0).
    func gradient(_ l: Int, _ u: Int, at point: [Double]) -> [Double] {
        let layer = layers[l]
        let z = layer.z(point)
        let j = l == layers.count - 1 ? target : u
        var coefficient = 1.0
        if l < layers.count - 1 {
            coefficient = 0
            for (v, c) in slopes[l + 1].enumerated() where roots[l + 1][v] != nil { coefficient += c?[j] ?? 0 }
        }
        guard z[j] > 0 else { return [Double](repeating: 0, count: layer.inputs) }
        return (0..<layer.inputs).map { coefficient * layer.weight[j * layer.inputs + $0] }
    }

    /// grad f_k(x) by plain backpropagation (ReLU'(0) = 0).
    func outputGradient() -> [Double] {
        var grad = [Double](repeating: 0, count: layers[layers.count - 1].outputs)
        grad[target] = 1
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[l], z = layer.z(inputs[l])
            var down = [Double](repeating: 0, count: layer.inputs)
            for j in 0..<layer.outputs where z[j] > 0 {
                for i in 0..<layer.inputs { down[i] += grad[j] * layer.weight[j * layer.inputs + i] }
            }
            grad = down
        }
        return grad
    }

    /// Whether `point` (an input of dense layer l) lies in the closure of the region of the
    /// input at x: every ReLU of layers l.. (of the last: the target) in the same state, units
    /// within 1e-9 of their hinge (relative to the layer's largest |z| at x) matching either.
    func inClosureOfRegion(_ l: Int, _ point: [Double], lowerBound: Double) -> Bool {
        guard point.allSatisfy({ $0 >= lowerBound - 1e-12 }) else { return false }
        var p = point, a = inputs[l]
        for m in l..<layers.count {
            let zp = layers[m].z(p), za = layers[m].z(a)
            let tolerance = 1e-9 * max(1, za.map(abs).max() ?? 0)
            let units = m == layers.count - 1 ? [target] : Array(0..<layers[m].outputs)
            for u in units where abs(zp[u]) > tolerance && (zp[u] > 0) != (za[u] > 0) { return false }
            p = zp.map { max($0, 0) }
            a = za.map { max($0, 0) }
        }
        return true
    }
}
