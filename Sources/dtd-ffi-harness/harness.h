/**
 * harness.h : shared declarations of dtd-ffi-harness, the table-driven libffi harness of libdtd.
 *
 * The harness never links libdtd. It dlopen()s the library, reads Tests/abi/signatures.txt,
 * dlsym()s every function of the table and calls it through ffi_call() with argument lists built
 * at run time, so it exercises exactly the ABI the table describes. Every check runs in a forked
 * child (isolate.c), so a crash or a hang inside libdtd becomes one reported failure naming the
 * call, not the end of the run.
 *
 * Files:
 *   table.c      parse the signature table, map C types to ffi types, dlsym, ffi_prep_cif
 *   call.c       build argument lists, ffi_call, the per-call error-message contract
 *   isolate.c    fork per check group, the child -> parent report protocol, tallies
 *   fixture.c    the networks, rule sets and buffers every robustness check starts from
 *   recipes.c    one valid call per function, with the role of each argument
 *   sweep.c      the robustness sweeps (NULL/0/-1/huge; per-argument perturbations)
 *   reference.c  naive forward, gradient and LRP (plain loops, straight from the formulas)
 *   values.c     libdtd against the reference; the hand fixture; the ledger (helpers: values.h)
 *   theory.c     constant roots, constructed roots, rank-1 CSC and audited points against the reference
 *   nonfinite.c  which outputs a NaN or infinity in an input or seed reaches, and which it does not
 *   winograd.c   wide CNNs with and without Winograd (DTD_WINOGRAD=0 in a second child)
 *   specific.c   version, status strings, the bad-input list with exact status codes
 *   handles.c    stale, mistyped and forged handles are rejected (registry generations)
 *   catalogue.c  bad API arguments: the specific status and the argument named in the message
 *   fullbackward.c  full-backward DTD (section 8): hand cases, bookkeeping, CLP absent, bad input
 *   zennit.c     every Zennit reference case of Tests/Fixtures/zennit{,_graph} (JSON via cJSON)
 *   main.c       command line, order of the phases, summary
 */
#ifndef DTD_HARNESS_H
#define DTD_HARNESS_H

#include <ffi.h>
#include <stddef.h>
#include <stdint.h>

#include "../../Include/dtd.h"

/* ---- table.c ------------------------------------------------------------------------------ */

#define HARNESS_MAX_PARAMS 20 /* the widest functions (padded conv, lrp_layers) take 17 */

/** How a C type travels through libffi. */
typedef enum { KIND_VOID, KIND_POINTER, KIND_I32, KIND_I64, KIND_F64 } Kind;

/** One line of the signature table, resolved against the loaded library. */
typedef struct {
    int line_number;
    char line[640];
    char name[96];
    char ret[64];
    Kind ret_kind;
    int nparams;
    char params[HARNESS_MAX_PARAMS][64];
    Kind kinds[HARNESS_MAX_PARAMS];
    ffi_type *ffi_ret;
    ffi_type *ffi_params[HARNESS_MAX_PARAMS];
    ffi_cif cif;
    void *address;      /**< dlsym() result; NULL when the library lacks the symbol */
    int callable;       /**< address found and cif prepared */
    char problem[256];  /**< why the function is not callable */
} Function;

typedef struct {
    Function *items;
    int count;
} Table;

extern Table g_table;

/** Parses `path` into g_table. Returns 0, or -1 with `error` filled. */
int table_load(const char *path, char *error, size_t error_size);
/** dlsym()s and prepares every function; records one failed check per unusable one. */
void table_resolve(void *library);
/** The table entry named `name`, or NULL. */
Function *table_find(const char *name);
/** "float32" / "float64" element type index of a `_f32` / `_f64` name: 0, 1, or -1 (neither). */
int name_dtype(const char *name);
const char *kind_name(Kind kind);

/* ---- call.c -------------------------------------------------------------------------------- */

typedef union {
    void *p;
    int32_t i32;
    int64_t i64;
    double f64;
} Value;

/** One argument: its ffi kind and value. */
typedef struct {
    Kind kind;
    Value v;
} Arg;

#define AP(x) ((Arg){.kind = KIND_POINTER, .v.p = (void *)(x)})
#define AI32(x) ((Arg){.kind = KIND_I32, .v.i32 = (int32_t)(x)})
#define AI64(x) ((Arg){.kind = KIND_I64, .v.i64 = (int64_t)(x)})
#define AF64(x) ((Arg){.kind = KIND_F64, .v.f64 = (double)(x)})

/** Status returned by dcall() when the call could not be made (missing symbol, argument kinds
 *  that disagree with the table); the reason has been reported as a failed check. */
#define NO_CALL INT32_MIN

/**
 * Calls table function `name` with `args`. The argument kinds must equal the table's.
 * Returns 0 and the return value in `out`, or -1 with `why` filled (nothing was called).
 */
int invoke(Function *f, const Arg *args, int nargs, Value *out, char *why, size_t why_size);

