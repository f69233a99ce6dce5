/**
 * @file dtd.h
 * @brief libdtd — Deep Taylor Decomposition and Layer-wise Relevance Propagation for ReLU networks.
 *
 * libdtd explains the predictions of feed-forward ReLU networks (dense, conv2d, max/avg pooling,
 * flatten, batch-norm). It computes the forward pass, the gradient, gradient x input and every
 * LRP rule of Zennit (LRP-0, epsilon, gamma, z+, alpha-beta, w^2, flat, z^B) per layer or as named
 * composites, with a per-layer conservation ledger. It also makes the Deep Taylor Decomposition
 * (DTD) root points behind those rules explicit and audits them: does each root lie in the
 * input's linear region, as Taylor's theorem requires? (Sixt & Landgraf, "A Rigorous Study of the
 * Deep Taylor Decomposition", TMLR 2022.) Everything works on raw buffers; no framework is needed.
 *
 * ## Conventions (they hold for every function below and are not repeated)
 * - Every fallible function returns a ::dtd_status; ::DTD_OK (0) is success. On failure no handle
 *   changed (a failed `add` or `set` leaves the network or rule set exactly as it was), the
 *   contents of output buffers are unspecified, and dtd_last_error_message() names the argument,
 *   the layer and the shapes involved.
 * - Layouts are PyTorch's, row-major and contiguous: dense weight (out, in); conv weight
 *   (Cout, Cin, kH, kW); activations (N, D) or (N, C, H, W), batch first.
 * - Element type: a network is float32 or float64 (::dtd_dtype, chosen at creation). Functions
 *   that take or return elements come in `_f32` and `_f64` pairs; calling the pair member that
 *   does not match the network's dtype returns ::DTD_ERROR_DTYPE. Scalars such as epsilon are
 *   always `double`.
 * - Every size and count is `int64_t`; a negative value is rejected with ::DTD_ERROR_SIZE, never
 *   wrapped. Every buffer is passed with its element count. Input and output buffers must hold at
 *   least the documented size (larger is allowed; only the documented prefix is read or written;
 *   smaller is ::DTD_ERROR_BUFFER_TOO_SMALL). Parameter buffers (weights, biases, batch-norm
 *   statistics, zbox bounds) must hold exactly the documented count, since another count means
 *   the caller's shapes are wrong (::DTD_ERROR_SHAPE_MISMATCH). Products of sizes are
 *   overflow-checked (::DTD_ERROR_OVERFLOW).
 * - Handles: a handle argument that is NULL is ::DTD_ERROR_NULL_POINTER; one that is not a live
 *   handle of the expected type (already destroyed, a handle of the other type, or not made by
 *   libdtd) is ::DTD_ERROR_INVALID_ARGUMENT, and the message says which. A handle is an opaque
 *   value, not an address: libdtd looks every handle up in a registry of generation-tagged slots
 *   and never dereferences a caller's pointer, and a destroyed handle stays rejected for the life
 *   of the process, even when later handles reuse its slot. At most 2^24 handles are live at
 *   once (::DTD_ERROR_OUT_OF_MEMORY beyond). These statuses are not repeated in every Returns list.
 * - Ownership: weights are copied when a layer is added; libdtd never keeps a caller's pointer
 *   after a call returns. Outputs go to caller-allocated buffers. Handles are freed with their
 *   `_destroy` function, for which NULL is a harmless no-op. A `_destroy` returns no status, so
 *   a pointer it cannot free (destroyed already, the other handle type, not from libdtd) leaves
 *   everything unchanged and records why for dtd_last_error_message(); after a destroy that
 *   freed its handle, or of NULL, the message is empty.
 * - Threads: a fully built network and a fully set rule set are immutable and may be used from
 *   any number of threads at once. Building (`dtd_network_add_*`, `dtd_rules_set_*`) and
 *   destroying must not overlap any other use of the same handle. Compute calls use libdtd's
 *   own worker threads (`DTD_NUM_THREADS` - 1 of them, started on first use, kept for the life
 *   of the process), which spin `DTD_SPIN_US` microseconds after each step before they sleep;
 *   calls that overlap run their parallel steps on the calling thread.
 * - fork(): in a child of a process that had loaded libdtd, compute calls run on the calling
 *   thread only (no worker threads), and the child must call libdtd from one thread at a time:
 *   the Swift runtime's locks remember the kernel id of the thread that forked, so that thread
 *   sharing a lock with another one can deadlock. Processes started with exec (Python's
 *   "spawn" and "forkserver") have no such limit.
 * - Non-finite values: weights, biases and rule parameters must be finite
 *   (::DTD_ERROR_NON_FINITE). NaN or infinity in inputs or seeds is not rejected and never
 *   traps. It stays in its sample (the batch's other samples get exactly the results they would
 *   get without it) and reaches what is computed from it: the forward outputs, the LRP relevance
 *   under rules that read the activations (w^2 and flat read none, only max-pool winners), a
 *   seed's whole backward pass, gradient x input at the non-finite element. The input reaches
 *   the gradient only through ReLU masks and max-pool winners: a NaN pre-activation's ReLU
 *   passes no gradient (as at 0) and a NaN wins its pooling window, so the gradient of a finite
 *   seed stays finite.
 * - Rounding: the forward output z = Wa + b of 3x3, stride-1 convolutions with at least 16 input
 *   and output channels is computed with Winograd's F(2x2, 3x3), whatever the kernels below.
 *   Each output depends, rounding included, only on its own 3x3 window (a window of zeros gives
 *   exactly b), and its error is at most E = 1.01 (Cin + 16) u sum_e ||(|G||g||G^T|)_e||
 *   ||(|B^T||d||B|)_e|| over the window's 9 transform elements (u the unit roundoff, norms over
 *   the input channels), about twice im2col's in practice. Every output with |z| <= E is
 *   recomputed as the exact product (summed in twice the working precision, rounded once), so
 *   no ReLU mask, gamma gate or denominator sign is a rounding artefact. Every other product
 *   (rule denominators other than z, every transposed product) is a direct sum over each
 *   output's own window: im2col + BLAS, or oneDNN's direct convolution (below).
 *   `DTD_WINOGRAD=0` makes z a direct sum too.
 * - Kernels: float32 convolutions with at least 16 channels on both sides (and the transpose of
 *   a first layer with many output channels), apart from the Winograd outputs above, run on
 *   oneDNN's direct convolutions when libdtd can load oneDNN 2.x at run time (`libdnnl.so.2`;
 *   nothing links against it) and the CPU has AVX-512 (`DTD_KERNELS` below); otherwise on
 *   im2col + the BLAS libdtd links. oneDNN runs on libdtd's own threads, one OpenMP thread
 *   each. float64 always uses the BLAS.
 * - Nothing a caller passes crashes the process: every argument is validated, and scratch memory
 *   is allocated up front so that exhaustion is reported as ::DTD_ERROR_OUT_OF_MEMORY; with a
 *   scratch cap (dtd_set_max_scratch_bytes(), `DTD_MAX_SCRATCH_MB`) a call that would need more
 *   is refused with that status before it allocates past the cap.
 * - Environment variables, each read once per process on first use (unset or invalid means the
 *   default; large values are capped). They change speed and memory use, never a result beyond
 *   rounding (a scratch cap can refuse a call, with a status):
 *     DTD_NUM_THREADS  threads per call, the caller included, at most 64 (default: the online
 *                      cores, at most 16; 1 starts no worker threads)
 *     DTD_SPIN_US      microseconds a worker spins after a step before it sleeps, at most 10^6
 *                      (default 200; 0 where cores are shared with busy neighbours)
 *     DTD_CACHE_MB     MiB of freed buffers each thread keeps for reuse (default 128; 0: none)
 *     DTD_WINOGRAD     0: direct sums instead of Winograd for the forward outputs (see Rounding)
 *     DTD_FAST_PATHS   0: every optional shortcut off (fused forward products, skipped sign
 *                      branches, broadcast and convolution-lowered transposes, ...), to check
 *                      that none of them changes a result
 *     DTD_CLP_LIBRARY  the file to load COIN-OR CLP from instead of libClp.so.1 (section 8)
 *     DTD_KERNELS      float32 convolutions: auto (default: oneDNN when it loads and the CPU has
 *                      AVX-512), onednn (whenever it loads), blas (im2col + BLAS only)
 *     DTD_ONEDNN_LIBRARY  the file to load oneDNN 2.x from instead of libdnnl.so.2
 *     DTD_MAX_SCRATCH_MB  MiB one compute call may allocate for itself (default 0: no cap); a
 *                      call that needs more gets ::DTD_ERROR_OUT_OF_MEMORY
 *                      (dtd_set_max_scratch_bytes())
 *
 * ## Example (float64; error checks elided)
 * @code
 *   int64_t shape[1] = {3};
 *   double w1[9] = {2,2,2, 2,2,2, 2,2,2}, w2[3] = {3,3,3}, x[3] = {1,2,3};
 *   double seed[1] = {108}, rel[3];                       // f(x) = 108: "explain the output"
 *   dtd_network *net = NULL;  dtd_rules *rules = NULL;
 *   dtd_network_create(DTD_DTYPE_FLOAT64, shape, 1, &net);
 *   dtd_network_add_dense_f64(net, w1, 9, 3, 3, NULL, 0);
 *   dtd_network_add_relu(net);
 *   dtd_network_add_dense_f64(net, w2, 3, 1, 3, NULL, 0);
 *   dtd_rules_create(net, &rules);
 *   dtd_rules_set_epsilon(rules, 0, 0.0, DTD_BIAS_INCLUDE);
 *   dtd_rules_set_epsilon(rules, 2, 0.0, DTD_BIAS_INCLUDE);
 *   dtd_relevance_lrp_f64(net, rules, 1, x, 3, seed, 1, rel, 3, NULL, 0);   // rel = {18, 36, 54}
 *   dtd_rules_destroy(rules);
 *   dtd_network_destroy(net);
 * @endcode
 *
 * ## Building against libdtd
 * `make -C bindings/c install PREFIX=...` (or the release archive) installs this header, the
 * library with its soname link, libdtd.pc and the CMake package dtd:
 * `cc app.c $(pkg-config --cflags --libs libdtd)`, or `find_package(dtd 1 REQUIRED)` and
 * `target_link_libraries(app PRIVATE dtd::dtd)`.
 *
 * ## Contents
 *  1. Version
 *  2. Status codes and errors
 *  3. Network handle
 *  4. Relevance: gradient, gradient x input, LRP
 *  5. Rules and composites
 *  6. DTD root points and the root audit
 *  7. The study's theory as checks (T2, T3, rank-1 convergence)
 *  8. Full-backward DTD (the study's second experiment)
 */
#ifndef DTD_H
#define DTD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define DTD_API __attribute__((visibility("default")))
#else
#  define DTD_API
#endif

