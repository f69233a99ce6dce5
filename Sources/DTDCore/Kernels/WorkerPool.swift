import CFork
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's own fork-join pool: `ParallelFor.threads - 1` persistent worker threads that spin
/// briefly between jobs before they park.
///
/// An LRP call is a chain of short parallel steps (im2col, a split GEMM, an elementwise pass),
/// tens of microseconds each at batch 1. Waking a parked thread costs 20-90 µs on a virtual
/// machine, as much as the step itself, so workers stay awake `Environment.spinNanoseconds`
/// (`DTD_SPIN_US`, default 200 µs; 0 parks at once) after each job and the next step starts in about a microsecond.
///
/// One job runs at a time: a caller that finds the pool busy (another thread's call, or a job
/// started from inside a job) runs its iterations itself, so concurrent callers never wait for
/// each other and nesting cannot deadlock.
///
/// A `fork()` child of the process that loaded libdtd has no pool: its work runs on the calling
/// thread. The Swift runtime's locks cache each thread's kernel id, and the thread that called
/// `fork()` keeps its parent's; a runtime lock it shared with a worker (the first use of a
/// generic type's metadata, say) would be a priority-inheritance futex owned by a thread of the
/// other process, and both would wait forever.
///
/// The caller never waits for a worker that has not started the job: when the caller has
/// claimed the last iteration it closes the job, and a worker that arrives later skips it. So a
/// worker kept off its core by another busy thread pool in the process (PyTorch's OpenMP threads
/// spin for milliseconds after each of their jobs) costs the job that worker's share, not a
/// wait until the scheduler runs it again.
final class WorkerPool: @unchecked Sendable {
    /// The pool of this process, created on first use.
    static var shared: WorkerPool? {
        if let pool = current.load(ordering: .acquiring) { return pool.takeUnretainedValue() }
        if libdtd_fork_is_child() != 0 { return nil }
        return install()
    }

    private static let current = Atomic<Unmanaged<WorkerPool>?>(nil)
    private static let installLock = Mutex(())

    private static var spinNanoseconds: UInt64 { Environment.spinNanoseconds }

    private static func install() -> WorkerPool? {
        installLock.withLock { _ in
            if let pool = current.load(ordering: .acquiring) { return pool.takeUnretainedValue() }
            let pool = WorkerPool(workers: ParallelFor.threads - 1)
            guard pool.workerCount > 0 else { return nil }
            // Kept for the life of the process (its threads never exit; libdtd.so is -z nodelete).
            current.store(Unmanaged.passRetained(pool), ordering: .releasing)
            pthread_atfork(nil, nil) {
                // The child has none of the parent's threads: forget the pool (leaked); the child
                // computes on its calling thread (see above).
                WorkerPool.current.store(nil, ordering: .releasing)
            }
            return pool
        }
    }

    /// Jobs the pool ran, and jobs a caller ran alone because the pool was busy (another call's
    /// job, or a nested one). Relaxed counters, for tests that must know concurrent calls
    /// really overlapped in the pool.
    static let pooledJobs = Atomic<Int>(0)
    static let busyFallbacks = Atomic<Int>(0)

    /// Threads started (the caller is the extra participant of every job).
    private(set) var workerCount = 0
    private let busy = Atomic<Bool>(false)
    private let generation = Atomic<Int>(0)
    private let nextIteration = Atomic<Int>(0)
    /// The current job's entry state: its generation (high bits), whether it is closed to late
    /// workers, and how many workers are inside it (low 16 bits).
    private let entry = Atomic<UInt64>(0)
    private static let closedBit: UInt64 = 1 << 16, activeMask: UInt64 = (1 << 16) - 1, generationShift: UInt64 = 17
    private let sleepers = Atomic<Int>(0)
    private var iterations = 0
    private var body: ((Int) -> Void)?
    /// The submitting call's scratch budget, which the workers charge while they run its job.
    private var budget: ScratchBudget?
    private let parkLock: UnsafeMutablePointer<pthread_mutex_t>
    private let parkSignal: UnsafeMutablePointer<pthread_cond_t>

