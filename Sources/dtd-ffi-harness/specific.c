/**
 * specific.c : checks with one exact expected outcome each.
 *
 *  - version: dtd_abi_version() == 1, dtd_version_number() == 10000, "1.0.0", matching the macros;
 *  - dtd_status_string() for every code 0..17 (distinct, stable text) and for unknown codes;
 *  - the bad-input list: NULL handle or buffer, zero or negative sizes, size products that
 *    overflow int64, counts that do not fit the layer, output buffers too small, layer index out
 *    of range, epsilon negative or non-finite, a network without layers, the wrong dtype entry
 *    point, and the other documented codes (RULE, NETWORK_MISMATCH, LAYER_ORDER, OUT_OF_RANGE,
 *    NON_FINITE, INVALID_ARGUMENT), each asserting its specific status, and that the message
 *    names what was wrong;
 *  - a failed dtd_network_add_* leaves the network unchanged (layer count, output size, forward
 *    output bit for bit, and rule sets made before stay usable); a failed dtd_rules_set_* keeps
 *    the previous rule;
 *  - NaN in inputs and seeds propagates (status OK, NaN out) and never traps;
 *  - memory exhaustion (an address-space limit) is DTD_ERROR_OUT_OF_MEMORY, not a crash;
 *  - the scratch cap (dtd_set_max_scratch_bytes(), DTD_MAX_SCRATCH_MB) refuses a call before it
 *    allocates past the cap, and lets it through under a higher cap or none.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "robustness.h"

static void expect(const char *fn, const char *what, dtd_status got, dtd_status want) {
    if (got == NO_CALL) return; /* already reported */
    check(got == want, fn, what, "returned %s, expected %s; message: \"%s\"", status_name(got), status_name(want), last_message());
}

/** The message after the last call names `needle` (the header: it names the argument, layer, shapes). */
static void expect_mentions(const char *fn, const char *what, const char *needle) {
    check(strstr(last_message(), needle) != NULL, fn, what, "message \"%s\" does not mention \"%s\"", last_message(), needle);
}

/* ---- version and status strings ----------------------------------------------------------------- */

static void version_job(void *ctx) {
    (void)ctx;
    int32_t abi = ICALL0("dtd_abi_version");
    check(abi == 1 && abi == DTD_ABI_VERSION, "dtd_abi_version", "returns 1 (DTD_ABI_VERSION)", "returned %d", (int)abi);
    int32_t number = ICALL0("dtd_version_number");
    check(number == 10000 && number == DTD_VERSION_NUMBER, "dtd_version_number", "returns 10000 (DTD_VERSION_NUMBER)", "returned %d",
          (int)number);
    const char *text = SCALL0("dtd_version_string");
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", DTD_VERSION_MAJOR, DTD_VERSION_MINOR, DTD_VERSION_PATCH);
    check(text && strcmp(text, "1.0.0") == 0 && strcmp(text, expected) == 0, "dtd_version_string",
          "returns \"1.0.0\" (the DTD_VERSION_* macros)", "returned \"%s\"", text ? text : "(NULL)");
    const char *again = SCALL0("dtd_version_string");
    check(again == text, "dtd_version_string", "returns static text (the same pointer every call)", "%p then %p",
          (const void *)text, (const void *)again);

    const char *seen[DTD_ERROR_INTERNAL + 1];
    for (int code = 0; code <= DTD_ERROR_INTERNAL; code++) {
        const char *s = SCALL("dtd_status_string", AI32(code));
        char what[80];
        snprintf(what, sizeof what, "code %d has its own non-empty static text", code);
        int distinct = 1;
        for (int k = 0; s && k < code; k++)
            if (seen[k] && strcmp(seen[k], s) == 0) distinct = 0;
        const char *s2 = SCALL("dtd_status_string", AI32(code));
        check(s && s[0] && strcmp(s, "unknown status") != 0 && distinct && s2 == s, "dtd_status_string", what,
              "\"%s\"%s%s", s ? s : "(NULL)", distinct ? "" : " (same text as a lower code)", s2 == s ? "" : " (pointer changed)");
        seen[code] = s;
    }
    const int32_t unknown[] = {-1, 18, 100, INT32_MAX, INT32_MIN};
    for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
        const char *s = SCALL("dtd_status_string", AI32(unknown[k]));
        char what[80];
        snprintf(what, sizeof what, "unknown code %d gives \"unknown status\"", (int)unknown[k]);
        check(s && strcmp(s, "unknown status") == 0, "dtd_status_string", what, "\"%s\"", s ? s : "(NULL)");
    }
    const char *m = SCALL0("dtd_last_error_message");
    check(m != NULL, "dtd_last_error_message", "is never NULL, even before any fallible call", "NULL");
}

/* ---- the bad-input list ------------------------------------------------------------------------- */

