/*
 * api_tour.c : a walk through libdtd's C API on one small convolutional network.
 *
 *   make run            (or: make && ./build/api_tour)
 *
 * It builds a network from raw arrays (conv -> relu -> max-pool -> flatten -> dense -> relu ->
 * dense), runs the forward pass, the gradient and gradient x input, then LRP twice: with a rule
 * per layer (z^B on the input layer, gamma, epsilon) and with a named composite. It prints the
 * relevance maps and the conservation ledger, and shows how errors are reported: every fallible
 * call returns a dtd_status; dtd_status_string() names it and dtd_last_error_message() explains it.
 *
 * Exit status: 0 when every call behaved as shown, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "dtd.h"

/* Run a libdtd call; on failure print where, the status and the message, and jump to cleanup. */
#define TRY(call)                                                                                      \
    do {                                                                                               \
        dtd_status status_ = (call);                                                                   \
        if (status_ != DTD_OK) {                                                                       \
            fprintf(stderr, "%s:%d: %s\n  -> %s: %s\n", __FILE__, __LINE__, #call,                     \
                    dtd_status_string(status_), dtd_last_error_message());                             \
            goto cleanup;                                                                              \
        }                                                                                              \
    } while (0)

/* The network: input (1, 4, 4), three classes. */
#define H 4
#define W 4
#define CLASSES 3
#define LAYERS 7

static const char *layer_name(dtd_layer_kind kind) {
    switch (kind) {
    case DTD_LAYER_DENSE: return "dense";
    case DTD_LAYER_CONV2D: return "conv2d";
    case DTD_LAYER_RELU: return "relu";
    case DTD_LAYER_MAXPOOL2D: return "maxpool2d";
    case DTD_LAYER_AVGPOOL2D: return "avgpool2d";
    case DTD_LAYER_FLATTEN: return "flatten";
    case DTD_LAYER_BATCHNORM: return "batchnorm";
    default: return "?";
    }
}

static const char *rule_name(dtd_rule_kind kind) {
    static const char *const names[] = {"-", "epsilon", "zplus", "alphabeta", "gamma", "wsquare", "flat", "zbox"};
    return kind >= 0 && kind <= DTD_RULE_ZBOX ? names[kind] : "?";
}

static void print_map(const char *title, const double *map) {
    double total = 0;
    int i, j;
    printf("%s\n", title);
    for (i = 0; i < H; i++) {
        printf("   ");
        for (j = 0; j < W; j++) {
            printf(" %8.4f", map[i * W + j]);
            total += map[i * W + j];
        }
        printf("\n");
    }
    printf("    sum %.6f\n", total);
}

static void print_ledger(const dtd_network *network, const dtd_ledger_entry *ledger) {
    int64_t l;
    printf("    layer  kind        relevance out  relevance in   bias         stabiliser   dropped\n");
    for (l = 0; l < LAYERS; l++) {
        const dtd_ledger_entry *e = &ledger[l];
        dtd_layer_kind kind = 0;
        dtd_network_layer_kind(network, l, &kind);
        printf("    %5lld  %-10s  %13.6f  %13.6f  %11.3e  %11.3e  %11.3e\n", (long long)e->layer, layer_name(kind), e->relevance_out,
               e->relevance_in, e->absorbed_bias, e->absorbed_stabilizer, e->dropped);
    }
}