    private init(workers: Int) {
        parkLock = .allocate(capacity: 1)
        parkSignal = .allocate(capacity: 1)
        pthread_mutex_init(parkLock, nil)
        pthread_cond_init(parkSignal, nil)
        for _ in 0..<max(0, workers) {
            var thread = pthread_t()
            let context = Unmanaged.passUnretained(self).toOpaque()
            let status = pthread_create(&thread, nil, { raw in
                Unmanaged<WorkerPool>.fromOpaque(raw!).takeUnretainedValue().work()
            }, context)
            // Threads that could not start are simply fewer workers.
            guard status == 0 else { break }
            pthread_detach(thread)
            workerCount += 1
        }
    }

    /// Runs `body(i)` for every i in 0..<count, on the calling thread and the workers, and returns
    /// when all have finished. Iterations are claimed one at a time, so uneven ones balance.
    func run(_ count: Int, _ body: (Int) -> Void) {
        guard count > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            if count > 1 { Self.busyFallbacks.add(1, ordering: .relaxed) }
            for i in 0..<count { body(i) }
            return
        }
        Self.pooledJobs.add(1, ordering: .relaxed)
        withoutActuallyEscaping(body) { body in
            self.body = body
            budget = ScratchBudget.current
            iterations = count
            nextIteration.store(0, ordering: .relaxed)
            let job = generation.load(ordering: .relaxed) &+ 1
            entry.store(UInt64(truncatingIfNeeded: job) << Self.generationShift, ordering: .releasing)
            generation.store(job, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(parkLock)
                pthread_cond_broadcast(parkSignal)
                pthread_mutex_unlock(parkLock)
            }
            claim(body, count)
            // Close the job to workers that have not entered it, then wait for those inside (they
            // hold at most one iteration each), so none can still read `body` after return.
            var state = entry.load(ordering: .relaxed)
            while true {
                let (exchanged, original) = entry.compareExchange(expected: state, desired: state | Self.closedBit,
                                                                  ordering: .acquiringAndReleasing)
                if exchanged { break }
                state = original
            }
            var spins = 0
            while entry.load(ordering: .acquiring) & Self.activeMask != 0 {
                spins &+= 1
                if spins & 1023 == 0 { sched_yield() }
            }
            self.body = nil
            budget = nil
        }
        busy.store(false, ordering: .releasing)
    }

    @inline(__always)
    private func claim(_ body: (Int) -> Void, _ count: Int) {
        while true {
            let i = nextIteration.add(1, ordering: .relaxed).oldValue
            guard i < count else { return }
            body(i)
        }
    }

    /// The worker's share of the current job. A function of its own, so the worker's copy of
    /// `body` is released before it acknowledges the job (`run`'s escape check counts it).
    @inline(never)
    private func runJob() {
        guard let body else { return }
        ScratchBudget.current = budget
        claim(body, iterations)
        ScratchBudget.current = nil
    }

    private func work() -> Never {
        var seen = 0
        while true {
            seen = waitForJob(after: seen)
            if enter(seen) {
                runJob()
                entry.subtract(1, ordering: .releasing)
            }
        }
    }

    /// Enters job `job` unless it is closed or already over (a later job has begun).
    private func enter(_ job: Int) -> Bool {
        let tag = UInt64(truncatingIfNeeded: job) << Self.generationShift
        var state = entry.load(ordering: .acquiring)
        while true {
            guard state & ~(Self.closedBit | Self.activeMask) == tag, state & Self.closedBit == 0 else { return false }
            let (exchanged, original) = entry.compareExchange(expected: state, desired: state + 1,
                                                              ordering: .acquiringAndReleasing)
            if exchanged { return true }
            state = original
        }
    }

    /// Spins up to `spinNanoseconds` for a generation after `seen`, then parks until one arrives.
    private func waitForJob(after seen: Int) -> Int {
        var g = generation.load(ordering: .acquiring)
        if g != seen { return g }
        let deadline = Self.now() &+ Self.spinNanoseconds
        var spins = 0
        while true {
            g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            spins &+= 1
            if spins & 255 == 0, Self.now() >= deadline { break }
        }
        pthread_mutex_lock(parkLock)
        sleepers.add(1, ordering: .sequentiallyConsistent)
        while true {
            g = generation.load(ordering: .sequentiallyConsistent)
            if g != seen { break }
            pthread_cond_wait(parkSignal, parkLock)
        }
        sleepers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(parkLock)
        return g
    }

    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }
}
