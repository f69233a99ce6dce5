/**
 * fixture.c : the handles and buffers each robustness check starts from.
 *
 * fixture_build(1) runs inside a child and builds every network and rule set through ffi_call
 * (so a failure here is itself reported); fixture_build(0) allocates only the buffers, which is
 * all the parent needs to lay out a recipe's arguments and plan its perturbations.
 */
#include "robustness.h"

#include <stdlib.h>
#include <string.h>

const char *elem_type(int dtype, int is_const) {
    static const char *const names[2][2] = {{"float *", "const float *"}, {"double *", "const double *"}};
    return names[dtype][is_const ? 1 : 0];
}

void elem_set(void *buffer, int dtype, int64_t i, double value) {
    if (dtype == 0)
        ((float *)buffer)[i] = (float)value;
    else
        ((double *)buffer)[i] = value;
}

double elem_get(const void *buffer, int dtype, int64_t i) {
    return dtype == 0 ? (double)((const float *)buffer)[i] : ((const double *)buffer)[i];
}

/** n elements of either type, plus slack so that "count + 1" perturbations stay in bounds. */
static void *elements(int64_t n) {
    void *p = calloc((size_t)n + 16, sizeof(double));
    if (!p) abort();
    return p;
}

/* The fixture network's parameters: smooth deterministic values, positive enough downstream
 * that f_0(x) > 0 (dtd_theory_construct_roots_* needs a nonzero explanation total). */
static double conv_weight(int i) { return 0.3 * wave(i, 1); }
static double hidden_weight(int i) { return 0.2 * wave(i, 2) + 0.05; }
static double top_weight(int i) { return 0.5 + 0.3 * wave(i, 3); }
static double input_value(int i) { return abs_of(wave(i, 4)) + 0.1; }

/** Adds the fixture network's layers to `net` (dtype d); returns 0 on success. */
static int add_fixture_layers(void *net, int d) {
    void *cw = elements(3 * 2 * 9), *cb = elements(3), *hw = elements(5 * 48), *hb = elements(5);
    void *tw = elements(3 * 5), *tb = elements(3);
    for (int i = 0; i < 54; i++) elem_set(cw, d, i, conv_weight(i));
    for (int i = 0; i < 3; i++) elem_set(cb, d, i, 0.05);
    for (int i = 0; i < 240; i++) elem_set(hw, d, i, hidden_weight(i));
    for (int i = 0; i < 5; i++) elem_set(hb, d, i, 0.1);
    for (int i = 0; i < 15; i++) elem_set(tw, d, i, top_weight(i));
    for (int i = 0; i < 3; i++) elem_set(tb, d, i, 0.01);
    int bad = 0;
    bad |= DCALL(typed("dtd_network_add_conv2d", d), AP(net), AP(cw), AI64(54), AI64(3), AI64(2), AI64(3), AI64(3), AP(cb),
                 AI64(3), AI64(1), AI64(1), AI64(1), AI64(1), AI64(1), AI64(1)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(net)) != DTD_OK;
    bad |= DCALL("dtd_network_add_flatten", AP(net)) != DTD_OK;
    bad |= DCALL(typed("dtd_network_add_dense", d), AP(net), AP(hw), AI64(240), AI64(5), AI64(48), AP(hb), AI64(5)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(net)) != DTD_OK;
    bad |= DCALL(typed("dtd_network_add_dense", d), AP(net), AP(tw), AI64(15), AI64(3), AI64(5), AP(tb), AI64(3)) != DTD_OK;
    free(cw), free(cb), free(hw), free(hb), free(tw), free(tb);
    return bad;
}

/* The chain's parameters: mostly positive weights and small negative biases, so f_0 > 0 on the
 * fixture inputs while some units can still be off. */
static double chain_hidden_weight(int i) { return 0.3 + 0.25 * wave(i, 6); }
static double chain_top_weight(int i) { return 0.5 + 0.3 * wave(i, 7); }
static double chain_input(int i) { return abs_of(wave(i, 8)) + 0.2; }