/* =============================================================================================
 * 1. Version
 * ============================================================================================= */

/* Plain integer literals, one per line: bindings/c/Makefile reads these three and
 * DTD_ABI_VERSION to name the installed library and to version libdtd.pc and the CMake package. */
#define DTD_VERSION_MAJOR 1
#define DTD_VERSION_MINOR 0
#define DTD_VERSION_PATCH 0
/** MAJOR*10000 + MINOR*100 + PATCH, as returned by dtd_version_number(). */
#define DTD_VERSION_NUMBER (DTD_VERSION_MAJOR * 10000 + DTD_VERSION_MINOR * 100 + DTD_VERSION_PATCH)
/** The ABI generation; it matches the soname libdtd.so.1 and changes only on a breaking change. */
#define DTD_ABI_VERSION 1

/** True (1) when the library loaded at run time implements the ABI this header describes. */
#define DTD_CHECK_ABI() (dtd_abi_version() == DTD_ABI_VERSION)

/**
 * dtd_version_string() : the library version as static text, e.g. "1.0.0".
 * Returns: a NUL-terminated string owned by the library, valid for the life of the process.
 * Threads: safe.  Since: ABI 1
 */
DTD_API const char *dtd_version_string(void);

/**
 * dtd_version_number() : the library version as MAJOR*10000 + MINOR*100 + PATCH.
 * Threads: safe.  Since: ABI 1
 */
DTD_API int32_t dtd_version_number(void);

/**
 * dtd_abi_version() : the ABI generation of the loaded library; compare with ::DTD_ABI_VERSION.
 * Threads: safe.  Since: ABI 1
 */
DTD_API int32_t dtd_abi_version(void);

/* =============================================================================================
 * 2. Status codes and errors
 * ============================================================================================= */

/** Result of every fallible call. Codes are append-only and never renumbered. */
typedef int32_t dtd_status;

#define DTD_OK                      0  /**< success */
#define DTD_ERROR_NULL_POINTER      1  /**< a required pointer argument is NULL */
#define DTD_ERROR_INVALID_ARGUMENT  2  /**< a value is out of its documented domain (epsilon < 0, alpha - beta != 1, low > high, unknown enum, ...) */
#define DTD_ERROR_SIZE              3  /**< a size or count is zero, negative or above the library's limit */
#define DTD_ERROR_OVERFLOW          4  /**< a product of sizes does not fit in int64_t */
#define DTD_ERROR_SHAPE_MISMATCH    5  /**< a buffer count or layer parameter does not fit the shapes involved */
#define DTD_ERROR_BUFFER_TOO_SMALL  6  /**< an input or output buffer holds fewer elements than required */
#define DTD_ERROR_LAYER_INDEX       7  /**< a layer index is outside [0, layer count) */
#define DTD_ERROR_DTYPE             8  /**< the `_f32`/`_f64` entry point does not match the network's dtype */
#define DTD_ERROR_EMPTY_NETWORK     9  /**< the network has no layers */
#define DTD_ERROR_RULE             10  /**< a dense/conv layer has no rule, a rule targets a layer without weights, or the rule cannot be used here */
#define DTD_ERROR_NON_FINITE       11  /**< a weight, bias or parameter is NaN or infinite */
#define DTD_ERROR_LAYER_ORDER      12  /**< the layer cannot follow the previous one (e.g. batch-norm not after dense/conv) */
#define DTD_ERROR_NETWORK_MISMATCH 13  /**< a rule set is used with a network other than the one it was made for, or that network changed */
#define DTD_ERROR_OUT_OF_RANGE     14  /**< a target, neuron range or tolerance is outside its valid range */
#define DTD_ERROR_OUT_OF_MEMORY    15  /**< scratch or layer memory could not be allocated */
#define DTD_ERROR_UNSUPPORTED      16  /**< a valid request this version does not implement */
#define DTD_ERROR_INTERNAL         17  /**< a broken internal invariant; please report it */

/**
 * dtd_status_string() : a short static description of a status code.
 * @param status  in, any value; unknown codes give "unknown status".
 * Returns: a NUL-terminated string owned by the library, valid for the life of the process.
 * Threads: safe.  Since: ABI 1
 */
DTD_API const char *dtd_status_string(dtd_status status);

/**
 * dtd_last_error_message() : the detailed message of the most recent libdtd call on this thread.
 * Every fallible call sets it: to the failure's message (naming the argument, layer index and
 * shapes) or, on success, to the empty string; so do the `_destroy` functions (see the
 * conventions). Other threads never see it.
 * Returns: a NUL-terminated string owned by the library; its text is valid until the next libdtd
 *          call on the same thread. Never NULL.
 * Threads: safe; the message is thread-local.  Since: ABI 1
 */
DTD_API const char *dtd_last_error_message(void);

/**
 * dtd_set_max_scratch_bytes() : caps the memory one compute call (forward, the relevance
 * methods, roots, the audits, the theory checks) may allocate for itself: activations, im2col
 * columns, relevance and root buffers. A call that would need more fails with
 * ::DTD_ERROR_OUT_OF_MEMORY before the allocation that would pass the cap, naming the cap, so a
 * request too large for the machine is a status, not an out-of-memory kill. The cap bounds the
 * call's peak (memory it frees counts no more); the caller's own buffers and the network's
 * weights are not counted, and building calls are not capped; full-backward DTD (section 8)
 * bounds its own sizes instead (::DTD_ERROR_SIZE) and is not capped. Process-wide; the environment
 * variable `DTD_MAX_SCRATCH_MB` (read once, on first use) sets the initial cap in MiB.
 * @param max_bytes     in, >= 0: the cap in bytes; 0 removes it (the default).
 * @param out_previous  out, may be NULL: the cap before this call.
 * Returns: ::DTD_OK, ::DTD_ERROR_SIZE (negative `max_bytes`).
 * Threads: safe; calls already running keep the cap they started with.  Since: ABI 1
 */
DTD_API dtd_status dtd_set_max_scratch_bytes(int64_t max_bytes, int64_t *out_previous);

/* =============================================================================================
 * 3. Network handle
 * ============================================================================================= */

/** An opaque network: an input shape and a list of layers. */
typedef struct dtd_network dtd_network;

/** Element type of a network. */
typedef int32_t dtd_dtype;
#define DTD_DTYPE_FLOAT32 1
#define DTD_DTYPE_FLOAT64 2

/** Layer kinds, as reported by dtd_network_layer_kind(). */
typedef int32_t dtd_layer_kind;
#define DTD_LAYER_DENSE      1
#define DTD_LAYER_CONV2D     2
#define DTD_LAYER_RELU       3
#define DTD_LAYER_MAXPOOL2D  4
#define DTD_LAYER_AVGPOOL2D  5
#define DTD_LAYER_FLATTEN    6
#define DTD_LAYER_BATCHNORM  7  /**< folded into the preceding dense/conv layer; the identity at run time */
#define DTD_LAYER_ROUTE      8  /**< the output of earlier layer(s); several are concatenated along channels */
#define DTD_LAYER_ADD        9  /**< the previous output plus the outputs of listed earlier layers */
#define DTD_LAYER_IDENTITY  10  /**< passes everything through (Dropout, Identity at inference) */
#define DTD_LAYER_ADAPTIVE_AVGPOOL2D 11  /**< PyTorch's AdaptiveAvgPool2d */

/** Largest rank of a layer's activation shape ((D) or (C, H, W)). */
#define DTD_MAX_RANK 3

/**
 * dtd_network_create() : a new, empty network for inputs of one shape.
 * @param dtype        in, ::DTD_DTYPE_FLOAT32 or ::DTD_DTYPE_FLOAT64.
 * @param input_shape  in, borrowed for the call: `input_rank` positive sizes, (D) or (C, H, W).
 * @param input_rank   in, 1 or 3.
 * @param out_network  out: receives the new handle; set to NULL on failure.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_INVALID_ARGUMENT (dtype, rank),
 *          ::DTD_ERROR_SIZE, ::DTD_ERROR_OVERFLOW, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_create(dtd_dtype dtype, const int64_t *input_shape, int64_t input_rank,
                                      dtd_network **out_network);

/**
 * dtd_network_destroy() : frees a network. NULL is a harmless no-op. Rule sets made for it stay
 * valid handles but return ::DTD_ERROR_NETWORK_MISMATCH when used with another network.
 * @param network  in, consumed: a live network handle. Anything else (a destroyed handle, a
 *                 ::dtd_rules handle, a pointer not from libdtd) is a no-op that frees nothing
 *                 and sets dtd_last_error_message() to the reason.
 * Threads: must not overlap any other use of `network`.  Since: ABI 1
 */
DTD_API void dtd_network_destroy(dtd_network *network);