static void bad_input_job(void *ctx) {
    (void)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    for (int d = 0; d < 2; d++) {
        const char *forward = typed("dtd_network_forward", d), *lrp = typed("dtd_relevance_lrp", d);
        const char *dense = typed("dtd_network_add_dense", d), *conv = typed("dtd_network_add_conv2d", d);
        void *net = fx->net[d], *x = fx->x[d], *y = fx->output[d], *rel = fx->relevance[d], *seed = fx->seed[d];
        const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
        char what[200];
#define WHAT(text) (snprintf(what, sizeof what, "%s (%s)", text, d ? "float64" : "float32"), what)

        /* NULL handle or buffer */
        expect(forward, WHAT("NULL network"), DCALL(forward, AP(NULL), AI64(1), AP(x), AI64(nx), AP(y), AI64(ny)),
               DTD_ERROR_NULL_POINTER);
        expect_mentions(forward, WHAT("the NULL-network message names the argument"), "network");
        expect(forward, WHAT("NULL input"), DCALL(forward, AP(net), AI64(1), AP(NULL), AI64(nx), AP(y), AI64(ny)),
               DTD_ERROR_NULL_POINTER);
        expect_mentions(forward, WHAT("the NULL-input message names the argument"), "input");
        expect(forward, WHAT("NULL output"), DCALL(forward, AP(net), AI64(1), AP(x), AI64(nx), AP(NULL), AI64(ny)),
               DTD_ERROR_NULL_POINTER);
        expect(lrp, WHAT("NULL rules"),
               DCALL(lrp, AP(net), AP(NULL), AI64(1), AP(x), AI64(nx), AP(seed), AI64(ny), AP(rel), AI64(nx), AP(NULL), AI64(0)),
               DTD_ERROR_NULL_POINTER);
        expect(lrp, WHAT("NULL ledger with a nonzero ledger_count"),
               DCALL(lrp, AP(net), AP(fx->rules[d]), AI64(1), AP(x), AI64(nx), AP(seed), AI64(ny), AP(rel), AI64(nx), AP(NULL), AI64(6)),
               DTD_ERROR_NULL_POINTER);

        /* zero and negative sizes */
        expect(forward, WHAT("batch 0"), DCALL(forward, AP(net), AI64(0), AP(x), AI64(nx), AP(y), AI64(ny)), DTD_ERROR_SIZE);
        expect(forward, WHAT("batch -1"), DCALL(forward, AP(net), AI64(-1), AP(x), AI64(nx), AP(y), AI64(ny)), DTD_ERROR_SIZE);
        expect_mentions(forward, WHAT("the negative-batch message names the argument"), "batch");
        expect(forward, WHAT("input_count -1"), DCALL(forward, AP(net), AI64(1), AP(x), AI64(-1), AP(y), AI64(ny)), DTD_ERROR_SIZE);
        expect(forward, WHAT("output_count -1"), DCALL(forward, AP(net), AI64(1), AP(x), AI64(nx), AP(y), AI64(-1)), DTD_ERROR_SIZE);
        int64_t zero_dim[3] = {2, 0, 4}, negative_dim[3] = {2, -4, 4};
        void *out = NULL;
        int32_t dt = d ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32;
        expect("dtd_network_create", WHAT("an input dimension 0"),
               DCALL("dtd_network_create", AI32(dt), AP(zero_dim), AI64(3), AP(&out)), DTD_ERROR_SIZE);
        check(out == NULL, "dtd_network_create", WHAT("out_network is NULL after a failure"), "%p", out);
        expect("dtd_network_create", WHAT("a negative input dimension"),
               DCALL("dtd_network_create", AI32(dt), AP(negative_dim), AI64(3), AP(&out)), DTD_ERROR_SIZE);
        expect(dense, WHAT("out_features 0"),
               DCALL(dense, AP(fx->flat_builder[d]), AP(fx->dense_w[d]), AI64(24), AI64(0), AI64(6), AP(NULL), AI64(0)), DTD_ERROR_SIZE);
        expect(dense, WHAT("out_features -4"),
               DCALL(dense, AP(fx->flat_builder[d]), AP(fx->dense_w[d]), AI64(24), AI64(-4), AI64(6), AP(NULL), AI64(0)), DTD_ERROR_SIZE);
        expect(conv, WHAT("stride -1"),
               DCALL(conv, AP(fx->image_builder[d]), AP(fx->conv_w[d]), AI64(54), AI64(3), AI64(2), AI64(3), AI64(3), AP(NULL), AI64(0),
                     AI64(-1), AI64(1), AI64(0), AI64(0), AI64(1), AI64(1)),
               DTD_ERROR_SIZE);

        /* size products that overflow int64 */
        int64_t huge[3] = {(int64_t)1 << 30, (int64_t)1 << 30, (int64_t)1 << 30};
        expect("dtd_network_create", WHAT("input shape (2^30, 2^30, 2^30): the product overflows int64"),
               DCALL("dtd_network_create", AI32(dt), AP(huge), AI64(3), AP(&out)), DTD_ERROR_OVERFLOW);
        int64_t deep[3] = {(int64_t)1 << 30, 1, 1};
        void *wide = NULL;
        DCALL("dtd_network_create", AI32(dt), AP(deep), AI64(3), AP(&wide));
        expect(conv, WHAT("conv patch (2^30 channels x 2^30 x 2^30 kernel) overflows int64"),
               DCALL(conv, AP(wide), AP(fx->conv_w[d]), AI64(1), AI64(1), AI64((int64_t)1 << 30), AI64((int64_t)1 << 30),
                     AI64((int64_t)1 << 30), AP(NULL), AI64(0), AI64(1), AI64(1), AI64((int64_t)1 << 30), AI64((int64_t)1 << 30),
                     AI64(1), AI64(1)),
               DTD_ERROR_OVERFLOW);

        /* counts that do not fit the layer */
        expect(dense, WHAT("weight_count 23 for a (4, 6) weight"),
               DCALL(dense, AP(fx->flat_builder[d]), AP(fx->dense_w[d]), AI64(23), AI64(4), AI64(6), AP(NULL), AI64(0)),
               DTD_ERROR_SHAPE_MISMATCH);
        expect_mentions(dense, WHAT("the weight-count message names the weight"), "weight");
        expect(dense, WHAT("bias_count 3 for 4 outputs"),
               DCALL(dense, AP(fx->flat_builder[d]), AP(fx->dense_w[d]), AI64(24), AI64(4), AI64(6), AP(fx->dense_b[d]), AI64(3)),
               DTD_ERROR_SHAPE_MISMATCH);
        expect(dense, WHAT("in_features 5 on a (6) activation"),
               DCALL(dense, AP(fx->flat_builder[d]), AP(fx->dense_w[d]), AI64(20), AI64(4), AI64(5), AP(NULL), AI64(0)),
               DTD_ERROR_SHAPE_MISMATCH);
        expect_mentions(dense, WHAT("the shape message names the current shape (6)"), "(6)");
        expect(conv, WHAT("conv weight_count 53 for (3, 2, 3, 3)"),
               DCALL(conv, AP(fx->image_builder[d]), AP(fx->conv_w[d]), AI64(53), AI64(3), AI64(2), AI64(3), AI64(3), AP(NULL), AI64(0),
                     AI64(1), AI64(1), AI64(0), AI64(0), AI64(1), AI64(1)),
               DTD_ERROR_SHAPE_MISMATCH);
        expect(conv, WHAT("conv kernel larger than the padded input"),
               DCALL(conv, AP(fx->image_builder[d]), AP(fx->conv_w[d]), AI64(2 * 2 * 6 * 1), AI64(2), AI64(2), AI64(6), AI64(1), AP(NULL),
                     AI64(0), AI64(1), AI64(1), AI64(0), AI64(0), AI64(1), AI64(1)),
               DTD_ERROR_SHAPE_MISMATCH);
        expect(dense, WHAT("dense on a (C, H, W) activation without flatten"),
               DCALL(dense, AP(fx->image_builder[d]), AP(fx->dense_w[d]), AI64(24), AI64(4), AI64(6), AP(NULL), AI64(0)),
               DTD_ERROR_SHAPE_MISMATCH);

        /* output buffers too small */
        expect(forward, WHAT("output one element too small"), DCALL(forward, AP(net), AI64(FX_BATCH), AP(x), AI64(nx), AP(y), AI64(ny - 1)),
               DTD_ERROR_BUFFER_TOO_SMALL);
        expect(forward, WHAT("input one element too small"), DCALL(forward, AP(net), AI64(FX_BATCH), AP(x), AI64(nx - 1), AP(y), AI64(ny)),
               DTD_ERROR_BUFFER_TOO_SMALL);
        expect(lrp, WHAT("relevance one element too small"),
               DCALL(lrp, AP(net), AP(fx->rules[d]), AI64(FX_BATCH), AP(x), AI64(nx), AP(seed), AI64(ny), AP(rel), AI64(nx - 1), AP(NULL),
                     AI64(0)),
               DTD_ERROR_BUFFER_TOO_SMALL);
        expect(lrp, WHAT("ledger one entry too small"),
               DCALL(lrp, AP(net), AP(fx->rules[d]), AI64(FX_BATCH), AP(x), AI64(nx), AP(seed), AI64(ny), AP(rel), AI64(nx), AP(fx->ledger),
                     AI64(FX_BATCH * FX_LAYERS - 1)),
               DTD_ERROR_BUFFER_TOO_SMALL);

        /* wrong dtype entry point */
        const char *other_forward = typed("dtd_network_forward", 1 - d);
        expect(other_forward, WHAT("the other dtype's forward on this network"),
               DCALL(other_forward, AP(net), AI64(1), AP(x), AI64(nx), AP(y), AI64(ny)), DTD_ERROR_DTYPE);
        const char *other_dense = typed("dtd_network_add_dense", 1 - d);
        expect(other_dense, WHAT("the other dtype's add_dense on this network"),
               DCALL(other_dense, AP(fx->flat_builder[d]), AP(fx->dense_w[d]), AI64(24), AI64(4), AI64(6), AP(NULL), AI64(0)),
               DTD_ERROR_DTYPE);
        const char *other_bounds = typed("dtd_rules_set_zbox_bounds", 1 - d);
        expect(other_bounds, WHAT("the other dtype's zbox bounds on this rule set"),
               DCALL(other_bounds, AP(fx->rules[d]), AI64(0), AP(fx->low[d]), AI64(1), AP(fx->high[d]), AI64(1), AF64(1e-6), AI32(0)),
               DTD_ERROR_DTYPE);

        /* a network with no layers */
        expect(forward, WHAT("forward on a network without layers"),
               DCALL(forward, AP(fx->empty[d]), AI64(1), AP(x), AI64(nx), AP(y), AI64(ny)), DTD_ERROR_EMPTY_NETWORK);
        expect("dtd_rules_create", WHAT("rules for a network without layers"),
               DCALL("dtd_rules_create", AP(fx->empty[d]), AP(&out)), DTD_ERROR_EMPTY_NETWORK);
        int64_t size = -1;
        expect("dtd_network_output_size", WHAT("an empty network's output size is its input size"),
               DCALL("dtd_network_output_size", AP(fx->empty[d]), AP(&size)), DTD_OK);
        check(size == FX_IN, "dtd_network_output_size", WHAT("an empty network's output size is its input size"), "%lld",
              (long long)size);
#undef WHAT
    }

    /* layer index out of range (float64 fixtures) */
    void *rules = fx->rules[1], *net = fx->net[1];
    int32_t kind = 0;
    expect("dtd_network_layer_kind", "layer = layer count", DCALL("dtd_network_layer_kind", AP(net), AI64(FX_LAYERS), AP(&kind)),
           DTD_ERROR_LAYER_INDEX);
    expect_mentions("dtd_network_layer_kind", "the layer-index message names the index", "6");
    expect("dtd_rules_set_epsilon", "layer 99", DCALL("dtd_rules_set_epsilon", AP(rules), AI64(99), AF64(0.0), AI32(0)),
           DTD_ERROR_LAYER_INDEX);
    expect("dtd_rules_kind", "layer -1", DCALL("dtd_rules_kind", AP(rules), AI64(-1), AP(&kind)), DTD_ERROR_LAYER_INDEX);
    int64_t shape[3], rank = 0;
    expect("dtd_network_layer_shape", "capacity 2 for a rank-3 shape",
           DCALL("dtd_network_layer_shape", AP(net), AI64(0), AP(shape), AI64(2), AP(&rank)), DTD_ERROR_BUFFER_TOO_SMALL);

    /* epsilon negative or non-finite, and other parameter domains */
    expect("dtd_rules_set_epsilon", "epsilon -0.1", DCALL("dtd_rules_set_epsilon", AP(rules), AI64(3), AF64(-0.1), AI32(0)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect_mentions("dtd_rules_set_epsilon", "the epsilon message names the parameter", "epsilon");
    expect("dtd_rules_set_epsilon", "epsilon NaN", DCALL("dtd_rules_set_epsilon", AP(rules), AI64(3), AF64(NAN), AI32(0)),
           DTD_ERROR_NON_FINITE);
    expect("dtd_rules_set_epsilon", "epsilon +infinity", DCALL("dtd_rules_set_epsilon", AP(rules), AI64(3), AF64(INFINITY), AI32(0)),
           DTD_ERROR_NON_FINITE);
    expect("dtd_rules_set_alphabeta", "alpha 2, beta 2 (alpha - beta != 1)",
           DCALL("dtd_rules_set_alphabeta", AP(rules), AI64(3), AF64(2), AF64(2), AF64(1e-6), AI32(0)), DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_rules_set_zbox", "low 1 > high -1", DCALL("dtd_rules_set_zbox", AP(rules), AI64(0), AF64(1), AF64(-1), AF64(1e-6), AI32(0)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_rules_set_epsilon", "bias mode 2", DCALL("dtd_rules_set_epsilon", AP(rules), AI64(3), AF64(0.0), AI32(2)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_rules_set_composite", "composite 6", DCALL("dtd_rules_set_composite", AP(rules), AI32(6), AF64(1e-6), AF64(0.25),
                                                             AF64(0), AF64(1)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_rules_set_epsilon", "a rule on a relu layer", DCALL("dtd_rules_set_epsilon", AP(rules), AI64(1), AF64(0.0), AI32(0)),
           DTD_ERROR_RULE);
    void *out = NULL;
    int64_t flat[1] = {6};
    expect("dtd_network_create", "dtype 3", DCALL("dtd_network_create", AI32(3), AP(flat), AI64(1), AP(&out)), DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_network_create", "rank 2", DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(flat), AI64(2), AP(&out)),
           DTD_ERROR_INVALID_ARGUMENT);

    /* the other documented codes */
    void *partial = NULL;
    DCALL("dtd_rules_create", AP(net), AP(&partial));
    DCALL("dtd_rules_set_epsilon", AP(partial), AI64(0), AF64(0.0), AI32(0));
    const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
    expect("dtd_relevance_lrp_f64", "a dense layer without a rule",
           DCALL("dtd_relevance_lrp_f64", AP(net), AP(partial), AI64(1), AP(fx->x[1]), AI64(nx), AP(fx->seed[1]), AI64(ny),
                 AP(fx->relevance[1]), AI64(nx), AP(NULL), AI64(0)),
           DTD_ERROR_RULE);
    expect_mentions("dtd_relevance_lrp_f64", "the missing-rule message names the layer", "layer 3");
    expect("dtd_relevance_lrp_f64", "rules made for another network",
           DCALL("dtd_relevance_lrp_f64", AP(net), AP(fx->twin_rules[1]), AI64(1), AP(fx->x[1]), AI64(nx), AP(fx->seed[1]), AI64(ny),
                 AP(fx->relevance[1]), AI64(nx), AP(NULL), AI64(0)),
           DTD_ERROR_NETWORK_MISMATCH);
    int64_t targets[2] = {0, FX_OUT};
    expect("dtd_relevance_target_seed_f64", "target = output size",
           DCALL("dtd_relevance_target_seed_f64", AP(net), AI64(2), AP(fx->x[1]), AI64(nx), AP(targets), AI64(2), AP(fx->seed[1]), AI64(ny)),
           DTD_ERROR_OUT_OF_RANGE);
    void *relu_first = NULL;
    DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(flat), AI64(1), AP(&relu_first));
    DCALL("dtd_network_add_relu", AP(relu_first));
    expect("dtd_network_add_batchnorm_f64", "batch-norm after relu",
           DCALL("dtd_network_add_batchnorm_f64", AP(relu_first), AP(fx->bn[1][0]), AP(fx->bn[1][1]), AP(fx->bn[1][2]), AP(fx->bn[1][3]),
                 AI64(6), AF64(1e-5)),
           DTD_ERROR_LAYER_ORDER);
    expect("dtd_network_add_maxpool2d", "max-pool padding above half the kernel",
           DCALL("dtd_network_add_maxpool2d", AP(fx->image_builder[1]), AI64(2), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_network_add_maxpool2d", "max-pool on a flat activation",
           DCALL("dtd_network_add_maxpool2d", AP(fx->flat_builder[1]), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0), AI64(0)),
           DTD_ERROR_SHAPE_MISMATCH);
    fixture_free(fx);
}

/* ---- a failed add leaves the network unchanged ----------------------------------------------- */

/** After an add that must fail with `want`: the status, and the network exactly as before. */
static void after_failed_add(Fixture *fx, int d, const char *fn, const char *attempt, dtd_status got, dtd_status want,
                             const double *before) {
    void *net = fx->net[d];
    const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
    const size_t bytes = sizeof(double) * FX_BATCH * FX_OUT; /* the output buffer's bytes (f32 uses half) */
    expect(fn, attempt, got, want);
    int64_t count = -1, out = -1;
    DCALL("dtd_network_layer_count", AP(net), AP(&count));
    DCALL("dtd_network_output_size", AP(net), AP(&out));
    DCALL(typed("dtd_network_forward", d), AP(net), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->output[d]), AI64(ny));
    int same = memcmp(before, fx->output[d], bytes) == 0;
    char what[240];
    snprintf(what, sizeof what, "a failed add (%s) leaves the network unchanged (%s)", attempt, d ? "float64" : "float32");
    check(count == FX_LAYERS && out == FX_OUT && same, fn, what, "layer count %lld, output size %lld, forward output %s",
          (long long)count, (long long)out, same ? "identical" : "changed");
    /* A rule set made before the failure must still belong to the (unchanged) network. */
    dtd_status s = DCALL(typed("dtd_relevance_lrp", d), AP(net), AP(fx->rules[d]), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx),
                         AP(fx->seed[d]), AI64(ny), AP(fx->relevance[d]), AI64(nx), AP(NULL), AI64(0));
    snprintf(what, sizeof what, "a rule set made before a failed add (%s) stays usable (%s)", attempt, d ? "float64" : "float32");
    check(s == DTD_OK, fn, what, "LRP returned %s: %s", status_name(s), last_message());
}