/** Adds dense 4 -> 3, relu, dense 3 -> 2, relu to `net` (dtype d); returns 0 on success. */
static int add_chain_layers(void *net, int d) {
    void *hw = elements(12), *hb = elements(3), *tw = elements(6), *tb = elements(2);
    for (int i = 0; i < 12; i++) elem_set(hw, d, i, chain_hidden_weight(i));
    for (int i = 0; i < 3; i++) elem_set(hb, d, i, -0.05);
    for (int i = 0; i < 6; i++) elem_set(tw, d, i, chain_top_weight(i));
    for (int i = 0; i < 2; i++) elem_set(tb, d, i, -0.1);
    int bad = 0;
    bad |= DCALL(typed("dtd_network_add_dense", d), AP(net), AP(hw), AI64(12), AI64(3), AI64(4), AP(hb), AI64(3)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(net)) != DTD_OK;
    bad |= DCALL(typed("dtd_network_add_dense", d), AP(net), AP(tw), AI64(6), AI64(2), AI64(3), AP(tb), AI64(2)) != DTD_OK;
    bad |= DCALL("dtd_network_add_relu", AP(net)) != DTD_OK;
    free(hw), free(hb), free(tw), free(tb);
    return bad;
}

static void *new_network(int d, const int64_t *shape, int64_t rank, int *bad) {
    void *net = NULL;
    if (DCALL("dtd_network_create", AI32(d == 0 ? DTD_DTYPE_FLOAT32 : DTD_DTYPE_FLOAT64), AP(shape), AI64(rank), AP(&net)) != DTD_OK)
        *bad = 1;
    return net;
}

static void *lrp0_rules(void *net, int *bad) {
    void *rules = NULL;
    if (DCALL("dtd_rules_create", AP(net), AP(&rules)) != DTD_OK) *bad = 1;
    for (int layer = 0; layer < FX_LAYERS; layer += (layer == 0 ? 3 : 2))
        if (DCALL("dtd_rules_set_epsilon", AP(rules), AI64(layer), AF64(0.0), AI32(DTD_BIAS_INCLUDE)) != DTD_OK) *bad = 1;
    return rules;
}