/**
 * dtd_network_add_dense_f32() / _f64() : appends z = W a + b.
 * The current activation must be flat (D) with D == `in_features` (add flatten after conv/pool).
 * @param weight        in, copied: (out_features, in_features), `weight_count` elements.
 * @param bias          in, copied, may be NULL (no bias): `out_features` elements.
 * @param bias_count    in, 0 when `bias` is NULL.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE, ::DTD_ERROR_OVERFLOW,
 *          ::DTD_ERROR_SHAPE_MISMATCH (in_features vs the current shape, counts),
 *          ::DTD_ERROR_BUFFER_TOO_SMALL, ::DTD_ERROR_NON_FINITE, ::DTD_ERROR_DTYPE,
 *          ::DTD_ERROR_OUT_OF_MEMORY. On failure the network is unchanged.
 * Threads: building; see the conventions.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_dense_f32(dtd_network *network, const float *weight, int64_t weight_count,
                                             int64_t out_features, int64_t in_features,
                                             const float *bias, int64_t bias_count);
DTD_API dtd_status dtd_network_add_dense_f64(dtd_network *network, const double *weight, int64_t weight_count,
                                             int64_t out_features, int64_t in_features,
                                             const double *bias, int64_t bias_count);

/**
 * dtd_network_add_conv2d_f32() / _f64() : appends a 2-D convolution (cross-correlation, as
 * PyTorch's Conv2d with groups = 1) with zero padding.
 * The current activation must be (C, H, W) with C == `in_channels`. Output size per axis:
 * floor((H + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1, which must be >= 1.
 * @param weight   in, copied: (out_channels, in_channels, kernel_h, kernel_w), `weight_count` elements.
 * @param bias     in, copied, may be NULL: `out_channels` elements; `bias_count` 0 when NULL.
 * @param stride_h, stride_w      >= 1.   @param padding_h, padding_w  >= 0.
 * @param dilation_h, dilation_w  >= 1 (1 = ordinary convolution).
 * Returns: as dtd_network_add_dense_f32(); a kernel larger than the padded input is
 *          ::DTD_ERROR_SHAPE_MISMATCH. On failure the network is unchanged.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_conv2d_f32(dtd_network *network, const float *weight, int64_t weight_count,
                                              int64_t out_channels, int64_t in_channels,
                                              int64_t kernel_h, int64_t kernel_w,
                                              const float *bias, int64_t bias_count,
                                              int64_t stride_h, int64_t stride_w,
                                              int64_t padding_h, int64_t padding_w,
                                              int64_t dilation_h, int64_t dilation_w);
DTD_API dtd_status dtd_network_add_conv2d_f64(dtd_network *network, const double *weight, int64_t weight_count,
                                              int64_t out_channels, int64_t in_channels,
                                              int64_t kernel_h, int64_t kernel_w,
                                              const double *bias, int64_t bias_count,
                                              int64_t stride_h, int64_t stride_w,
                                              int64_t padding_h, int64_t padding_w,
                                              int64_t dilation_h, int64_t dilation_w);

/**
 * dtd_network_add_relu() : appends max(0, z). Any current shape.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_relu(dtd_network *network);

/**
 * dtd_network_add_flatten() : appends a reshape of (C, H, W) to (C*H*W); on a flat activation it
 * is the identity.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_flatten(dtd_network *network);

/**
 * dtd_network_add_maxpool2d() : appends PyTorch's MaxPool2d (dilation 1, floor mode).
 * Padding cells count as -infinity; ties go to the first maximum in row-major window order.
 * The current activation must be (C, H, W).
 * @param kernel_h, kernel_w    >= 1.
 * @param stride_h, stride_w    >= 1 (bindings default them to the kernel, as PyTorch does).
 * @param padding_h, padding_w  0 <= padding <= kernel / 2 (PyTorch's limit).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE, ::DTD_ERROR_INVALID_ARGUMENT,
 *          ::DTD_ERROR_SHAPE_MISMATCH (not (C, H, W), kernel larger than the padded input),
 *          ::DTD_ERROR_OVERFLOW, ::DTD_ERROR_OUT_OF_MEMORY. On failure the network is unchanged.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_maxpool2d(dtd_network *network, int64_t kernel_h, int64_t kernel_w,
                                             int64_t stride_h, int64_t stride_w,
                                             int64_t padding_h, int64_t padding_w);

/**
 * dtd_network_add_avgpool2d() : appends PyTorch's AvgPool2d (floor mode). Padded cells are
 * zeros; they count in the divisor when `count_include_pad` is nonzero (PyTorch's default).
 * Parameters and returns as dtd_network_add_maxpool2d().
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_avgpool2d(dtd_network *network, int64_t kernel_h, int64_t kernel_w,
                                             int64_t stride_h, int64_t stride_w,
                                             int64_t padding_h, int64_t padding_w,
                                             int32_t count_include_pad);

/**
 * dtd_network_add_batchnorm_f32() / _f64() : appends eval-mode batch normalisation
 * y = gamma * (z - mean) / sqrt(var + eps) + beta, folded at once into the weights and bias of
 * the immediately preceding dense or conv layer (canonization). The batch-norm keeps its place in
 * the layer list (so indices match a PyTorch Sequential) and is the identity at run time; rules
 * are set on the layer it was folded into.
 * @param gamma, beta, running_mean, running_var  in, copied: `count` elements each (one per
 *        feature of a dense layer, per channel of a conv layer).
 * @param eps  in, >= 0; every running_var + eps must be > 0.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE, ::DTD_ERROR_SHAPE_MISMATCH (count),
 *          ::DTD_ERROR_LAYER_ORDER (not right after dense/conv), ::DTD_ERROR_INVALID_ARGUMENT
 *          (var + eps <= 0, eps < 0), ::DTD_ERROR_NON_FINITE, ::DTD_ERROR_DTYPE,
 *          ::DTD_ERROR_OUT_OF_MEMORY. On failure the network is unchanged.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_batchnorm_f32(dtd_network *network, const float *gamma, const float *beta,
                                                 const float *running_mean, const float *running_var,
                                                 int64_t count, double eps);
DTD_API dtd_status dtd_network_add_batchnorm_f64(dtd_network *network, const double *gamma, const double *beta,
                                                 const double *running_mean, const double *running_var,
                                                 int64_t count, double eps);

/*
 * Graphs. A network stays one list of layers (so every layer keeps one index for rules, the
 * audit and the ledger); two layer kinds let a layer read earlier layers' outputs, the way
 * Darknet's route and shortcut layers write YOLO and ResNet as a list. References go only
 * backwards; -1 names the network input. Every other layer reads the previous layer's output.
 * A torchvision ResNet BasicBlock is conv, batchnorm, relu, conv, batchnorm, add(from: [block
 * input]), relu; with a downsample path: conv, batchnorm, relu, conv, batchnorm (= m),
 * route(from: [block input]), conv, batchnorm, add(from: [m]), relu.
 * Backward passes send each consumer's share back to its sources and sum what arrives at one
 * layer's output: the gradient passes through `add` to every operand and splits at `route` by
 * channel slice; LRP splits at `add` with the norm rule (operand k receives x_k (.) R / stab(sum),
 * stabiliser 1e-6, Zennit's rule for its Sum layer) or flat (R / stab(n), n the number of
 * operands, what the stabiliser keeps back booked as absorbed), see
 * dtd_rules_set_epsilon(), and at `route` by slice.
 * A source may not be a dense/conv layer that a batch-norm was folded into (its output before
 * normalisation no longer exists; name the batch-norm's index instead): ::DTD_ERROR_LAYER_ORDER.
 */

/**
 * dtd_network_add_route() : appends a layer whose output is the output of layer `from[0]`
 * (`count` 1: a side branch, e.g. ResNet's downsample path, or any earlier activation), or the
 * channel-wise concatenation (axis 1, in the order given) of the outputs of `from[0..count)`,
 * which must then all be (C_i, H, W) with the same H and W (DenseNet, U-Net).
 * @param from   in, borrowed for the call: `count` layer indices, each in [-1, layer count);
 *               -1 is the network input. Repeats are allowed.
 * @param count  in, >= 1.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE (count), ::DTD_ERROR_LAYER_INDEX
 *          (a reference forward, to itself or below -1), ::DTD_ERROR_SHAPE_MISMATCH (flat sources
 *          concatenated, different H or W, naming both sources and shapes), ::DTD_ERROR_LAYER_ORDER
 *          (a folded conv), ::DTD_ERROR_OVERFLOW, ::DTD_ERROR_OUT_OF_MEMORY. On failure the
 *          network is unchanged.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_route(dtd_network *network, const int64_t *from, int64_t count);

/**
 * dtd_network_add_add() : appends the residual sum: output = the previous layer's output (the
 * network input for a first layer) + the outputs of layers `from[0..count)`, all of one shape.
 * @param from   in, borrowed for the call: `count` layer indices in [-1, layer count).
 * @param count  in, >= 1.
 * Returns: as dtd_network_add_route(); ::DTD_ERROR_SHAPE_MISMATCH when an operand's shape
 *          differs from the previous output's, naming the operand and both shapes.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_add(dtd_network *network, const int64_t *from, int64_t count);

/**
 * dtd_network_add_identity() : appends a layer that passes its input, gradient and relevance
 * through unchanged (Dropout and Identity at inference), so indices can match a PyTorch
 * Sequential one to one. Any current shape.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_identity(dtd_network *network);

/**
 * dtd_network_add_adaptive_avgpool2d() : appends PyTorch's AdaptiveAvgPool2d((out_h, out_w)):
 * output cell (i, j) averages rows floor(i*H/out_h) .. ceil((i+1)*H/out_h) - 1 and the columns
 * likewise (neighbouring bins may overlap). (1, 1) is global average pooling. Relevance as
 * avg-pool (norm, or flat; see dtd_rules_set_epsilon()). The current activation must be (C, H, W).
 * @param out_h, out_w  in, >= 1 (larger than H or W is allowed, as in PyTorch: bins repeat cells).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE, ::DTD_ERROR_SHAPE_MISMATCH (not
 *          (C, H, W)), ::DTD_ERROR_OVERFLOW, ::DTD_ERROR_OUT_OF_MEMORY. On failure the network is
 *          unchanged.
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_adaptive_avgpool2d(dtd_network *network, int64_t out_h, int64_t out_w);

/**
 * dtd_network_add_conv2d_padded_f32() / _f64() : dtd_network_add_conv2d_f32() with a zero
 * padding of its own on each side (ONNX's pads [top, left, bottom, right], reordered).
 * Output height: floor((H + pad_top + pad_bottom - dilation_h*(kernel_h - 1) - 1) / stride_h) + 1.
 * @param pad_top, pad_bottom, pad_left, pad_right  in, >= 0.
 * Other parameters and returns as dtd_network_add_conv2d_f32().
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_conv2d_padded_f32(dtd_network *network, const float *weight, int64_t weight_count,
                                                     int64_t out_channels, int64_t in_channels,
                                                     int64_t kernel_h, int64_t kernel_w,
                                                     const float *bias, int64_t bias_count,
                                                     int64_t stride_h, int64_t stride_w,
                                                     int64_t pad_top, int64_t pad_bottom,
                                                     int64_t pad_left, int64_t pad_right,
                                                     int64_t dilation_h, int64_t dilation_w);
DTD_API dtd_status dtd_network_add_conv2d_padded_f64(dtd_network *network, const double *weight, int64_t weight_count,
                                                     int64_t out_channels, int64_t in_channels,
                                                     int64_t kernel_h, int64_t kernel_w,
                                                     const double *bias, int64_t bias_count,
                                                     int64_t stride_h, int64_t stride_w,
                                                     int64_t pad_top, int64_t pad_bottom,
                                                     int64_t pad_left, int64_t pad_right,
                                                     int64_t dilation_h, int64_t dilation_w);

/**
 * dtd_network_add_maxpool2d_padded() / dtd_network_add_avgpool2d_padded() : the pools with a
 * padding of their own on each side (ONNX's MaxPool / AveragePool pads, reordered). Each
 * padding is in [0, kernel) along its axis (ONNX's limit), so no window lies wholly in padding.
 * Other parameters and returns as dtd_network_add_maxpool2d() / dtd_network_add_avgpool2d().
 * Threads: building.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_add_maxpool2d_padded(dtd_network *network, int64_t kernel_h, int64_t kernel_w,
                                                    int64_t stride_h, int64_t stride_w,
                                                    int64_t pad_top, int64_t pad_bottom,
                                                    int64_t pad_left, int64_t pad_right);
DTD_API dtd_status dtd_network_add_avgpool2d_padded(dtd_network *network, int64_t kernel_h, int64_t kernel_w,
                                                    int64_t stride_h, int64_t stride_w,
                                                    int64_t pad_top, int64_t pad_bottom,
                                                    int64_t pad_left, int64_t pad_right,
                                                    int32_t count_include_pad);

/**
 * dtd_network_dtype() : the network's element type.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER.  Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_dtype(const dtd_network *network, dtd_dtype *out_dtype);

/**
 * dtd_network_layer_count() : the number of layers added so far (batch-norm included).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER.  Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_layer_count(const dtd_network *network, int64_t *out_count);

/**
 * dtd_network_input_size() : elements per input sample (the product of the input shape).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER.  Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_input_size(const dtd_network *network, int64_t *out_size);

/**
 * dtd_network_output_size() : elements per output sample (the last layer's output, or the input
 * size for an empty network).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER.  Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_output_size(const dtd_network *network, int64_t *out_size);

/**
 * dtd_network_layer_kind() : the ::dtd_layer_kind of layer `layer`.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_LAYER_INDEX.
 * Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_layer_kind(const dtd_network *network, int64_t layer, dtd_layer_kind *out_kind);

/**
 * dtd_network_layer_shape() : the activation shape at a layer boundary.
 * @param layer      in, -1 for the network input, else the index of the layer whose output is meant.
 * @param out_shape  out, caller-allocated, `capacity` >= ::DTD_MAX_RANK elements suffice.
 * @param out_rank   out: 1 or 3.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_LAYER_INDEX, ::DTD_ERROR_SIZE (negative
 *          capacity), ::DTD_ERROR_BUFFER_TOO_SMALL.
 * Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_layer_shape(const dtd_network *network, int64_t layer,
                                           int64_t *out_shape, int64_t capacity, int64_t *out_rank);

/**
 * dtd_network_layer_sources() : the layers whose outputs layer `layer` reads, in operand order:
 * `layer - 1` for ordinary layers (-1: the network input), the `from` list for route, and
 * `layer - 1` followed by the `from` list for add.
 * @param out_from   out, caller-allocated: `capacity` elements; the first `*out_count` are written.
 *                   May be NULL with `capacity` 0, to ask for the count.
 * @param out_count  out: the number of sources (written even when `capacity` is too small).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_LAYER_INDEX, ::DTD_ERROR_SIZE (negative
 *          capacity), ::DTD_ERROR_BUFFER_TOO_SMALL (capacity < count; `*out_count` says how many).
 * Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_layer_sources(const dtd_network *network, int64_t layer,
                                             int64_t *out_from, int64_t capacity, int64_t *out_count);

/**
 * dtd_network_forward_f32() / _f64() : outputs f(x) for a batch.
 * @param batch         in, >= 1.
 * @param input         in, borrowed: (batch, *input_shape), `input_count` >= batch * input size.
 * @param output        out, caller-allocated: (batch, output size), `output_count` >= batch * output size.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE, ::DTD_ERROR_OVERFLOW,
 *          ::DTD_ERROR_BUFFER_TOO_SMALL, ::DTD_ERROR_EMPTY_NETWORK, ::DTD_ERROR_DTYPE,
 *          ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_network_forward_f32(const dtd_network *network, int64_t batch,
                                           const float *input, int64_t input_count,
                                           float *output, int64_t output_count);
DTD_API dtd_status dtd_network_forward_f64(const dtd_network *network, int64_t batch,
                                           const double *input, int64_t input_count,
                                           double *output, int64_t output_count);

/* =============================================================================================
 * 4. Relevance: gradient, gradient x input, LRP
 *
 * Every method here is a backward pass seeded at the output with `output_relevance`
 * (batch, output size): the gradient computes J^T r, LRP propagates r with a rule per layer.
 * "Explain output k" is the seed r = f_k(x) e_k, which dtd_relevance_target_seed_f32() builds.
 * ============================================================================================= */