static void unchanged_job(void *ctx) {
    const int d = *(const int *)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    void *net = fx->net[d];
    const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
    const char *forward = typed("dtd_network_forward", d);
    double before[FX_BATCH * FX_OUT];
    DCALL(forward, AP(net), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->output[d]), AI64(ny));
    memcpy(before, fx->output[d], sizeof before);
    void *w = calloc(64, sizeof(double)), *nan_w = calloc(64, sizeof(double));
    for (int i = 0; i < 64; i++) elem_set(w, d, i, 0.1), elem_set(nan_w, d, i, i == 1 ? NAN : 0.1);
    void *bad_var = calloc(8, sizeof(double));
    for (int i = 0; i < 8; i++) elem_set(bad_var, d, i, -1.0);
    const char *dense = typed("dtd_network_add_dense", d), *conv = typed("dtd_network_add_conv2d", d);
    const char *bn = typed("dtd_network_add_batchnorm", d);
    /* Each attempt must fail with its code and leave everything as it was, checked right after. */
#define ATTEMPT(name, text, code, call) after_failed_add(fx, d, (name), (text), (call), (code), before)
    ATTEMPT(dense, "dense with in_features 4 on a (3) output", DTD_ERROR_SHAPE_MISMATCH,
            DCALL(dense, AP(net), AP(w), AI64(8), AI64(2), AI64(4), AP(NULL), AI64(0)));
    ATTEMPT(dense, "dense with a weight count one short", DTD_ERROR_SHAPE_MISMATCH,
            DCALL(dense, AP(net), AP(w), AI64(5), AI64(2), AI64(3), AP(NULL), AI64(0)));
    ATTEMPT(dense, "dense with a NaN weight", DTD_ERROR_NON_FINITE,
            DCALL(dense, AP(net), AP(nan_w), AI64(6), AI64(2), AI64(3), AP(NULL), AI64(0)));
    ATTEMPT(conv, "conv2d on a flat activation", DTD_ERROR_SHAPE_MISMATCH,
            DCALL(conv, AP(net), AP(w), AI64(9), AI64(1), AI64(1), AI64(3), AI64(3), AP(NULL), AI64(0), AI64(1), AI64(1), AI64(0), AI64(0),
                  AI64(1), AI64(1)));
    ATTEMPT("dtd_network_add_maxpool2d", "max-pool on a flat activation", DTD_ERROR_SHAPE_MISMATCH,
            DCALL("dtd_network_add_maxpool2d", AP(net), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0), AI64(0)));
    ATTEMPT(bn, "batch-norm with var + eps <= 0 (after the last dense layer)", DTD_ERROR_INVALID_ARGUMENT,
            DCALL(bn, AP(net), AP(w), AP(w), AP(w), AP(bad_var), AI64(3), AF64(0.5)));
    ATTEMPT(bn, "batch-norm with a NaN gamma", DTD_ERROR_NON_FINITE,
            DCALL(bn, AP(net), AP(nan_w), AP(w), AP(w), AP(w), AI64(3), AF64(1e-5)));
    ATTEMPT(bn, "batch-norm with count 2 for 3 outputs", DTD_ERROR_SHAPE_MISMATCH,
            DCALL(bn, AP(net), AP(w), AP(w), AP(w), AP(w), AI64(2), AF64(1e-5)));
    ATTEMPT(bn, "batch-norm with eps NaN", DTD_ERROR_NON_FINITE, DCALL(bn, AP(net), AP(w), AP(w), AP(w), AP(w), AI64(3), AF64(NAN)));
