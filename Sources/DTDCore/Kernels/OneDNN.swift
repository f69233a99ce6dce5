import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// float32 convolutions through oneDNN, loaded at run time: the forward product and the
/// transposed one (oneDNN's backward-data primitive, exactly LRP's `W^T s`).
///
/// Why: on a CPU with AVX-512 oneDNN's direct convolutions (`brgconv`/`jit:avx512_core`, in
/// their blocked activation layouts) ran the products of VGG and ResNet layers 1.2-1.9x faster
/// than im2col + BLIS, both ways, reorders from and to libdtd's NCHW included
/// (`bindings/python/benchmarks/kernels/`, one core each). The library is optional: it is
/// `dlopen`ed (`libdnnl.so.2`, oneDNN 2.x's C API, Debian's `libdnnl2`) on first use, and when it
/// is missing, refuses a shape or the CPU lacks AVX-512 the engine keeps im2col + BLAS. Nothing
/// links against it, so the library, the wheel and the release archive run without it.
/// `DTD_KERNELS` (`Environment.kernels`) decides: `auto` (default: oneDNN when it loads and reports
/// AVX-512), `onednn` (whenever it loads), `blas` (never).
///
/// Threads: each part of a product runs on one of libdtd's threads with oneDNN's OpenMP team
/// set to one thread, so the engine's own pool stays the only one: a batch is cut into one
/// block of samples per thread, a single sample into blocks of output channels (forward) or
/// input channels (transpose). Primitives and reordered weights are made once per weight
/// buffer, product and block shape, and kept while the weight lives.
enum OneDNN {
    /// The loaded library, or nil when oneDNN is not to be used (see the type's documentation).
    static let library: Library? = Library.load()

    /// Whether oneDNN serves float32 convolutions in this process.
    static var isActive: Bool { library != nil }