/** Rule set handle; see section 5. */
typedef struct dtd_rules dtd_rules;

/**
 * One layer's relevance balance for one sample, reported by dtd_relevance_lrp_f32().
 * relevance_out = relevance_in + absorbed_bias + absorbed_stabilizer + dropped, up to rounding.
 */
typedef struct dtd_ledger_entry {
    int64_t layer;               /**< layer index */
    double relevance_out;        /**< total relevance arriving at the layer's output */
    double relevance_in;         /**< total relevance passed to the layer's input */
    double absorbed_bias;        /**< part taken by the bias terms of the denominators */
    double absorbed_stabilizer;  /**< part taken by the stabiliser (epsilon, or avg-pool's 1e-6) */
    double dropped;              /**< relevance at zero denominators and at gamma's z = 0 gate */
} dtd_ledger_entry;

/**
 * dtd_relevance_target_seed_f32() / _f64() : builds the LRP seed r = f_k(x) e_k ("explain k").
 * @param targets        in: `batch` class indices, each in [0, output size).
 * @param output_seed    out, caller-allocated: (batch, output size).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_SIZE, ::DTD_ERROR_OVERFLOW,
 *          ::DTD_ERROR_BUFFER_TOO_SMALL, ::DTD_ERROR_OUT_OF_RANGE (target), ::DTD_ERROR_EMPTY_NETWORK,
 *          ::DTD_ERROR_DTYPE, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_relevance_target_seed_f32(const dtd_network *network, int64_t batch,
                                                 const float *input, int64_t input_count,
                                                 const int64_t *targets, int64_t target_count,
                                                 float *output_seed, int64_t output_seed_count);
DTD_API dtd_status dtd_relevance_target_seed_f64(const dtd_network *network, int64_t batch,
                                                 const double *input, int64_t input_count,
                                                 const int64_t *targets, int64_t target_count,
                                                 double *output_seed, int64_t output_seed_count);

/**
 * dtd_relevance_gradient_f32() / _f64() : J(x)^T r, the gradient of r . f(x) with respect to x.
 * ReLU'(0) = 0; max-pool routes to the first maximum of each window (PyTorch's conventions).
 * @param output_relevance  in: (batch, output size).
 * @param relevance         out, caller-allocated: (batch, *input_shape).
 * Returns: as dtd_network_forward_f32().
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_relevance_gradient_f32(const dtd_network *network, int64_t batch,
                                              const float *input, int64_t input_count,
                                              const float *output_relevance, int64_t output_relevance_count,
                                              float *relevance, int64_t relevance_count);
DTD_API dtd_status dtd_relevance_gradient_f64(const dtd_network *network, int64_t batch,
                                              const double *input, int64_t input_count,
                                              const double *output_relevance, int64_t output_relevance_count,
                                              double *relevance, int64_t relevance_count);

/**
 * dtd_relevance_gradient_x_input_f32() / _f64() : x (.) J(x)^T r. Arguments and returns as
 * dtd_relevance_gradient_f32().
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_relevance_gradient_x_input_f32(const dtd_network *network, int64_t batch,
                                                      const float *input, int64_t input_count,
                                                      const float *output_relevance, int64_t output_relevance_count,
                                                      float *relevance, int64_t relevance_count);
DTD_API dtd_status dtd_relevance_gradient_x_input_f64(const dtd_network *network, int64_t batch,
                                                      const double *input, int64_t input_count,
                                                      const double *output_relevance, int64_t output_relevance_count,
                                                      double *relevance, int64_t relevance_count);

/**
 * dtd_relevance_lrp_f32() / _f64() : Layer-wise Relevance Propagation of `output_relevance`
 * down to the input with the rule `rules` assigns to each dense/conv layer. ReLU, flatten,
 * identity and batch-norm pass relevance unchanged; max-pool routes it like the gradient; route
 * splits it back by channel slice; avg-pool, adaptive avg-pool and add use the norm rule
 * (stabiliser 1e-6) unless `rules` gives them epsilon or flat (dtd_rules_set_epsilon()). The
 * formulas are Zennit's (section 5).
 * @param rules             in: a rule set made for `network` with a rule on every dense/conv layer.
 * @param output_relevance  in: (batch, output size).
 * @param relevance         out, caller-allocated: (batch, *input_shape).
 * @param ledger            out, caller-allocated, may be NULL: batch * layer count entries,
 *                          entry [n * layer_count + l] for sample n and layer l.
 * @param ledger_count      in, 0 when `ledger` is NULL.
 * Returns: as dtd_network_forward_f32(), plus ::DTD_ERROR_RULE (a dense/conv layer has no rule,
 *          naming it) and ::DTD_ERROR_NETWORK_MISMATCH.
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_relevance_lrp_f32(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                         const float *input, int64_t input_count,
                                         const float *output_relevance, int64_t output_relevance_count,
                                         float *relevance, int64_t relevance_count,
                                         dtd_ledger_entry *ledger, int64_t ledger_count);
DTD_API dtd_status dtd_relevance_lrp_f64(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                         const double *input, int64_t input_count,
                                         const double *output_relevance, int64_t output_relevance_count,
                                         double *relevance, int64_t relevance_count,
                                         dtd_ledger_entry *ledger, int64_t ledger_count);

/**
 * A relevance mask for dtd_relevance_lrp_layers_f32(): of the relevance arriving at the output of
 * layer `layer`, keep only the entries whose flag in `keep` is nonzero and zero the rest, before
 * it propagates further down (e.g. "which input pixels made channel 17 of layer 5 matter?", the
 * building block of concept-level explanations). One mask applies to every sample of the batch.
 */
typedef struct dtd_relevance_mask {
    int64_t layer;         /**< in [0, layer count) */
    const uint8_t *keep;   /**< borrowed for the call: one flag per channel of a (C, H, W) output
                                (`keep_count` == C), or one per element of the layer's output
                                (`keep_count` == its size) */
    int64_t keep_count;    /**< see `keep` */
} dtd_relevance_mask;

