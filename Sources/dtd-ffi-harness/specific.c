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
 *  - graphs: route/add references forward, to the layer itself, below -1, empty lists, a folded
 *    conv as a source, add and concatenation shape errors, adaptive/padded pool arguments, layer
 *    kinds and sources, rules on pools and adds, roots refused at a bypassed layer; bad records
 *    and masks of dtd_relevance_lrp_layers_*.
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

/* ---- graph layers: the documented statuses (DESIGN.md 3b) ---------------------------------------- */

#define GRAPH_FN_ROUTE "dtd_network_add_route"
#define GRAPH_FN_ADD "dtd_network_add_add"

/** The network's layer count (-1 if it cannot be read). */
static int64_t layer_count_of(void *net) {
    int64_t count = -1;
    if (DCALL("dtd_network_layer_count", AP(net), AP(&count)) != DTD_OK) return -1;
    return count;
}

/** A route/add call that must fail with `want`, leave the layer count alone and name `needle`. */
static void bad_source_list(void *net, const char *fn, const char *what, const int64_t *from, int64_t count, dtd_status want,
                            const char *needle) {
    int64_t before = layer_count_of(net);
    expect(fn, what, DCALL(fn, AP(net), AP(from), AI64(count)), want);
    if (needle) expect_mentions(fn, what, needle);
    int64_t after = layer_count_of(net);
    char text[240];
    snprintf(text, sizeof text, "%s: the network is unchanged", what);
    check(after == before && before >= 0, fn, text, "layer count %lld before, %lld after", (long long)before, (long long)after);
}

