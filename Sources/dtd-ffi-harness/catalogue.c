/**
 * catalogue.c : bad API arguments, each with its specific status and a message that names the
 * argument (the header: "dtd_last_error_message() names the argument, the layer and the
 * shapes involved").
 *
 * The recipe sweep (sweep.c) derives thousands of perturbations from argument roles and checks
 * their statuses; this list is written by hand so that each entry also pins what the message
 * says: the argument's own name (`stride_h`, not "a size"), so a caller can tell which of ten
 * int64_t arguments was wrong. Entries use the float64 fixtures; the dtype is not what they test.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "robustness.h"

static int entries;

/** One catalogue entry: `got` must be `want`, and the message must contain `named`. */
static void entry(const char *fn, const char *label, dtd_status got, dtd_status want, const char *named) {
    entries++;
    if (got == NO_CALL) return; /* already reported */
    char what[260];
    snprintf(what, sizeof what, "catalogue: %s -> %s naming \"%s\"", label, status_name(want), named);
    check(got == want && strstr(last_message(), named) != NULL, fn, what, "returned %s; message \"%s\"", status_name(got),
          last_message());
}

#define BAD(fn, label, want, named, ...) entry((fn), (label), DCALL((fn), __VA_ARGS__), (want), (named))

static void catalogue_job(void *ctx) {
    (void)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    const int d = 1;
    void *net = fx->net[d], *rules = fx->rules[d], *x = fx->x[d], *seed = fx->seed[d], *rel = fx->relevance[d];
    void *flat = fx->flat_builder[d], *image = fx->image_builder[d], *dense = fx->dense_builder[d];
    void *w = fx->dense_w[d], *b = fx->dense_b[d], *cw = fx->conv_w[d];
    const int64_t nx = FX_BATCH * FX_IN, ny = FX_BATCH * FX_OUT;
    void *out = NULL;
    int64_t shape3[3] = {2, 0, 4}, big[3] = {1, 1, (int64_t)1 << 31}, dims[3], count = 0;
    int32_t kind = 0;
    double nan_w[24];
    for (int i = 0; i < 24; i++) nan_w[i] = i == 5 ? NAN : 0.1;

    /* dtd_network_create */
    const char *create = "dtd_network_create";
    BAD(create, "dtype 0", DTD_ERROR_INVALID_ARGUMENT, "dtype", AI32(0), AP(fx->shape_flat), AI64(1), AP(&out));
    BAD(create, "rank 2", DTD_ERROR_INVALID_ARGUMENT, "input_rank", AI32(DTD_DTYPE_FLOAT64), AP(fx->shape_flat), AI64(2), AP(&out));
    BAD(create, "input_shape NULL", DTD_ERROR_NULL_POINTER, "input_shape", AI32(DTD_DTYPE_FLOAT64), AP(NULL), AI64(1), AP(&out));
    BAD(create, "out_network NULL", DTD_ERROR_NULL_POINTER, "out_network", AI32(DTD_DTYPE_FLOAT64), AP(fx->shape_flat), AI64(1),
        AP(NULL));
    BAD(create, "input_shape[1] = 0", DTD_ERROR_SIZE, "input_shape[1]", AI32(DTD_DTYPE_FLOAT64), AP(shape3), AI64(3), AP(&out));
    BAD(create, "input_shape[2] = 2^31 (above the dimension limit)", DTD_ERROR_SIZE, "2147483648", AI32(DTD_DTYPE_FLOAT64),
        AP(big), AI64(3), AP(&out));

    /* dtd_network_add_dense_f64 on input (6) */
    const char *add_dense = "dtd_network_add_dense_f64";
    BAD(add_dense, "weight NULL", DTD_ERROR_NULL_POINTER, "weight", AP(flat), AP(NULL), AI64(24), AI64(4), AI64(6), AP(NULL),
        AI64(0));
    BAD(add_dense, "weight_count -1", DTD_ERROR_SIZE, "weight_count", AP(flat), AP(w), AI64(-1), AI64(4), AI64(6), AP(NULL), AI64(0));
    BAD(add_dense, "out_features 0", DTD_ERROR_SIZE, "out_features", AP(flat), AP(w), AI64(24), AI64(0), AI64(6), AP(NULL), AI64(0));
    BAD(add_dense, "in_features -3", DTD_ERROR_SIZE, "in_features", AP(flat), AP(w), AI64(24), AI64(4), AI64(-3), AP(NULL), AI64(0));
    BAD(add_dense, "bias NULL with bias_count 4", DTD_ERROR_NULL_POINTER, "bias_count", AP(flat), AP(w), AI64(24), AI64(4), AI64(6),
        AP(NULL), AI64(4));
    BAD(add_dense, "bias_count 3 for 4 outputs", DTD_ERROR_SHAPE_MISMATCH, "bias", AP(flat), AP(w), AI64(24), AI64(4), AI64(6), AP(b),
        AI64(3));
    BAD(add_dense, "a NaN weight", DTD_ERROR_NON_FINITE, "weight", AP(flat), AP(nan_w), AI64(24), AI64(4), AI64(6), AP(NULL), AI64(0));
    BAD(add_dense, "in_features 4 on a (6) activation", DTD_ERROR_SHAPE_MISMATCH, "in_features", AP(flat), AP(w), AI64(16), AI64(4),
        AI64(4), AP(NULL), AI64(0));

    /* dtd_network_add_conv2d_f64 on input (2, 5, 5) */
    const char *conv = "dtd_network_add_conv2d_f64";
#define CONV(label, want, named, cin, kh, sh, sw, ph, pw, dh, dw)                                                                  \
    BAD(conv, label, want, named, AP(image), AP(cw), AI64(3 * (cin) * (kh) * 3), AI64(3), AI64(cin), AI64(kh), AI64(3), AP(NULL),  \
        AI64(0), AI64(sh), AI64(sw), AI64(ph), AI64(pw), AI64(dh), AI64(dw))
    CONV("stride_h 0", DTD_ERROR_SIZE, "stride_h", 2, 3, 0, 1, 0, 0, 1, 1);
    CONV("stride_w -2", DTD_ERROR_SIZE, "stride_w", 2, 3, 1, -2, 0, 0, 1, 1);
    CONV("padding_w -1", DTD_ERROR_SIZE, "padding_w", 2, 3, 1, 1, 0, -1, 1, 1);
    CONV("dilation_w 0", DTD_ERROR_SIZE, "dilation_w", 2, 3, 1, 1, 0, 0, 1, 0);
    CONV("in_channels 1 on 2 channels", DTD_ERROR_SHAPE_MISMATCH, "in_channels", 1, 3, 1, 1, 0, 0, 1, 1);
    CONV("kernel 6 on a 5x5 input", DTD_ERROR_SHAPE_MISMATCH, "kernel", 2, 6, 1, 1, 0, 0, 1, 1);
    /* Found by Tests/fuzz: a huge stride keeps the output 3x3 while im2col's zero-bordered plane
     * of (5 + 2 (2^31 - 1))^2 elements overflowed int64 (a trap, before the fix). */
    CONV("padding 2^31 - 1 with stride 2^31 - 1 (a 2^64-element padded plane)", DTD_ERROR_OVERFLOW, "padded input plane", 2, 3,
         INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, 1, 1);
    CONV("padding 2^20 with stride 2^20 (a 2^42-element padded plane)", DTD_ERROR_SIZE, "padded input plane", 2, 3, 1 << 20, 1 << 20,
         1 << 20, 1 << 20, 1, 1);
#undef CONV

    /* pools on input (2, 5, 5) */
    BAD("dtd_network_add_maxpool2d", "kernel_h 0", DTD_ERROR_SIZE, "kernel_h", AP(image), AI64(0), AI64(2), AI64(2), AI64(2), AI64(0),
        AI64(0));
    BAD("dtd_network_add_maxpool2d", "padding_h 2 above half the kernel 2", DTD_ERROR_INVALID_ARGUMENT, "padding", AP(image), AI64(2),
        AI64(2), AI64(2), AI64(2), AI64(2), AI64(0));
    BAD("dtd_network_add_maxpool2d", "stride_w -1", DTD_ERROR_SIZE, "stride_w", AP(image), AI64(2), AI64(2), AI64(2), AI64(-1), AI64(0),
        AI64(0));
    BAD("dtd_network_add_avgpool2d", "padding_w -1", DTD_ERROR_SIZE, "padding_w", AP(image), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0),
        AI64(-1), AI32(1));
    BAD("dtd_network_add_avgpool2d", "kernel_w 9 on a 5x5 input", DTD_ERROR_SHAPE_MISMATCH, "kernel", AP(image), AI64(2), AI64(9),
        AI64(2), AI64(2), AI64(0), AI64(0), AI32(1));

    /* dtd_network_add_batchnorm_f64 after dense 6 -> 4 */
    const char *bn = "dtd_network_add_batchnorm_f64";
    void **s = fx->bn[d];
    BAD(bn, "count 3 for 4 features", DTD_ERROR_SHAPE_MISMATCH, "count", AP(dense), AP(s[0]), AP(s[1]), AP(s[2]), AP(s[3]), AI64(3),
        AF64(1e-5));
    BAD(bn, "eps -1", DTD_ERROR_INVALID_ARGUMENT, "eps", AP(dense), AP(s[0]), AP(s[1]), AP(s[2]), AP(s[3]), AI64(4), AF64(-1.0));
    BAD(bn, "running_var NULL", DTD_ERROR_NULL_POINTER, "running_var", AP(dense), AP(s[0]), AP(s[1]), AP(s[2]), AP(NULL), AI64(4),
        AF64(1e-5));
    BAD(bn, "gamma NULL", DTD_ERROR_NULL_POINTER, "gamma", AP(dense), AP(NULL), AP(s[1]), AP(s[2]), AP(s[3]), AI64(4), AF64(1e-5));

    /* queries */
    BAD("dtd_network_layer_kind", "layer = layer count", DTD_ERROR_LAYER_INDEX, "layer = 6", AP(net), AI64(FX_LAYERS), AP(&kind));
    BAD("dtd_network_layer_kind", "out_kind NULL", DTD_ERROR_NULL_POINTER, "out_kind", AP(net), AI64(0), AP(NULL));
    BAD("dtd_network_layer_shape", "capacity -1", DTD_ERROR_SIZE, "capacity", AP(net), AI64(0), AP(dims), AI64(-1), AP(&count));
    BAD("dtd_network_layer_shape", "out_rank NULL", DTD_ERROR_NULL_POINTER, "out_rank", AP(net), AI64(0), AP(dims), AI64(3), AP(NULL));
    BAD("dtd_network_layer_count", "out_count NULL", DTD_ERROR_NULL_POINTER, "out_count", AP(net), AP(NULL));

    /* forward and the backward passes */
    const char *fwd = "dtd_network_forward_f64";
    BAD(fwd, "batch 0", DTD_ERROR_SIZE, "batch", AP(net), AI64(0), AP(x), AI64(nx), AP(fx->output[d]), AI64(ny));
    BAD(fwd, "input_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "input", AP(net), AI64(FX_BATCH), AP(x), AI64(nx - 1),
        AP(fx->output[d]), AI64(ny));
    BAD(fwd, "output NULL", DTD_ERROR_NULL_POINTER, "output", AP(net), AI64(FX_BATCH), AP(x), AI64(nx), AP(NULL), AI64(ny));
    const char *seed_fn = "dtd_relevance_target_seed_f64";
    int64_t bad_targets[FX_BATCH] = {0, FX_OUT};
    BAD(seed_fn, "targets NULL", DTD_ERROR_NULL_POINTER, "targets", AP(net), AI64(FX_BATCH), AP(x), AI64(nx), AP(NULL), AI64(FX_BATCH),
        AP(seed), AI64(ny));
    BAD(seed_fn, "targets[1] = output size", DTD_ERROR_OUT_OF_RANGE, "target", AP(net), AI64(FX_BATCH), AP(x), AI64(nx),
        AP(bad_targets), AI64(FX_BATCH), AP(seed), AI64(ny));
    BAD(seed_fn, "target_count 1 for batch 2", DTD_ERROR_BUFFER_TOO_SMALL, "targets", AP(net), AI64(FX_BATCH), AP(x), AI64(nx),
        AP(fx->targets), AI64(1), AP(seed), AI64(ny));
    BAD("dtd_relevance_gradient_f64", "output_relevance_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "output_relevance", AP(net),
        AI64(FX_BATCH), AP(x), AI64(nx), AP(seed), AI64(ny - 1), AP(rel), AI64(nx));
    BAD("dtd_relevance_gradient_x_input_f64", "relevance_count -1", DTD_ERROR_SIZE, "relevance_count", AP(net), AI64(FX_BATCH), AP(x),
        AI64(nx), AP(seed), AI64(ny), AP(rel), AI64(-1));
    const char *lrp = "dtd_relevance_lrp_f64";
    BAD(lrp, "rules NULL", DTD_ERROR_NULL_POINTER, "rules", AP(net), AP(NULL), AI64(FX_BATCH), AP(x), AI64(nx), AP(seed), AI64(ny),
        AP(rel), AI64(nx), AP(NULL), AI64(0));
    BAD(lrp, "ledger_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "ledger", AP(net), AP(rules), AI64(FX_BATCH), AP(x), AI64(nx),
        AP(seed), AI64(ny), AP(rel), AI64(nx), AP(fx->ledger), AI64(FX_BATCH * FX_LAYERS - 1));
    BAD(lrp, "rules of another network", DTD_ERROR_NETWORK_MISMATCH, "another network", AP(net), AP(fx->twin_rules[d]),
        AI64(FX_BATCH), AP(x), AI64(nx), AP(seed), AI64(ny), AP(rel), AI64(nx), AP(NULL), AI64(0));

    /* rule parameters */
    BAD("dtd_rules_set_epsilon", "epsilon NaN", DTD_ERROR_NON_FINITE, "epsilon", AP(rules), AI64(3), AF64(NAN), AI32(0));
    BAD("dtd_rules_set_zplus", "stabilizer -1", DTD_ERROR_INVALID_ARGUMENT, "stabilizer", AP(rules), AI64(3), AF64(-1.0), AI32(0));
    BAD("dtd_rules_set_alphabeta", "alpha 3, beta 1", DTD_ERROR_INVALID_ARGUMENT, "alpha", AP(rules), AI64(3), AF64(3.0), AF64(1.0),
        AF64(1e-6), AI32(0));
    BAD("dtd_rules_set_gamma", "gamma -0.5", DTD_ERROR_INVALID_ARGUMENT, "gamma", AP(rules), AI64(3), AF64(-0.5), AF64(1e-6), AI32(0));
    BAD("dtd_rules_set_zbox", "low 2 > high 1", DTD_ERROR_INVALID_ARGUMENT, "low", AP(rules), AI64(0), AF64(2.0), AF64(1.0), AF64(1e-6),
        AI32(0));
    BAD("dtd_rules_set_zbox_bounds_f64", "low_count 5 (not 1, 2 channels or 32 elements)", DTD_ERROR_SHAPE_MISMATCH, "low",
        AP(rules), AI64(0), AP(fx->low[d]), AI64(5), AP(fx->high[d]), AI64(FX_IN), AF64(1e-6), AI32(0));
    BAD("dtd_rules_set_flat", "a rule on relu layer 1", DTD_ERROR_RULE, "layer 1", AP(rules), AI64(1), AF64(1e-6));
    BAD("dtd_rules_set_wsquare", "bias mode 7", DTD_ERROR_INVALID_ARGUMENT, "bias", AP(rules), AI64(3), AF64(1e-6), AI32(7));
    BAD("dtd_rules_set_composite", "composite 99", DTD_ERROR_INVALID_ARGUMENT, "composite", AP(rules), AI32(99), AF64(1e-6), AF64(0.25),
        AF64(0.0), AF64(1.0));
    BAD("dtd_rules_kind", "layer -1", DTD_ERROR_LAYER_INDEX, "layer", AP(rules), AI64(-1), AP(&kind));

    /* root queries */
    dtd_root_query q = fx->query;
    int64_t per = 0;
    const char *rc = "dtd_roots_count";
    BAD(rc, "query NULL", DTD_ERROR_NULL_POINTER, "query", AP(net), AP(rules), AP(NULL), AP(&per));
    q.tol = 0;
    BAD(rc, "query->tol 0", DTD_ERROR_OUT_OF_RANGE, "tol", AP(net), AP(rules), AP(&q), AP(&per));
    q = fx->query, q.neuron_end = 99;
    BAD(rc, "query->neuron_end 99 for 5 neurons", DTD_ERROR_OUT_OF_RANGE, "neuron range [0, 99)", AP(net), AP(rules), AP(&q), AP(&per));
    q = fx->query, q.placement = 9;
    BAD(rc, "query->placement 9", DTD_ERROR_OUT_OF_RANGE, "placement", AP(net), AP(rules), AP(&q), AP(&per));
    q = fx->query, q.target = FX_OUT;
    BAD(rc, "query->target = output size", DTD_ERROR_OUT_OF_RANGE, "target", AP(net), AP(rules), AP(&q), AP(&per));
    q = fx->query, q.layer = 1;
    BAD(rc, "query->layer 1 (relu)", DTD_ERROR_RULE, "layer 1", AP(net), AP(rules), AP(&q), AP(&per));
    q = fx->query;
    BAD("dtd_roots_compute_f64", "info_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "info", AP(net), AP(rules), AP(&q), AI64(FX_BATCH),
        AP(x), AI64(nx), AP(NULL), AI64(0), AP(fx->info), AI64(FX_BATCH * FX_ROOTS - 1));
    BAD("dtd_audit_roots_f64", "records NULL", DTD_ERROR_NULL_POINTER, "records", AP(net), AP(rules), AP(&q), AI64(FX_BATCH), AP(x),
        AI64(nx), AP(NULL), AI64(FX_BATCH * FX_ROOTS), AP(NULL));
    const char *ap = "dtd_audit_points_f64";
    BAD(ap, "points_per_sample 0", DTD_ERROR_SIZE, "points_per_sample", AP(net), AI64(FX_ROOT_LAYER), AI64(0), AI64(FX_BATCH), AP(x),
        AI64(nx), AI64(0), AP(fx->audit_points[d]), AI64(FX_BATCH * FX_PPS * FX_ROOT_LAYER_IN), AP(fx->records),
        AI64(FX_BATCH * FX_PPS), AP(NULL));
    BAD(ap, "target 5 for 3 outputs", DTD_ERROR_OUT_OF_RANGE, "target", AP(net), AI64(FX_ROOT_LAYER), AI64(5), AI64(FX_BATCH), AP(x),
        AI64(nx), AI64(FX_PPS), AP(fx->audit_points[d]), AI64(FX_BATCH * FX_PPS * FX_ROOT_LAYER_IN), AP(fx->records),
        AI64(FX_BATCH * FX_PPS), AP(NULL));
    BAD(ap, "points_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "points", AP(net), AI64(FX_ROOT_LAYER), AI64(0), AI64(FX_BATCH),
        AP(x), AI64(nx), AI64(FX_PPS), AP(fx->audit_points[d]), AI64(FX_BATCH * FX_PPS * FX_ROOT_LAYER_IN - 1), AP(fx->records),
        AI64(FX_BATCH * FX_PPS), AP(NULL));

    /* theory */
    BAD("dtd_theory_gxi_distance_f64", "distances_count 1 for batch 2", DTD_ERROR_BUFFER_TOO_SMALL, "distances", AP(net), AP(rules),
        AI64(FX_BATCH), AP(x), AI64(nx), AP(seed), AI64(ny), AP(fx->distances), AI64(1));
    BAD("dtd_theory_constant_root_f64", "root_count 31 (neither 32 nor 64)", DTD_ERROR_SHAPE_MISMATCH, "root", AP(net), AI64(FX_BATCH),
        AP(x), AI64(nx), AP(fx->root[d]), AI64(FX_IN - 1), AP(seed), AI64(ny), AP(rel), AI64(nx));
    BAD("dtd_theory_construct_roots_f64", "explanation_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "explanation", AP(net), AP(rules),
        AP(&q), AI64(FX_BATCH), AP(x), AI64(nx), AP(fx->explanation[d]), AI64(FX_BATCH * FX_ROOT_LAYER_IN - 1), AP(fx->points[d]),
        AI64(FX_BATCH * FX_ROOTS * FX_ROOT_LAYER_IN), AP(NULL), AI64(0));
    const char *csc = "dtd_theory_rank1_csc_f64";
    BAD(csc, "seeds_per_sample 1", DTD_ERROR_SIZE, "seeds_per_sample", AP(net), AP(rules), AI64(FX_BATCH), AP(x), AI64(nx), AI64(1),
        AP(fx->seeds[d]), AI64(FX_BATCH * FX_SPP * FX_OUT), AP(fx->csc), AI64(FX_LAYERS + 1));
    BAD(csc, "csc_count one short", DTD_ERROR_BUFFER_TOO_SMALL, "csc", AP(net), AP(rules), AI64(FX_BATCH), AP(x), AI64(nx),
        AI64(FX_SPP), AP(fx->seeds[d]), AI64(FX_BATCH * FX_SPP * FX_OUT), AP(fx->csc), AI64(FX_LAYERS));

    check(entries >= 40, "catalogue", "at least 40 bad-argument entries", "%d", entries);
    fixture_free(fx);
}

void run_catalogue_checks(void) { isolated("catalogue", "bad API arguments: status and the argument named", catalogue_job, NULL); }