/**
 * dtd_relevance_lrp_layers_f32() / _f64() : dtd_relevance_lrp_f32() that also returns the
 * relevance at the outputs of chosen layers and can mask the relevance at chosen layers.
 * The relevance "at the output of layer l" is the sum of what every consumer of that output
 * sends back (for a chain: the relevance at the input of layer l + 1), after l's mask if it has
 * one; it is what layer l then propagates. A mask that keeps everything changes nothing. The
 * ledger describes the masked pass: what a mask removes is in no entry (layer l's
 * `relevance_out` is what arrived after its mask).
 * @param record_layers   in, borrowed, may be NULL when `record_count` is 0: layer indices in
 *                        [0, layer count), repeats allowed.
 * @param recorded        out, caller-allocated, may be NULL when `record_count` is 0: for each
 *                        recorded layer in order, a (batch, that layer's output size) block;
 *                        `recorded_count` >= batch * the sum of those sizes.
 * @param masks           in, borrowed, may be NULL when `mask_count` is 0: at most one per layer.
 * Other parameters as dtd_relevance_lrp_f32().
 * Returns: as dtd_relevance_lrp_f32(), plus ::DTD_ERROR_LAYER_INDEX (a recorded or masked layer
 *          outside [0, layer count)), ::DTD_ERROR_SHAPE_MISMATCH (a `keep_count` that is neither
 *          the channel count nor the output size, naming the mask), ::DTD_ERROR_INVALID_ARGUMENT
 *          (two masks for one layer), ::DTD_ERROR_BUFFER_TOO_SMALL (`recorded_count`).
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_relevance_lrp_layers_f32(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                                const float *input, int64_t input_count,
                                                const float *output_relevance, int64_t output_relevance_count,
                                                float *relevance, int64_t relevance_count,
                                                dtd_ledger_entry *ledger, int64_t ledger_count,
                                                const int64_t *record_layers, int64_t record_count,
                                                float *recorded, int64_t recorded_count,
                                                const dtd_relevance_mask *masks, int64_t mask_count);
DTD_API dtd_status dtd_relevance_lrp_layers_f64(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                                const double *input, int64_t input_count,
                                                const double *output_relevance, int64_t output_relevance_count,
                                                double *relevance, int64_t relevance_count,
                                                dtd_ledger_entry *ledger, int64_t ledger_count,
                                                const int64_t *record_layers, int64_t record_count,
                                                double *recorded, int64_t recorded_count,
                                                const dtd_relevance_mask *masks, int64_t mask_count);

/* =============================================================================================
 * 5. Rules and composites
 *
 * A rule set assigns one rule to each dense/conv layer of one network and precomputes the
 * rule-modified weights (W+, W-, W + gamma W+, W^2, ...) once, so LRP calls do no per-call weight
 * work. Notation: z = W a + b; stab(d) = d + s * sign(d) with sign(0) = +1 and the rule's
 * stabiliser s; W+ = max(W, 0), W- = min(W, 0), likewise a+, a-, b+, b-. A stabilised
 * denominator that is exactly 0 gives a share of 0, never NaN.
 *
 *  rule       input relevance (per layer; R arrives at the output)
 *  epsilon    a (.) W^T (R / stab(z)); epsilon = 0 is LRP-0, epsilon is its own stabiliser
 *  zplus      s = R / stab(W+a+ + b+ + W-a-);  a+ (.) W+^T s + a- (.) W-^T s
 *  alphabeta  alpha (z+ part) - beta (same with W+ and W- swapped, b- for b+); alpha - beta = 1
 *  gamma      as z+ with W + gamma W+ / W + gamma W-, gated by the sign of the true z
 *  wsquare    (W^2)^T (R / stab(W^2 1 + b^2))
 *  flat       1^T (R / stab(1 1)): weights and inputs set to one, bias dropped
 *  zbox       s = R / stab(z - (W+ l + b+) - (W- h + b-));  a (.) W^T s - l (.) W+^T s - h (.) W-^T s
 *
 * Bias mode: ::DTD_BIAS_INCLUDE (Zennit's default) or ::DTD_BIAS_EXCLUDE (bias set to zero in the
 * rule; Zennit's zero_params=['bias']; the conservative DTD form). The gamma gate always uses the
 * layer's true z = W a + b. zbox is the same in both modes.
 * ============================================================================================= */

/** Rule kinds, as reported by dtd_rules_kind(). */
typedef int32_t dtd_rule_kind;
#define DTD_RULE_NONE       0  /**< no rule set (pooling and add layers then use norm with 1e-6) */
#define DTD_RULE_EPSILON    1
#define DTD_RULE_ZPLUS      2
#define DTD_RULE_ALPHABETA  3
#define DTD_RULE_GAMMA      4
#define DTD_RULE_WSQUARE    5
#define DTD_RULE_FLAT       6
#define DTD_RULE_ZBOX       7

/** Whether a rule's denominators include the layer bias. */
typedef int32_t dtd_bias_mode;
#define DTD_BIAS_INCLUDE 0
#define DTD_BIAS_EXCLUDE 1

/** Stabiliser of the z+, alpha-beta, gamma, w^2, flat and zbox rules unless one is given (Zennit's). */
#define DTD_DEFAULT_STABILIZER 1e-6

/** Named composites for dtd_rules_set_composite(). See that function for the layer mapping. */
typedef int32_t dtd_composite;
#define DTD_COMPOSITE_EPSILON_PLUS              1
#define DTD_COMPOSITE_EPSILON_PLUS_FLAT         2
#define DTD_COMPOSITE_EPSILON_GAMMA_BOX         3
#define DTD_COMPOSITE_EPSILON_ALPHA2_BETA1      4
#define DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT 5

/**
 * dtd_rules_create() : an empty rule set for `network` (no layer has a rule yet).
 * The set belongs to the network's current layer list: adding layers to the network afterwards
 * makes the set unusable (::DTD_ERROR_NETWORK_MISMATCH); create a new one.
 * @param out_rules  out: receives the new handle; NULL on failure.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_EMPTY_NETWORK, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe on a built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_rules_create(const dtd_network *network, dtd_rules **out_rules);

/**
 * dtd_rules_destroy() : frees a rule set. NULL is a harmless no-op.
 * @param rules  in, consumed: a live rule-set handle. Anything else (a destroyed handle, a
 *               ::dtd_network handle, a pointer not from libdtd) is a no-op that frees nothing
 *               and sets dtd_last_error_message() to the reason.
 * Threads: must not overlap any other use of `rules`.  Since: ABI 1
 */
DTD_API void dtd_rules_destroy(dtd_rules *rules);

/*
 * The dtd_rules_set_* functions assign a rule to layer `layer`, replacing any earlier one, and
 * precompute its modified weights. Common returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER,
 * ::DTD_ERROR_LAYER_INDEX, ::DTD_ERROR_RULE (the layer does not take that rule: only dense/conv
 * layers take every rule; see dtd_rules_set_epsilon() for pooling and add), ::DTD_ERROR_NON_FINITE,
 * ::DTD_ERROR_INVALID_ARGUMENT (a parameter out of its domain, an unknown bias mode),
 * ::DTD_ERROR_OUT_OF_MEMORY. On failure the layer keeps its previous rule.
 * Threads: building; must not overlap any use of `rules`.  Since: ABI 1
 */

/**
 * epsilon(epsilon): epsilon >= 0 and finite; 0 is LRP-0.
 * On avgpool2d, adaptive_avgpool2d and add layers, epsilon selects the norm rule with stabiliser
 * `epsilon` (a (.) P^T (R / stab(z)), the default with 1e-6 when the layer has no rule; `bias` is
 * ignored) and flat selects uniform redistribution (each output's relevance split equally over
 * the in-bounds cells of its window, or over add's operands). Other rules on those layers, and
 * any rule on other layers without weights, are ::DTD_ERROR_RULE.
 */
DTD_API dtd_status dtd_rules_set_epsilon(dtd_rules *rules, int64_t layer, double epsilon, dtd_bias_mode bias);
/** z+ ; stabilizer >= 0 and finite (use ::DTD_DEFAULT_STABILIZER). */
DTD_API dtd_status dtd_rules_set_zplus(dtd_rules *rules, int64_t layer, double stabilizer, dtd_bias_mode bias);
/** alpha-beta: alpha >= 0, beta >= 0, alpha - beta == 1 (exactly, as Zennit requires). */
DTD_API dtd_status dtd_rules_set_alphabeta(dtd_rules *rules, int64_t layer, double alpha, double beta,
                                           double stabilizer, dtd_bias_mode bias);
/** gamma(gamma): gamma >= 0 (0 is LRP-0 with the given stabiliser; large gamma tends to z+). */
DTD_API dtd_status dtd_rules_set_gamma(dtd_rules *rules, int64_t layer, double gamma, double stabilizer,
                                       dtd_bias_mode bias);
/** w^2 (input values ignored). */
DTD_API dtd_status dtd_rules_set_wsquare(dtd_rules *rules, int64_t layer, double stabilizer, dtd_bias_mode bias);
/** flat (weights and inputs ignored; the bias is always dropped). */
DTD_API dtd_status dtd_rules_set_flat(dtd_rules *rules, int64_t layer, double stabilizer);
/** z^B with scalar bounds: low <= high. */
DTD_API dtd_status dtd_rules_set_zbox(dtd_rules *rules, int64_t layer, double low, double high,
                                      double stabilizer, dtd_bias_mode bias);

/**
 * dtd_rules_set_zbox_bounds_f32() / _f64() : z^B with bounds per channel or per element.
 * @param low, high  in, copied: each 1 value, one per channel of the layer input (conv), or one
 *                   per element of the layer input (its full shape); low <= high elementwise.
 * Returns: the common returns, plus ::DTD_ERROR_SHAPE_MISMATCH (a count that is none of those)
 *          and ::DTD_ERROR_DTYPE.
 */
DTD_API dtd_status dtd_rules_set_zbox_bounds_f32(dtd_rules *rules, int64_t layer,
                                                 const float *low, int64_t low_count,
                                                 const float *high, int64_t high_count,
                                                 double stabilizer, dtd_bias_mode bias);
DTD_API dtd_status dtd_rules_set_zbox_bounds_f64(dtd_rules *rules, int64_t layer,
                                                 const double *low, int64_t low_count,
                                                 const double *high, int64_t high_count,
                                                 double stabilizer, dtd_bias_mode bias);

/**
 * dtd_rules_set_composite() : sets a rule on every dense/conv layer from a named preset,
 * replacing all earlier rules; override single layers afterwards with dtd_rules_set_*().
 * Mapping by layer index (query it with dtd_rules_kind()):
 *  - "feature" layers are the conv layers if the network has any (Zennit's mapping), otherwise
 *    every dense layer but the last (so a pure MLP gets the layered LRP its users expect);
 *    the remaining dense layers are "classifier" layers and get epsilon(`epsilon`).
 *  - EPSILON_PLUS: z+ on feature layers.  EPSILON_PLUS_FLAT: as EPSILON_PLUS, but flat on the
 *    first dense/conv layer.  EPSILON_GAMMA_BOX: zbox(`low`, `high`) on the first dense/conv
 *    layer, gamma(`gamma`) on the other feature layers.  EPSILON_ALPHA2_BETA1: alphabeta(2, 1) on
 *    feature layers.  EPSILON_ALPHA2_BETA1_FLAT: as the previous, flat on the first layer.
 *  - Lower rules use ::DTD_DEFAULT_STABILIZER; all use ::DTD_BIAS_INCLUDE.
 * @param epsilon  >= 0 (Zennit's default 1e-6).  @param gamma >= 0 (Zennit's default 0.25),
 *                 read by EPSILON_GAMMA_BOX only.  @param low, high  low <= high, read by
 *                 EPSILON_GAMMA_BOX only. Parameters a preset does not read are ignored.
 * Returns: the common returns (::DTD_ERROR_INVALID_ARGUMENT also for an unknown composite).
 *          On failure no layer's rule changes.
 */
