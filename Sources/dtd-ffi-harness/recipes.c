/**
 * recipes.c : one valid call per fallible or destroying function of the table, with the role of
 * every argument (see robustness.h). The statuses the perturbations must produce are derived from
 * the roles in sweep.c; a recipe only states what is special about its function (which counts
 * are exact, which pointers are optional, what an empty network gives).
 *
 * Recipes of the section 6-7 functions (roots, audit, theory) are written from Include/dtd.h; the
 * library did not export those functions when they were written, so they run once it does.
 */
#include "robustness.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- building a call ------------------------------------------------------------------------ */

static Param *add(Call *c, Role role, const char *ctype, Arg value) {
    if (c->n == HARNESS_MAX_PARAMS) {
        c->overflow = 1;
        return &c->p[HARNESS_MAX_PARAMS - 1];
    }
    Param *p = &c->p[c->n++];
    memset(p, 0, sizeof *p);
    p->role = role;
    snprintf(p->ctype, sizeof p->ctype, "%s", ctype);
    p->value = value;
    return p;
}

static void network(Call *c, void *handle, int is_const) {
    add(c, ROLE_NETWORK, is_const ? "const dtd_network *" : "dtd_network *", AP(handle));
}

static void rules(Call *c, void *handle, int is_const) {
    add(c, ROLE_RULES, is_const ? "const dtd_rules *" : "dtd_rules *", AP(handle));
}

/** A buffer and its count; `too_small` is the status for a count below `count`. */
static void buffer(Call *c, const char *ctype, void *pointer, int64_t count, unsigned flags, dtd_status too_small) {
    add(c, ROLE_BUFFER, ctype, AP(pointer))->flags = flags;
    Param *n = add(c, ROLE_COUNT, "int64_t", AI64(count));
    n->flags = flags;
    n->too_small = too_small;
}

static void elements(Call *c, int d, int is_const, void *pointer, int64_t count) {
    buffer(c, elem_type(d, is_const), pointer, count, 0, DTD_ERROR_BUFFER_TOO_SMALL);
}

static void size(Call *c, int64_t value, unsigned flags) {
    Param *p = add(c, ROLE_SIZE, "int64_t", AI64(value));
    p->flags = flags;
    p->min = 1;
}

static void layer(Call *c, int64_t value, int64_t limit, unsigned flags, unsigned nonlinear_expect) {
    Param *p = add(c, ROLE_LAYER, "int64_t", AI64(value));
    p->flags = flags;
    p->limit = limit;
    p->nonlinear_expect = nonlinear_expect;
}

static void param(Call *c, double value, unsigned flags, double pair) {
    Param *p = add(c, ROLE_PARAM, "double", AF64(value));
    p->flags = flags;
    p->pair = pair;
}

static void enum32(Call *c, const char *ctype, int32_t value, const int64_t *valid, int nvalid) {
    Param *p = add(c, ROLE_ENUM, ctype, AI32(value));
    p->nvalid = nvalid;
    for (int i = 0; i < nvalid && i < 8; i++) p->valid[i] = valid[i];
}

static const int64_t bias_modes[] = {DTD_BIAS_INCLUDE, DTD_BIAS_EXCLUDE};

static void bias_mode(Call *c) { enum32(c, "dtd_bias_mode", DTD_BIAS_INCLUDE, bias_modes, 2); }

static void out_value(Call *c, const char *ctype, void *pointer) { add(c, ROLE_OUT_VALUE, ctype, AP(pointer)); }

static void query(Call *c, Fixture *fx) {
    add(c, ROLE_QUERY, "const dtd_root_query *", AP(&fx->query));
    c->query_layers = FX_LAYERS;
    c->query_outputs = FX_OUT;
    c->query_neurons = FX_ROOTS;
}

static void batch(Call *c) { size(c, FX_BATCH, SIZE_SCALES); }

static void input(Call *c, Fixture *fx, int d) { elements(c, d, 1, fx->x[d], FX_BATCH * FX_IN); }

/* ---- 3. Network handle ---------------------------------------------------------------------- */

