import Testing
@testable import DTDCore

/// Bad input gets a clear error naming what is wrong (`Include/dtd.h` section 8: anything but a chain of dense
/// layers each followed by a ReLU; f_k(x) <= 0; CLP absent).
@Suite("Full-backward DTD: bad input")
struct FullBackwardValidationTests {
    static func expectUnsupported(_ spec: NetworkSpec, mentioning text: String) throws {
        let network = try spec.build(Double.self)
        do {
            _ = try FullBackward(network: network, query: FullBackwardQuery(target: 0))
            Issue.record("\(spec.name): accepted")
        } catch {
            #expect(error.kind == .unsupported && error.message.contains(text), "\(spec.name): \(error)")
        }
    }

    @Test func rejectsConvolutions() throws {
        let spec = RandomNetworkBuilder(name: "conv", inputShape: [1, 4, 4], seed: 1).conv(2, kernel: (3, 3)).relu().flatten().dense(2).relu().spec
        try Self.expectUnsupported(spec, mentioning: "layer 0 is conv2d")
    }

    @Test func rejectsPooling() throws {
        let spec = RandomNetworkBuilder(name: "pool", inputShape: [1, 4, 4], seed: 1).maxPool((2, 2), stride: (2, 2)).flatten().dense(2).relu().spec
        try Self.expectUnsupported(spec, mentioning: "layer 0 is maxpool2d")
    }

    @Test func rejectsAMissingReLU() throws {
        let between = RandomNetworkBuilder(name: "dense dense", inputShape: [3], seed: 1).dense(3).dense(2).relu().spec
        try Self.expectUnsupported(between, mentioning: "layer 1 (dense) follows the dense layer 0 without a ReLU")
        let atEnd = RandomNetworkBuilder(name: "no final relu", inputShape: [3], seed: 1).dense(3).relu().dense(2).spec
        try Self.expectUnsupported(atEnd, mentioning: "ends with layer 2 (dense) without a ReLU")
        let first = RandomNetworkBuilder(name: "relu first", inputShape: [3], seed: 1).relu().dense(2).relu().spec
        try Self.expectUnsupported(first, mentioning: "layer 0 (relu) does not follow a dense layer")
    }

    @Test func rejectsAnEmptyNetwork() throws {
        let network = try Network<Double>(inputShape: Shape([3]))
        #expect(throws: DTDError.self) { try FullBackward(network: network, query: FullBackwardQuery(target: 0)) }
        do { _ = try FullBackward(network: network, query: FullBackwardQuery(target: 0)) } catch { #expect(error.kind == .emptyNetwork) }
    }

    static func study() throws -> Network<Double> { try StudyFixture.load().network.build(Double.self) }

    static func expectError(_ kind: DTDError.Kind, mentioning text: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("no error (expected \(kind))")
        } catch let error as DTDError {
            #expect(error.kind == kind && error.message.contains(text), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test(arguments: [FullBackwardMethod.exact, .sampled])
    func rejectsAnOutputThatIsNotPositive(_ method: FullBackwardMethod) throws {
        let study = try StudyFixture.load()
        let problem = try FullBackward(network: try study.network.build(Double.self), query: FullBackwardQuery(target: 0, method: method))
        let good = Array(study.blocks[0].inputs[0..<10])
        // All biases are <= 0: x = 0 gives f_0 = 0.
        Self.expectError(.invalidArgument, mentioning: "sample 1: f_0(x) = 0.0 is not > 0") {
            _ = try problem.decompose([good, [Double](repeating: 0, count: 10)])
        }
        Self.expectError(.invalidArgument, mentioning: "sample 1") { _ = try problem.regions([good, [Double](repeating: 0, count: 10)]) }
    }

    @Test func rejectsBadQueriesAndInputs() throws {
        let network = try Self.study()
        Self.expectError(.outOfRange, mentioning: "target = 2") { _ = try FullBackward(network: network, query: FullBackwardQuery(target: 2)) }
        Self.expectError(.outOfRange, mentioning: "target = -1") { _ = try FullBackward(network: network, query: FullBackwardQuery(target: -1)) }
        Self.expectError(.outOfRange, mentioning: "directions = 0") {
            _ = try FullBackward(network: network, query: FullBackwardQuery(target: 0, method: .sampled, directions: 0))
        }
        Self.expectError(.invalidArgument, mentioning: "input_lower") {
            _ = try FullBackward(network: network, query: FullBackwardQuery(target: 0, inputLower: .nan))
        }
        let problem = try FullBackward(network: network, query: FullBackwardQuery(target: 0, method: .sampled))
        var x = [Double](repeating: 1, count: 10)
        x[3] = -0.5
        Self.expectError(.invalidArgument, mentioning: "input[0][3] = -0.5 is below input_lower = 0.0") { _ = try problem.decompose([x]) }
        x[3] = .nan
        Self.expectError(.nonFinite, mentioning: "input[0][3]") { _ = try problem.decompose([x]) }
        Self.expectError(.shapeMismatch, mentioning: "input 0 has 3 elements") { _ = try problem.decompose([[1, 2, 3]]) }
    }

    /// A region too large to hold (hinges x inputs > 2^28) is refused before any allocation:
    /// 2^14 inputs, 1 unit, 2^15 units, 1 output (only 3 x 2^15 weights).
    @Test func rejectsARegionTooLargeToHold() throws {
        var network = try Network<Float>(inputShape: Shape([1 << 14]))
        try network.addDense(weight: [Float](repeating: 0.01, count: 1 << 14), outFeatures: 1, inFeatures: 1 << 14, bias: nil)
        network.addReLU()
        try network.addDense(weight: [Float](repeating: 1, count: 1 << 15), outFeatures: 1 << 15, inFeatures: 1, bias: nil)
        network.addReLU()
        try network.addDense(weight: [Float](repeating: 1, count: 1 << 15), outFeatures: 1, inFeatures: 1 << 15, bias: nil)
        network.addReLU()
        Self.expectError(.size, mentioning: "the region of dense layer 0 has up to 32770 hinges x 16384 inputs") {
            _ = try FullBackward(network: network, query: FullBackwardQuery(target: 0))
        }
    }

    /// Without CLP the exact method is unsupported, with a message that says what to install.
    @Test func missingSolverIsUnsupported() {
        Self.expectError(.unsupported, mentioning: "install coinor-libclp") { _ = try ClpSolver(library: "libClp-not-installed.so.1") }
        Self.expectError(.unsupported, mentioning: "/nonexistent/libClp.so.1") { _ = try ClpSolver(library: "/nonexistent/libClp.so.1") }
    }
}