DTD_API dtd_status dtd_rules_set_composite(dtd_rules *rules, dtd_composite composite, double epsilon,
                                           double gamma, double low, double high);

/**
 * dtd_rules_kind() : the ::dtd_rule_kind assigned to layer `layer` (::DTD_RULE_NONE when unset,
 * and for layers that take no rule).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_LAYER_INDEX.
 * Threads: safe on a fully set rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_rules_kind(const dtd_rules *rules, int64_t layer, dtd_rule_kind *out_kind);

/* =============================================================================================
 * 6. DTD root points and the root audit
 *
 * For a dense/conv layer l with input a, neuron j (weights w_j, z_j = w_j^T a + b_j), incoming
 * relevance R_j and the direction v_j of the layer's rule, the DTD root is
 *   root_j = a - t_j v_j,  t_j = z_j / (w_j^T v_j)  (hyperplane placement: w_j^T root + b_j = 0)
 *                     or   t_j = R_j / (w_j^T v_j)  (relevance placement, the study's code).
 * Directions: LRP-0 (epsilon with epsilon = 0) v = a; z+ v_i = a_i [a_i w_ij > 0]; gamma
 * v_i = a_i (1 + gamma [a_i w_ij > 0]) for z_j > 0 and a_i (1 + gamma [a_i w_ij < 0]) for
 * z_j < 0 (no root at z_j = 0); w^2 v = w_j; zbox v_i = a_i - l_i [w_ij > 0] - h_i [w_ij < 0];
 * alpha-beta gives two partial roots, along a_i [a_i w_ij > 0] carrying alpha R_j and along
 * a_i [a_i w_ij < 0] carrying -beta R_j. Epsilon with epsilon > 0 and flat are not root rules
 * (epsilon's reference point is not a zero; the flat point does not give flat's shares): asking
 * for their roots is ::DTD_ERROR_RULE.
 *
 * R_j comes from the study's top-down pass at the actual activations: the seed f_k(x) e_k is
 * propagated from the output to layer l with each upper layer's rule in root form (bias
 * excluded, no stabiliser), whatever bias mode or stabiliser the rule set holds.
 * A neuron with |w_j^T v_j| <= tol has no root (::DTD_ROOT_NO_ROOT; its relevance is dropped, also
 * in the top-down pass above the layer); a neuron with R_j = 0 has root_j = a (::DTD_ROOT_AT_INPUT).
 * NaN in the input propagates: such roots get NaN output changes and segments, and the summary's
 * NaN-sensitive aggregates (mean segment, conservation, unexplained fraction) become NaN.
 * Graphs: g must depend on the network only through layer l's input, so roots, audits and the
 * theory calls that take a layer refuse (::DTD_ERROR_LAYER_ORDER, naming the layer) a layer l
 * that a later route or add bypasses, i.e. reads an output below l (layer l's own input
 * included). Layers above l may be route/add/pooling layers of any kind.
 * ============================================================================================= */

/** Root placements. */
typedef int32_t dtd_placement;
#define DTD_PLACEMENT_HYPERPLANE 1
#define DTD_PLACEMENT_RELEVANCE  2

/** Bits of ::dtd_root_info.flags. */
#define DTD_ROOT_NO_ROOT    1  /**< |w_j^T v_j| <= tol (or gamma with z_j = 0): no root; point = a */
#define DTD_ROOT_AT_INPUT   2  /**< R_j = 0: the root is the input a itself */
#define DTD_ROOT_CLIPPED    4  /**< region-constrained query: the root was clipped to the region */

/** Bits of ::dtd_root_query.flags. */
#define DTD_QUERY_CONSTRAIN_TO_REGION 1 /**< region-constrained DTD: t_j clipped to admissible_t */

/** Which roots to compute: one layer, one explained output, a range of the layer's neurons. */
typedef struct dtd_root_query {
    int64_t layer;          /**< index of a dense or conv layer */
    int64_t target;         /**< explained output k, in [0, output size) */
    dtd_placement placement;/**< ::DTD_PLACEMENT_HYPERPLANE or ::DTD_PLACEMENT_RELEVANCE */
    int32_t flags;          /**< 0 or ::DTD_QUERY_CONSTRAIN_TO_REGION */
    double tol;             /**< > 0; |w_j^T v_j| <= tol means no root (default 1e-5) */
    int64_t neuron_begin;   /**< first neuron, a flat index into the layer's output */
    int64_t neuron_end;     /**< one past the last; 0 <= begin < end <= layer output size */
} dtd_root_query;

/** One root (or alpha-beta partial root) of one neuron for one sample. */
typedef struct dtd_root_info {
    int64_t neuron;     /**< j, flat index into the layer output */
    int32_t partial;    /**< 0; for alpha-beta 0 = the alpha root, 1 = the beta root */
    int32_t flags;      /**< ::DTD_ROOT_NO_ROOT, ::DTD_ROOT_AT_INPUT, ::DTD_ROOT_CLIPPED bits */
    double relevance;   /**< relevance the root carries: R_j, alpha R_j or -beta R_j; for a clipped root
                             of a region-constrained query, the part its shorter step explains */
    double z;           /**< z_j at the input a */
    double wv;          /**< w_j^T v_j; NaN where the rule defines no direction (gamma at z_j = 0) */
    double t;           /**< step along -v_j (after clipping, for constrained queries) */
} dtd_root_info;

/** The audit of one root: the study's checks and the exact region checks. */
typedef struct dtd_audit_record {
    dtd_root_info root;
    int32_t same_gradient;   /**< 1 when max_i |grad g(root) - grad g(a)|_i <= 1e-5 */
    int32_t same_pattern;    /**< 1 when every ReLU (and max-pool winner) of g matches at the root (hinge units match either state) */
    double output_change;    /**< g(root) - g(a) */
    double taylor_residual;  /**< g(a) - g(root) - grad g(root)^T (a - root) */
    double segment_inside;   /**< largest s in [0, 1] with the segment a -> a + s (root - a) inside a's region (closure) */
    double admissible_t;     /**< largest step along -v_j inside the region (infinity if unbounded; 0 with no direction) */
    double unexplained;      /**< relevance region-constrained DTD leaves unexplained: the unclipped root's
                                  relevance * (1 - min(|t|, |admissible_t|) / |t|) (0 without a root) */
} dtd_audit_record;

/** The study's table row for one audit call. */
typedef struct dtd_audit_summary {
    int64_t samples;               /**< batch */
    int64_t pairs;                 /**< (sample, root) pairs that have a root, alpha-beta partials counted apart */
    double outside_by_gradient;    /**< fraction of samples with >= 1 root failing same_gradient */
    double outside_by_pattern;     /**< fraction of samples with >= 1 root failing same_pattern */
    double unchanged_output;       /**< fraction of pairs with |output_change| < 1e-6 */
    double mean_segment_inside;    /**< mean segment_inside over pairs */
    double max_conservation_error; /**< max over samples of |sum_i R_i - f_k(x)|, R_i the root-form relevance at the layer input (full neuron range only; else NaN) */
    double unexplained_fraction;   /**< sum of |unexplained| / sum of the neurons' full |relevance| over pairs (region-constrained DTD) */
} dtd_audit_summary;

/**
 * dtd_roots_count() : roots per sample for a query: (neuron_end - neuron_begin), twice that for
 * an alpha-beta layer. Sizes the buffers of the calls below.
 * @param rules  in: supplies the rule of layer query->layer.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_LAYER_INDEX, ::DTD_ERROR_RULE,
 *          ::DTD_ERROR_OUT_OF_RANGE (neuron range, tol, target, placement, flags),
 *          ::DTD_ERROR_NETWORK_MISMATCH.
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_roots_count(const dtd_network *network, const dtd_rules *rules,
                                   const dtd_root_query *query, int64_t *out_roots_per_sample);

/**
 * dtd_roots_compute_f32() / _f64() : the root points of a layer for a batch.
 * @param rules   in: the rule of query->layer gives the direction; every dense/conv layer above
 *                it needs a root rule (its root form carries R down).
 * @param points  out, caller-allocated, may be NULL: (batch, roots per sample, layer input size).
 * @param info    out, caller-allocated: (batch, roots per sample) records.
 * Returns: as dtd_roots_count(), plus ::DTD_ERROR_SIZE, ::DTD_ERROR_OVERFLOW,
 *          ::DTD_ERROR_BUFFER_TOO_SMALL, ::DTD_ERROR_DTYPE, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_roots_compute_f32(const dtd_network *network, const dtd_rules *rules,
                                         const dtd_root_query *query, int64_t batch,
                                         const float *input, int64_t input_count,
                                         float *points, int64_t points_count,
                                         dtd_root_info *info, int64_t info_count);
DTD_API dtd_status dtd_roots_compute_f64(const dtd_network *network, const dtd_rules *rules,
                                         const dtd_root_query *query, int64_t batch,
                                         const double *input, int64_t input_count,
                                         double *points, int64_t points_count,
                                         dtd_root_info *info, int64_t info_count);

/**
 * dtd_audit_roots_f32() / _f64() : computes the roots of a layer (as dtd_roots_compute_f32())
 * and audits each against g, the network from the layer's input to output `query->target`.
 * All roots of all samples go through g as batched matrix products.
 * @param records  out, caller-allocated: (batch, roots per sample) records.
 * @param summary  out, may be NULL: the study's aggregates.
 * Returns: as dtd_roots_compute_f32().
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_audit_roots_f32(const dtd_network *network, const dtd_rules *rules,
                                       const dtd_root_query *query, int64_t batch,
                                       const float *input, int64_t input_count,
                                       dtd_audit_record *records, int64_t records_count,
                                       dtd_audit_summary *summary);
DTD_API dtd_status dtd_audit_roots_f64(const dtd_network *network, const dtd_rules *rules,
                                       const dtd_root_query *query, int64_t batch,
                                       const double *input, int64_t input_count,
                                       dtd_audit_record *records, int64_t records_count,
                                       dtd_audit_summary *summary);

/**
 * dtd_audit_points_f32() / _f64() : audits arbitrary points (e.g. constructed roots) of the
 * input of layer `layer` against g, the network from that layer's input to output `target`.
 * Per record: root.neuron = the point's index, root.t = root.wv = NaN, admissible_t = NaN,
 * unexplained = 0; the other fields as in dtd_audit_roots_f32(). The summary's
 * max_conservation_error is NaN.
 * @param points            in: (batch, points_per_sample, layer input size).
 * @param records           out: (batch, points_per_sample).
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_LAYER_INDEX, ::DTD_ERROR_OUT_OF_RANGE
 *          (target), ::DTD_ERROR_SIZE, ::DTD_ERROR_OVERFLOW, ::DTD_ERROR_BUFFER_TOO_SMALL,
 *          ::DTD_ERROR_EMPTY_NETWORK, ::DTD_ERROR_DTYPE, ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_audit_points_f32(const dtd_network *network, int64_t layer, int64_t target, int64_t batch,
                                        const float *input, int64_t input_count,
                                        int64_t points_per_sample, const float *points, int64_t points_count,
                                        dtd_audit_record *records, int64_t records_count,
                                        dtd_audit_summary *summary);
DTD_API dtd_status dtd_audit_points_f64(const dtd_network *network, int64_t layer, int64_t target, int64_t batch,
                                        const double *input, int64_t input_count,
                                        int64_t points_per_sample, const double *points, int64_t points_count,
                                        dtd_audit_record *records, int64_t records_count,
                                        dtd_audit_summary *summary);

/* =============================================================================================
 * 7. The study's theory as checks
 * ============================================================================================= */