static void r_network_create(Call *c, Fixture *fx, int d) {
    static const int64_t dtypes[] = {DTD_DTYPE_FLOAT32, DTD_DTYPE_FLOAT64};
    static const int64_t ranks[] = {1, 3};
    enum32(c, "dtd_dtype", d == 0 ? DTD_DTYPE_FLOAT32 : DTD_DTYPE_FLOAT64, dtypes, 2);
    add(c, ROLE_BUFFER, "const int64_t *", AP(fx->shape_image))->flags = BUF_UNPAIRED;
    Param *rank = add(c, ROLE_ENUM, "int64_t", AI64(3));
    rank->nvalid = 2;
    rank->valid[0] = ranks[0], rank->valid[1] = ranks[1];
    add(c, ROLE_OUT_HANDLE, "dtd_network **", AP(&fx->out_handle));
}

static void r_network_destroy(Call *c, Fixture *fx, int d) {
    (void)d;
    network(c, fx->victim_net, 0);
    c->flags |= CALL_DESTROY_NETWORK;
}

static void r_add_dense(Call *c, Fixture *fx, int d) {
    network(c, fx->flat_builder[d], 0);
    buffer(c, elem_type(d, 1), fx->dense_w[d], 24, BUF_EXACT, DTD_ERROR_SHAPE_MISMATCH);
    size(c, 4, SIZE_SHAPED);
    size(c, 6, SIZE_SHAPED);
    buffer(c, elem_type(d, 1), fx->dense_b[d], 4, BUF_EXACT | BUF_OPTIONAL, DTD_ERROR_SHAPE_MISMATCH);
}

static void r_add_conv2d(Call *c, Fixture *fx, int d) {
    network(c, fx->image_builder[d], 0);
    buffer(c, elem_type(d, 1), fx->conv_w[d], 54, BUF_EXACT, DTD_ERROR_SHAPE_MISMATCH);
    size(c, 3, SIZE_SHAPED); /* out_channels */
    size(c, 2, SIZE_SHAPED); /* in_channels */
    size(c, 3, SIZE_SHAPED); /* kernel_h */
    size(c, 3, SIZE_SHAPED); /* kernel_w */
    buffer(c, elem_type(d, 1), fx->conv_b[d], 3, BUF_EXACT | BUF_OPTIONAL, DTD_ERROR_SHAPE_MISMATCH);
    size(c, 1, 0);                                 /* stride_h */
    size(c, 1, 0);                                 /* stride_w */
    add(c, ROLE_PADDING, "int64_t", AI64(1));      /* padding_h */
    add(c, ROLE_PADDING, "int64_t", AI64(1));      /* padding_w */
    size(c, 1, 0);                                 /* dilation_h */
    size(c, 1, 0);                                 /* dilation_w */
}

static void r_add_relu(Call *c, Fixture *fx, int d) { network(c, fx->flat_builder[d], 0); }

static void r_add_flatten(Call *c, Fixture *fx, int d) { network(c, fx->image_builder[d], 0); }

static void pool(Call *c, Fixture *fx, int d, int64_t kernel, int64_t stride, int64_t padding) {
    network(c, fx->image_builder[d], 0);
    size(c, kernel, 0);
    size(c, kernel, 0);
    size(c, stride, 0);
    size(c, stride, 0);
    add(c, ROLE_PADDING, "int64_t", AI64(padding));
    add(c, ROLE_PADDING, "int64_t", AI64(padding));
}

static void r_add_maxpool2d(Call *c, Fixture *fx, int d) { pool(c, fx, d, 2, 2, 1); }

static void r_add_avgpool2d(Call *c, Fixture *fx, int d) {
    pool(c, fx, d, 3, 1, 1);
    add(c, ROLE_FLAG, "int32_t", AI32(1));
}

static void r_add_batchnorm(Call *c, Fixture *fx, int d) {
    network(c, fx->dense_builder[d], 0);
    for (int k = 0; k < 4; k++) add(c, ROLE_BUFFER, elem_type(d, 1), AP(fx->bn[d][k]))->flags = BUF_UNPAIRED;
    size(c, 4, SIZE_SHAPED);
    param(c, 1e-5, PARAM_NONNEG, 0);
}

/* ---- 3. Graph layers and padding per side ------------------------------------------------------- */

/** A source list and its length: never a capacity, so only the count's own domain is probed. */
static void source_list(Call *c, const int64_t *from, int64_t count) {
    add(c, ROLE_BUFFER, "const int64_t *", AP(from));
    add(c, ROLE_LIST_COUNT, "int64_t", AI64(count))->min = 1;
}