#undef ATTEMPT
    /* A failed rule assignment keeps the previous rule; a failed composite changes no rule. */
    int32_t kind = -1;
    dtd_status s = DCALL("dtd_rules_set_gamma", AP(fx->rules[d]), AI64(3), AF64(-1.0), AF64(1e-6), AI32(0));
    DCALL("dtd_rules_kind", AP(fx->rules[d]), AI64(3), AP(&kind));
    check(s == DTD_ERROR_INVALID_ARGUMENT && kind == DTD_RULE_EPSILON, "dtd_rules_set_gamma",
          "a failed dtd_rules_set_gamma keeps the layer's previous rule", "%s, kind %d", status_name(s), (int)kind);
    s = DCALL("dtd_rules_set_composite", AP(fx->rules[d]), AI32(DTD_COMPOSITE_EPSILON_PLUS), AF64(-1.0), AF64(0.25), AF64(0), AF64(1));
    int unchanged = 1;
    for (int l = 0; l < FX_LAYERS; l++) {
        DCALL("dtd_rules_kind", AP(fx->rules[d]), AI64(l), AP(&kind));
        unchanged &= kind == ((l == 0 || l == 3 || l == 5) ? DTD_RULE_EPSILON : DTD_RULE_NONE);
    }
    check(s == DTD_ERROR_INVALID_ARGUMENT && unchanged, "dtd_rules_set_composite",
          "a failed composite (epsilon -1) changes no layer's rule", "%s, rules %s", status_name(s), unchanged ? "unchanged" : "changed");
    /* Adding a layer after the rule set was made makes it unusable (NETWORK_MISMATCH). */
    DCALL("dtd_network_add_relu", AP(net));
    s = DCALL(typed("dtd_relevance_lrp", d), AP(net), AP(fx->rules[d]), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->seed[d]), AI64(ny),
              AP(fx->relevance[d]), AI64(nx), AP(NULL), AI64(0));
    expect(typed("dtd_relevance_lrp", d), "a rule set made before layers were added", s, DTD_ERROR_NETWORK_MISMATCH);
    free(w), free(nan_w), free(bad_var);
    fixture_free(fx);
}