/**
 * dtd_theory_gxi_distance_f32() / _f64() : T2. Per sample, ||LRP(x; r) - G||_2 / ||G||_2 (the
 * plain norm of the difference when ||G|| = 0), for the rule set `rules` and seed r, where
 * G = x (.) grad f(x)^T (r / f(x)) is gradient x input for the seed divided elementwise by the
 * output (0 where f_k(x) = 0). For the usual seed r = f_k(x) e_k, G = x (.) grad f_k(x). LRP-0
 * with the bias included gives 0 (up to rounding) on any ReLU network.
 * @param distances  out, caller-allocated: `batch` doubles.
 * Returns: as dtd_relevance_lrp_f32().
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_theory_gxi_distance_f32(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                               const float *input, int64_t input_count,
                                               const float *output_relevance, int64_t output_relevance_count,
                                               double *distances, int64_t distances_count);
DTD_API dtd_status dtd_theory_gxi_distance_f64(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                               const double *input, int64_t input_count,
                                               const double *output_relevance, int64_t output_relevance_count,
                                               double *distances, int64_t distances_count);

/**
 * dtd_theory_constant_root_f32() / _f64() : T2. The explanation a constant first-layer root x~
 * gives: grad f(x)^T r (.) (x - x~).
 * @param root   in: one point of the input shape (`root_count` = input size, shared by the
 *               batch) or one per sample (`root_count` = batch * input size).
 * @param relevance  out, caller-allocated: (batch, *input_shape).
 * Returns: as dtd_relevance_gradient_f32(); ::DTD_ERROR_SHAPE_MISMATCH for another `root_count`.
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_theory_constant_root_f32(const dtd_network *network, int64_t batch,
                                                const float *input, int64_t input_count,
                                                const float *root, int64_t root_count,
                                                const float *output_relevance, int64_t output_relevance_count,
                                                float *relevance, int64_t relevance_count);
DTD_API dtd_status dtd_theory_constant_root_f64(const dtd_network *network, int64_t batch,
                                                const double *input, int64_t input_count,
                                                const double *root, int64_t root_count,
                                                const double *output_relevance, int64_t output_relevance_count,
                                                double *relevance, int64_t relevance_count);

/**
 * dtd_theory_construct_roots_f32() / _f64() : T3. Roots of dense layer query->layer that
 * reproduce a given explanation e of that layer's input exactly (a conv layer is
 * ::DTD_ERROR_UNSUPPORTED: its neurons do not reach every input). With R_j from the top-down pass (as for
 * dtd_roots_compute_f32()) and R = sum_j R_j, the shares R_{i<-j} = e_i R_j / R and
 * c_j = R_j / z_j (1 when z_j = 0 or R_j = 0) give root_ij = a_i - R_{i<-j} / (c_j w_ij), so
 * that sum_j c_j w_ij (a_i - root_ij) = e_i; with c_j = R_j / z_j every root also lies on its
 * hyperplane. Components with w_ij = 0 keep root_ij = a_i (flag ::DTD_ROOT_NO_ROOT on the neuron
 * when that loses a nonzero share). Placement and flags of the query are ignored.
 * @param explanation  in: (batch, layer input size); each sample's sum must equal R to 1e-6
 *                     relative, else ::DTD_ERROR_INVALID_ARGUMENT (so is a nonzero explanation
 *                     for a sample whose R is 0).
 * @param points       out: (batch, neurons in the range, layer input size).
 * @param info         out, may be NULL: (batch, neurons in the range); t = 1/c_j, wv = NaN.
 * Returns: as dtd_roots_compute_f32().
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_theory_construct_roots_f32(const dtd_network *network, const dtd_rules *rules,
                                                  const dtd_root_query *query, int64_t batch,
                                                  const float *input, int64_t input_count,
                                                  const float *explanation, int64_t explanation_count,
                                                  float *points, int64_t points_count,
                                                  dtd_root_info *info, int64_t info_count);
DTD_API dtd_status dtd_theory_construct_roots_f64(const dtd_network *network, const dtd_rules *rules,
                                                  const dtd_root_query *query, int64_t batch,
                                                  const double *input, int64_t input_count,
                                                  const double *explanation, int64_t explanation_count,
                                                  double *points, int64_t points_count,
                                                  dtd_root_info *info, int64_t info_count);

/**
 * dtd_theory_rank1_csc_f32() / _f64() : rank-1 convergence (Sixt, Granz & Landgraf, ICML 2020).
 * Propagates `seeds_per_sample` output relevance vectors per sample with `rules` (LRP) and reports,
 * for every layer boundary, the mean pairwise cosine similarity of the relevance vectors,
 * averaged over the batch.
 * @param seeds  in: (batch, seeds_per_sample, output size); seeds_per_sample >= 2.
 * @param csc    out: layer count + 1 doubles; csc[l] at the input of layer l (csc[0] the network
 *               input), csc[layer count] the seeds themselves. Zero vectors count as similarity 0.
 * Returns: as dtd_relevance_lrp_f32().
 * Threads: safe on a shared, fully built network and rule set.  Since: ABI 1
 */
DTD_API dtd_status dtd_theory_rank1_csc_f32(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                            const float *input, int64_t input_count,
                                            int64_t seeds_per_sample, const float *seeds, int64_t seeds_count,
                                            double *csc, int64_t csc_count);
DTD_API dtd_status dtd_theory_rank1_csc_f64(const dtd_network *network, const dtd_rules *rules, int64_t batch,
                                            const double *input, int64_t input_count,
                                            int64_t seeds_per_sample, const double *seeds, int64_t seeds_count,
                                            double *csc, int64_t csc_count);

/* =============================================================================================
 * 8. Full-backward DTD (the study's second experiment)
 *
 * For a chain of dense layers each followed by a ReLU (dense [batch-norm] relu, repeated;
 * anything else is ::DTD_ERROR_UNSUPPORTED), an explained output k and inputs with f_k(x) > 0,
 * every unit of every dense layer is decomposed, top-down, at a root searched inside the input's
 * linear region (Sixt & Landgraf 2022, section 5). Everything is float64 inside;
 * float32 weights and inputs are converted.
 *
 * Dense layer l (L = the last) has input a. Its region P_l is the set of a' >= lo at which every
 * ReLU of layers l..L (of layer L: unit k only) has the state it has at a; lo = 0 for hidden
 * layers (the ReLU's range) and query->input_lower for the network input. With the roots of the
 * layers above held fixed, unit j's relevance is affine on P_l, R_j(a') = alpha_j . a' + beta_j
 * (at the top R_k = z_k, so R_k(x) = f_k(x)). Per unit, top-down:
 *  - R_j(a) <= 1e-9 f_k(x): skipped; its relevance is dropped (and reported);
 *  - exact method: m_j = min over P_l of R_j (an LP; -infinity if unbounded), u_j = m_j if
 *    m_j > 1e-9 f_k(x), else 0 (the relevance the region cannot explain); the root is the point of
 *    {a' in P_l : R_j(a') <= u_j + delta} nearest to a (a QP; delta = 0 if u_j = 0, else
 *    1e-9 max(1, u_j); if 0 < m_j <= 1e-9 f the bound is m_j); a unit with alpha_j = 0 keeps
 *    root = a and u_j = R_j(a);
 *  - the unit passes alpha_ji (a_i - root_ji) to input i, which sum to R_j(a) - R_j(root); the
 *    input relevance is R0 = gamma (.) x - kappa, with slope gamma = sum_j alpha_j over the first
 *    layer's units (the gradient of f_k when no active unit was skipped: T2).
 * Ledger: f_k(x) = sum R0 + sum over decomposed units of R_j(root) + sum over skipped units of
 * R_j(a); the exact method closes it up to rounding (|error| <= 1e-9 f_k(x)).
 *
 * Solver: the exact method solves its LPs and QPs with COIN-OR CLP (dual simplex, primal simplex
 * when the dual one gives no verified optimum; the QP's root is then refined to the exact
 * projection onto the face CLP ends on; tolerances 1e-10), loaded at run time: libdtd dlopen()s
 * libClp.so.1 (Debian/Ubuntu: coinor-libclp1, pulled in by coinor-libclp-dev), or the file named
 * by the environment variable DTD_CLP_LIBRARY (read once per process). libdtd has no link-time
 * dependency on it; without it the exact method's calls return ::DTD_ERROR_UNSUPPORTED with a
 * message saying what to install, and everything else, the sampled methods included, works.
 *
 * The sampled methods reproduce the study's own procedure, for comparison on the same inputs.
 * A root search of dense layer l at a point a draws `directions` random unit directions v; along
 * each it tries p_i = max(a + (1 - i/9) v, lo), i = 0..9, where p is valid iff
 * |grad g_l(p) - grad g_l(a)|_i <= 1e-5 + 1e-3 |grad g_l(p)|_i for every i (g_l: the network from
 * that input to output k; ReLU'(0) = 0); the farthest valid point is the direction's candidate
 * (::DTD_FULL_BACKWARD_BISECT then bisects 10 times between it and the next farther grid point,
 * the refinement the study's code intended; ::DTD_FULL_BACKWARD_SAMPLED keeps it, as the code
 * ran). Unit j's root is the candidate with the smallest R_j (the first on ties) and its slope
 * the gradient of R_j there. R at any point is evaluated recursively: forward to the next layer
 * and sum the messages of the upper units whose relevance there is > 0, with each layer's roots
 * cached per region (key: grad g rounded to 5 decimals; a point in a new region starts a new
 * search). Units with R_j(a) <= 0 are skipped; `unresolved` is R_j(root) and may be negative
 * (the root overshoots); ::DTD_UNIT_UNRESOLVED marks R_j(root) > 1e-9 f; lp_min is NaN. Cost:
 * a search evaluates `directions` candidates, each of which may meet new regions above, so a
 * sample runs up to directions^(L-1) searches in the worst case (the study's net: ~3).
 * The directions are reproducible in any language: search s (0, 1, ... in the order searches
 * start; search 0 of every layer is the one at the sample's own activation) of dense layer l
 * (0 = first) for sample n uses xoshiro256** seeded with the first four outputs of SplitMix64
 * started at h, where h = seed and then h = mix(h + 0x9E3779B97F4A7C15 + v) for v = n, l, s
 * (mix: SplitMix64's finaliser; all mod 2^64). A direction is `d` normals divided by their norm;
 * a normal is sqrt(-2 ln(1 - u1)) cos(2 pi u2) from two uniforms u = (next >> 11) 2^-53.
 * ============================================================================================= */

