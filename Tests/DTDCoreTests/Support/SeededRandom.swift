/// The test suite's one random number generator: SplitMix64 (Steele, Lea and Flood, 2014), small,
/// fast and fully determined by its seed, so every "random" network and input is reproducible on
/// every platform and toolchain. Uniform doubles are built from the top 53 bits by hand rather than
/// through `Double.random(in:using:)`, whose algorithm the standard library may change.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in `[range.lowerBound, range.upperBound)`.
    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        let unit = Double(next() >> 11) * 0x1p-53
        return range.lowerBound + (range.upperBound - range.lowerBound) * unit
    }

    /// `count` uniform values in `range`.
    mutating func uniform(_ count: Int, in range: ClosedRange<Double>) -> [Double] {
        (0..<count).map { _ in uniform(range) }
    }
}
