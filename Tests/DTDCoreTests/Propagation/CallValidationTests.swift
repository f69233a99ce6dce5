import Foundation
import Testing
@testable import DTDCore

/// forward, gradient, gradient × input, LRP and targetSeed validate their arguments before
/// touching a buffer: each failure has its `DTDError.Kind` and a message that names the argument
/// and the sizes (`Include/dtd.h` conventions).
@Suite("Call validation")
struct CallValidationTests {
    /// dense(4 → 3) relu dense(3 → 2): input (4), output (2).
    static func network() throws -> Network<Double> {
        var network = try Network<Double>(inputShape: .flat(4))
        try network.addDense(weight: (0..<12).map { Double($0) / 6 - 1 }, outFeatures: 3, inFeatures: 4, bias: [0.1, 0.2, 0.3])
        network.addReLU()
        try network.addDense(weight: [1, -1, 0.5, 0.25, 2, -1], outFeatures: 2, inFeatures: 3, bias: nil)
        return network
    }

    @Test func emptyNetworkCannotRun() throws {
        let empty = try Network<Double>(inputShape: .flat(4))
        let rules = try RuleSet(for: Self.network(), everyLinearLayer: .epsilon(0))
        let x = [Double](repeating: 1, count: 4)
        expectDTDError(.emptyNetwork, mentioning: ["no layers"]) { _ = try empty.forward(x, batch: 1) }
        expectDTDError(.emptyNetwork) { _ = try empty.gradient(x, batch: 1, outputRelevance: x) }
        expectDTDError(.emptyNetwork) { _ = try empty.gradientTimesInput(x, batch: 1, outputRelevance: x) }
        expectDTDError(.emptyNetwork) { _ = try empty.lrp(x, batch: 1, outputRelevance: x, rules: rules) }
        expectDTDError(.emptyNetwork) {
            var seed = [Double](repeating: 0, count: 4)
            let targets: [Int64] = [0]
            var out = seed.mutableSpan
            try empty.targetSeed(input: x.span, batch: 1, targets: targets.span, seed: &out)
        }
    }

    /// The buffer API: batch 0, negative, or above the Int32 limit is `.size`, naming "batch".
    @Test(arguments: [0, -1, Int(Int32.max) + 1])
    func rejectsABatchSizeOutOfRange(_ batch: Int) throws {
        let network = try Self.network()
        let rules = try RuleSet(for: network, everyLinearLayer: .zPlus())
        let x = [Double](repeating: 1, count: 8), r = [Double](repeating: 1, count: 4)
        var out = [Double](repeating: 0, count: 8)
        expectDTDError(.size, mentioning: ["batch"]) {
            var result = out.mutableSpan
            try network.forward(input: x.span, batch: batch, output: &result)
        }
        expectDTDError(.size, mentioning: ["batch"]) {
            var result = out.mutableSpan
            try network.gradient(input: x.span, batch: batch, outputRelevance: r.span, result: &result)
        }
        expectDTDError(.size, mentioning: ["batch"]) {
            var result = out.mutableSpan
            try network.lrp(input: x.span, batch: batch, outputRelevance: r.span, rules: rules, result: &result)
        }
    }

    /// The array conveniences of the Swift API.
    enum ArrayCall: String, Codable, Sendable, CaseIterable {
        case forward, gradient, gradientTimesInput, lrp, lrpWithLedger
    }

    /// Runs `call` with `batch` on a network where any buffer sized by the batch before the batch
    /// is validated would need at least 2^54 bytes — an allocation no machine grants, so such a
    /// bug traps deterministically instead of exhausting memory. True if `.size` was thrown.
    static func arrayCallRejects(_ call: ArrayCall, batch: Int) -> Bool {
        do {
            let wide = 1 << 20
            if call == .forward {
                // (1) → dense → (2^20): output batch x 2^20.
                var network = try Network<Double>(inputShape: .flat(1))
                try network.addDense(weight: [Double](repeating: 1, count: wide), outFeatures: wide, inFeatures: 1, bias: nil)
                _ = try network.forward([1], batch: batch)
            } else {
                // (2^20) → dense → (1), then 8192 ReLUs: relevance batch x 2^20, ledger batch x 8193.
                var network = try Network<Double>(inputShape: .flat(wide))
                try network.addDense(weight: [Double](repeating: 1, count: wide), outFeatures: 1, inFeatures: wide, bias: nil)
                for _ in 0..<8192 { network.addReLU() }
                let rules = try RuleSet(for: network, everyLinearLayer: .epsilon(0))
                switch call {
                case .gradient: _ = try network.gradient([1], batch: batch, outputRelevance: [1])
                case .gradientTimesInput: _ = try network.gradientTimesInput([1], batch: batch, outputRelevance: [1])
                case .lrp: _ = try network.lrp([1], batch: batch, outputRelevance: [1], rules: rules)
                case .lrpWithLedger: _ = try network.lrpWithLedger([1], batch: batch, outputRelevance: [1], rules: rules)
                case .forward: break
                }
            }
            return false
        } catch {
            return error.kind == .size && error.message.contains("batch")
        }
    }

