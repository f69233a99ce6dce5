@testable import DTDCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The scratch cap (`ScratchLimit`): a call's allocations are charged to its budget, on its own
/// thread and on the worker pool's threads while they run its steps; a block that would pass the
/// cap is refused before anything is allocated; released blocks are uncharged. These tests give
/// their budgets an explicit limit and never touch the process-wide cap, which other tests
/// running at the same time would feel.
@Suite("Scratch limit")
struct ScratchLimitTests {
    @Test func aBlockBeyondTheBudgetIsRefusedAndReleasedBlocksAreUncharged() throws {
        var refusal: DTDError?
        try ScratchLimit.withBudget(limit: 1 << 20) { () throws(DTDError) in
            let first = try Storage<Double>(count: 100_000)      // 800 KB of 1 MiB
            do throws(DTDError) {
                _ = try Storage<Double>(count: 50_000)           // +400 KB: over the cap
            } catch {
                refusal = error
            }
            _ = first.count
        }
        #expect(refusal?.kind == .outOfMemory)
        #expect(refusal?.message.contains("scratch limit of 1 MiB") == true)
        // Without a budget nothing is charged and the same sizes are fine.
        let a = try Storage<Double>(count: 100_000), b = try Storage<Double>(count: 50_000)
        #expect(a.count + b.count == 150_000)
        // After release, the budget is free again: 800 KB twice in a row fits in 1 MiB.
        try ScratchLimit.withBudget(limit: 1 << 20) { () throws(DTDError) in
            for _ in 0..<2 { _ = try Storage<Double>(count: 100_000) }
        }
    }

    @Test func workerThreadsChargeTheBudgetOfTheCallTheyRun() throws {
        guard let pool = WorkerPool.shared else {
            print("scratch limit: one thread (DTD_NUM_THREADS=1 or one core): no workers to check")
            return
        }
        // The pool may be busy with another test's call (then the caller runs every iteration
        // itself), and a worker that wakes after the caller has claimed the last iteration skips
        // the job; so the caller's iterations wait 0.5 ms each, and we try until a worker took part.
        let caller = pthread_self()
        var workerTookPart = false
        for _ in 0..<100 where !workerTookPart {
            let seen = Mutex<[(budget: Bool, worker: Bool)]>(Array(repeating: (false, false), count: 64))
            try ScratchLimit.withBudget(limit: 1 << 30) { () throws(DTDError) in
                let mine = ScratchBudget.current
                pool.run(64) { i in
                    let budget = ScratchBudget.current
                    let worker = pthread_equal(pthread_self(), caller) == 0
                    seen.withLock { $0[i] = (budget != nil && budget === mine, worker) }
                    if !worker { usleep(500) }
                }
            }
            let results = seen.withLock { $0 }
            let everyIterationCharged = results.allSatisfy { $0.budget }
            #expect(everyIterationCharged, "an iteration ran without the call's budget")
            workerTookPart = results.contains { $0.worker }
        }
        #expect(workerTookPart, "the worker pool never ran an iteration")
        // And outside a call, the workers carry none.
        let sawNone = Mutex<[Bool]>(Array(repeating: false, count: 64))
        pool.run(64) { i in
            let seen = ScratchBudget.current
            sawNone.withLock { $0[i] = seen == nil }
        }
        #expect(sawNone.withLock { $0.allSatisfy { $0 } })
    }
}
