#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A per-thread cache of freed buffers, so repeated calls reuse memory instead of mapping and
/// faulting in fresh pages for every activation (the cost dominated small-batch calls).
///
/// With `Storage`, one of the two files outside `Kernels/` that touch raw memory: this is where
/// every block `Storage` hands out comes from (malloc) and goes back to (free).
///
/// Each thread keeps at most `limit` bytes (`Environment.cacheBytes`; 0 disables caching);
/// a thread's cache is freed when the thread exits. Blocks are reused only for requests of at
/// least a quarter of their size, so a large block never serves a tiny request.
enum BufferPool {
    struct Block {
        let pointer: UnsafeMutableRawPointer
        let bytes: Int
        /// The call budget (`ScratchLimit`) this block is charged to while in use, and the bytes
        /// charged: those asked for (a reused block may be larger; its pages exist already).
        var charge: (budget: ScratchBudget, bytes: Int)? = nil
    }

    final class Cache {
        var blocks: [Block] = []
        var bytes = 0

        deinit { for b in blocks { free(b.pointer) } }
    }

    static var limit: Int { Environment.cacheBytes }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { raw in
            guard let raw else { return }
            Unmanaged<Cache>.fromOpaque(raw).release()
        }
        return key
    }()

    /// This thread's cache.
    private static var cache: Cache {
        if let raw = pthread_getspecific(key) { return Unmanaged<Cache>.fromOpaque(raw).takeUnretainedValue() }
        let fresh = Cache()
        pthread_setspecific(key, Unmanaged.passRetained(fresh).toOpaque())
        return fresh
    }

    /// A block of at least `bytes` bytes (its actual size is returned), charged to the calling
    /// thread's call budget if it has one.
    /// - Throws: `.outOfMemory` when the block would exceed the budget (checked before anything
    ///   is allocated) or memory is exhausted.
    static func acquire(_ bytes: Int) throws(DTDError) -> Block {
        guard let budget = ScratchBudget.current else {
            guard let block = take(bytes) else { throw DTDError(.outOfMemory, "could not allocate \(bytes) bytes") }
            return block
        }
        try budget.charge(bytes)
        guard var block = take(bytes) else {
            budget.uncharge(bytes)
            throw DTDError(.outOfMemory, "could not allocate \(bytes) bytes")
        }
        block.charge = (budget, bytes)
        return block
    }

    /// A block from this thread's cache or from malloc, or nil when memory is exhausted.
    private static func take(_ bytes: Int) -> Block? {
        if limit > 0 {
            let c = cache
            var best = -1
            for (i, b) in c.blocks.enumerated() where b.bytes >= bytes && b.bytes / 4 <= bytes {
                if best < 0 || b.bytes < c.blocks[best].bytes { best = i }
            }
            if best >= 0 {
                let block = c.blocks.remove(at: best)
                c.bytes -= block.bytes
                return block
            }
        }
        guard let p = malloc(bytes) else { return nil }
        return Block(pointer: p, bytes: bytes)
    }

    /// Returns a block to this thread's cache, or frees it when the cache is full.
    static func release(_ charged: Block) {
        var block = charged
        if let (budget, bytes) = block.charge {
            budget.uncharge(bytes)
            block.charge = nil
        }
        guard limit > 0, block.bytes <= limit else { free(block.pointer); return }
        let c = cache
        while c.bytes + block.bytes > limit, !c.blocks.isEmpty {
            let oldest = c.blocks.removeFirst()
            c.bytes -= oldest.bytes
            free(oldest.pointer)
        }
        c.blocks.append(block)
        c.bytes += block.bytes
    }
}

extension ScratchBudget {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The budget of the call this thread is running (or running steps of), if it has one; the
    /// one `BufferPool.acquire` charges. The slot holds an unretained reference; `withBudget` and
    /// the worker pool keep it alive. Here, beside the pool's own thread slot, because it is raw.
    static var current: ScratchBudget? {
        get {
            guard let raw = pthread_getspecific(key) else { return nil }
            return Unmanaged<ScratchBudget>.fromOpaque(raw).takeUnretainedValue()
        }
        set {
            pthread_setspecific(key, newValue.map { Unmanaged.passUnretained($0).toOpaque() })
        }
    }
}