/* ---- NaN propagates, never traps ---------------------------------------------------------------- */

static void nan_job(void *ctx) {
    const int d = *(const int *)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
    elem_set(fx->x[d], d, 0, NAN);
    elem_set(fx->x[d], d, 1, INFINITY);
    const char *forward = typed("dtd_network_forward", d), *lrp = typed("dtd_relevance_lrp", d);
    dtd_status s = DCALL(forward, AP(fx->net[d]), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->output[d]), AI64(ny));
    int nan_out = 0;
    for (int i = 0; i < FX_OUT; i++) nan_out |= isnan(elem_get(fx->output[d], d, i));
    check(s == DTD_OK && nan_out, forward, "NaN and infinity in the input propagate to the output (status OK)", "%s, NaN in output: %d",
          status_name(s), nan_out);
    elem_set(fx->seed[d], d, 0, NAN);
    s = DCALL(lrp, AP(fx->net[d]), AP(fx->rules[d]), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->seed[d]), AI64(ny),
              AP(fx->relevance[d]), AI64(nx), AP(fx->ledger), AI64(FX_BATCH * FX_LAYERS));
    check(s == DTD_OK, lrp, "NaN in the input and the seed propagates through LRP (status OK)", "%s: %s", status_name(s), last_message());
    const char *grad = typed("dtd_relevance_gradient", d);
    s = DCALL(grad, AP(fx->net[d]), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->seed[d]), AI64(ny), AP(fx->relevance[d]), AI64(nx));
    check(s == DTD_OK, grad, "NaN in the input and the seed propagates through the gradient (status OK)", "%s: %s", status_name(s),
          last_message());
    fixture_free(fx);
}