static void r_add_route(Call *c, Fixture *fx, int d) {
    network(c, fx->dense_builder[d], 0); /* (6) -> dense (4): route back to the network input (6) */
    source_list(c, fx->route_from, 1);
}

static void r_add_add(Call *c, Fixture *fx, int d) {
    network(c, fx->dense_builder[d], 0); /* dense (4) + layer 0's output (4) */
    source_list(c, fx->add_from, 1);
}

static void r_add_identity(Call *c, Fixture *fx, int d) { network(c, fx->image_builder[d], 0); }

static void r_add_adaptive_avgpool2d(Call *c, Fixture *fx, int d) {
    network(c, fx->image_builder[d], 0); /* (2, 5, 5) -> (2, 2, 3): overlapping bins */
    size(c, 2, 0);
    size(c, 3, 0);
}

static void pads(Call *c, int64_t top, int64_t bottom, int64_t left, int64_t right) {
    add(c, ROLE_PADDING, "int64_t", AI64(top));
    add(c, ROLE_PADDING, "int64_t", AI64(bottom));
    add(c, ROLE_PADDING, "int64_t", AI64(left));
    add(c, ROLE_PADDING, "int64_t", AI64(right));
}

static void r_add_conv2d_padded(Call *c, Fixture *fx, int d) {
    network(c, fx->image_builder[d], 0);
    buffer(c, elem_type(d, 1), fx->conv_w[d], 54, BUF_EXACT, DTD_ERROR_SHAPE_MISMATCH);
    size(c, 3, SIZE_SHAPED); /* out_channels */
    size(c, 2, SIZE_SHAPED); /* in_channels */
    size(c, 3, SIZE_SHAPED); /* kernel_h */
    size(c, 3, SIZE_SHAPED); /* kernel_w */
    buffer(c, elem_type(d, 1), fx->conv_b[d], 3, BUF_EXACT | BUF_OPTIONAL, DTD_ERROR_SHAPE_MISMATCH);
    size(c, 1, 0);    /* stride_h */
    size(c, 1, 0);    /* stride_w */
    pads(c, 1, 0, 2, 1); /* (2, 5, 5) -> (3, 4, 6) */
    size(c, 1, 0);    /* dilation_h */
    size(c, 1, 0);    /* dilation_w */
}

static void padded_pool(Call *c, Fixture *fx, int d, int64_t kernel, int64_t stride) {
    network(c, fx->image_builder[d], 0);
    size(c, kernel, 0);
    size(c, kernel, 0);
    size(c, stride, 0);
    size(c, stride, 0);
}

static void r_add_maxpool2d_padded(Call *c, Fixture *fx, int d) {
    padded_pool(c, fx, d, 2, 2);
    pads(c, 1, 0, 0, 1);
}

static void r_add_avgpool2d_padded(Call *c, Fixture *fx, int d) {
    padded_pool(c, fx, d, 3, 1);
    pads(c, 0, 2, 1, 0);
    add(c, ROLE_FLAG, "int32_t", AI32(0));
}

static void r_network_dtype(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    out_value(c, "dtd_dtype *", &fx->out_i32);
}

static void r_network_i64_query(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    out_value(c, "int64_t *", &fx->out_i64);
}

static void r_layer_kind(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    layer(c, 3, FX_LAYERS, 0, 0);
    out_value(c, "dtd_layer_kind *", &fx->out_i32);
}