int main(void) {
    /* Raw parameters, laid out as PyTorch does: conv weight (Cout, Cin, kH, kW), dense (out, in). */
    static const double conv_w[2 * 1 * 3 * 3] = {
        -1, 0, 1, -1, 0, 1, -1, 0, 1, /* channel 0: vertical edges */
        -1, -1, -1, 0, 0, 0, 1, 1, 1, /* channel 1: horizontal edges */
    };
    static const double conv_b[2] = {0.1, -0.1};
    static const double dense1_w[4 * 8] = {
        0.5, -0.2, 0.3, 0.1, 0.4, 0.2, -0.1, 0.3,  -0.3, 0.6, 0.2, -0.4, 0.1, 0.5, 0.3, 0.2,
        0.2, 0.1, -0.5, 0.4, -0.2, 0.3, 0.6, -0.1, 0.4, 0.3, 0.1, 0.2, 0.5, -0.3, 0.2, 0.4,
    };
    static const double dense1_b[4] = {0.05, -0.05, 0.1, 0.0};
    static const double dense2_w[CLASSES * 4] = {0.7, -0.4, 0.3, 0.5, -0.2, 0.8, 0.4, -0.3, 0.3, 0.2, -0.6, 0.9};
    static const double dense2_b[CLASSES] = {0.1, 0.0, -0.1};
    static const double x[H * W] = {
        0.0, 0.2, 0.9, 1.0, /* a bright edge on the right */
        0.1, 0.3, 0.8, 1.0,
        0.0, 0.2, 0.9, 0.9,
        0.1, 0.1, 0.7, 1.0,
    };
    const int64_t input_shape[3] = {1, H, W};

    dtd_network *net = NULL;
    dtd_rules *rules = NULL, *preset = NULL;
    double logits[CLASSES], seed[CLASSES], gradient[H * W], gxi[H * W], relevance[H * W];
    dtd_ledger_entry ledger[LAYERS];
    int64_t targets[1], shape[DTD_MAX_RANK], rank = 0, count = 0, l;
    dtd_status status;
    int k, exit_code = 1;

    /* 1. Version: refuse to run against a library of another ABI. */
    if (!DTD_CHECK_ABI()) {
        fprintf(stderr, "libdtd ABI %d, this program was built for ABI %d\n", (int)dtd_abi_version(), DTD_ABI_VERSION);
        return 1;
    }
    printf("libdtd %s (ABI %d)\n\n", dtd_version_string(), (int)dtd_abi_version());

    /* 2. Build the network. Weights are copied; the arrays above could be freed right away. */
    TRY(dtd_network_create(DTD_DTYPE_FLOAT64, input_shape, 3, &net));
    TRY(dtd_network_add_conv2d_f64(net, conv_w, 18, 2, 1, 3, 3, conv_b, 2, /* stride */ 1, 1, /* padding */ 1, 1,
                                   /* dilation */ 1, 1));
    TRY(dtd_network_add_relu(net));
    TRY(dtd_network_add_maxpool2d(net, 2, 2, 2, 2, 0, 0));
    TRY(dtd_network_add_flatten(net));
    TRY(dtd_network_add_dense_f64(net, dense1_w, 32, 4, 8, dense1_b, 4));
    TRY(dtd_network_add_relu(net));
    TRY(dtd_network_add_dense_f64(net, dense2_w, 12, CLASSES, 4, dense2_b, CLASSES));
    TRY(dtd_network_layer_count(net, &count));
    printf("network: %lld layers\n", (long long)count);
    for (l = -1; l < count; l++) {
        dtd_layer_kind kind = 0;
        TRY(dtd_network_layer_shape(net, l, shape, DTD_MAX_RANK, &rank));
        if (l >= 0) TRY(dtd_network_layer_kind(net, l, &kind));
        printf("  %2lld %-10s -> (", (long long)l, l < 0 ? "input" : layer_name(kind));
        for (k = 0; k < (int)rank; k++) printf("%s%lld", k ? ", " : "", (long long)shape[k]);
        printf(")\n");
    }

    /* 3. Forward pass. */
    TRY(dtd_network_forward_f64(net, 1, x, H * W, logits, CLASSES));
    targets[0] = 0;
    for (k = 0; k < CLASSES; k++)
        if (logits[k] > logits[targets[0]]) targets[0] = k;
    printf("\nf(x) = [%.4f, %.4f, %.4f]: explaining class %lld\n", logits[0], logits[1], logits[2], (long long)targets[0]);

    /* 4. The seed r = f_k(x) e_k ("explain class k"), the gradient J^T r and gradient x input. */
    TRY(dtd_relevance_target_seed_f64(net, 1, x, H * W, targets, 1, seed, CLASSES));
    TRY(dtd_relevance_gradient_f64(net, 1, x, H * W, seed, CLASSES, gradient, H * W));
    TRY(dtd_relevance_gradient_x_input_f64(net, 1, x, H * W, seed, CLASSES, gxi, H * W));
    print_map("\ngradient J(x)^T r:", gradient);
    print_map("gradient x input:", gxi);

    /* 5. LRP with a rule per layer: z^B with the pixel range [0, 1] on the input layer, gamma on
     *    the hidden dense layer, epsilon on the output layer. Layer indices count every layer. */
    TRY(dtd_rules_create(net, &rules));
    TRY(dtd_rules_set_zbox(rules, 0, 0.0, 1.0, DTD_DEFAULT_STABILIZER, DTD_BIAS_INCLUDE));
    TRY(dtd_rules_set_gamma(rules, 4, 0.25, DTD_DEFAULT_STABILIZER, DTD_BIAS_INCLUDE));
    TRY(dtd_rules_set_epsilon(rules, 6, 1e-6, DTD_BIAS_INCLUDE));
    TRY(dtd_relevance_lrp_f64(net, rules, 1, x, H * W, seed, CLASSES, relevance, H * W, ledger, LAYERS));
    print_map("\nLRP, zbox / gamma / epsilon per layer:", relevance);
    printf("  ledger (relevance_out = relevance_in + bias + stabiliser + dropped):\n");
    print_ledger(net, ledger);

    /* 6. LRP with a named composite; dtd_rules_kind() shows which rule runs where. */
    TRY(dtd_rules_create(net, &preset));
    TRY(dtd_rules_set_composite(preset, DTD_COMPOSITE_EPSILON_PLUS_FLAT, 1e-6, 0.25, 0.0, 1.0));
    printf("\ncomposite EPSILON_PLUS_FLAT assigns:");
    for (l = 0; l < count; l++) {
        dtd_rule_kind kind = 0;
        TRY(dtd_rules_kind(preset, l, &kind));
        printf(" %lld:%s", (long long)l, rule_name(kind));
    }
    printf("\n");
    TRY(dtd_relevance_lrp_f64(net, preset, 1, x, H * W, seed, CLASSES, relevance, H * W, ledger, LAYERS));
    print_map("LRP, composite EPSILON_PLUS_FLAT:", relevance);
    print_ledger(net, ledger);

    /* 7. Errors: a status code plus a thread-local message naming the argument, layer and shapes. */
    printf("\nerror handling:\n");
    status = dtd_rules_set_epsilon(rules, 1, 0.0, DTD_BIAS_INCLUDE); /* layer 1 is a relu */
    printf("  rule on a relu layer    -> %s\n     %s\n", dtd_status_string(status), dtd_last_error_message());
    if (status != DTD_ERROR_RULE) goto cleanup;
    status = dtd_network_forward_f64(net, 1, x, H * W, logits, CLASSES - 1); /* output one short */
    printf("  output buffer too small -> %s\n     %s\n", dtd_status_string(status), dtd_last_error_message());
    if (status != DTD_ERROR_BUFFER_TOO_SMALL) goto cleanup;
    {
        float x32[H * W] = {0}, logits32[CLASSES];
        status = dtd_network_forward_f32(net, 1, x32, H * W, logits32, CLASSES); /* a float64 network */
    }
    printf("  wrong _f32/_f64 variant -> %s\n     %s\n", dtd_status_string(status), dtd_last_error_message());
    if (status != DTD_ERROR_DTYPE) goto cleanup;
    /* A success clears the message. */
    TRY(dtd_network_forward_f64(net, 1, x, H * W, logits, CLASSES));
    printf("  after a success the message is empty: \"%s\"\n", dtd_last_error_message());
    if (dtd_last_error_message()[0] != '\0') goto cleanup;
    exit_code = 0;

cleanup:
    dtd_rules_destroy(preset); /* NULL is a harmless no-op */
    dtd_rules_destroy(rules);
    dtd_network_destroy(net);
    return exit_code;
}