/* ---- out of memory ---------------------------------------------------------------------------------- */

/** Current address-space size of this process in bytes (from /proc/self/statm). */
static long long address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0;
    if (!f) return -1;
    if (fscanf(f, "%lld", &pages) != 1) pages = -1;
    fclose(f);
    return pages < 0 ? -1 : pages * 4096;
}

static void oom_job(void *ctx) {
    (void)ctx;
    /* (1, 512, 512) input, conv 1 -> 1 with a 31 x 31 kernel and padding 15: the forward pass
     * needs an im2col scratch of 961 x 262144 floats (1 GiB) while the input is 1 MiB. */
    int64_t shape[3] = {1, 512, 512};
    void *net = NULL;
    float *weight = calloc(961, sizeof(float)), *x = calloc(512 * 512, sizeof(float)), *y = calloc(512 * 512, sizeof(float));
    if (!weight || !x || !y) abort();
    for (int i = 0; i < 961; i++) weight[i] = 0.001f;
    set_setup_mode(1);
    DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT32), AP(shape), AI64(3), AP(&net));
    dtd_status s = DCALL("dtd_network_add_conv2d_f32", AP(net), AP(weight), AI64(961), AI64(1), AI64(1), AI64(31), AI64(31), AP(NULL), AI64(0),
                         AI64(1), AI64(1), AI64(15), AI64(15), AI64(1), AI64(1));
    set_setup_mode(0);
    long long used = address_space();
    if (s != DTD_OK || used <= 0) {
        check(0, "dtd_network_forward_f32", "memory exhaustion is DTD_ERROR_OUT_OF_MEMORY",
              "could not set the test up: add_conv2d %s, address space %lld", status_name(s), used);
        return;
    }
    struct rlimit limit = {(rlim_t)(used + 256ll * 1024 * 1024), (rlim_t)(used + 256ll * 1024 * 1024)};
    if (setrlimit(RLIMIT_AS, &limit) != 0) {
        check(0, "dtd_network_forward_f32", "memory exhaustion is DTD_ERROR_OUT_OF_MEMORY", "setrlimit(RLIMIT_AS) failed");
        return;
    }
    s = DCALL("dtd_network_forward_f32", AP(net), AI64(1), AP(x), AI64(512 * 512), AP(y), AI64(512 * 512));
    check(s == DTD_ERROR_OUT_OF_MEMORY, "dtd_network_forward_f32",
          "a 1 GiB scratch under a 256 MiB address-space margin is DTD_ERROR_OUT_OF_MEMORY, not a crash",
          "returned %s: %s", status_name(s), last_message());
}