static void graph_bad_input_job(void *ctx) {
    (void)ctx;
    const int64_t image[3] = {2, 4, 4}, flat[1] = {6};
    double w[96], ones[8], bn_var[8]; /* the largest weight below: 3 x 3 x 3 x 3 = 81 */
    for (int i = 0; i < 96; i++) w[i] = 0.05 * (double)((i * 7) % 11) - 0.2;
    for (int i = 0; i < 8; i++) ones[i] = 1.0, bn_var[i] = 0.5 + 0.1 * i;
    set_setup_mode(1);
    /* g: 0 conv 2->3 (pad 1) -> 1 relu -> 2 conv 3->3 (pad 1) -> 3 batch-norm (folded into 2) -> 4 relu
     *    -> 5 max-pool 2x2 (3, 2, 2) */
    void *g = NULL, *f = NULL;
    int bad = DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(image), AI64(3), AP(&g)) != DTD_OK;
    bad |= DCALL("dtd_network_add_conv2d_f64", AP(g), AP(w), AI64(54), AI64(3), AI64(2), AI64(3), AI64(3), AP(NULL), AI64(0), AI64(1),
                 AI64(1), AI64(1), AI64(1), AI64(1), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(g)) != DTD_OK;
    bad |= DCALL("dtd_network_add_conv2d_f64", AP(g), AP(w), AI64(81), AI64(3), AI64(3), AI64(3), AI64(3), AP(ones), AI64(3), AI64(1),
                 AI64(1), AI64(1), AI64(1), AI64(1), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_batchnorm_f64", AP(g), AP(ones), AP(w), AP(w), AP(bn_var), AI64(3), AF64(1e-5)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(g)) != DTD_OK;
    bad |= DCALL("dtd_network_add_maxpool2d", AP(g), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0), AI64(0)) != DTD_OK;
    /* f: (6) -> 0 dense 6->4 -> 1 relu */
    bad |= DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(flat), AI64(1), AP(&f)) != DTD_OK;
    bad |= DCALL("dtd_network_add_dense_f64", AP(f), AP(w), AI64(24), AI64(4), AI64(6), AP(NULL), AI64(0)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(f)) != DTD_OK;
    set_setup_mode(0);
    if (bad) {
        check(0, "specific", "graph bad-input networks build", "a building call failed: %s", last_message());
        return;
    }

    /* references: forward, to itself, below -1; empty lists */
    const int64_t self6[1] = {6}, forward7[1] = {7}, minus2[1] = {-2}, lowest[1] = {INT64_MIN}, mixed[2] = {0, 6};
    const char *fns[2] = {GRAPH_FN_ROUTE, GRAPH_FN_ADD};
    for (int k = 0; k < 2; k++) {
        const char *fn = fns[k];
        char what[200];
#define WHAT(text) (snprintf(what, sizeof what, "%s (%s)", text, k ? "add" : "route"), what)
        bad_source_list(g, fn, WHAT("from = [6]: the layer itself"), self6, 1, DTD_ERROR_LAYER_INDEX, "6");
        bad_source_list(g, fn, WHAT("from = [7]: a reference forward"), forward7, 1, DTD_ERROR_LAYER_INDEX, "7");
        bad_source_list(g, fn, WHAT("from = [0, 6]: the second entry refers to the layer itself"), mixed, 2, DTD_ERROR_LAYER_INDEX,
                        NULL);
        bad_source_list(g, fn, WHAT("from = [-2]: below -1"), minus2, 1, DTD_ERROR_LAYER_INDEX, "-2");
        bad_source_list(g, fn, WHAT("from = [INT64_MIN]"), lowest, 1, DTD_ERROR_LAYER_INDEX, NULL);
        bad_source_list(g, fn, WHAT("count 0"), minus2, 0, DTD_ERROR_SIZE, "count");
        bad_source_list(g, fn, WHAT("count -1"), minus2, -1, DTD_ERROR_SIZE, "count");
        bad_source_list(g, fn, WHAT("from NULL"), NULL, 1, DTD_ERROR_NULL_POINTER, "from");
#undef WHAT
    }
    /* a source that is the conv a batch-norm was folded into: its unnormalised output is gone */
    const int64_t folded[1] = {2}, folded_first[1] = {0};
    bad_source_list(g, GRAPH_FN_ROUTE, "route from = [2], the conv a batch-norm was folded into", folded, 1, DTD_ERROR_LAYER_ORDER, "2");
    void *h = NULL; /* (2, 4, 4) -> 0 conv 2->3 (pad 1) -> 1 batch-norm -> 2 relu: add [0] has the right shape */
    set_setup_mode(1);
    bad = DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(image), AI64(3), AP(&h)) != DTD_OK;
    bad |= DCALL("dtd_network_add_conv2d_f64", AP(h), AP(w), AI64(54), AI64(3), AI64(2), AI64(3), AI64(3), AP(NULL), AI64(0), AI64(1),
                 AI64(1), AI64(1), AI64(1), AI64(1), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_batchnorm_f64", AP(h), AP(ones), AP(w), AP(w), AP(bn_var), AI64(3), AF64(1e-5)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(h)) != DTD_OK;
    set_setup_mode(0);
    check(!bad, "specific", "the folded-conv network builds", "%s", last_message());
    bad_source_list(h, GRAPH_FN_ADD, "add from = [0], the conv a batch-norm was folded into (same shape)", folded_first, 1,
                    DTD_ERROR_LAYER_ORDER, "0");
    const int64_t bn_index[1] = {1};
    expect(GRAPH_FN_ADD, "add from = [1], the batch-norm's index (the normalised output)",
           DCALL(GRAPH_FN_ADD, AP(h), AP(bn_index), AI64(1)), DTD_OK);
    VCALL("dtd_network_destroy", AP(h));
    /* add: every operand must have the previous output's shape (3, 2, 2) */
    const int64_t input_only[1] = {-1}, full_size[1] = {4};
    bad_source_list(g, GRAPH_FN_ADD, "add from = [-1]: (2, 4, 4) onto (3, 2, 2)", input_only, 1, DTD_ERROR_SHAPE_MISMATCH, "(3, 2, 2)");
    bad_source_list(g, GRAPH_FN_ADD, "add from = [4]: (3, 4, 4) onto (3, 2, 2)", full_size, 1, DTD_ERROR_SHAPE_MISMATCH, "(3, 4, 4)");
    /* route: concatenation needs one H and W */
    const int64_t hw[2] = {5, 4}, hw_input[2] = {-1, 5};
    bad_source_list(g, GRAPH_FN_ROUTE, "route from = [5, 4]: (3, 2, 2) with (3, 4, 4)", hw, 2, DTD_ERROR_SHAPE_MISMATCH, "(3, 4, 4)");
    bad_source_list(g, GRAPH_FN_ROUTE, "route from = [-1, 5]: (2, 4, 4) with (3, 2, 2)", hw_input, 2, DTD_ERROR_SHAPE_MISMATCH, NULL);
    /* route: flat sources cannot be concatenated (one flat source is a side branch) */
    const int64_t flat_pair[2] = {0, 1}, flat_input[2] = {-1, 1};
    bad_source_list(f, GRAPH_FN_ROUTE, "route from = [0, 1]: two flat (4) sources", flat_pair, 2, DTD_ERROR_SHAPE_MISMATCH, NULL);
    bad_source_list(f, GRAPH_FN_ROUTE, "route from = [-1, 1]: flat (6) and (4)", flat_input, 2, DTD_ERROR_SHAPE_MISMATCH, NULL);
    /* adaptive average pool: (C, H, W) only, sizes >= 1 */
    int64_t before = layer_count_of(f);
    expect("dtd_network_add_adaptive_avgpool2d", "adaptive avg-pool on a flat (4) activation",
           DCALL("dtd_network_add_adaptive_avgpool2d", AP(f), AI64(1), AI64(1)), DTD_ERROR_SHAPE_MISMATCH);
    expect("dtd_network_add_adaptive_avgpool2d", "adaptive avg-pool out_h 0",
           DCALL("dtd_network_add_adaptive_avgpool2d", AP(g), AI64(0), AI64(1)), DTD_ERROR_SIZE);
    expect_mentions("dtd_network_add_adaptive_avgpool2d", "the out_h message names the argument", "out_h");
    /* padded pools: each padding in [0, kernel) */
    expect("dtd_network_add_maxpool2d_padded", "max-pool 2x2 with pad_top 2 (= kernel_h)",
           DCALL("dtd_network_add_maxpool2d_padded", AP(g), AI64(2), AI64(2), AI64(1), AI64(1), AI64(2), AI64(0), AI64(0), AI64(0)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_network_add_maxpool2d_padded", "max-pool 2x2 with pad_right 3 (> kernel_w)",
           DCALL("dtd_network_add_maxpool2d_padded", AP(g), AI64(2), AI64(2), AI64(1), AI64(1), AI64(0), AI64(0), AI64(0), AI64(3)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_network_add_avgpool2d_padded", "avg-pool 3x2 with pad_bottom 3 (= kernel_h)",
           DCALL("dtd_network_add_avgpool2d_padded", AP(g), AI64(3), AI64(2), AI64(1), AI64(1), AI64(0), AI64(3), AI64(1), AI64(1), AI32(1)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_network_add_avgpool2d_padded", "avg-pool 2x2 with pad_left 2 (= kernel_w)",
           DCALL("dtd_network_add_avgpool2d_padded", AP(g), AI64(2), AI64(2), AI64(1), AI64(1), AI64(1), AI64(1), AI64(2), AI64(0), AI32(0)),
           DTD_ERROR_INVALID_ARGUMENT);
    expect("dtd_network_add_maxpool2d_padded", "max-pool on a flat activation",
           DCALL("dtd_network_add_maxpool2d_padded", AP(f), AI64(2), AI64(2), AI64(1), AI64(1), AI64(0), AI64(0), AI64(0), AI64(0)),
           DTD_ERROR_SHAPE_MISMATCH);
    expect("dtd_network_add_conv2d_padded_f64", "padded conv with pad_top -1",
           DCALL("dtd_network_add_conv2d_padded_f64", AP(g), AP(w), AI64(27), AI64(1), AI64(3), AI64(3), AI64(3), AP(NULL), AI64(0),
                 AI64(1), AI64(1), AI64(-1), AI64(0), AI64(0), AI64(0), AI64(1), AI64(1)),
           DTD_ERROR_SIZE);
    expect_mentions("dtd_network_add_conv2d_padded_f64", "the padding message names the argument", "pad_top");
    expect("dtd_network_add_conv2d_padded_f64", "padded conv whose kernel exceeds the padded input (2 + 0 + 1 < 4)",
           DCALL("dtd_network_add_conv2d_padded_f64", AP(g), AP(w), AI64(36), AI64(1), AI64(3), AI64(4), AI64(3), AP(NULL), AI64(0),
                 AI64(1), AI64(1), AI64(0), AI64(1), AI64(1), AI64(1), AI64(1), AI64(1)),
           DTD_ERROR_SHAPE_MISMATCH);
    int64_t after = layer_count_of(f) + layer_count_of(g);
    check(after == before + 6, "specific", "failed adaptive/padded adds leave the networks unchanged", "layer counts now %lld + 6 (was %lld)",
          (long long)(after - 6), (long long)before);

    /* valid graph layers, then what the network reports about them */
    const int64_t side[1] = {3}, concat[2] = {4, -1}, residual[3] = {1, -1, 1};
    int64_t count = -1;
    set_setup_mode(1);
    /* g2: input (2, 4, 4) -> 0 conv 2->2 pad 1 -> 1 relu -> 2 add [1, -1, 1] -> 3 identity -> 4 route [3] -> 5 route [4, -1] */
    void *g2 = NULL;
    bad = DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(image), AI64(3), AP(&g2)) != DTD_OK;
    bad |= DCALL("dtd_network_add_conv2d_f64", AP(g2), AP(w), AI64(36), AI64(2), AI64(2), AI64(3), AI64(3), AP(NULL), AI64(0), AI64(1),
                 AI64(1), AI64(1), AI64(1), AI64(1), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(g2)) != DTD_OK;
    set_setup_mode(0);
    expect(GRAPH_FN_ADD, "add from = [1, -1, 1] (repeats and the network input)", DCALL(GRAPH_FN_ADD, AP(g2), AP(residual), AI64(3)),
           DTD_OK);
    expect("dtd_network_add_identity", "identity", DCALL("dtd_network_add_identity", AP(g2)), DTD_OK);
    expect(GRAPH_FN_ROUTE, "route from = [3] (a side branch)", DCALL(GRAPH_FN_ROUTE, AP(g2), AP(side), AI64(1)), DTD_OK);
    expect(GRAPH_FN_ROUTE, "route from = [4, -1] (concatenation with the input)", DCALL(GRAPH_FN_ROUTE, AP(g2), AP(concat), AI64(2)),
           DTD_OK);
    int64_t shape[3] = {0, 0, 0}, rank = -1;
    DCALL("dtd_network_layer_shape", AP(g2), AI64(5), AP(shape), AI64(3), AP(&rank));
    check(rank == 3 && shape[0] == 4 && shape[1] == 4 && shape[2] == 4, "dtd_network_add_route",
          "a concatenation of (2, 4, 4) and (2, 4, 4) is (4, 4, 4)", "rank %lld, (%lld, %lld, %lld)", (long long)rank,
          (long long)shape[0], (long long)shape[1], (long long)shape[2]);
    bad |= DCALL("dtd_network_add_batchnorm_f64", AP(g2), AP(ones), AP(w), AP(w), AP(bn_var), AI64(4), AF64(1e-5)) != DTD_ERROR_LAYER_ORDER;
    check(!bad, "dtd_network_add_batchnorm_f64", "batch-norm after a route is DTD_ERROR_LAYER_ORDER", "%s", last_message());
    const int32_t kinds[6] = {DTD_LAYER_CONV2D, DTD_LAYER_RELU, DTD_LAYER_ADD, DTD_LAYER_IDENTITY, DTD_LAYER_ROUTE, DTD_LAYER_ROUTE};
    const int64_t sources[6][4] = {{-1}, {0}, {1, 1, -1, 1}, {2}, {3}, {4, -1}};
    const int64_t nsources[6] = {1, 1, 4, 1, 1, 2};
    for (int64_t l = 0; l < 6; l++) {
        int32_t kind = -1;
        int64_t got[8] = {0}, n = -1;
        dtd_status s1 = DCALL("dtd_network_layer_kind", AP(g2), AI64(l), AP(&kind));
        dtd_status s2 = DCALL("dtd_network_layer_sources", AP(g2), AI64(l), AP(got), AI64(8), AP(&n));
        int same = n == nsources[l];
        for (int64_t i = 0; same && i < n; i++) same = got[i] == sources[l][i];
        char what[160];
        snprintf(what, sizeof what, "layer %lld: its kind and sources (add: layer - 1, then the from list)", (long long)l);
        check(s1 == DTD_OK && kind == kinds[l] && s2 == DTD_OK && same, "dtd_network_layer_sources", what,
              "kind %s -> %d (expected %d), sources %s -> %lld: [%lld, %lld, %lld, %lld]", status_name(s1), (int)kind, (int)kinds[l],
              status_name(s2), (long long)n, (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3]);
    }
    int64_t small[2] = {-7, -7}, n = -1;
    expect("dtd_network_layer_sources", "capacity 2 for the add's 4 sources",
           DCALL("dtd_network_layer_sources", AP(g2), AI64(2), AP(small), AI64(2), AP(&n)), DTD_ERROR_BUFFER_TOO_SMALL);
    check(n == 4, "dtd_network_layer_sources", "out_count is written when the capacity is too small", "out_count %lld", (long long)n);
    n = -1;
    expect("dtd_network_layer_sources", "capacity 0 for the add's 4 sources",
           DCALL("dtd_network_layer_sources", AP(g2), AI64(2), AP(small), AI64(0), AP(&n)), DTD_ERROR_BUFFER_TOO_SMALL);
    check(n == 4, "dtd_network_layer_sources", "out_count is written for capacity 0", "out_count %lld", (long long)n);
    expect("dtd_network_layer_sources", "capacity -1", DCALL("dtd_network_layer_sources", AP(g2), AI64(2), AP(small), AI64(-1), AP(&n)),
           DTD_ERROR_SIZE);
    expect("dtd_network_layer_sources", "layer = layer count", DCALL("dtd_network_layer_sources", AP(g2), AI64(6), AP(small), AI64(2), AP(&n)),
           DTD_ERROR_LAYER_INDEX);
    expect("dtd_network_layer_sources", "layer -1 (the input reads nothing)",
           DCALL("dtd_network_layer_sources", AP(g2), AI64(-1), AP(small), AI64(2), AP(&n)), DTD_ERROR_LAYER_INDEX);

    /* rules on graph layers: epsilon and flat on pools and adds; nothing else; nothing on route/identity */
    set_setup_mode(1);
    void *pool_net = NULL, *rules = NULL;
    bad = DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(image), AI64(3), AP(&pool_net)) != DTD_OK;
    bad |= DCALL("dtd_network_add_avgpool2d", AP(pool_net), AI64(2), AI64(2), AI64(1), AI64(1), AI64(0), AI64(0), AI32(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_adaptive_avgpool2d", AP(pool_net), AI64(2), AI64(2)) != DTD_OK;
    bad |= DCALL("dtd_network_add_flatten", AP(pool_net)) != DTD_OK;
    bad |= DCALL("dtd_network_add_dense_f64", AP(pool_net), AP(w), AI64(24), AI64(3), AI64(8), AP(NULL), AI64(0)) != DTD_OK;
    set_setup_mode(0);
    DCALL(GRAPH_FN_ADD, AP(pool_net), AP(input_only), AI64(1)); /* (3) + input (2, 4, 4): refused */
    const int64_t dense_out[1] = {3};
    bad |= DCALL(GRAPH_FN_ROUTE, AP(pool_net), AP(dense_out), AI64(1)) != DTD_OK;           /* 4 route [3] */
    bad |= DCALL(GRAPH_FN_ADD, AP(pool_net), AP(dense_out), AI64(1)) != DTD_OK;             /* 5 add [3] */
    bad |= DCALL("dtd_network_add_identity", AP(pool_net)) != DTD_OK;                        /* 6 identity */
    bad |= DCALL("dtd_rules_create", AP(pool_net), AP(&rules)) != DTD_OK;
    check(!bad, "specific", "the rule-check network builds", "%s", last_message());
    struct {
        int64_t layer;
        const char *text;
    } pool_layers[3] = {{0, "avg-pool"}, {1, "adaptive avg-pool"}, {5, "add"}};
    for (int k = 0; k < 3 && !bad; k++) {
        char what[160];
        int32_t kind = -1;
        DCALL("dtd_rules_kind", AP(rules), AI64(pool_layers[k].layer), AP(&kind));
        snprintf(what, sizeof what, "%s without a rule reports DTD_RULE_NONE (norm 1e-6 applies)", pool_layers[k].text);
        check(kind == DTD_RULE_NONE, "dtd_rules_kind", what, "kind %d", (int)kind);
        snprintf(what, sizeof what, "epsilon 0.01 on an %s layer (its norm rule)", pool_layers[k].text);
        expect("dtd_rules_set_epsilon", what,
               DCALL("dtd_rules_set_epsilon", AP(rules), AI64(pool_layers[k].layer), AF64(0.01), AI32(DTD_BIAS_INCLUDE)), DTD_OK);
        DCALL("dtd_rules_kind", AP(rules), AI64(pool_layers[k].layer), AP(&kind));
        check(kind == DTD_RULE_EPSILON, "dtd_rules_kind", what, "kind %d after setting epsilon", (int)kind);
        snprintf(what, sizeof what, "flat on an %s layer", pool_layers[k].text);
        expect("dtd_rules_set_flat", what, DCALL("dtd_rules_set_flat", AP(rules), AI64(pool_layers[k].layer), AF64(1e-6)), DTD_OK);
        DCALL("dtd_rules_kind", AP(rules), AI64(pool_layers[k].layer), AP(&kind));
        check(kind == DTD_RULE_FLAT, "dtd_rules_kind", what, "kind %d after setting flat", (int)kind);
        snprintf(what, sizeof what, "z+ on an %s layer", pool_layers[k].text);
        expect("dtd_rules_set_zplus", what,
               DCALL("dtd_rules_set_zplus", AP(rules), AI64(pool_layers[k].layer), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)), DTD_ERROR_RULE);
        snprintf(what, sizeof what, "gamma on an %s layer", pool_layers[k].text);
        expect("dtd_rules_set_gamma", what,
               DCALL("dtd_rules_set_gamma", AP(rules), AI64(pool_layers[k].layer), AF64(0.25), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)),
               DTD_ERROR_RULE);
        DCALL("dtd_rules_kind", AP(rules), AI64(pool_layers[k].layer), AP(&kind));
        check(kind == DTD_RULE_FLAT, "dtd_rules_set_zplus", "a refused rule on a pooling/add layer keeps its previous rule",
              "%s: kind %d", pool_layers[k].text, (int)kind);
    }
    expect("dtd_rules_set_epsilon", "epsilon on a route layer",
           DCALL("dtd_rules_set_epsilon", AP(rules), AI64(4), AF64(0.01), AI32(DTD_BIAS_INCLUDE)), DTD_ERROR_RULE);
    expect("dtd_rules_set_flat", "flat on an identity layer", DCALL("dtd_rules_set_flat", AP(rules), AI64(6), AF64(1e-6)), DTD_ERROR_RULE);
    expect("dtd_rules_set_epsilon", "epsilon on a flatten layer",
           DCALL("dtd_rules_set_epsilon", AP(rules), AI64(2), AF64(0.01), AI32(DTD_BIAS_INCLUDE)), DTD_ERROR_RULE);
    count = layer_count_of(pool_net);
    check(count == 7, "dtd_network_add_add", "add of a (2, 4, 4) input onto (3) was refused (7 layers built)", "%lld layers",
          (long long)count);
    VCALL("dtd_rules_destroy", AP(rules));
    VCALL("dtd_network_destroy", AP(pool_net));

    /* roots on graphs: a layer that a later route or add bypasses is refused, naming it.
     * f: (6) -> 0 dense 6->4 -> 1 relu -> 2 route [-1] -> 3 dense 6->4 -> 4 add [1] -> 5 relu -> 6 dense 4->2 */
    const int64_t relu_out[1] = {1};
    void *f_rules = NULL;
    set_setup_mode(1);
    bad = DCALL(GRAPH_FN_ROUTE, AP(f), AP(input_only), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_dense_f64", AP(f), AP(w), AI64(24), AI64(4), AI64(6), AP(NULL), AI64(0)) != DTD_OK;
    bad |= DCALL(GRAPH_FN_ADD, AP(f), AP(relu_out), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(f)) != DTD_OK;
    bad |= DCALL("dtd_network_add_dense_f64", AP(f), AP(w), AI64(8), AI64(2), AI64(4), AP(NULL), AI64(0)) != DTD_OK;
    bad |= DCALL("dtd_rules_create", AP(f), AP(&f_rules)) != DTD_OK;
    for (int64_t l = 0; l <= 6; l += 3)
        bad |= DCALL("dtd_rules_set_epsilon", AP(f_rules), AI64(l), AF64(0.0), AI32(DTD_BIAS_INCLUDE)) != DTD_OK;
    set_setup_mode(0);
    check(!bad, "specific", "the bypassed-layer network builds", "%s", last_message());
    struct {
        int64_t layer, size;
        dtd_status want;
        const char *text;
    } bypass[3] = {{0, 4, DTD_ERROR_LAYER_ORDER, "layer 0: route [-1] reads its input"},
                   {3, 4, DTD_ERROR_LAYER_ORDER, "layer 3: add [1] reads an output below it"},
                   {6, 2, DTD_OK, "layer 6: nothing goes around it"}};
    for (int k = 0; k < 3 && !bad; k++) {
        dtd_root_query q = {.layer = bypass[k].layer, .target = 0, .placement = DTD_PLACEMENT_RELEVANCE, .flags = 0, .tol = 1e-5,
                            .neuron_begin = 0, .neuron_end = bypass[k].size};
        int64_t roots = -1;
        char what[160];
        snprintf(what, sizeof what, "roots of %s", bypass[k].text);
        expect("dtd_roots_count", what, DCALL("dtd_roots_count", AP(f), AP(f_rules), AP(&q), AP(&roots)), bypass[k].want);
        if (bypass[k].want != DTD_OK) {
            char needle[24];
            snprintf(needle, sizeof needle, "%lld", (long long)bypass[k].layer);
            expect_mentions("dtd_roots_count", what, needle);
        }
    }
    VCALL("dtd_rules_destroy", AP(f_rules));
    VCALL("dtd_network_destroy", AP(g2));
    VCALL("dtd_network_destroy", AP(g));
    VCALL("dtd_network_destroy", AP(f));
}

/* ---- dtd_relevance_lrp_layers: bad records and masks -------------------------------------------- */

static void lrp_layers_bad_input_job(void *ctx) {
    const int d = *(const int *)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    const char *fn = typed("dtd_relevance_lrp_layers", d);
    void *net = fx->net[d], *rules = fx->rules[d], *rec = fx->recorded[d];
    const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
    char what[200];
#define WHAT(text) (snprintf(what, sizeof what, "%s (%s)", text, d ? "float64" : "float32"), what)
#define LRP_LAYERS(records, nrecords, recorded_count, masks, nmasks)                                                              \
    DCALL(fn, AP(net), AP(rules), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->seed[d]), AI64(ny), AP(fx->relevance[d]), AI64(nx), \
          AP(NULL), AI64(0), AP(records), AI64(nrecords), AP(rec), AI64(recorded_count), AP(masks), AI64(nmasks))
    const int64_t ok_records[2] = {3, 1}, past_end[1] = {FX_LAYERS}, minus1[1] = {-1}, huge[1] = {INT64_MAX};
    expect(fn, WHAT("records [3, 1], one channel mask: the valid call"), LRP_LAYERS(ok_records, 2, FX_RECORDED, fx->masks, 1), DTD_OK);
    expect(fn, WHAT("record of layer 6 (after the output layer 5)"), LRP_LAYERS(past_end, 1, FX_RECORDED, NULL, 0), DTD_ERROR_LAYER_INDEX);
    expect_mentions(fn, WHAT("the record message names the layer"), "6");
    expect(fn, WHAT("record of layer -1"), LRP_LAYERS(minus1, 1, FX_RECORDED, NULL, 0), DTD_ERROR_LAYER_INDEX);
    expect(fn, WHAT("record of layer INT64_MAX"), LRP_LAYERS(huge, 1, FX_RECORDED, NULL, 0), DTD_ERROR_LAYER_INDEX);
    expect(fn, WHAT("recorded_count one short of batch x (5 + 48)"), LRP_LAYERS(ok_records, 2, FX_RECORDED - 1, NULL, 0),
           DTD_ERROR_BUFFER_TOO_SMALL);
    expect(fn, WHAT("recorded NULL with two records"),
           DCALL(fn, AP(net), AP(rules), AI64(FX_BATCH), AP(fx->x[d]), AI64(nx), AP(fx->seed[d]), AI64(ny), AP(fx->relevance[d]), AI64(nx),
                 AP(NULL), AI64(0), AP(ok_records), AI64(2), AP(NULL), AI64(0), AP(NULL), AI64(0)),
           DTD_ERROR_BUFFER_TOO_SMALL);
    expect(fn, WHAT("record_layers NULL with record_count 2"), LRP_LAYERS(NULL, 2, FX_RECORDED, NULL, 0), DTD_ERROR_NULL_POINTER);

    uint8_t keep[64];
    memset(keep, 1, sizeof keep);
    dtd_relevance_mask m[2];
    m[0] = (dtd_relevance_mask){.layer = FX_LAYERS, .keep = keep, .keep_count = 3};
    expect(fn, WHAT("mask of layer 6 (no such layer)"), LRP_LAYERS(NULL, 0, 0, m, 1), DTD_ERROR_LAYER_INDEX);
    m[0].layer = -1;
    expect(fn, WHAT("mask of layer -1"), LRP_LAYERS(NULL, 0, 0, m, 1), DTD_ERROR_LAYER_INDEX);
    m[0] = (dtd_relevance_mask){.layer = 1, .keep = keep, .keep_count = 2};
    expect(fn, WHAT("mask of the (3, 4, 4) layer 1 with 2 flags (neither 3 channels nor 48 elements)"), LRP_LAYERS(NULL, 0, 0, m, 1),
           DTD_ERROR_SHAPE_MISMATCH);
    expect_mentions(fn, WHAT("the mask message names the mask"), "mask");
    m[0].keep_count = 49;
    expect(fn, WHAT("mask of layer 1 with 49 flags (one more than its 48 elements)"), LRP_LAYERS(NULL, 0, 0, m, 1),
           DTD_ERROR_SHAPE_MISMATCH);
    m[0] = (dtd_relevance_mask){.layer = 3, .keep = keep, .keep_count = 1};
    expect(fn, WHAT("mask of the flat (5) layer 3 with 1 flag (a flat output has no channels)"), LRP_LAYERS(NULL, 0, 0, m, 1),
           DTD_ERROR_SHAPE_MISMATCH);
    m[0].keep_count = -1;
    dtd_status s = LRP_LAYERS(NULL, 0, 0, m, 1);
    check(s == DTD_ERROR_SHAPE_MISMATCH || s == DTD_ERROR_SIZE, fn, WHAT("mask keep_count -1"), "returned %s: %s", status_name(s),
          last_message());
    m[0] = (dtd_relevance_mask){.layer = 1, .keep = NULL, .keep_count = 3};
    expect(fn, WHAT("mask keep NULL with keep_count 3"), LRP_LAYERS(NULL, 0, 0, m, 1), DTD_ERROR_NULL_POINTER);
    m[0] = (dtd_relevance_mask){.layer = 1, .keep = keep, .keep_count = 3};
    m[1] = (dtd_relevance_mask){.layer = 1, .keep = keep, .keep_count = 48};
    expect(fn, WHAT("two masks for layer 1"), LRP_LAYERS(NULL, 0, 0, m, 2), DTD_ERROR_INVALID_ARGUMENT);
    m[1] = (dtd_relevance_mask){.layer = 3, .keep = keep, .keep_count = 5};
    expect(fn, WHAT("masks of layers 1 (per channel) and 3 (per element)"), LRP_LAYERS(ok_records, 2, FX_RECORDED, m, 2), DTD_OK);
    expect(fn, WHAT("masks NULL with mask_count 1"), LRP_LAYERS(NULL, 0, 0, NULL, 1), DTD_ERROR_NULL_POINTER);
#undef LRP_LAYERS
#undef WHAT
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
    isolated("specific", "graph layers: bad graphs, sources, rules on graph layers", graph_bad_input_job, NULL);
    for (int d = 0; d < 2; d++)
        isolated("specific", d ? "lrp_layers: bad records and masks (float64)" : "lrp_layers: bad records and masks (float32)",
                 lrp_layers_bad_input_job, &d);
    isolated("specific", "out of memory", oom_job, NULL);
    isolated("specific", "the scratch cap", scratch_cap_job, NULL);
    isolated("specific", "the scratch cap from DTD_MAX_SCRATCH_MB", scratch_environment_job, NULL);
    run_full_backward_specific();
}