    /// The array conveniences must validate the batch before sizing their results from it: a
    /// negative or oversized batch is a `.size` error, not a trap (`Include/dtd.h`: nothing a caller
    /// passes crashes the process). Each call runs in a child process (an exit test), so a trap
    /// fails this test only.
    @Test(arguments: ArrayCall.allCases, [-1, Int(Int32.max) + 1])
    func arrayConveniencesRejectABatchOutOfRangeWithoutTrapping(_ call: ArrayCall, _ batch: Int) async {
        await #expect(processExitsWith: .success) { [call, batch] in
            if !CallValidationTests.arrayCallRejects(call, batch: batch) { exit(1) }
        }
    }

    @Test func rejectsAnInputBufferTooSmallForTheBatch() throws {
        let network = try Self.network()
        let rules = try RuleSet(for: network, everyLinearLayer: .zPlus())
        let x = [Double](repeating: 1, count: 7), r = [Double](repeating: 1, count: 4)
        let mentions = ["input holds 7 elements", "batch 2", "(4)", "needs 8"]
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.forward(x, batch: 2) }
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.gradient(x, batch: 2, outputRelevance: r) }
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.gradientTimesInput(x, batch: 2, outputRelevance: r) }
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.lrp(x, batch: 2, outputRelevance: r, rules: rules) }
    }

    @Test func rejectsAnOutputRelevanceBufferTooSmall() throws {
        let network = try Self.network()
        let rules = try RuleSet(for: network, everyLinearLayer: .zPlus())
        let x = [Double](repeating: 1, count: 8), r = [Double](repeating: 1, count: 3)
        let mentions = ["output_relevance holds 3 elements", "(2)", "needs 4"]
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.gradient(x, batch: 2, outputRelevance: r) }
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.gradientTimesInput(x, batch: 2, outputRelevance: r) }
        expectDTDError(.bufferTooSmall, mentioning: mentions) { _ = try network.lrp(x, batch: 2, outputRelevance: r, rules: rules) }
    }

    /// The caller-allocated result buffers of the pointer API: forward's output, the relevance
    /// of gradient and LRP, and the ledger (batch × layers entries).
    @Test func rejectsResultBuffersTooSmall() throws {
        let network = try Self.network()
        let rules = try RuleSet(for: network, everyLinearLayer: .zPlus())
        let x = [Double](repeating: 1, count: 8), r = [Double](repeating: 1, count: 4)
        var small = [Double](repeating: 0, count: 7)
        var entries = [LedgerEntry](repeating: LedgerEntry(layer: 0), count: 5)
        var three = [Double](repeating: 0, count: 3)
        expectDTDError(.bufferTooSmall, mentioning: ["output holds 3 elements", "needs 4"]) {
            var out = three.mutableSpan
            try network.forward(input: x.span, batch: 2, output: &out)
        }
        expectDTDError(.bufferTooSmall, mentioning: ["relevance holds 7 elements", "needs 8"]) {
            var out = small.mutableSpan
            try network.gradient(input: x.span, batch: 2, outputRelevance: r.span, result: &out)
        }
        expectDTDError(.bufferTooSmall, mentioning: ["relevance holds 7 elements", "needs 8"]) {
            var out = small.mutableSpan
            try network.lrp(input: x.span, batch: 2, outputRelevance: r.span, rules: rules, result: &out)
        }
        var result = [Double](repeating: 0, count: 8)
        expectDTDError(.bufferTooSmall, mentioning: ["ledger holds 5 entries", "3 layers", "needs 6"]) {
            var full = result.mutableSpan, ledger = entries.mutableSpan
            try network.lrp(input: x.span, batch: 2, outputRelevance: r.span, rules: rules, result: &full, ledger: &ledger)
        }
    }

    private func targetSeed(_ network: Network<Double>, batch: Int, targets: [Int64], seedCount: Int) throws {
        let x = [Double](repeating: 0.5, count: 4 * batch)
        var seed = [Double](repeating: 0, count: seedCount)
        var out = seed.mutableSpan
        try network.targetSeed(input: x.span, batch: batch, targets: targets.span, seed: &out)
    }

    @Test(arguments: [Int64(-1), 2, 1 << 40])
    func targetSeedRejectsATargetOutOfRange(_ target: Int64) throws {
        let network = try Self.network()
        expectDTDError(.outOfRange, mentioning: ["targets[1] = \(target)", "[0, 2)"]) {
            try targetSeed(network, batch: 2, targets: [0, target], seedCount: 4)
        }
    }

    @Test func targetSeedRejectsBuffersTooSmall() throws {
        let network = try Self.network()
        expectDTDError(.bufferTooSmall, mentioning: ["targets holds 1 values", "batch 2"]) {
            try targetSeed(network, batch: 2, targets: [0], seedCount: 4)
        }
        expectDTDError(.bufferTooSmall, mentioning: ["output_seed holds 3 elements", "needs 4"]) {
            try targetSeed(network, batch: 2, targets: [0, 1], seedCount: 3)
        }
    }
}