/* ---- the scratch cap: a status before the allocation ------------------------------------------- */

/** (1, 512, 512) input, conv 1 -> 1 with a 31 x 31 kernel and padding 15 (float32): the forward
 *  pass needs an im2col scratch of 961 x 262144 floats (1 GiB). Returns the network or NULL. */
static void *gigabyte_network(float **x, float **y) {
    int64_t shape[3] = {1, 512, 512};
    void *net = NULL;
    float *weight = calloc(961, sizeof(float));
    *x = calloc(512 * 512, sizeof(float)), *y = calloc(512 * 512, sizeof(float));
    if (!weight || !*x || !*y) abort();
    for (int i = 0; i < 961; i++) weight[i] = 0.001f;
    set_setup_mode(1);
    DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT32), AP(shape), AI64(3), AP(&net));
    dtd_status s = DCALL("dtd_network_add_conv2d_f32", AP(net), AP(weight), AI64(961), AI64(1), AI64(1), AI64(31), AI64(31), AP(NULL),
                         AI64(0), AI64(1), AI64(1), AI64(15), AI64(15), AI64(1), AI64(1));
    set_setup_mode(0);
    free(weight);
    return s == DTD_OK ? net : NULL;
}

static void scratch_cap_job(void *ctx) {
    (void)ctx;
    const char *fn = "dtd_set_max_scratch_bytes";
    float *x = NULL, *y = NULL;
    void *net = gigabyte_network(&x, &y);
    if (!net) {
        check(0, fn, "the scratch cap", "could not build the test network: %s", last_message());
        return;
    }
    int64_t previous = -1;
    expect(fn, "no cap by default: the previous cap is 0", DCALL(fn, AI64((int64_t)128 << 20), AP(&previous)), DTD_OK);
    check(previous == 0, fn, "no cap by default (DTD_MAX_SCRATCH_MB unset)", "previous cap %lld", (long long)previous);
    /* The message names the cap: the call was refused by it, before malloc was asked for 1 GiB. */
    dtd_status s = DCALL("dtd_network_forward_f32", AP(net), AI64(1), AP(x), AI64(512 * 512), AP(y), AI64(512 * 512));
    check(s == DTD_ERROR_OUT_OF_MEMORY && strstr(last_message(), "scratch limit of 128 MiB") != NULL, "dtd_network_forward_f32",
          "a 1 GiB scratch under a 128 MiB cap is DTD_ERROR_OUT_OF_MEMORY naming the cap", "%s: %s", status_name(s), last_message());
    /* A cap above the need lets the same call through; 0 removes the cap. */
    expect(fn, "raise the cap to 4 GiB", DCALL(fn, AI64((int64_t)4 << 30), AP(&previous)), DTD_OK);
    check(previous == (int64_t)128 << 20, fn, "out_previous reports the cap it replaces", "%lld", (long long)previous);
    s = DCALL("dtd_network_forward_f32", AP(net), AI64(1), AP(x), AI64(512 * 512), AP(y), AI64(512 * 512));
    check(s == DTD_OK, "dtd_network_forward_f32", "the same call under a 4 GiB cap succeeds", "%s: %s", status_name(s), last_message());
    expect(fn, "remove the cap", DCALL(fn, AI64(0), AP(NULL)), DTD_OK);
    expect(fn, "a negative cap", DCALL(fn, AI64(-1), AP(&previous)), DTD_ERROR_SIZE);
    expect_mentions(fn, "the negative-cap message names the argument", "max_bytes");
    /* A small cap refuses an ordinary call, which then works again without it. */
    Fixture *fx = fixture_build(1);
    DCALL(fn, AI64(4096), AP(NULL));
    if (fx) {
        const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
        s = DCALL("dtd_relevance_lrp_f64", AP(fx->net[1]), AP(fx->rules[1]), AI64(FX_BATCH), AP(fx->x[1]), AI64(nx), AP(fx->seed[1]),
                  AI64(ny), AP(fx->relevance[1]), AI64(nx), AP(NULL), AI64(0));
        check(s == DTD_ERROR_OUT_OF_MEMORY, "dtd_relevance_lrp_f64", "LRP on the fixture under a 4 KiB cap is DTD_ERROR_OUT_OF_MEMORY",
              "%s: %s", status_name(s), last_message());
        DCALL(fn, AI64(0), AP(NULL));
        s = DCALL("dtd_relevance_lrp_f64", AP(fx->net[1]), AP(fx->rules[1]), AI64(FX_BATCH), AP(fx->x[1]), AI64(nx), AP(fx->seed[1]),
                  AI64(ny), AP(fx->relevance[1]), AI64(nx), AP(NULL), AI64(0));
        check(s == DTD_OK, "dtd_relevance_lrp_f64", "and succeeds once the cap is removed", "%s: %s", status_name(s), last_message());
        fixture_free(fx);
    }
    free(x), free(y);
}