    /// output = scale W input (+ output when `accumulate`) for `batch` samples (NCHW), no bias.
    /// False when oneDNN does not serve this product (not float32, not loaded, refused): then
    /// nothing was written, or everything is to be overwritten by the caller's fallback.
    static func forward<T: DTDScalar>(_ g: ConvGeometry, weight: Storage<T>, input: UnsafePointer<T>, batch: Int,
                                      output: UnsafeMutablePointer<T>, scale: T = 1,
                                      accumulate: Bool = false) throws(DTDError) -> Bool {
        guard T.self == Float.self, let library, let w = weight as? Storage<Float> else { return false }
        let x = UnsafeRawPointer(input).assumingMemoryBound(to: Float.self)
        let y = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self)
        if scale == 1, !accumulate {
            return library.run(.forward, g, weight: w, source: x, batch: batch, target: y)
        }
        // oneDNN's product into a buffer, then y = (y if accumulating) + scale * product.
        let count = batch * g.outChannels * g.positions
        let product = try Storage<Float>(uninitializedCount: count)
        guard library.run(.forward, g, weight: w, source: x, batch: batch, target: product.base) else {
            return false
        }
        let s = unsafeBitCast(scale, to: Float.self), p = product.pointer
        ParallelFor.forEachRange(count, work: count) { range, _ in
            if accumulate {
                for i in range { y[i] += s * p[i] }
            } else {
                for i in range { y[i] = s * p[i] }
            }
        }
        return true
    }

    /// first = W a and second = W_d a from the stacked [W; W_d] (`2 Cout` rows) in one product.
    static func forwardStacked<T: DTDScalar>(_ g: ConvGeometry, stacked: Storage<T>, input: UnsafePointer<T>,
                                             batch: Int, first: UnsafeMutablePointer<T>,
                                             second: UnsafeMutablePointer<T>) throws(DTDError) -> Bool {
        guard T.self == Float.self, let library, let w = stacked as? Storage<Float> else { return false }
        let both = try ConvGeometry(input: .image(channels: g.inChannels, height: g.height, width: g.width),
                                    outChannels: 2 * g.outChannels, kernel: (g.kernelHeight, g.kernelWidth),
                                    stride: (g.strideHeight, g.strideWidth), padding: (g.paddingHeight, g.paddingWidth),
                                    dilation: (g.dilationHeight, g.dilationWidth), layer: 0)
        let outCount = g.outChannels * g.positions
        let product = try Storage<Float>(uninitializedCount: 2 * batch * outCount)
        let x = UnsafeRawPointer(input).assumingMemoryBound(to: Float.self)
        guard library.run(.forward, both, weight: w, source: x, batch: batch, target: product.base) else {
            return false
        }
        let a = UnsafeMutableRawPointer(first).assumingMemoryBound(to: Float.self)
        let b = UnsafeMutableRawPointer(second).assumingMemoryBound(to: Float.self)
        for n in 0..<batch {
            (a + n * outCount).update(from: product.pointer + 2 * n * outCount, count: outCount)
            (b + n * outCount).update(from: product.pointer + (2 * n + 1) * outCount, count: outCount)
        }
        return true
    }

    /// gradInput = W^T gradOutput for `batch` samples (NCHW), overwriting gradInput. False when
    /// oneDNN does not serve this product (then the caller's fallback overwrites gradInput).
    static func backwardData<T: DTDScalar>(_ g: ConvGeometry, weight: Storage<T>, gradOutput: UnsafePointer<T>,
                                           batch: Int, gradInput: UnsafeMutablePointer<T>) -> Bool {
        guard T.self == Float.self, let library, let w = weight as? Storage<Float> else { return false }
        return library.run(.backwardData, g, weight: w,
                           source: UnsafeRawPointer(gradOutput).assumingMemoryBound(to: Float.self), batch: batch,
                           target: UnsafeMutableRawPointer(gradInput).assumingMemoryBound(to: Float.self))
    }

    /// The product a primitive computes.
    enum Operation: Int { case forward, backwardData }

    // MARK: - The C API of oneDNN 2.x (dnnl.h), as function pointers

    /// oneDNN 2.x constants (`dnnl_types.h`; the ABI of soname libdnnl.so.2). The kernel probe
    /// (`bindings/python/benchmarks/kernels/kernel_probe.c`) asserts each against the header.
    private enum C {
        static let success: Int32 = 0
        static let f32: Int32 = 3
        static let formatAny: Int32 = 1, plain4D: Int32 = 5  // dnnl_format_tag_any, dnnl_abcd (nchw, oihw)
        static let forwardInference: Int32 = 96, forwardTraining: Int32 = 64
        static let convolutionDirect: Int32 = 1
        static let cpuEngine: Int32 = 1
        static let streamDefault: UInt32 = 1
        static let querySource: Int32 = 129, queryDiffSource: Int32 = 130, queryWeights: Int32 = 131
        static let queryDestination: Int32 = 133, queryDiffDestination: Int32 = 134, queryScratchpad: Int32 = 136
        static let scratchpadUser: Int32 = 1
        static let argSource: Int32 = 1, argDestination: Int32 = 17, argWeights: Int32 = 33
        static let argDiffSource: Int32 = 129, argDiffDestination: Int32 = 145, argScratchpad: Int32 = 80
        static let isaAVX512Core: Int32 = 39  // a bit mask: every ISA that includes it has these bits
        /// `sizeof(dnnl_memory_desc_t)`, fixed by oneDNN's ABI for the whole 2.x series (a copy of a
        /// descriptor the library returns reads exactly this much), and the bytes reserved for a
        /// descriptor and a `dnnl_convolution_desc_t` (5976 in 2.6) that the library fills.
        static let memoryDescSize = 696, memoryDescBytes = 2048, operationDescBytes = 16384
    }

    typealias Raw = UnsafeMutableRawPointer
    typealias ConstRaw = UnsafeRawPointer

    /// One loaded oneDNN: its entry points, an engine, and the cache of primitives.
    final class Library: @unchecked Sendable {
        let engineCreate: @convention(c) (UnsafeMutablePointer<Raw?>, Int32, Int) -> Int32
        let streamCreate: @convention(c) (UnsafeMutablePointer<Raw?>, Raw?, UInt32) -> Int32
        let streamDestroy: @convention(c) (Raw?) -> Int32
        let streamWait: @convention(c) (Raw?) -> Int32
        let memoryDescInit: @convention(c) (Raw, Int32, UnsafePointer<Int64>, Int32, Int32) -> Int32
        let memoryDescEqual: @convention(c) (ConstRaw, ConstRaw) -> Int32
        let memoryDescSize: @convention(c) (ConstRaw) -> Int
        let convolutionForwardInit: @convention(c) (Raw, Int32, Int32, ConstRaw, ConstRaw, ConstRaw?, ConstRaw,
                                                    UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>,
                                                    UnsafePointer<Int64>) -> Int32
        let convolutionBackwardDataInit: @convention(c) (Raw, Int32, ConstRaw, ConstRaw, ConstRaw,
                                                         UnsafePointer<Int64>, UnsafePointer<Int64>,
                                                         UnsafePointer<Int64>, UnsafePointer<Int64>) -> Int32
        let primitiveDescCreate: @convention(c) (UnsafeMutablePointer<Raw?>, ConstRaw, Raw?, Raw?, Raw?) -> Int32
        let primitiveDescDestroy: @convention(c) (Raw?) -> Int32
        let primitiveDescQueryMD: @convention(c) (Raw?, Int32, Int32) -> ConstRaw?
        let primitiveCreate: @convention(c) (UnsafeMutablePointer<Raw?>, Raw?) -> Int32
        let primitiveDestroy: @convention(c) (Raw?) -> Int32
        let primitiveExecute: @convention(c) (Raw?, Raw?, Int32, ConstRaw) -> Int32
        let memoryCreate: @convention(c) (UnsafeMutablePointer<Raw?>, ConstRaw, Raw?, Raw?) -> Int32
        let memoryDestroy: @convention(c) (Raw?) -> Int32
        let reorderDescCreate: @convention(c) (UnsafeMutablePointer<Raw?>, ConstRaw, Raw?, ConstRaw, Raw?, Raw?) -> Int32
        let attrCreate: @convention(c) (UnsafeMutablePointer<Raw?>) -> Int32
        let attrDestroy: @convention(c) (Raw?) -> Int32
        let attrSetScratchpadMode: @convention(c) (Raw?, Int32) -> Int32
        /// `omp_set_num_threads` of the OpenMP runtime oneDNN uses (nil for other runtimes).
        let ompSetThreads: (@convention(c) (Int32) -> Void)?
        let engine: Raw?

        private let cache = Mutex<[Key: Entry]>([:])

        /// `dnnl_exec_arg_t`: an argument index and its memory object (16 bytes, as in C).
        struct ExecArgument {
            var argument: Int32
            var memory: Raw?
        }

        /// Executes `primitive` with `args` on `stream`.
        private func execute(_ primitive: Raw?, _ stream: Raw?, _ args: [ExecArgument]) -> Bool {
            args.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return false }
                return primitiveExecute(primitive, stream, Int32(args.count), base) == C.success
            }
        }

        /// The library `DTD_KERNELS` asks for, or nil.
        static func load() -> Library? {
            let choice = Environment.kernels
            guard choice != .blas else { return nil }
            guard let handle = dlopen(Environment.oneDNNLibrary, RTLD_NOW | RTLD_LOCAL) else { return nil }
            guard let library = Library(handle) else { return nil }
            if choice == .auto {
                guard let isaFunction = dlsym(handle, "dnnl_get_effective_cpu_isa") else { return nil }
                let isa = unsafeBitCast(isaFunction, to: (@convention(c) () -> Int32).self)()
                guard isa & C.isaAVX512Core == C.isaAVX512Core else { return nil }
            }
            return library
        }

        private init?(_ handle: Raw) {
            func symbol<F>(_ name: String, _: F.Type) -> F? {
                guard let address = dlsym(handle, name) else { return nil }
                return unsafeBitCast(address, to: F.self)
            }
            // Only the 2.x API: 3.x replaced these descriptor functions.
            typealias VersionFunction = @convention(c) () -> UnsafePointer<Int32>?
            guard let version = symbol("dnnl_version", VersionFunction.self), let v = version(), v[0] == 2,
                  let engineCreate = symbol("dnnl_engine_create", type(of: self.engineCreate)),
                  let streamCreate = symbol("dnnl_stream_create", type(of: self.streamCreate)),
                  let streamDestroy = symbol("dnnl_stream_destroy", type(of: self.streamDestroy)),
                  let streamWait = symbol("dnnl_stream_wait", type(of: self.streamWait)),
                  let memoryDescInit = symbol("dnnl_memory_desc_init_by_tag", type(of: self.memoryDescInit)),
                  let memoryDescEqual = symbol("dnnl_memory_desc_equal", type(of: self.memoryDescEqual)),
                  let memoryDescSize = symbol("dnnl_memory_desc_get_size", type(of: self.memoryDescSize)),
                  let convolutionForwardInit = symbol("dnnl_dilated_convolution_forward_desc_init",
                                                      type(of: self.convolutionForwardInit)),
                  let convolutionBackwardDataInit = symbol("dnnl_dilated_convolution_backward_data_desc_init",
                                                           type(of: self.convolutionBackwardDataInit)),
                  let primitiveDescCreate = symbol("dnnl_primitive_desc_create", type(of: self.primitiveDescCreate)),
                  let primitiveDescDestroy = symbol("dnnl_primitive_desc_destroy", type(of: self.primitiveDescDestroy)),
                  let primitiveDescQueryMD = symbol("dnnl_primitive_desc_query_md", type(of: self.primitiveDescQueryMD)),
                  let primitiveCreate = symbol("dnnl_primitive_create", type(of: self.primitiveCreate)),
                  let primitiveDestroy = symbol("dnnl_primitive_destroy", type(of: self.primitiveDestroy)),
                  let primitiveExecute = symbol("dnnl_primitive_execute", type(of: self.primitiveExecute)),
                  let memoryCreate = symbol("dnnl_memory_create", type(of: self.memoryCreate)),
                  let memoryDestroy = symbol("dnnl_memory_destroy", type(of: self.memoryDestroy)),
                  let reorderDescCreate = symbol("dnnl_reorder_primitive_desc_create", type(of: self.reorderDescCreate)),
                  let attrCreate = symbol("dnnl_primitive_attr_create", type(of: self.attrCreate)),
                  let attrDestroy = symbol("dnnl_primitive_attr_destroy", type(of: self.attrDestroy)),
                  let attrSetScratchpadMode = symbol("dnnl_primitive_attr_set_scratchpad_mode",
                                                     type(of: self.attrSetScratchpadMode))
            else { return nil }
            self.engineCreate = engineCreate
            self.streamCreate = streamCreate
            self.streamDestroy = streamDestroy
            self.streamWait = streamWait
            self.memoryDescInit = memoryDescInit
            self.memoryDescEqual = memoryDescEqual
            self.memoryDescSize = memoryDescSize
            self.convolutionForwardInit = convolutionForwardInit
            self.convolutionBackwardDataInit = convolutionBackwardDataInit
            self.primitiveDescCreate = primitiveDescCreate
            self.primitiveDescDestroy = primitiveDescDestroy
            self.primitiveDescQueryMD = primitiveDescQueryMD
            self.primitiveCreate = primitiveCreate
            self.primitiveDestroy = primitiveDestroy
            self.primitiveExecute = primitiveExecute
            self.memoryCreate = memoryCreate
            self.memoryDestroy = memoryDestroy
            self.reorderDescCreate = reorderDescCreate
            self.attrCreate = attrCreate
            self.attrDestroy = attrDestroy
            self.attrSetScratchpadMode = attrSetScratchpadMode
            self.ompSetThreads = symbol("omp_set_num_threads", (@convention(c) (Int32) -> Void).self)
            var engine: Raw?
            guard engineCreate(&engine, C.cpuEngine, 0) == C.success, engine != nil else { return nil }
            self.engine = engine
        }

        // MARK: Running a product

        /// Cuts the product into parts (sample blocks, or channel blocks of a lone sample), at most
        /// one per thread, and runs each part's primitive on its thread.
        func run(_ operation: Operation, _ g: ConvGeometry, weight: Storage<Float>, source: UnsafePointer<Float>,
                 batch: Int, target: UnsafeMutablePointer<Float>) -> Bool {
            guard batch > 0, g.dilationHeight >= 1, g.dilationWidth >= 1, Self.serves(operation, g) else { return false }
            let threads = ParallelFor.threads
            let inCount = g.inChannels * g.height * g.width, outCount = g.outChannels * g.positions
            // The channels a lone sample's parts split: output channels forward, input channels back.
            let splitChannels = operation == .forward ? g.outChannels : g.inChannels
            let work = batch * g.outChannels * g.positions * g.patchSize
            var plan: [Part] = []
            if threads <= 1 || work < 1 << 20 {
                plan = [Part(first: 0, count: batch, channels: 0..<splitChannels)]
            } else if batch > 1 {
                // Sample blocks (channel blocks of several samples would not be contiguous in NCHW).
                let parts = min(threads, batch)
                for t in 0..<parts {
                    let lower = t * batch / parts, upper = (t + 1) * batch / parts
                    if lower < upper { plan.append(Part(first: lower, count: upper - lower, channels: 0..<splitChannels)) }
                }
            } else {
                // Channel blocks of a multiple of 16 (oneDNN's vector blocking), one per thread.
                let width = ((splitChannels + threads - 1) / threads + 15) / 16 * 16
                var lower = 0
                while lower < splitChannels {
                    let upper = min(splitChannels, lower + width)
                    plan.append(Part(first: 0, count: batch, channels: lower..<upper))
                    lower = upper
                }
            }
            // Every part's primitive first (made once), so a refusal leaves the output untouched.
            var entries: [Entry] = []
            for part in plan {
                guard let entry = entry(operation, g, weight: weight, batch: part.count, channels: part.channels) else {
                    return false
                }
                entries.append(entry)
            }
            let succeeded = UnsafeMutableBufferPointer<Bool>.allocate(capacity: plan.count)
            succeeded.initialize(repeating: false)
            defer { succeeded.deallocate() }
            let body: (Int) -> Void = { index in
                let part = plan[index], entry = entries[index]
                let (sourceOffset, targetOffset): (Int, Int)
                switch operation {
                case .forward:
                    sourceOffset = part.first * inCount
                    targetOffset = part.first * outCount + part.channels.lowerBound * g.positions
                case .backwardData:
                    sourceOffset = part.first * outCount
                    targetOffset = part.first * inCount + part.channels.lowerBound * g.height * g.width
                }
                succeeded[index] = self.execute(entry, source: source + sourceOffset, target: target + targetOffset)
            }
            if plan.count == 1 { body(0) } else { ParallelFor.run(plan.count, body) }
            // A part that failed (out of memory) leaves the output partly written: the caller's
            // fallback overwrites all of it.
            return succeeded.allSatisfy { $0 }
        }

        /// Where oneDNN beat im2col + BLIS (kernel probe, one core): kernels larger than 1x1 with
        /// at least 16 channels on both sides (its blocked kernels), and the transpose of a layer
        /// with few input channels but many output channels (an image net's first conv: 3 -> 64 at
        /// 32x32, 61 against 10 GFLOP/s). 1x1 convolutions stay on BLIS (ResNet's downsample
        /// 64 -> 128: the two reorders cost more than the product gains, 28-44 against 71-85
        /// GFLOP/s), and so do LeNet's 1 -> 6 and 6 -> 16 (its batch-64 LRP took 6.0 instead of
        /// 4.1 ms of CPU on oneDNN).
        static func serves(_ operation: Operation, _ g: ConvGeometry) -> Bool {
            guard g.kernelHeight * g.kernelWidth > 1 else { return false }
            if min(g.inChannels, g.outChannels) >= 16 { return true }
            return operation == .backwardData && g.outChannels >= 32
        }

        private struct Part {
            let first: Int, count: Int
            let channels: Range<Int>
        }

        /// Runs one part: source (libdtd's layout) -> the primitive's layout, the product, and
        /// back into target, on the calling thread.
        private func execute(_ e: Entry, source: UnsafePointer<Float>, target: UnsafeMutablePointer<Float>) -> Bool {
            ompSetThreads?(1)
            var stream: Raw?
            guard streamCreate(&stream, engine, C.streamDefault) == C.success else { return false }
            defer { _ = streamDestroy(stream) }
            // Per-call buffers from this thread's cache: the blocked activations and the scratchpad.
            guard let work = try? Storage<Float>(uninitializedCount: (e.sourceBlockedBytes + e.targetBlockedBytes
                                                                      + e.scratchpadBytes) / 4 + 48)
            else { return false }
            let base = UnsafeMutableRawPointer(work.base)
            let aligned = base + (64 - Int(bitPattern: base) % 64) % 64
            let sourceBlocked = aligned, targetBlocked = aligned + e.sourceBlockedBytes
            let scratchpad = targetBlocked + e.targetBlockedBytes
            var memories: [Raw?] = []
            defer { for m in memories { _ = memoryDestroy(m) } }
            func memory(_ md: ConstRaw, _ data: Raw) -> Raw? {
                var m: Raw?
                guard memoryCreate(&m, md, engine, data) == C.success else { return nil }
                memories.append(m)
                return m
            }
            guard let userSource = memory(e.userSource.raw, Raw(mutating: source)),
                  let userTarget = memory(e.userTarget.raw, Raw(target)),
                  let weights = memory(e.weightsMD.raw, Raw(e.weights.base)),
                  let pad = memory(e.scratchpadMD.raw, scratchpad)
            else { return false }
            var primitiveSource = userSource, primitiveTarget = userTarget
            if let reorder = e.sourceReorder {
                guard let m = memory(e.primitiveSource.raw, sourceBlocked) else { return false }
                primitiveSource = m
                let args = [ExecArgument(argument: C.argSource, memory: userSource),
                            ExecArgument(argument: C.argDestination, memory: m)]
                guard execute(reorder, stream, args) else { return false }
            }
            if e.targetReorder != nil {
                guard let m = memory(e.primitiveTarget.raw, targetBlocked) else { return false }
                primitiveTarget = m
            }
            let (sourceArgument, targetArgument) = e.operation == .forward
                ? (C.argSource, C.argDestination) : (C.argDiffDestination, C.argDiffSource)
            let args = [ExecArgument(argument: sourceArgument, memory: primitiveSource),
                        ExecArgument(argument: C.argWeights, memory: weights),
                        ExecArgument(argument: targetArgument, memory: primitiveTarget),
                        ExecArgument(argument: C.argScratchpad, memory: pad)]
            guard execute(e.primitive, stream, args) else { return false }
            if let reorder = e.targetReorder {
                let args = [ExecArgument(argument: C.argSource, memory: primitiveTarget),
                            ExecArgument(argument: C.argDestination, memory: userTarget)]
                guard execute(reorder, stream, args) else { return false }
            }
            return streamWait(stream) == C.success
        }

        // MARK: Primitives, made once per weight, product and part shape

        struct Key: Hashable {
            let weight: ObjectIdentifier
            let operation: Operation
            let batch: Int, channelsLower: Int, channelsUpper: Int
            let inChannels: Int, height: Int, width: Int, outChannels: Int
            let kernelHeight: Int, kernelWidth: Int, strideHeight: Int, strideWidth: Int
            let paddingHeight: Int, paddingWidth: Int, dilationHeight: Int, dilationWidth: Int
        }

        /// A memory descriptor's bytes (owned).
        final class Descriptor: @unchecked Sendable {
            let raw: Raw
            init() {
                raw = .allocate(byteCount: C.memoryDescBytes, alignment: 64)
                raw.initializeMemory(as: UInt8.self, repeating: 0, count: C.memoryDescBytes)
            }
            init(copying source: ConstRaw) {
                raw = .allocate(byteCount: C.memoryDescBytes, alignment: 64)
                raw.initializeMemory(as: UInt8.self, repeating: 0, count: C.memoryDescBytes)
                raw.copyMemory(from: source, byteCount: C.memoryDescSize)
            }
            deinit { raw.deallocate() }
        }

        /// A part's primitive, its reorders and its weights in the primitive's layout.
        final class Entry: @unchecked Sendable {
            weak var owner: Storage<Float>?
            let operation: Operation
            let library: Library
            var primitive: Raw?, sourceReorder: Raw?, targetReorder: Raw?
            let userSource = Descriptor(), userTarget = Descriptor()
            var primitiveSource = Descriptor(), primitiveTarget = Descriptor()
            var weightsMD = Descriptor(), scratchpadMD = Descriptor()
            var weights: Storage<Float>
            var sourceBlockedBytes = 0, targetBlockedBytes = 0, scratchpadBytes = 0

            init(owner: Storage<Float>, operation: Operation, library: Library) throws(DTDError) {
                self.owner = owner
                self.operation = operation
                self.library = library
                weights = try Storage<Float>(uninitializedCount: 1)
            }

            deinit {
                for p in [primitive, sourceReorder, targetReorder] where p != nil { _ = library.primitiveDestroy(p) }
            }
        }

        private func entry(_ operation: Operation, _ g: ConvGeometry, weight: Storage<Float>, batch: Int,
                           channels: Range<Int>) -> Entry? {
            let key = Key(weight: ObjectIdentifier(weight), operation: operation, batch: batch,
                          channelsLower: channels.lowerBound, channelsUpper: channels.upperBound,
                          inChannels: g.inChannels, height: g.height, width: g.width, outChannels: g.outChannels,
                          kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, strideHeight: g.strideHeight,
                          strideWidth: g.strideWidth, paddingHeight: g.paddingHeight, paddingWidth: g.paddingWidth,
                          dilationHeight: g.dilationHeight, dilationWidth: g.dilationWidth)
            return cache.withLock { (entries: inout [Key: Entry]) -> Entry? in
                // An entry of a freed weight whose identifier was reused has no owner any more.
                if let found = entries[key], found.owner === weight { return found }
                entries = entries.filter { $0.value.owner != nil }
                // Bounded: a caller cycling through many batch sizes keeps only the current one's.
                if entries.count >= 512 { entries = entries.filter { $0.key.batch == batch } }
                let siblings = entries.filter { $0.key.weight == key.weight && $0.key.operation == operation
                    && $0.key.channelsLower == key.channelsLower && $0.key.channelsUpper == key.channelsUpper }.map(\.value)
                guard let made = make(operation, g, weight: weight, batch: batch, channels: channels, siblings: siblings)
                else { return nil }
                entries[key] = made
                return made
            }
        }

        /// Builds a part's primitive: activations in the layout the primitive prefers (blocked)
        /// unless a side has fewer than 16 channels (there oneDNN's plain-layout kernel was faster),
        /// weights reordered once.
        private func make(_ operation: Operation, _ g: ConvGeometry, weight: Storage<Float>, batch: Int,
                          channels: Range<Int>, siblings: [Entry]) -> Entry? {
            // oneDNN sizes a primitive's OpenMP team when the primitive is made (and then asks for
            // that many threads whatever the caller's setting): one thread, so it never starts a
            // team that would spin against libdtd's own workers.
            ompSetThreads?(1)
            guard let e = try? Entry(owner: weight, operation: operation, library: self) else { return nil }
            let cin = operation == .backwardData ? channels.count : g.inChannels
            let cout = operation == .forward ? channels.count : g.outChannels
            let plain = min(cin, cout) < 16
            let x: [Int64] = [Int64(batch), Int64(cin), Int64(g.height), Int64(g.width)]
            let y: [Int64] = [Int64(batch), Int64(cout), Int64(g.outHeight), Int64(g.outWidth)]
            let w: [Int64] = [Int64(cout), Int64(cin), Int64(g.kernelHeight), Int64(g.kernelWidth)]
            let strides: [Int64] = [Int64(g.strideHeight), Int64(g.strideWidth)]
            let dilates: [Int64] = [Int64(g.dilationHeight - 1), Int64(g.dilationWidth - 1)]
            let padLeft: [Int64] = [Int64(g.paddingHeight), Int64(g.paddingWidth)]
            // The right/bottom padding that gives PyTorch's output size.
            let padRight: [Int64] = [
                Int64((g.outHeight - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1 - g.height - g.paddingHeight),
                Int64((g.outWidth - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1 - g.width - g.paddingWidth)]
            let xUser = Descriptor(), yUser = Descriptor(), wUser = Descriptor()
            let xAny = Descriptor(), yAny = Descriptor(), wAny = Descriptor()
            let activationTag = plain ? C.plain4D : C.formatAny
            guard memoryDescInit(xUser.raw, 4, x, C.f32, C.plain4D) == C.success,
                  memoryDescInit(yUser.raw, 4, y, C.f32, C.plain4D) == C.success,
                  memoryDescInit(wUser.raw, 4, w, C.f32, C.plain4D) == C.success,
                  memoryDescInit(xAny.raw, 4, x, C.f32, activationTag) == C.success,
                  memoryDescInit(yAny.raw, 4, y, C.f32, activationTag) == C.success,
                  memoryDescInit(wAny.raw, 4, w, C.f32, C.formatAny) == C.success
            else { return nil }
            var attr: Raw?
            guard attrCreate(&attr) == C.success else { return nil }
            defer { _ = attrDestroy(attr) }
            guard attrSetScratchpadMode(attr, C.scratchpadUser) == C.success else { return nil }
            let forwardOp = Raw.allocate(byteCount: C.operationDescBytes, alignment: 64)
            let backwardOp = Raw.allocate(byteCount: C.operationDescBytes, alignment: 64)
            defer { forwardOp.deallocate(); backwardOp.deallocate() }
            var hint: Raw?, pd: Raw?
            defer {
                if pd != nil, pd != hint { _ = primitiveDescDestroy(pd) }
                if hint != nil { _ = primitiveDescDestroy(hint) }
            }
            let prop = operation == .forward ? C.forwardInference : C.forwardTraining
            guard convolutionForwardInit(forwardOp, prop, C.convolutionDirect, xAny.raw, wAny.raw, nil, yAny.raw,
                                         strides, dilates, padLeft, padRight) == C.success,
                  primitiveDescCreate(&hint, forwardOp, operation == .forward ? attr : nil, engine, nil) == C.success
            else { return nil }
            if operation == .forward {
                pd = hint
            } else {
                guard convolutionBackwardDataInit(backwardOp, C.convolutionDirect, xAny.raw, wAny.raw, yAny.raw,
                                                  strides, dilates, padLeft, padRight) == C.success,
                      primitiveDescCreate(&pd, backwardOp, attr, engine, hint) == C.success
                else { return nil }
            }
            let (sourceQuery, targetQuery) = operation == .forward
                ? (C.querySource, C.queryDestination) : (C.queryDiffDestination, C.queryDiffSource)
            guard let sourceMD = primitiveDescQueryMD(pd, sourceQuery, 0),
                  let targetMD = primitiveDescQueryMD(pd, targetQuery, 0),
                  let weightsMD = primitiveDescQueryMD(pd, C.queryWeights, 0),
                  let scratchMD = primitiveDescQueryMD(pd, C.queryScratchpad, 0)
            else { return nil }
            let (userSource, userTarget) = operation == .forward ? (xUser, yUser) : (yUser, xUser)
            e.userSource.raw.copyMemory(from: userSource.raw, byteCount: C.memoryDescBytes)
            e.userTarget.raw.copyMemory(from: userTarget.raw, byteCount: C.memoryDescBytes)
            e.primitiveSource = Descriptor(copying: sourceMD)
            e.primitiveTarget = Descriptor(copying: targetMD)
            e.weightsMD = Descriptor(copying: weightsMD)
            e.scratchpadMD = Descriptor(copying: scratchMD)
            e.scratchpadBytes = (memoryDescSize(scratchMD) + 63) / 64 * 64
            if memoryDescEqual(sourceMD, userSource.raw) == 0 {
                e.sourceBlockedBytes = (memoryDescSize(sourceMD) + 63) / 64 * 64
                guard let r = reorder(from: userSource.raw, to: sourceMD) else { return nil }
                e.sourceReorder = r
            }
            if memoryDescEqual(targetMD, userTarget.raw) == 0 {
                e.targetBlockedBytes = (memoryDescSize(targetMD) + 63) / 64 * 64
                guard let r = reorder(from: targetMD, to: userTarget.raw) else { return nil }
                e.targetReorder = r
            }
            var primitive: Raw?
            guard primitiveCreate(&primitive, pd) == C.success else { return nil }
            e.primitive = primitive
            // Weights already reordered into this layout for another batch size are shared.
            if let twin = siblings.first(where: { memoryDescEqual($0.weightsMD.raw, weightsMD) != 0 }) {
                e.weightsMD = twin.weightsMD
                e.weights = twin.weights
                return e
            }
            // The part's weights (OIHW; a channel block copied out), reordered into the primitive's layout.
            guard let part = try? Storage<Float>(uninitializedCount: Int(w[0] * w[1] * w[2] * w[3])),
                  let blocked = try? Storage<Float>(uninitializedCount: (memoryDescSize(weightsMD) + 3) / 4)
            else { return nil }
            let taps = g.kernelHeight * g.kernelWidth, src = weight.pointer, dst = part.base
            let outs = Int(w[0]), ins = Int(w[1]), first = channels.lowerBound, forward = operation == .forward
            for o in 0..<outs {
                for i in 0..<ins {
                    let fromO: Int = forward ? first + o : o
                    let fromI: Int = forward ? i : first + i
                    let from: UnsafePointer<Float> = src + (fromO * g.inChannels + fromI) * taps
                    let to: UnsafeMutablePointer<Float> = dst + (o * ins + i) * taps
                    to.update(from: from, count: taps)
                }
            }
            guard let weightReorder = reorder(from: wUser.raw, to: weightsMD) else { return nil }
            defer { _ = primitiveDestroy(weightReorder) }
            var stream: Raw?, from: Raw?, to: Raw?
            guard streamCreate(&stream, engine, C.streamDefault) == C.success else { return nil }
            defer { _ = streamDestroy(stream); _ = memoryDestroy(from); _ = memoryDestroy(to) }
            guard memoryCreate(&from, wUser.raw, engine, Raw(part.base)) == C.success,
                  memoryCreate(&to, weightsMD, engine, Raw(blocked.base)) == C.success else { return nil }
            ompSetThreads?(1)
            let args = [ExecArgument(argument: C.argSource, memory: from), ExecArgument(argument: C.argDestination, memory: to)]
            guard execute(weightReorder, stream, args), streamWait(stream) == C.success else {
                return nil
            }
            e.weights = blocked
            return e
        }

        private func reorder(from: ConstRaw, to: ConstRaw) -> Raw? {
            var pd: Raw?, primitive: Raw?
            guard reorderDescCreate(&pd, from, engine, to, engine, nil) == C.success else { return nil }
            defer { _ = primitiveDescDestroy(pd) }
            guard primitiveCreate(&primitive, pd) == C.success else { return nil }
            return primitive
        }
    }
}