static void r_layer_shape(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    Param *p = add(c, ROLE_LAYER_OR_INPUT, "int64_t", AI64(0));
    p->limit = FX_LAYERS;
    buffer(c, "int64_t *", fx->shape_out, 3, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    out_value(c, "int64_t *", &fx->out_i64);
}

static void r_layer_sources(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    layer(c, 3, FX_LAYERS, 0, 0); /* the dense layer reads layer 2 */
    buffer(c, "int64_t *", fx->shape_out, 1, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    out_value(c, "int64_t *", &fx->out_i64);
}

static void r_forward(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    batch(c);
    input(c, fx, d);
    elements(c, d, 0, fx->output[d], FX_BATCH * FX_OUT);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

/* ---- 4. Relevance ------------------------------------------------------------------------------ */

static void r_target_seed(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    batch(c);
    input(c, fx, d);
    buffer(c, "const int64_t *", fx->targets, FX_BATCH, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    elements(c, d, 0, fx->seed[d], FX_BATCH * FX_OUT);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

static void r_backward(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    batch(c);
    input(c, fx, d);
    elements(c, d, 1, fx->seed[d], FX_BATCH * FX_OUT);
    elements(c, d, 0, fx->relevance[d], FX_BATCH * FX_IN);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

static void r_lrp(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    rules(c, fx->rules[d], 1);
    batch(c);
    input(c, fx, d);
    elements(c, d, 1, fx->seed[d], FX_BATCH * FX_OUT);
    elements(c, d, 0, fx->relevance[d], FX_BATCH * FX_IN);
    buffer(c, "dtd_ledger_entry *", fx->ledger, FX_BATCH * FX_LAYERS, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
}

static void r_lrp_layers(Call *c, Fixture *fx, int d) {
    r_lrp(c, fx, d);
    add(c, ROLE_BUFFER, "const int64_t *", AP(fx->record_layers))->flags = BUF_OPTIONAL;
    add(c, ROLE_LIST_COUNT, "int64_t", AI64(2))->min = 0;
    elements(c, d, 0, fx->recorded[d], FX_RECORDED);
    add(c, ROLE_BUFFER, "const dtd_relevance_mask *", AP(fx->masks))->flags = BUF_OPTIONAL;
    add(c, ROLE_LIST_COUNT, "int64_t", AI64(1))->min = 0;
}

/* ---- 5. Rules ---------------------------------------------------------------------------------- */

static void r_rules_create(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    add(c, ROLE_OUT_HANDLE, "dtd_rules **", AP(&fx->out_handle));
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

static void r_rules_destroy(Call *c, Fixture *fx, int d) {
    (void)d;
    rules(c, fx->victim_rules, 0);
    c->flags |= CALL_DESTROY_RULES;
}

static void rule_target(Call *c, Fixture *fx, int d, int64_t at) {
    rules(c, fx->rules[d], 0);
    layer(c, at, FX_LAYERS, LAYER_LINEAR, ST(DTD_ERROR_RULE));
}

static void r_set_epsilon(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 3);
    param(c, 0.0, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_zplus(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 0);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_alphabeta(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 3);
    param(c, 2.0, PARAM_ALPHA, 0);
    param(c, 1.0, PARAM_BETA, 0);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_gamma(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 0);
    param(c, 0.25, PARAM_NONNEG, 0);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_wsquare(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 5);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_flat(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 0);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
}

static void r_set_zbox(Call *c, Fixture *fx, int d) {
    rule_target(c, fx, d, 0);
    param(c, -1.0, PARAM_LOW, 1.0);
    param(c, 1.0, PARAM_HIGH, -1.0);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_zbox_bounds(Call *c, Fixture *fx, int d) {
    rules(c, fx->rules[d], 0);
    /* Bounds are sized by the named layer's input, so a relu layer may fail on the size first. */
    layer(c, 0, FX_LAYERS, LAYER_LINEAR, ST(DTD_ERROR_RULE) | ST(DTD_ERROR_SHAPE_MISMATCH));
    /* Per element of layer 0's input: 32 values (1 or 2 = per channel would be valid counts). */
    buffer(c, elem_type(d, 1), fx->low[d], FX_IN, BUF_EXACT, DTD_ERROR_SHAPE_MISMATCH);
    buffer(c, elem_type(d, 1), fx->high[d], FX_IN, BUF_EXACT, DTD_ERROR_SHAPE_MISMATCH);
    param(c, DTD_DEFAULT_STABILIZER, PARAM_NONNEG, 0);
    bias_mode(c);
}

static void r_set_composite(Call *c, Fixture *fx, int d) {
    static const int64_t composites[] = {1, 2, 3, 4, 5};
    rules(c, fx->rules[d], 0);
    enum32(c, "dtd_composite", DTD_COMPOSITE_EPSILON_GAMMA_BOX, composites, 5); /* reads every parameter */
    param(c, 1e-6, PARAM_NONNEG, 0);
    param(c, 0.25, PARAM_NONNEG, 0);
    param(c, -1.0, PARAM_LOW, 1.0);
    param(c, 1.0, PARAM_HIGH, -1.0);
}

static void r_rules_kind(Call *c, Fixture *fx, int d) {
    rules(c, fx->rules[d], 1);
    layer(c, 3, FX_LAYERS, 0, 0);
    out_value(c, "dtd_rule_kind *", &fx->out_i32);
}

/* ---- 6. Roots and audit (written from the header) ----------------------------------------------- */

static void net_rules_query(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    rules(c, fx->rules[d], 1);
    query(c, fx);
}

static void r_roots_count(Call *c, Fixture *fx, int d) {
    net_rules_query(c, fx, d);
    out_value(c, "int64_t *", &fx->out_i64);
}

static void r_roots_compute(Call *c, Fixture *fx, int d) {
    net_rules_query(c, fx, d);
    batch(c);
    input(c, fx, d);
    buffer(c, elem_type(d, 0), fx->points[d], FX_BATCH * FX_ROOTS * FX_ROOT_LAYER_IN, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
    buffer(c, "dtd_root_info *", fx->info, FX_BATCH * FX_ROOTS, 0, DTD_ERROR_BUFFER_TOO_SMALL);
}

static void r_audit_roots(Call *c, Fixture *fx, int d) {
    net_rules_query(c, fx, d);
    batch(c);
    input(c, fx, d);
    buffer(c, "dtd_audit_record *", fx->records, FX_BATCH * FX_ROOTS, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    add(c, ROLE_SUMMARY, "dtd_audit_summary *", AP(&fx->summary));
}

static void r_audit_points(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    layer(c, FX_ROOT_LAYER, FX_LAYERS, 0, 0);
    Param *target = add(c, ROLE_TARGET, "int64_t", AI64(0));
    target->limit = FX_OUT;
    batch(c);
    input(c, fx, d);
    size(c, FX_PPS, SIZE_SCALES);
    elements(c, d, 1, fx->audit_points[d], FX_BATCH * FX_PPS * FX_ROOT_LAYER_IN);
    buffer(c, "dtd_audit_record *", fx->records, FX_BATCH * FX_PPS, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    add(c, ROLE_SUMMARY, "dtd_audit_summary *", AP(&fx->summary));
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK) | ST(DTD_ERROR_LAYER_INDEX);
}

/* ---- 7. Theory (written from the header) ------------------------------------------------------- */

static void r_gxi_distance(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    rules(c, fx->rules[d], 1);
    batch(c);
    input(c, fx, d);
    elements(c, d, 1, fx->seed[d], FX_BATCH * FX_OUT);
    buffer(c, "double *", fx->distances, FX_BATCH, 0, DTD_ERROR_BUFFER_TOO_SMALL);
}

static void r_constant_root(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    batch(c);
    input(c, fx, d);
    /* One shared root: root_count = input size exactly (batch * input size is the other valid count). */
    buffer(c, elem_type(d, 1), fx->root[d], FX_IN, BUF_EXACT, DTD_ERROR_SHAPE_MISMATCH);
    elements(c, d, 1, fx->seed[d], FX_BATCH * FX_OUT);
    elements(c, d, 0, fx->relevance[d], FX_BATCH * FX_IN);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

static void r_construct_roots(Call *c, Fixture *fx, int d) {
    net_rules_query(c, fx, d);
    c->flags |= CALL_QUERY_PLACEMENT_IGNORED; /* "Placement and flags of the query are ignored." */
    batch(c);
    input(c, fx, d);
    elements(c, d, 1, fx->explanation[d], FX_BATCH * FX_ROOT_LAYER_IN);
    elements(c, d, 0, fx->points[d], FX_BATCH * FX_ROOTS * FX_ROOT_LAYER_IN);
    buffer(c, "dtd_root_info *", fx->info, FX_BATCH * FX_ROOTS, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
}

static void r_rank1_csc(Call *c, Fixture *fx, int d) {
    network(c, fx->net[d], 1);
    rules(c, fx->rules[d], 1);
    batch(c);
    input(c, fx, d);
    Param *spp = add(c, ROLE_SIZE, "int64_t", AI64(FX_SPP));
    spp->min = 2;
    spp->flags = SIZE_SCALES;
    elements(c, d, 1, fx->seeds[d], FX_BATCH * FX_SPP * FX_OUT);
    buffer(c, "double *", fx->csc, FX_LAYERS + 1, 0, DTD_ERROR_BUFFER_TOO_SMALL);
}

/* ---- limits ------------------------------------------------------------------------------------ */

static void r_set_max_scratch(Call *c, Fixture *fx, int d) {
    (void)d;
    add(c, ROLE_BYTES, "int64_t", AI64((int64_t)1 << 30));
    add(c, ROLE_OPTIONAL_OUT, "int64_t *", AP(&fx->out_i64));
}

/* ---- 8. Full-backward DTD ------------------------------------------------------------------------ */

static void fb_query(Call *c, Fixture *fx, unsigned flags) {
    add(c, ROLE_FB_QUERY, "const dtd_full_backward_query *", AP(&fx->fb_query))->flags = flags;
}

static void r_full_backward_count(Call *c, Fixture *fx, int d) {
    network(c, fx->chain[d], 1);
    fb_query(c, fx, 0);
    out_value(c, "dtd_full_backward_sizes *", &fx->fb_sizes);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

static void r_full_backward_compute(Call *c, Fixture *fx, int d) {
    network(c, fx->chain[d], 1);
    fb_query(c, fx, FBQ_READS_INPUT);
    batch(c);
    elements(c, d, 1, fx->chain_x[d], FX_BATCH * FX_FB_IN);
    buffer(c, "dtd_full_backward_unit *", fx->fb_units, FX_BATCH * FX_FB_UNITS, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    elements(c, d, 0, fx->fb_relevance[d], FX_BATCH * FX_FB_IN);
    buffer(c, elem_type(d, 0), fx->fb_slope[d], FX_BATCH * FX_FB_IN, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
    buffer(c, elem_type(d, 0), fx->fb_roots[d], FX_BATCH * FX_FB_ROOTS, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
    buffer(c, "dtd_full_backward_sample *", fx->fb_samples, FX_BATCH, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

static void r_full_backward_regions(Call *c, Fixture *fx, int d) {
    network(c, fx->chain[d], 1);
    fb_query(c, fx, FBQ_READS_INPUT);
    batch(c);
    elements(c, d, 1, fx->chain_x[d], FX_BATCH * FX_FB_IN);
    buffer(c, "dtd_full_backward_region *", fx->fb_regions, FX_BATCH * FX_FB_LAYERS, 0, DTD_ERROR_BUFFER_TOO_SMALL);
    buffer(c, elem_type(d, 0), fx->fb_boxes[d], FX_BATCH * FX_FB_BOXES, BUF_OPTIONAL, DTD_ERROR_BUFFER_TOO_SMALL);
    c->empty_expect = ST(DTD_ERROR_EMPTY_NETWORK);
}

/* ---- the registry ---------------------------------------------------------------------------- */

typedef struct {
    const char *name; /* the full name, or the base name of an _f32/_f64 pair */
    int typed;
    RecipeFn fn;
} Recipe;

static const Recipe recipes[] = {
    {"dtd_set_max_scratch_bytes", 0, r_set_max_scratch},
    {"dtd_network_create", 0, r_network_create},
    {"dtd_network_destroy", 0, r_network_destroy},
    {"dtd_network_add_dense", 1, r_add_dense},
    {"dtd_network_add_conv2d", 1, r_add_conv2d},
    {"dtd_network_add_relu", 0, r_add_relu},
    {"dtd_network_add_flatten", 0, r_add_flatten},
    {"dtd_network_add_maxpool2d", 0, r_add_maxpool2d},
    {"dtd_network_add_avgpool2d", 0, r_add_avgpool2d},
    {"dtd_network_add_batchnorm", 1, r_add_batchnorm},
    {"dtd_network_add_route", 0, r_add_route},
    {"dtd_network_add_add", 0, r_add_add},
    {"dtd_network_add_identity", 0, r_add_identity},
    {"dtd_network_add_adaptive_avgpool2d", 0, r_add_adaptive_avgpool2d},
    {"dtd_network_add_conv2d_padded", 1, r_add_conv2d_padded},
    {"dtd_network_add_maxpool2d_padded", 0, r_add_maxpool2d_padded},
    {"dtd_network_add_avgpool2d_padded", 0, r_add_avgpool2d_padded},
    {"dtd_network_dtype", 0, r_network_dtype},
    {"dtd_network_layer_count", 0, r_network_i64_query},
    {"dtd_network_input_size", 0, r_network_i64_query},
    {"dtd_network_output_size", 0, r_network_i64_query},
    {"dtd_network_layer_kind", 0, r_layer_kind},
    {"dtd_network_layer_shape", 0, r_layer_shape},
    {"dtd_network_layer_sources", 0, r_layer_sources},
    {"dtd_network_forward", 1, r_forward},
    {"dtd_relevance_target_seed", 1, r_target_seed},
    {"dtd_relevance_gradient", 1, r_backward},
    {"dtd_relevance_gradient_x_input", 1, r_backward},
    {"dtd_relevance_lrp", 1, r_lrp},
    {"dtd_relevance_lrp_layers", 1, r_lrp_layers},
    {"dtd_rules_create", 0, r_rules_create},
    {"dtd_rules_destroy", 0, r_rules_destroy},
    {"dtd_rules_set_epsilon", 0, r_set_epsilon},
    {"dtd_rules_set_zplus", 0, r_set_zplus},
    {"dtd_rules_set_alphabeta", 0, r_set_alphabeta},
    {"dtd_rules_set_gamma", 0, r_set_gamma},
    {"dtd_rules_set_wsquare", 0, r_set_wsquare},
    {"dtd_rules_set_flat", 0, r_set_flat},
    {"dtd_rules_set_zbox", 0, r_set_zbox},
    {"dtd_rules_set_zbox_bounds", 1, r_set_zbox_bounds},
    {"dtd_rules_set_composite", 0, r_set_composite},
    {"dtd_rules_kind", 0, r_rules_kind},
    {"dtd_roots_count", 0, r_roots_count},
    {"dtd_roots_compute", 1, r_roots_compute},
    {"dtd_audit_roots", 1, r_audit_roots},
    {"dtd_audit_points", 1, r_audit_points},
    {"dtd_theory_gxi_distance", 1, r_gxi_distance},
    {"dtd_theory_constant_root", 1, r_constant_root},
    {"dtd_theory_construct_roots", 1, r_construct_roots},
    {"dtd_theory_rank1_csc", 1, r_rank1_csc},
    {"dtd_full_backward_count", 0, r_full_backward_count},
    {"dtd_full_backward_compute", 1, r_full_backward_compute},
    {"dtd_full_backward_regions", 1, r_full_backward_regions},
};

#define RECIPE_COUNT (int)(sizeof recipes / sizeof recipes[0])

static const Recipe *find(const char *name, int *dtype) {
    int d = name_dtype(name);
    size_t n = strlen(name);
    for (int i = 0; i < RECIPE_COUNT; i++) {
        if (recipes[i].typed && d >= 0 && strlen(recipes[i].name) == n - 4 && strncmp(recipes[i].name, name, n - 4) == 0) {
            *dtype = d;
            return &recipes[i];
        }
        if (!recipes[i].typed && strcmp(recipes[i].name, name) == 0) {
            *dtype = -1;
            return &recipes[i];
        }
    }
    return NULL;
}

RecipeFn recipe_for(const char *name) {
    int d;
    const Recipe *r = find(name, &d);
    return r ? r->fn : NULL;
}

int recipe_call(const char *name, Fixture *fx, Call *c) {
    int d;
    const Recipe *r = find(name, &d);
    memset(c, 0, sizeof *c);
    if (!r) return -1;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->dtype = d;
    r->fn(c, fx, d >= 0 ? d : 1); /* untyped functions are exercised on the float64 fixtures */
    return 0;
}

int recipe_names(const char **names, int capacity) {
    static char expanded[2 * RECIPE_COUNT][96];
    int count = 0;
    for (int i = 0; i < RECIPE_COUNT && count < capacity; i++) {
        if (!recipes[i].typed) {
            names[count++] = recipes[i].name;
            continue;
        }
        for (int d = 0; d < 2 && count < capacity; d++) {
            snprintf(expanded[count], sizeof expanded[count], "%s", typed(recipes[i].name, d));
            names[count] = expanded[count];
            count++;
        }
    }
    return count;
}