static void scratch_environment_job(void *ctx) {
    (void)ctx;
    /* A fresh child: libdtd reads DTD_MAX_SCRATCH_MB on first use. */
    setenv("DTD_MAX_SCRATCH_MB", "64", 1);
    float *x = NULL, *y = NULL;
    void *net = gigabyte_network(&x, &y);
    dtd_status s = net ? DCALL("dtd_network_forward_f32", AP(net), AI64(1), AP(x), AI64(512 * 512), AP(y), AI64(512 * 512)) : NO_CALL;
    check(s == DTD_ERROR_OUT_OF_MEMORY && strstr(last_message(), "scratch limit of 64 MiB") != NULL, "dtd_network_forward_f32",
          "DTD_MAX_SCRATCH_MB=64 caps a 1 GiB call before it allocates", "%s: %s", status_name(s), last_message());
    int64_t previous = -1;
    DCALL("dtd_set_max_scratch_bytes", AI64(0), AP(&previous));
    check(previous == (int64_t)64 << 20, "dtd_set_max_scratch_bytes", "the environment's cap is the initial one", "%lld",
          (long long)previous);
    free(x), free(y);
}

void run_specific_checks(void) {
    isolated("specific", "version and status strings", version_job, NULL);
    isolated("specific", "the bad-input list", bad_input_job, NULL);
    for (int d = 0; d < 2; d++) {
        isolated("specific", d ? "failed adds leave the network unchanged (float64)" : "failed adds leave the network unchanged (float32)",
                 unchanged_job, &d);
        isolated("specific", d ? "NaN propagation (float64)" : "NaN propagation (float32)", nan_job, &d);
    }
    isolated("specific", "out of memory", oom_job, NULL);
    isolated("specific", "the scratch cap", scratch_cap_job, NULL);
    isolated("specific", "the scratch cap from DTD_MAX_SCRATCH_MB", scratch_environment_job, NULL);
    run_full_backward_specific();
}