Fixture *fixture_build(int live) {
    Fixture *fx = calloc(1, sizeof *fx);
    if (!fx) abort();
    fx->live = live;
    fx->shape_image[0] = 2, fx->shape_image[1] = 4, fx->shape_image[2] = 4;
    fx->shape_flat[0] = 6;
    for (int n = 0; n < FX_BATCH; n++) fx->targets[n] = n % FX_OUT;
    fx->query = (dtd_root_query){.layer = FX_ROOT_LAYER, .target = 0, .placement = DTD_PLACEMENT_RELEVANCE, .flags = 0,
                                 .tol = 1e-5, .neuron_begin = 0, .neuron_end = FX_ROOTS};
    /* The sampled method needs no solver, so the sweep does not depend on CLP being installed. */
    fx->fb_query = (dtd_full_backward_query){.target = 0, .method = DTD_FULL_BACKWARD_SAMPLED, .directions = 3, .seed = 1,
                                             .input_lower = 0.0};
    for (int d = 0; d < 2; d++) {
        fx->x[d] = elements(FX_BATCH * FX_IN);
        fx->seed[d] = elements(FX_BATCH * FX_OUT);
        fx->output[d] = elements(FX_BATCH * FX_OUT);
        fx->relevance[d] = elements(FX_BATCH * FX_IN);
        fx->explanation[d] = elements(FX_BATCH * FX_ROOT_LAYER_IN);
        fx->points[d] = elements(FX_BATCH * FX_ROOTS * FX_ROOT_LAYER_IN);
        fx->audit_points[d] = elements(FX_BATCH * FX_PPS * FX_ROOT_LAYER_IN);
        fx->root[d] = elements(FX_IN);
        fx->seeds[d] = elements(FX_BATCH * FX_SPP * FX_OUT);
        fx->dense_w[d] = elements(24);
        fx->dense_b[d] = elements(4);
        fx->conv_w[d] = elements(54);
        fx->conv_b[d] = elements(3);
        for (int k = 0; k < 4; k++) fx->bn[d][k] = elements(4);
        fx->low[d] = elements(FX_IN);
        fx->high[d] = elements(FX_IN);
        fx->chain_x[d] = elements(FX_BATCH * FX_FB_IN);
        fx->fb_relevance[d] = elements(FX_BATCH * FX_FB_IN);
        fx->fb_slope[d] = elements(FX_BATCH * FX_FB_IN);
        fx->fb_roots[d] = elements(FX_BATCH * FX_FB_ROOTS);
        fx->fb_boxes[d] = elements(FX_BATCH * FX_FB_BOXES);
        for (int i = 0; i < FX_BATCH * FX_FB_IN; i++) elem_set(fx->chain_x[d], d, i, chain_input(i));
        for (int i = 0; i < FX_BATCH * FX_IN; i++) elem_set(fx->x[d], d, i, input_value(i));
        for (int i = 0; i < FX_BATCH * FX_OUT; i++) elem_set(fx->seed[d], d, i, 1.0 / (1 + i % FX_OUT));
        for (int i = 0; i < FX_IN; i++) elem_set(fx->root[d], d, i, 0.5 * input_value(i));
        for (int i = 0; i < FX_BATCH * FX_SPP * FX_OUT; i++) elem_set(fx->seeds[d], d, i, 0.3 + 0.2 * wave(i, 5));
        for (int i = 0; i < FX_BATCH * FX_PPS * FX_ROOT_LAYER_IN; i++) elem_set(fx->audit_points[d], d, i, 0.1 * (i % 7));
        for (int i = 0; i < 24; i++) elem_set(fx->dense_w[d], d, i, 0.1 * (i % 5) - 0.2);
        for (int i = 0; i < 4; i++) elem_set(fx->dense_b[d], d, i, 0.01 * i);
        for (int i = 0; i < 54; i++) elem_set(fx->conv_w[d], d, i, conv_weight(i));
        for (int i = 0; i < 3; i++) elem_set(fx->conv_b[d], d, i, 0.02);
        for (int i = 0; i < 4; i++) {
            elem_set(fx->bn[d][0], d, i, 1.0 + 0.1 * i); /* gamma */
            elem_set(fx->bn[d][1], d, i, 0.05 * i);      /* beta */
            elem_set(fx->bn[d][2], d, i, 0.01 * i);      /* running mean */
            elem_set(fx->bn[d][3], d, i, 0.5 + 0.1 * i); /* running var */
        }
        for (int i = 0; i < FX_IN; i++) {
            elem_set(fx->low[d], d, i, -1.0);
            elem_set(fx->high[d], d, i, 1.0 + 0.01 * i);
        }
    }
    if (!live) return fx;

    set_setup_mode(1);
    int bad = 0;
    for (int d = 0; d < 2; d++) {
        fx->net[d] = new_network(d, fx->shape_image, 3, &bad);
        bad |= add_fixture_layers(fx->net[d], d);
        fx->rules[d] = lrp0_rules(fx->net[d], &bad);
        fx->twin[d] = new_network(d, fx->shape_image, 3, &bad);
        bad |= add_fixture_layers(fx->twin[d], d);
        fx->twin_rules[d] = lrp0_rules(fx->twin[d], &bad);
        fx->empty[d] = new_network(d, fx->shape_image, 3, &bad);
        fx->flat_builder[d] = new_network(d, fx->shape_flat, 1, &bad);
        fx->dense_builder[d] = new_network(d, fx->shape_flat, 1, &bad);
        bad |= DCALL(typed("dtd_network_add_dense", d), AP(fx->dense_builder[d]), AP(fx->dense_w[d]), AI64(24), AI64(4), AI64(6),
                     AP(fx->dense_b[d]), AI64(4)) != DTD_OK;
        int64_t image[3] = {2, 5, 5};
        fx->image_builder[d] = new_network(d, image, 3, &bad);
        int64_t chain_shape[1] = {FX_FB_IN};
        fx->chain[d] = new_network(d, chain_shape, 1, &bad);
        bad |= add_chain_layers(fx->chain[d], d);
        void *chain_y = elements(FX_BATCH * FX_FB_OUT);
        bad |= DCALL(typed("dtd_network_forward", d), AP(fx->chain[d]), AI64(FX_BATCH), AP(fx->chain_x[d]),
                     AI64(FX_BATCH * FX_FB_IN), AP(chain_y), AI64(FX_BATCH * FX_FB_OUT)) != DTD_OK;
        for (int n = 0; n < FX_BATCH; n++) bad |= !(elem_get(chain_y, d, n * FX_FB_OUT) > 0.1);
        free(chain_y);
        /* f_0(x): construct_roots needs explanations that sum to R = f_0(x) per sample (with
         * LRP-0 in root form above layer 3, the relevance at layer 3 totals f_0 exactly). */
        bad |= DCALL(typed("dtd_network_forward", d), AP(fx->net[d]), AI64(FX_BATCH), AP(fx->x[d]), AI64(FX_BATCH * FX_IN),
                     AP(fx->output[d]), AI64(FX_BATCH * FX_OUT)) != DTD_OK;
        for (int n = 0; n < FX_BATCH; n++) {
            double f0 = elem_get(fx->output[d], d, n * FX_OUT);
            if (d == 1) fx->f0[n] = f0;
            for (int i = 0; i < FX_ROOT_LAYER_IN; i++)
                elem_set(fx->explanation[d], d, n * FX_ROOT_LAYER_IN + i, f0 / FX_ROOT_LAYER_IN);
        }
    }
    fx->victim_net = new_network(1, fx->shape_image, 3, &bad);
    bad |= add_fixture_layers(fx->victim_net, 1);
    fx->victim_rules = lrp0_rules(fx->victim_net, &bad);
    fx->dead_net = new_network(1, fx->shape_image, 3, &bad);
    bad |= add_fixture_layers(fx->dead_net, 1);
    fx->dead_rules = lrp0_rules(fx->dead_net, &bad);
    VCALL("dtd_rules_destroy", AP(fx->dead_rules));
    VCALL("dtd_network_destroy", AP(fx->dead_net));
    for (int n = 0; n < FX_BATCH; n++)
        bad |= !(fx->f0[n] > 0.1);
    set_setup_mode(0);
    if (bad) {
        check(0, "fixture", "the sweep fixture builds (networks, rule sets, f_0(x) > 0.1 on both nets)",
              "a building call failed or f_0(x) <= 0.1; see the failures above; last message: %s", last_message());
        fixture_free(fx);
        return NULL;
    }
    return fx;
}

void fixture_free(Fixture *fx) {
    if (!fx) return;
    for (int d = 0; d < 2; d++) {
        void *buffers[] = {fx->x[d], fx->seed[d], fx->output[d], fx->relevance[d], fx->explanation[d], fx->points[d],
                           fx->audit_points[d], fx->root[d], fx->seeds[d], fx->dense_w[d], fx->dense_b[d], fx->conv_w[d],
                           fx->conv_b[d], fx->bn[d][0], fx->bn[d][1], fx->bn[d][2], fx->bn[d][3], fx->low[d], fx->high[d],
                           fx->chain_x[d], fx->fb_relevance[d], fx->fb_slope[d], fx->fb_roots[d], fx->fb_boxes[d]};
        for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) free(buffers[i]);
    }
    free(fx);
}
