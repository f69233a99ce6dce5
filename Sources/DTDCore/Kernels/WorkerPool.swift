import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's own fork-join pool: `Gemm.threads - 1` persistent worker threads that spin
/// briefly between jobs before they park.
///
/// An LRP call is a chain of short parallel steps (im2col, a split GEMM, an elementwise pass),
/// tens of microseconds each at batch 1. Waking a parked thread costs 20-90 µs on a virtual
/// machine, as much as the step itself, so workers stay awake `DTD_SPIN_US` microseconds
/// (default 200; 0 parks at once) after each job and the next step starts in about a microsecond.
///
/// One job runs at a time: a caller that finds the pool busy (another thread's call, or a job
/// started from inside a job) runs its iterations itself, so concurrent callers never wait for
/// each other and nesting cannot deadlock. A forked child gets a fresh pool on first use.
final class WorkerPool: @unchecked Sendable {
    /// The pool of this process, created on first use.
    static var shared: WorkerPool? {
        if let pool = current.load(ordering: .acquiring) { return pool.takeUnretainedValue() }
        return install()
    }

    private static let current = Atomic<Unmanaged<WorkerPool>?>(nil)
    private static let installLock = Mutex(())

    private static let spinNanoseconds: UInt64 = {
        if let text = getenv("DTD_SPIN_US"), let value = Int(String(cString: text)), value >= 0 {
            return UInt64(min(value, 1_000_000)) * 1000
        }
        return 200_000
    }()

    private static func install() -> WorkerPool? {
        installLock.withLock { _ in
            if let pool = current.load(ordering: .acquiring) { return pool.takeUnretainedValue() }
            let pool = WorkerPool(workers: Gemm.threads - 1)
            guard pool.workerCount > 0 else { return nil }
            // Kept for the life of the process (its threads never exit; libdtd.so is -z nodelete).
            current.store(Unmanaged.passRetained(pool), ordering: .releasing)
            pthread_atfork(nil, nil) {
                // The child has none of the parent's threads: forget the pool (leaked) and let the
                // child's first parallel step start its own.
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
    private let finished = Atomic<Int>(0)
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
            finished.store(0, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(parkLock)
                pthread_cond_broadcast(parkSignal)
                pthread_mutex_unlock(parkLock)
            }
            claim(body, count)
            // Every worker acknowledges every job, so none can still read `body` after return.
            var spins = 0
            while finished.load(ordering: .acquiring) < workerCount {
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
            runJob()
            finished.add(1, ordering: .releasing)
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