/** Methods of a full-backward query. */
typedef int32_t dtd_full_backward_method;
#define DTD_FULL_BACKWARD_EXACT   1 /**< LP minimum and QP root inside the region (needs CLP) */
#define DTD_FULL_BACKWARD_SAMPLED 2 /**< the study's procedure as its code ran: a 10-point grid per direction */
#define DTD_FULL_BACKWARD_BISECT  3 /**< as SAMPLED, plus 10 bisection steps per direction (the intended refinement) */

/** The study's random directions per root search (::dtd_full_backward_query.directions = 0). */
#define DTD_FULL_BACKWARD_DIRECTIONS 50

/** Bits of ::dtd_full_backward_unit.flags. */
#define DTD_UNIT_SKIPPED    1 /**< R_j(a) <= 1e-9 f_k(x) (sampled: <= 0): dropped, not decomposed */
#define DTD_UNIT_UNRESOLVED 2 /**< relevance is left at the root: u_j > 0 (sampled: R_j(root) > 1e-9 f_k(x)) */
#define DTD_UNIT_UNBOUNDED  4 /**< exact: R_j has no minimum on the region (lp_min = -infinity) */
#define DTD_UNIT_INACTIVE   8 /**< R_j is constant on the region (alpha_j = 0; sampled: zero slope at the root) */

/** What to decompose and how. */
typedef struct dtd_full_backward_query {
    int64_t target;                  /**< explained output k, in [0, output size) */
    dtd_full_backward_method method; /**< ::DTD_FULL_BACKWARD_EXACT, _SAMPLED or _BISECT */
    int32_t directions;              /**< sampled methods: directions per root search, 0 (= 50) or 1..2^20; read only by them */
    uint64_t seed;                   /**< sampled methods: seed of the directions; read only by them */
    double input_lower;              /**< lower bound of every network-input coordinate in P_1: 0 (the study's clamp), any
                                          other value <= every input, or -INFINITY; never NaN or +INFINITY */
} dtd_full_backward_query;

/** Output sizes per sample, from dtd_full_backward_count(). */
typedef struct dtd_full_backward_sizes {
    int64_t layers;        /**< dense layers decomposed, L */
    int64_t units;         /**< unit records: every unit of dense layers 1..L-1, then the target unit of layer L */
    int64_t root_elements; /**< root elements: for each unit record, its layer's input size */
    int64_t box_elements;  /**< box elements: for each dense layer, 4 x its input size */
} dtd_full_backward_sizes;

/** One unit's decomposition for one sample. */
typedef struct dtd_full_backward_unit {
    int64_t layer;        /**< index of the unit's dense layer in the network's layer list */
    int64_t unit;         /**< j, an output unit of that layer */
    int32_t dense_index;  /**< position of that layer among the dense layers, 0 = the first */
    int32_t flags;        /**< ::DTD_UNIT_SKIPPED, ::DTD_UNIT_UNRESOLVED, ::DTD_UNIT_UNBOUNDED, ::DTD_UNIT_INACTIVE bits */
    double relevance;     /**< R_j(a) */
    double lp_min;        /**< exact: m_j (-infinity when unbounded; R_j(a) when inactive); NaN when skipped or sampled */
    double unresolved;    /**< R_j(root): the relevance left at the root (exact: u_j, up to delta and the solver's
                               tolerance); 0 when skipped */
    double root_distance; /**< ||root - a||_2; NaN when skipped */
} dtd_full_backward_unit;

/** One sample's ledger and work. */
typedef struct dtd_full_backward_sample {
    double output;         /**< f_k(x) */
    double input_sum;      /**< sum of R0 */
    double unresolved_sum; /**< sum of `unresolved` over the decomposed (not skipped) units */
    double skipped_sum;    /**< sum of `relevance` over the skipped units */
    double ledger_error;   /**< output - (input_sum + unresolved_sum + skipped_sum) */
    int64_t solver_calls;  /**< LPs and QPs solved (exact method) */
    int64_t root_searches; /**< root searches run (sampled methods: one per region met) */
} dtd_full_backward_sample;

/** The size of one dense layer's region P_l for one sample. */
typedef struct dtd_full_backward_region {
    int64_t layer;             /**< index of the dense layer in the network's layer list */
    int64_t constraints;       /**< hinge rows bounding P_l (all-zero rows dropped) */
    int64_t unbounded;         /**< coordinates whose box is unbounded on either side */
    double hinge_distance;     /**< min over hinges u of |z_u(a)| / ||grad z_u||: distance from a to its nearest
                                    hinge (infinity without hinges) */
    double mean_width;         /**< mean over coordinates of high - low of the box (infinity if any is unbounded) */
    double mean_width_clipped; /**< the same for the box within |a' - a|_inf <= 1 */
} dtd_full_backward_region;

/**
 * dtd_full_backward_available() : whether the exact method's solver can be used: 1 when COIN-OR
 * CLP (libClp.so.1, or the file DTD_CLP_LIBRARY names) loads and has the functions libdtd calls,
 * else 0. The first call loads it (once per process).
 * Threads: safe.  Since: ABI 1
 */
DTD_API int32_t dtd_full_backward_available(void);

/**
 * dtd_full_backward_count() : output sizes per sample for a query; checks the network and the query.
 * @param network    in: a chain of dense layers each followed by a ReLU.
 * @param query      in, borrowed for the call.
 * @param out_sizes  out: the sizes.
 * Returns: ::DTD_OK, ::DTD_ERROR_NULL_POINTER, ::DTD_ERROR_EMPTY_NETWORK, ::DTD_ERROR_UNSUPPORTED (a
 *          layer that breaks the pattern, named), ::DTD_ERROR_OUT_OF_RANGE (target, directions),
 *          ::DTD_ERROR_INVALID_ARGUMENT (method, input_lower), ::DTD_ERROR_SIZE (a layer's region
 *          has more than 2^28 hinges x inputs: the units of the layers from it up, times its input
 *          size), ::DTD_ERROR_OVERFLOW.
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_full_backward_count(const dtd_network *network, const dtd_full_backward_query *query,
                                           dtd_full_backward_sizes *out_sizes);

/**
 * dtd_full_backward_compute_f32() / _f64() : full-backward DTD of a batch. Samples run in parallel
 * on libdtd's worker threads; each exact LP and QP builds and frees its own CLP model.
 * @param input            in: (batch, input size); every element finite and >= query->input_lower, and
 *                         f_k(x) > 0 for every sample (all checked before any work).
 * @param units            out, caller-allocated: (batch, sizes.units) records: dense layers in network
 *                         order, units ascending, the last layer's target last.
 * @param input_relevance  out, caller-allocated: (batch, input size), R0.
 * @param input_slope      out, caller-allocated, may be NULL: (batch, input size), gamma (R0 = gamma x - kappa).
 * @param roots            out, caller-allocated, may be NULL: (batch, sizes.root_elements), one root of its
 *                         layer's input size per unit record, in record order; NaN for skipped units.
 * @param samples          out, caller-allocated, may be NULL: `batch` ledger records.
 * Returns: as dtd_full_backward_count(), plus ::DTD_ERROR_SIZE, ::DTD_ERROR_BUFFER_TOO_SMALL,
 *          ::DTD_ERROR_DTYPE, ::DTD_ERROR_NON_FINITE (an input element), ::DTD_ERROR_INVALID_ARGUMENT
 *          (an input below input_lower, or f_k(x) <= 0: the sample is named), ::DTD_ERROR_UNSUPPORTED
 *          (exact method without CLP: "install coinor-libclp..."), ::DTD_ERROR_INTERNAL (CLP found no
 *          answer; the sample, layer and unit are named), ::DTD_ERROR_OUT_OF_MEMORY.
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_full_backward_compute_f32(const dtd_network *network, const dtd_full_backward_query *query,
                                                 int64_t batch, const float *input, int64_t input_count,
                                                 dtd_full_backward_unit *units, int64_t units_count,
                                                 float *input_relevance, int64_t input_relevance_count,
                                                 float *input_slope, int64_t input_slope_count,
                                                 float *roots, int64_t roots_count,
                                                 dtd_full_backward_sample *samples, int64_t samples_count);
DTD_API dtd_status dtd_full_backward_compute_f64(const dtd_network *network, const dtd_full_backward_query *query,
                                                 int64_t batch, const double *input, int64_t input_count,
                                                 dtd_full_backward_unit *units, int64_t units_count,
                                                 double *input_relevance, int64_t input_relevance_count,
                                                 double *input_slope, int64_t input_slope_count,
                                                 double *roots, int64_t roots_count,
                                                 dtd_full_backward_sample *samples, int64_t samples_count);

/**
 * dtd_full_backward_regions_f32() / _f64() : the size of every dense layer's region P_l for a
 * batch. Exact method: the hinge distance and, per coordinate, the box of P_l (its minimum then
 * maximum by LP; +-infinity when unbounded) and of P_l within |a' - a|_inf <= 1 (4 LPs per
 * coordinate). Sampled methods: the same hinge distance, and as both boxes the per-coordinate box
 * of the root candidates of the search at a (the study's "region size"; no solver).
 * @param input    in: as dtd_full_backward_compute_f32().
 * @param regions  out, caller-allocated: (batch, sizes.layers) records, dense layers in network order.
 * @param boxes    out, caller-allocated, may be NULL: (batch, sizes.box_elements); per sample and dense
 *                 layer (network order) four runs of its input size: low, high, clipped low, clipped high.
 * Returns: as dtd_full_backward_compute_f32().
 * Threads: safe on a shared, fully built network.  Since: ABI 1
 */
DTD_API dtd_status dtd_full_backward_regions_f32(const dtd_network *network, const dtd_full_backward_query *query,
                                                 int64_t batch, const float *input, int64_t input_count,
                                                 dtd_full_backward_region *regions, int64_t regions_count,
                                                 float *boxes, int64_t boxes_count);
DTD_API dtd_status dtd_full_backward_regions_f64(const dtd_network *network, const dtd_full_backward_query *query,
                                                 int64_t batch, const double *input, int64_t input_count,
                                                 dtd_full_backward_region *regions, int64_t regions_count,
                                                 double *boxes, int64_t boxes_count);

#ifdef __cplusplus
}
#endif

#endif /* DTD_H */