/** Calls a fallible function; checks the error-message contract and the status range. */
dtd_status dcall(const char *name, int nargs, const Arg *args);
/** Calls a function returning `const char *` (NULL if it could not be called). */
const char *scall(const char *name, int nargs, const Arg *args);
/** Calls a function returning int32_t (INT32_MIN if it could not be called). */
int32_t icall(const char *name, int nargs, const Arg *args);
/** Calls a void function; 0 if called. */
int vcall(const char *name, int nargs, const Arg *args);
/** At the end of a child: one passed check per function whose calls all kept the message contract. */
void call_epilogue(void);

#define ARGS_(...) (int)(sizeof((Arg[]){__VA_ARGS__}) / sizeof(Arg)), (Arg[]){__VA_ARGS__}
#define DCALL(name, ...) dcall((name), ARGS_(__VA_ARGS__))
#define SCALL(name, ...) scall((name), ARGS_(__VA_ARGS__))
#define DCALL0(name) dcall((name), 0, NULL)
#define SCALL0(name) scall((name), 0, NULL)
#define ICALL0(name) icall((name), 0, NULL)
#define VCALL(name, ...) vcall((name), ARGS_(__VA_ARGS__))

/** The message dtd_last_error_message() gave after the latest dcall() (a copy). */
const char *last_message(void);
/** "dtd_network_forward" + dtype 0/1 -> "dtd_network_forward_f32"/"_f64" (interned: never freed). */
const char *typed(const char *base, int dtype);
/** A short name of a status code, e.g. "DTD_ERROR_SIZE (3)" (static buffer ring). */
const char *status_name(dtd_status status);

/* ---- isolate.c ----------------------------------------------------------------------------- */

/** Records one check: passed when `ok`; `detail` (printf format) explains a failure. The check
 *  is counted for function `fn` (a table name, or a group such as "values"). */
void check(int ok, const char *fn, const char *what, const char *detail, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/** Announces an ffi_call of `fn` (crash attribution and the per-function call count). */
void note_call(const char *fn, const char *args_text);
/** While on, calls are set-up work (fixtures): they still name a crash, but are not counted as
 *  exercising their function, and their message-contract passes are not tallied. */
void set_setup_mode(int on);
int in_setup_mode(void);

/**
 * Runs `body(ctx)` in a forked child with a time limit. The child's checks reach the parent
 * through a pipe. A child that dies by a signal, times out or exits abnormally is one failed
 * check attributed to `fn`, naming the last call it announced. Returns 0 if the child exited
 * normally.
 */
int isolated(const char *fn, const char *what, void (*body)(void *), void *ctx);

/** Prints the per-function lines and returns the number of failed checks. */
int tally_summary(void);
/** Number of ffi calls the children announced for `fn`. */
long calls_of(const char *fn);

/* ---- fixture.c / recipes.c / sweep.c ------------------------------------------------------- */

#define FX_BATCH 2

/** Handles and buffers every robustness check starts from (built inside each child). */
typedef struct Fixture Fixture;
Fixture *fixture_build(int live);
void fixture_free(Fixture *fx);

void sweep_null_arguments(void);
void sweep_recipes(void);

/* ---- values.c / specific.c ----------------------------------------------------------------- */

void run_value_checks(void);
void run_theory_checks(void);
void run_nonfinite_checks(void);
void run_winograd_checks(void);
void run_specific_checks(void);
void run_handle_checks(void);
void run_catalogue_checks(void);
/* fullbackward.c: called from the values and specific phases */
void run_full_backward_values(void);
void run_full_backward_specific(void);
/* zennit.c: the zennit phase */
void run_zennit_checks(void);

/* ---- small helpers (call.c) ---------------------------------------------------------------- */

/** A deterministic generator (xorshift64*), so runs are reproducible. */
typedef struct {
    uint64_t state;
} Rng;
double rng_uniform(Rng *rng);  /**< in [0, 1) */
double rng_normal(Rng *rng);   /**< approximately standard normal (Irwin-Hall: 12 uniforms - 6) */

/* No libm: the SwiftPM target links only libffi and libdl (Package.swift), so the harness calls
 * no libm function; NAN, INFINITY and isnan() are compiler built-ins. */
static inline double abs_of(double v) { return v < 0 ? -v : v; }
static inline double max_of(double a, double b) { return a > b ? a : b; }
/** Square root by Newton's method (x >= 0), exact to rounding for the harness's scales. */
double sqrt_of(double x);
/** A deterministic value in [-1, 1) for index i and a salt: smooth-enough fixture data. */
double wave(int i, int salt);

/** Status bit masks for the expectations of a call. */
#define ST(s) (1u << (unsigned)(s))
#define ST_ANY_ERROR (((1u << 18) - 1u) & ~ST(DTD_OK) & ~ST(DTD_ERROR_INTERNAL) & ~ST(DTD_ERROR_UNSUPPORTED))
/** "DTD_ERROR_SIZE or DTD_ERROR_OVERFLOW" for a mask. */
const char *mask_text(unsigned mask);

#endif /* DTD_HARNESS_H */
