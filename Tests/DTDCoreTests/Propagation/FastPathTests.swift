#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import DTDCore

/// The optional shortcuts (`Environment.fastPaths`, the `DTD_FAST_PATHS` environment variable).
/// `Tests/run-all.sh` runs the oracle tests a second time with `DTD_FAST_PATHS=0`; these tests
/// show that every shortcut is then really off (and on otherwise), so that run checks the general
/// paths against the same references.
@Suite("Fast paths")
struct FastPathTests {
    /// What the environment asks for: anything but "0" means on.
    static var requested: Bool {
        guard let value = getenv("DTD_FAST_PATHS") else { return true }
        return String(cString: value) != "0"
    }

    @Test func followTheEnvironment() {
        #expect(Environment.fastPaths == Self.requested)
    }

    /// A conv layer where every shortcut applies (3×3, stride 1, 8 input channels, so its
    /// transpose can run as a convolution): the flipped kernel, z+'s fused forward product and
    /// sign scan, epsilon's denominator taken from z, and flat's broadcast transpose exist exactly
    /// when the fast paths are on.
    @Test func eachShortcutIsTakenOnlyWithFastPaths() throws {
        let fast = Self.requested
        var random = SplitMix64(seed: 91)
        var network = try Network<Double>(inputShape: .image(channels: 8, height: 6, width: 6))
        try network.addConv2d(weight: random.uniform(16 * 8 * 9, in: -1...1), outChannels: 16, inChannels: 8,
                              kernel: (3, 3), bias: random.uniform(16, in: -1...1), padding: (1, 1))
        let layer = try #require(network.layers[0].linear)
        #expect((layer.transposedWeight != nil) == fast, "transpose as a convolution")

        let zPlus = try PreparedRule(rule: .zPlus(), layer: layer, layerIndex: 0)
        #expect((zPlus.fusedWeight != nil) == fast, "fused [W; W+] forward product")
        #expect(zPlus.usesInputSigns == fast, "sign scan skipping the a- branch")

        let epsilon = try PreparedRule(rule: .epsilon(1e-6), layer: layer, layerIndex: 0)
        #expect((epsilon.groups.first?.denominator == .forwardOutput) == fast, "denominator taken from z")

        let flat = try PreparedRule(rule: .flat(), layer: layer, layerIndex: 0)
        let terms = flat.groups.flatMap { $0.terms + $0.constantTerms }
        #expect(!terms.isEmpty && terms.allSatisfy { $0.transposeIsBroadcast == fast }, "flat's broadcast transpose")
    }
}
