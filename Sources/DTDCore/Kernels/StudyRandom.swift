#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The random directions of the study's sampled root search, from a small generator that any
/// language can reproduce bit for bit (the header documents it; the Python tests re-derive it):
///
/// - `mix(z)`: SplitMix64's finaliser, z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
///   z *= 0x94D049BB133111EB; z ^= z >> 31 (all mod 2^64).
/// - One stream per root search, keyed by (seed, sample n, dense layer position l, search
///   number s within that layer): h = seed, then h = mix(h + 0x9E3779B97F4A7C15 + v) for v = n,
///   l, s in turn. The stream is xoshiro256** whose four state words are the first four outputs
///   of SplitMix64 started at h (state += 0x9E3779B97F4A7C15; output mix(state)).
/// - Uniform: (next >> 11) * 2^-53. Normal (Box-Muller, cosine branch only):
///   sqrt(-2 ln(1 - u1)) * cos(2 pi u2) from two consecutive uniforms u1, u2.
/// - Direction: `dimension` normals divided by their Euclidean norm (drawn again if the norm is 0).
struct StudyRandom {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The stream of root search `search` of dense layer `layer` for sample `sample`.
    init(seed: UInt64, sample: Int, layer: Int, search: Int) {
        var h = seed
        for v in [sample, layer, search] { h = Self.mix(h &+ Self.golden &+ UInt64(truncatingIfNeeded: v)) }
        var state = h
        func next() -> UInt64 {
            state &+= Self.golden
            return Self.mix(state)
        }
        s0 = next()
        s1 = next()
        s2 = next()
        s3 = next()
    }

    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// xoshiro256**.
    mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    /// In [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box-Muller, cosine branch).
    mutating func normal() -> Double {
        let u1 = uniform(), u2 = uniform()
        return (-2 * log(1 - u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// A unit vector with a uniformly random direction.
    mutating func direction(_ dimension: Int) -> [Double] {
        guard dimension > 0 else { return [] }
        while true {
            let v = (0..<dimension).map { _ in normal() }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 0 { return v.map { $0 / norm } }
        }
    }
}
