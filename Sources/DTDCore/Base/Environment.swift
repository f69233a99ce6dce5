#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every environment variable libdtd reads, each read once per process, on first use. This is
/// the only file that calls `getenv`. The users' table (defaults, ranges, effects) is in
/// `Include/dtd.h` (conventions, "Environment variables"): `DTD_NUM_THREADS` (`threads`),
/// `DTD_SPIN_US` (`spinNanoseconds`), `DTD_CACHE_MB` (`cacheBytes`), `DTD_WINOGRAD`
/// (`winograd`), `DTD_FAST_PATHS` (`fastPaths`), `DTD_CLP_LIBRARY` (`clpLibrary`), `DTD_KERNELS`
/// (`kernels`), `DTD_ONEDNN_LIBRARY` (`oneDNNLibrary`) and `DTD_MAX_SCRATCH_MB`
/// (`maxScratchBytes`). An unset or invalid value means the
/// default; large values are capped.
enum Environment {
    /// `DTD_NUM_THREADS`, else the online cores (at most 16).
    static let threads: Int = {
        if let value = integer("DTD_NUM_THREADS"), value >= 1 { return min(value, 64) }
        return max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 16))
    }()

    /// `DTD_SPIN_US` in nanoseconds (at most one second).
    static let spinNanoseconds: UInt64 = {
        if let value = integer("DTD_SPIN_US"), value >= 0 { return UInt64(min(value, 1_000_000)) * 1000 }
        return 200_000
    }()

    /// `DTD_CACHE_MB` in bytes (at most 1 TiB).
    static let cacheBytes: Int = {
        if let value = integer("DTD_CACHE_MB"), value >= 0 { return min(value, 1 << 20) << 20 }
        return 128 << 20
    }()

    /// `DTD_MAX_SCRATCH_MB` in bytes, the initial scratch cap of one call (`ScratchLimit`);
    /// 0 (unset, 0 or invalid) means no cap.
    static let maxScratchBytes: Int = {
        if let value = integer("DTD_MAX_SCRATCH_MB"), value > 0 { return min(value, 1 << 40) << 20 }
        return 0
    }()

    /// `DTD_WINOGRAD`: anything but "0" leaves Winograd on.
    static let winograd: Bool = text("DTD_WINOGRAD") != "0"

    /// `DTD_FAST_PATHS`: anything but "0" leaves the optional shortcuts on. Each gives the same
    /// result as the general path up to rounding; switching them off shows that none is needed
    /// (the oracle tests run once with them off, `Tests/run-all.sh`). They are: the fused
    /// [W; W_d] forward product of a rule's first denominator, skipping the a+ or a- branch of
    /// an input that has no such part, a+ taken as a itself without negatives, the all-ones
    /// transpose of flat as a broadcast sum, a plain rule's denominator taken from the forward
    /// output z, a stride-1 convolution's transpose run as a convolution, and the 2x2 max-pool
    /// kernel.
    static let fastPaths: Bool = text("DTD_FAST_PATHS") != "0"

    /// `DTD_CLP_LIBRARY`: the file to load COIN-OR CLP from instead of `libClp.so.1`, or nil
    /// (unset or empty).
    static let clpLibrary: String? = text("DTD_CLP_LIBRARY").flatMap { $0.isEmpty ? nil : $0 }

    /// The float32 convolution kernels `DTD_KERNELS` asks for (`Kernels/OneDNN.swift`).
    enum Kernels: Sendable {
        /// oneDNN when it loads and reports AVX-512, else im2col + BLAS (the default).
        case auto
        /// oneDNN whenever it loads, on any CPU.
        case onednn
        /// im2col + BLAS only.
        case blas
    }

    /// `DTD_KERNELS`: `onednn`, `blas`, anything else `auto`.
    static let kernels: Kernels = {
        switch text("DTD_KERNELS") {
        case "onednn": return .onednn
        case "blas": return .blas
        default: return .auto
        }
    }()

    /// `DTD_ONEDNN_LIBRARY`: the file to load oneDNN 2.x from, else its soname `libdnnl.so.2`.
    static let oneDNNLibrary: String = text("DTD_ONEDNN_LIBRARY").flatMap { $0.isEmpty ? nil : $0 } ?? "libdnnl.so.2"

    private static func text(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    private static func integer(_ name: String) -> Int? {
        text(name).flatMap { Int($0) }
    }
}
