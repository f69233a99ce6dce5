/**
 * values.c : libdtd's numbers, through ffi_call, against the naive reference (reference.c).
 *
 * Networks (seeded random weights and inputs, batch 3), each built in float32 and float64 from
 * the same raw arrays (the float32 reference uses the float-rounded values):
 *   mlp   6 -> dense 5 -> relu -> dense 4 -> relu -> dense 3, with biases
 *   cnn   (2, 5, 5) -> conv 3x3 (padding 2, dilation 2) -> relu -> conv 2x3 (stride (2, 1),
 *         padding 1) -> relu -> flatten -> dense 3, with biases
 *   hand  x = [1, 2, 3], W1 = 2 ones(3, 3), relu, W2 = 3 ones(1, 3), no biases: f(x) = 108
 *   zero  W = [1, -1], x = [1, 1]: z = 0 (a zero denominator for LRP-0, sign(0) = +1 for epsilon)
 * Checked: forward, target seed, gradient, gradient x input, and LRP with every rule in both bias
 * modes (epsilon incl. 0, z+, alpha-beta (2,1) and (1,0), gamma, w^2, flat, zbox with scalar,
 * per-channel and per-element bounds, a per-layer mix, the five composites), each with the
 * ledger entry by entry, the ledger identity, and LRP-0 = gradient x input (T2).
 * Tolerances: float64 1e-10, float32 1e-4, relative to the largest reference magnitude.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "robustness.h"

static const double tolerance[2] = {1e-4, 1e-10};
static const char *const dtype_text[2] = {"float32", "float64"};

/* ---- helpers -------------------------------------------------------------------------------- */

static void *to_elements(int d, const double *values, int64_t n) {
    void *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p) abort();
    for (int64_t i = 0; i < n; i++) elem_set(p, d, i, values[i]);
    return p;
}

static void from_elements(int d, const void *buffer, double *values, int64_t n) {
    for (int64_t i = 0; i < n; i++) values[i] = elem_get(buffer, d, i);
}

static double *zeros(int64_t n) {
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p) abort();
    return p;
}

/** max |got - want| <= tol * max |want| (absolute tol when the reference is all zeros); no NaN. */
static int compare(const char *fn, const char *what, const double *got, const double *want, int64_t n, double tol) {
    double scale = 0, worst = -1;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) scale = max_of(scale, abs_of(want[i]));
    double denominator = scale > 0 ? scale : 1.0;
    for (int64_t i = 0; i < n; i++) {
        double e = abs_of(got[i] - want[i]) / denominator;
        if (isnan(got[i]) || isnan(e)) e = INFINITY;
        if (e > worst) worst = e, at = i;
    }
    int ok = worst <= tol;
    check(ok, fn, what, "element %lld of %lld: got %.17g, reference %.17g (error %.3g x max|reference| %.3g; tolerance %g)",
          (long long)at, (long long)n, n ? got[at] : 0.0, n ? want[at] : 0.0, worst, scale, tol);
    return ok;
}

/** A libdtd network with the reference's layers, built through ffi_call. */
static void *build(const RefNet *ref, int d) {
    void *net = NULL;
    const char *fn = "dtd_network_create";
    dtd_status s = DCALL(fn, AI32(d == 0 ? DTD_DTYPE_FLOAT32 : DTD_DTYPE_FLOAT64), AP(ref->in_shape), AI64(ref->in_rank), AP(&net));
    check(s == DTD_OK, fn, "creates the value-check network", "%s: %s", status_name(s), last_message());
    if (s != DTD_OK) return NULL;
    for (int l = 0; l < ref->count; l++) {
        const RefLayer *L = &ref->layers[l];
        void *w = L->w_raw ? to_elements(d, L->w_raw, L->w_count) : NULL;
        void *b = L->has_bias ? to_elements(d, L->b_raw, L->b_count) : NULL;
        switch (L->kind) {
        case REF_DENSE:
            fn = typed("dtd_network_add_dense", d);
            s = DCALL(fn, AP(net), AP(w), AI64(L->w_count), AI64(L->out), AI64(L->in), AP(b), AI64(L->b_count));
            break;
        case REF_CONV:
            fn = typed("dtd_network_add_conv2d", d);
            s = DCALL(fn, AP(net), AP(w), AI64(L->w_count), AI64(L->cout), AI64(L->cin), AI64(L->kh), AI64(L->kw), AP(b),
                      AI64(L->b_count), AI64(L->sh), AI64(L->sw), AI64(L->ph), AI64(L->pw), AI64(L->dh), AI64(L->dw));
            break;
        case REF_RELU:
            fn = "dtd_network_add_relu";
            s = DCALL(fn, AP(net));
            break;
        case REF_FLATTEN:
            fn = "dtd_network_add_flatten";
            s = DCALL(fn, AP(net));
            break;
        }
        free(w), free(b);
        if (s != DTD_OK) {
            check(0, fn, "adds a value-check layer", "network %s layer %d: %s: %s", ref->name, l, status_name(s), last_message());
            return NULL;
        }
    }
    int64_t count = -1, out = -1;
    DCALL("dtd_network_layer_count", AP(net), AP(&count));
    DCALL("dtd_network_output_size", AP(net), AP(&out));
    check(count == ref->count && out == ref->out_size, "dtd_network_layer_count", "reports the layers added",
          "network %s: %lld layers, output size %lld; expected %d, %lld", ref->name, (long long)count, (long long)out,
          ref->count, (long long)ref->out_size);
    return net;
}

/** A rule set with rules[l] on every linear layer l; checks dtd_rules_kind after each set. */
static void *make_rules(void *net, const RefNet *ref, const RefRule *rules, int d) {
    void *set = NULL;
    if (DCALL("dtd_rules_create", AP(net), AP(&set)) != DTD_OK) return NULL;
    for (int l = 0; l < ref->count; l++) {
        const RefLayer *L = &ref->layers[l];
        if (L->kind != REF_DENSE && L->kind != REF_CONV) continue;
        const RefRule *r = &rules[l];
        const char *fn = "?";
        dtd_status s = DTD_ERROR_INTERNAL;
        switch (r->kind) {
        case DTD_RULE_EPSILON:
            fn = "dtd_rules_set_epsilon";
            s = DCALL(fn, AP(set), AI64(l), AF64(r->epsilon), AI32(r->bias_mode));
            break;
        case DTD_RULE_ZPLUS:
            fn = "dtd_rules_set_zplus";
            s = DCALL(fn, AP(set), AI64(l), AF64(r->epsilon), AI32(r->bias_mode));
            break;
        case DTD_RULE_ALPHABETA:
            fn = "dtd_rules_set_alphabeta";
            s = DCALL(fn, AP(set), AI64(l), AF64(r->alpha), AF64(r->beta), AF64(r->epsilon), AI32(r->bias_mode));
            break;
        case DTD_RULE_GAMMA:
            fn = "dtd_rules_set_gamma";
            s = DCALL(fn, AP(set), AI64(l), AF64(r->gamma), AF64(r->epsilon), AI32(r->bias_mode));
            break;
        case DTD_RULE_WSQUARE:
            fn = "dtd_rules_set_wsquare";
            s = DCALL(fn, AP(set), AI64(l), AF64(r->epsilon), AI32(r->bias_mode));
            break;
        case DTD_RULE_FLAT:
            fn = "dtd_rules_set_flat";
            s = DCALL(fn, AP(set), AI64(l), AF64(r->epsilon));
            break;
        case DTD_RULE_ZBOX: {
            const double *lo = r->low_per_element ? r->low_per_element : r->low_per_channel;
            const double *hi = r->high_per_element ? r->high_per_element : r->high_per_channel;
            if (!lo) {
                fn = "dtd_rules_set_zbox";
                s = DCALL(fn, AP(set), AI64(l), AF64(r->low), AF64(r->high), AF64(r->epsilon), AI32(r->bias_mode));
                break;
            }
            int64_t n = r->low_per_element ? L->in : L->cin;
            void *lb = to_elements(d, lo, n), *hb = to_elements(d, hi, n);
            fn = typed("dtd_rules_set_zbox_bounds", d);
            s = DCALL(fn, AP(set), AI64(l), AP(lb), AI64(n), AP(hb), AI64(n), AF64(r->epsilon), AI32(r->bias_mode));
            free(lb), free(hb);
            break;
        }
        }
        int32_t kind = -1;
        dtd_status k = DCALL("dtd_rules_kind", AP(set), AI64(l), AP(&kind));
        check(s == DTD_OK && k == DTD_OK && kind == r->kind, fn, "sets the rule dtd_rules_kind() then reports",
              "layer %d: set %s (%s), kind %s -> %d, expected %d", l, status_name(s), last_message(), status_name(k), (int)kind,
              r->kind);
    }
    return set;
}

/* ---- one network, one dtype ------------------------------------------------------------------- */

typedef struct {
    RefNet *ref;
    int d;
    int batch;
    double *x;      /* batch x in (already rounded for float32) */
    void *net;
    double **acts[8];
} Subject;

static void subject_forward(Subject *t) {
    for (int n = 0; n < t->batch; n++) t->acts[n] = ref_forward(t->ref, t->x + n * t->ref->in_size);
}

/** One LRP call with `rules` and seed `seed` (batch x out), compared entry by entry. */
static void check_lrp(Subject *t, const char *label, const RefRule *rules, void *set, const double *seed) {
    const RefNet *ref = t->ref;
    const int d = t->d, N = t->batch, L = ref->count;
    const int64_t in = ref->in_size, out = ref->out_size;
    const char *fn = typed("dtd_relevance_lrp", d);
    void *x = to_elements(d, t->x, N * in), *r = to_elements(d, seed, N * out);
    void *rel = calloc((size_t)(N * in), sizeof(double));
    dtd_ledger_entry *ledger = calloc((size_t)(N * L), sizeof *ledger);
    double *got = zeros(N * in), *want = zeros(N * in);
    RefLedger *expect = calloc((size_t)(N * L), sizeof *expect);
    if (!rel || !ledger || !expect) abort();
    dtd_status s = DCALL(fn, AP(t->net), AP(set), AI64(N), AP(x), AI64(N * in), AP(r), AI64(N * out), AP(rel), AI64(N * in),
                         AP(ledger), AI64(N * L));
    char what[300];
    snprintf(what, sizeof what, "%s %s: %s", ref->name, dtype_text[d], label);
    check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
    if (s == DTD_OK) {
        from_elements(d, rel, got, N * in);
        for (int n = 0; n < N; n++) ref_lrp(ref, t->acts[n], rules, seed + n * out, want + n * in, expect + n * L);
        compare(fn, what, got, want, N * in, tolerance[d]);
        /* The ledger: entry by entry against the reference, and its identity. */
        double worst = 0, worst_identity = 0;
        char where[200] = "", where_identity[200] = "";
        int bad_index = 0;
        for (int n = 0; n < N; n++)
            for (int l = 0; l < L; l++) {
                const dtd_ledger_entry *e = &ledger[n * L + l];
                const RefLedger *w = &expect[n * L + l];
                if (e->layer != l) bad_index = 1;
                double scale = max_of(max_of(abs_of(w->relevance_out), abs_of(w->relevance_in)),
                                    max_of(max_of(abs_of(w->absorbed_bias), abs_of(w->absorbed_stabilizer)), abs_of(w->dropped)));
                if (scale == 0) scale = 1;
                double got5[5] = {e->relevance_out, e->relevance_in, e->absorbed_bias, e->absorbed_stabilizer, e->dropped};
                double want5[5] = {w->relevance_out, w->relevance_in, w->absorbed_bias, w->absorbed_stabilizer, w->dropped};
                static const char *const field[5] = {"relevance_out", "relevance_in", "absorbed_bias", "absorbed_stabilizer",
                                                      "dropped"};
                for (int k = 0; k < 5; k++) {
                    double err = abs_of(got5[k] - want5[k]) / scale;
                    if (isnan(err)) err = INFINITY;
                    if (err > worst) {
                        worst = err;
                        snprintf(where, sizeof where, "sample %d layer %d %s: got %.17g, reference %.17g", n, l, field[k], got5[k],
                                 want5[k]);
                    }
                }
                double gap = abs_of(e->relevance_out - (e->relevance_in + e->absorbed_bias + e->absorbed_stabilizer + e->dropped)) / scale;
                if (isnan(gap)) gap = INFINITY;
                if (gap > worst_identity) {
                    worst_identity = gap;
                    snprintf(where_identity, sizeof where_identity,
                             "sample %d layer %d: out %.17g, in %.17g, bias %.17g, stabilizer %.17g, dropped %.17g", n, l,
                             e->relevance_out, e->relevance_in, e->absorbed_bias, e->absorbed_stabilizer, e->dropped);
                }
            }
        char what_ledger[600];
        snprintf(what_ledger, sizeof what_ledger, "%s: ledger entries equal the reference", what);
        check(!bad_index && worst <= tolerance[d], fn, what_ledger, "%s%s (error %.3g; tolerance %g)",
              bad_index ? "entry.layer is not its index; " : "", where, worst, tolerance[d]);
        snprintf(what_ledger, sizeof what_ledger,
                 "%s: ledger identity relevance_out = relevance_in + absorbed_bias + absorbed_stabilizer + dropped", what);
        check(worst_identity <= tolerance[d], fn, what_ledger, "%s (gap %.3g of the entry's scale)", where_identity,
              worst_identity);
    }
    free(x), free(r), free(rel), free(ledger), free(got), free(want), free(expect);
}

/** Every linear layer gets `rule`; `first` (if non-NULL) replaces the first linear layer's. */
static void uniform_rules(const RefNet *ref, RefRule *rules, const RefRule *rule, const RefRule *first) {
    int seen = 0;
    for (int l = 0; l < ref->count; l++) {
        int linear = ref->layers[l].kind == REF_DENSE || ref->layers[l].kind == REF_CONV;
        memset(&rules[l], 0, sizeof rules[l]);
        if (!linear) continue;
        rules[l] = (first && !seen) ? *first : *rule;
        seen = 1;
    }
}

static void run_rule_case(Subject *t, const char *label, const RefRule *rules, const double *seed_target,
                          const double *seed_random) {
    void *set = make_rules(t->net, t->ref, rules, t->d);
    if (!set) {
        check(0, typed("dtd_relevance_lrp", t->d), label, "the rule set could not be made: %s", last_message());
        return;
    }
    char what[300];
    snprintf(what, sizeof what, "%s, seed f_k(x) e_k", label);
    check_lrp(t, what, rules, set, seed_target);
    snprintf(what, sizeof what, "%s, random seed", label);
    check_lrp(t, what, rules, set, seed_random);
    VCALL("dtd_rules_destroy", AP(set));
}

/** The composite mapping the header documents for dtd_rules_set_composite(). */
static void composite_rules(const RefNet *ref, int composite, double eps, double gamma, double low, double high, RefRule *rules) {
    int has_conv = 0, first = -1, last_dense = -1;
    for (int l = 0; l < ref->count; l++) {
        RefKind k = ref->layers[l].kind;
        if (k == REF_CONV) has_conv = 1;
        if ((k == REF_DENSE || k == REF_CONV) && first < 0) first = l;
        if (k == REF_DENSE) last_dense = l;
    }
    for (int l = 0; l < ref->count; l++) {
        RefKind k = ref->layers[l].kind;
        memset(&rules[l], 0, sizeof rules[l]);
        if (k != REF_DENSE && k != REF_CONV) continue;
        int feature = has_conv ? k == REF_CONV : l != last_dense;
        RefRule lower = {0};
        lower.epsilon = DTD_DEFAULT_STABILIZER;
        switch (composite) {
        case DTD_COMPOSITE_EPSILON_PLUS:
        case DTD_COMPOSITE_EPSILON_PLUS_FLAT: lower.kind = DTD_RULE_ZPLUS; break;
        case DTD_COMPOSITE_EPSILON_GAMMA_BOX: lower.kind = DTD_RULE_GAMMA, lower.gamma = gamma; break;
        default: lower.kind = DTD_RULE_ALPHABETA, lower.alpha = 2, lower.beta = 1; break;
        }
        RefRule rule = {0};
        if (l == first && (composite == DTD_COMPOSITE_EPSILON_PLUS_FLAT || composite == DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT)) {
            rule.kind = DTD_RULE_FLAT, rule.epsilon = DTD_DEFAULT_STABILIZER;
        } else if (l == first && composite == DTD_COMPOSITE_EPSILON_GAMMA_BOX) {
            rule.kind = DTD_RULE_ZBOX, rule.epsilon = DTD_DEFAULT_STABILIZER, rule.low = low, rule.high = high;
        } else if (feature) {
            rule = lower;
        } else {
            rule.kind = DTD_RULE_EPSILON, rule.epsilon = eps;
        }
        rule.bias_mode = DTD_BIAS_INCLUDE;
        rules[l] = rule;
    }
}

static void check_composites(Subject *t, const double *seed_target, const double *seed_random) {
    static const char *const names[] = {"", "EPSILON_PLUS", "EPSILON_PLUS_FLAT", "EPSILON_GAMMA_BOX", "EPSILON_ALPHA2_BETA1",
                                        "EPSILON_ALPHA2_BETA1_FLAT"};
    const double eps = 1e-3, gamma = 0.3, low = -2, high = 2;
    for (int c = 1; c <= 5; c++) {
        RefRule rules[REF_MAX_LAYERS];
        composite_rules(t->ref, c, eps, gamma, low, high, rules);
        void *set = NULL;
        DCALL("dtd_rules_create", AP(t->net), AP(&set));
        dtd_status s = DCALL("dtd_rules_set_composite", AP(set), AI32(c), AF64(eps), AF64(gamma), AF64(low), AF64(high));
        char what[200];
        snprintf(what, sizeof what, "%s %s: DTD_COMPOSITE_%s assigns the documented rule to each layer", t->ref->name,
                 dtype_text[t->d], names[c]);
        char detail[300] = "";
        int ok = s == DTD_OK;
        for (int l = 0; ok && l < t->ref->count; l++) {
            int32_t kind = -1;
            DCALL("dtd_rules_kind", AP(set), AI64(l), AP(&kind));
            if (kind != rules[l].kind) {
                ok = 0;
                snprintf(detail, sizeof detail, "layer %d: kind %d, documented %d", l, (int)kind, rules[l].kind);
            }
        }
        check(ok, "dtd_rules_set_composite", what, "%s %s %s", status_name(s), last_message(), detail);
        if (ok) {
            snprintf(what, sizeof what, "composite %s", names[c]);
            char label[220];
            snprintf(label, sizeof label, "%s, seed f_k(x) e_k", what);
            check_lrp(t, label, rules, set, seed_target);
            snprintf(label, sizeof label, "%s, random seed", what);
            check_lrp(t, label, rules, set, seed_random);
        }
        VCALL("dtd_rules_destroy", AP(set));
    }
}

/** Forward, target seed, gradient, gradient x input, every rule, the composites. */
static void check_network(Subject *t, Rng *rng) {
    const RefNet *ref = t->ref;
    const int d = t->d, N = t->batch;
    const int64_t in = ref->in_size, out = ref->out_size;
    char what[200];
    t->net = build(ref, d);
    if (!t->net) return;
    subject_forward(t);
    void *x = to_elements(d, t->x, N * in);

    /* forward */
    double *y = zeros(N * out), *y_ref = zeros(N * out);
    void *yb = to_elements(d, y, N * out);
    const char *fn = typed("dtd_network_forward", d);
    dtd_status s = DCALL(fn, AP(t->net), AI64(N), AP(x), AI64(N * in), AP(yb), AI64(N * out));
    snprintf(what, sizeof what, "%s %s: f(x) equals the reference", ref->name, dtype_text[d]);
    check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
    from_elements(d, yb, y, N * out);
    for (int n = 0; n < N; n++) memcpy(y_ref + n * out, t->acts[n][ref->count], (size_t)out * sizeof(double));
    if (s == DTD_OK) compare(fn, what, y, y_ref, N * out, tolerance[d]);

    /* target seed f_k(x) e_k, k = n mod out */
    int64_t targets[8];
    double *seed_target = zeros(N * out), *seed_ref = zeros(N * out);
    for (int n = 0; n < N; n++) {
        targets[n] = n % out;
        seed_ref[n * out + targets[n]] = y_ref[n * out + targets[n]];
    }
    void *sb = to_elements(d, seed_target, N * out);
    fn = typed("dtd_relevance_target_seed", d);
    s = DCALL(fn, AP(t->net), AI64(N), AP(x), AI64(N * in), AP(targets), AI64(N), AP(sb), AI64(N * out));
    snprintf(what, sizeof what, "%s %s: seed f_k(x) e_k", ref->name, dtype_text[d]);
    check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
    from_elements(d, sb, seed_target, N * out);
    if (s == DTD_OK) compare(fn, what, seed_target, seed_ref, N * out, tolerance[d]);
    memcpy(seed_target, seed_ref, (size_t)(N * out) * sizeof(double)); /* LRP cases use the reference's seed */
    if (d == 0)
        for (int64_t i = 0; i < N * out; i++) seed_target[i] = (double)(float)seed_target[i];

    /* gradient and gradient x input with a random seed */
    double *seed_random = zeros(N * out);
    for (int64_t i = 0; i < N * out; i++) seed_random[i] = d == 0 ? (double)(float)rng_normal(rng) : rng_normal(rng);
    void *rb = to_elements(d, seed_random, N * out);
    double *g = zeros(N * in), *g_ref = zeros(N * in), *gxi = zeros(N * in), *gxi_ref = zeros(N * in);
    void *gb = to_elements(d, g, N * in);
    for (int n = 0; n < N; n++) {
        ref_gradient(ref, t->acts[n], seed_random + n * out, g_ref + n * in);
        for (int64_t i = 0; i < in; i++) gxi_ref[n * in + i] = t->x[n * in + i] * g_ref[n * in + i];
    }
    fn = typed("dtd_relevance_gradient", d);
    s = DCALL(fn, AP(t->net), AI64(N), AP(x), AI64(N * in), AP(rb), AI64(N * out), AP(gb), AI64(N * in));
    snprintf(what, sizeof what, "%s %s: J(x)^T r equals the reference", ref->name, dtype_text[d]);
    check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
    from_elements(d, gb, g, N * in);
    if (s == DTD_OK) compare(fn, what, g, g_ref, N * in, tolerance[d]);
    fn = typed("dtd_relevance_gradient_x_input", d);
    s = DCALL(fn, AP(t->net), AI64(N), AP(x), AI64(N * in), AP(rb), AI64(N * out), AP(gb), AI64(N * in));
    snprintf(what, sizeof what, "%s %s: x (.) J(x)^T r equals the reference", ref->name, dtype_text[d]);
    check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
    from_elements(d, gb, gxi, N * in);
    if (s == DTD_OK) compare(fn, what, gxi, gxi_ref, N * in, tolerance[d]);

    /* every rule on every linear layer, both bias modes */
    const int64_t first_in = ref->layers[0].in;
    double *low_e = zeros(first_in), *high_e = zeros(first_in);
    for (int64_t i = 0; i < first_in; i++) low_e[i] = -1.0 - 0.25 * (double)(i % 3), high_e[i] = 0.5 + 0.2 * (double)(i % 4);
    double low_c[4] = {-1.5, -0.5, -1, -2}, high_c[4] = {1, 2, 0.5, 1.5};
    for (int bias = DTD_BIAS_INCLUDE; bias <= DTD_BIAS_EXCLUDE; bias++) {
        const char *bias_text = bias == DTD_BIAS_INCLUDE ? "bias include" : "bias exclude";
        struct {
            const char *label;
            RefRule rule;
            int zbox_first; /* 1 scalar, 2 per channel (conv) or per element */
        } cases[] = {
            {"LRP-0 (epsilon 0)", {.kind = DTD_RULE_EPSILON, .epsilon = 0}, 0},
            {"epsilon 0.1", {.kind = DTD_RULE_EPSILON, .epsilon = 0.1}, 0},
            {"z+", {.kind = DTD_RULE_ZPLUS, .epsilon = DTD_DEFAULT_STABILIZER}, 0},
            {"alpha 2 beta 1", {.kind = DTD_RULE_ALPHABETA, .epsilon = DTD_DEFAULT_STABILIZER, .alpha = 2, .beta = 1}, 0},
            {"alpha 1 beta 0", {.kind = DTD_RULE_ALPHABETA, .epsilon = DTD_DEFAULT_STABILIZER, .alpha = 1, .beta = 0}, 0},
            {"gamma 0.25", {.kind = DTD_RULE_GAMMA, .epsilon = DTD_DEFAULT_STABILIZER, .gamma = 0.25}, 0},
            {"w^2", {.kind = DTD_RULE_WSQUARE, .epsilon = DTD_DEFAULT_STABILIZER}, 0},
            {"flat", {.kind = DTD_RULE_FLAT, .epsilon = DTD_DEFAULT_STABILIZER}, 0},
            {"zbox(-1, 1) first, epsilon 0.01 above", {.kind = DTD_RULE_EPSILON, .epsilon = 0.01}, 1},
            {"zbox bounds first, gamma 0.5 above", {.kind = DTD_RULE_GAMMA, .epsilon = DTD_DEFAULT_STABILIZER, .gamma = 0.5}, 2},
        };
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            if (cases[k].rule.kind == DTD_RULE_FLAT && bias == DTD_BIAS_EXCLUDE) continue; /* flat has no bias mode */
            RefRule rule = cases[k].rule, first = {0}, rules[REF_MAX_LAYERS];
            rule.bias_mode = bias;
            first.kind = DTD_RULE_ZBOX, first.epsilon = DTD_DEFAULT_STABILIZER, first.bias_mode = bias;
            first.low = -1, first.high = 1;
            if (cases[k].zbox_first == 2) {
                if (ref->layers[0].kind == REF_CONV)
                    first.low_per_channel = low_c, first.high_per_channel = high_c;
                else
                    first.low_per_element = low_e, first.high_per_element = high_e;
            }
            uniform_rules(ref, rules, &rule, cases[k].zbox_first ? &first : NULL);
            char label[200];
            snprintf(label, sizeof label, "%s, %s", cases[k].label, rule.kind == DTD_RULE_FLAT ? "no bias" : bias_text);
            run_rule_case(t, label, rules, seed_target, seed_random);
        }
    }
    check_composites(t, seed_target, seed_random);

    /* T2 (library against library): on a ReLU network, LRP-0 with bias include seeded with
     * f_k(x) e_k equals gradient x input of f_k, x (.) J^T e_k. (With any seed r it equals
     * x (.) J^T (r / f(x)); the unit seed is the case the study states.) */
    RefRule lrp0 = {.kind = DTD_RULE_EPSILON, .epsilon = 0, .bias_mode = DTD_BIAS_INCLUDE}, rules[REF_MAX_LAYERS];
    uniform_rules(ref, rules, &lrp0, NULL);
    void *set = make_rules(t->net, ref, rules, d);
    double *unit = zeros(N * out), *lrp = zeros(N * in), *gxi_unit = zeros(N * in);
    for (int n = 0; n < N; n++) unit[n * out + targets[n]] = 1.0;
    void *ub = to_elements(d, unit, N * out), *fb = to_elements(d, seed_target, N * out);
    void *lb = calloc((size_t)(N * in), sizeof(double));
    fn = typed("dtd_relevance_gradient_x_input", d);
    dtd_status s1 = DCALL(fn, AP(t->net), AI64(N), AP(x), AI64(N * in), AP(ub), AI64(N * out), AP(gb), AI64(N * in));
    from_elements(d, gb, gxi_unit, N * in);
    fn = typed("dtd_relevance_lrp", d);
    s = DCALL(fn, AP(t->net), AP(set), AI64(N), AP(x), AI64(N * in), AP(fb), AI64(N * out), AP(lb), AI64(N * in), AP(NULL), AI64(0));
    from_elements(d, lb, lrp, N * in);
    snprintf(what, sizeof what, "%s %s: LRP-0 (bias include) of f_k e_k equals gradient x input of f_k (T2); ledger NULL",
             ref->name, dtype_text[d]);
    check(s == DTD_OK && s1 == DTD_OK, fn, what, "%s / %s: %s", status_name(s1), status_name(s), last_message());
    if (s == DTD_OK && s1 == DTD_OK) compare(fn, what, lrp, gxi_unit, N * in, tolerance[d]);
    VCALL("dtd_rules_destroy", AP(set));
    free(unit), free(gxi_unit), free(ub), free(fb);

    free(lb), free(lrp), free(low_e), free(high_e);
    free(x), free(y), free(y_ref), free(yb), free(seed_target), free(seed_ref), free(sb), free(seed_random), free(rb);
    free(g), free(g_ref), free(gxi), free(gxi_ref), free(gb);
    for (int n = 0; n < N; n++) ref_free_acts(ref, t->acts[n]);
    VCALL("dtd_network_destroy", AP(t->net));
}

/* ---- the networks ------------------------------------------------------------------------------- */

static double *random_array(Rng *rng, int64_t n, double scale) {
    double *p = zeros(n);
    for (int64_t i = 0; i < n; i++) p[i] = scale * rng_normal(rng);
    return p;
}

static void make_mlp(RefNet *net, Rng *rng, int round) {
    int64_t shape[1] = {6};
    ref_init(net, "mlp", 1, shape);
    int64_t sizes[4] = {6, 5, 4, 3};
    for (int k = 0; k < 3; k++) {
        double *w = random_array(rng, sizes[k + 1] * sizes[k], 1.2 / sqrt_of((double)sizes[k]));
        double *b = random_array(rng, sizes[k + 1], 0.3);
        ref_dense(net, sizes[k + 1], w, b, round);
        if (k < 2) ref_relu(net);
        free(w), free(b);
    }
}

static void make_cnn(RefNet *net, Rng *rng, int round) {
    int64_t shape[3] = {2, 5, 5};
    ref_init(net, "cnn", 3, shape);
    double *w1 = random_array(rng, 3 * 2 * 9, 1.0 / sqrt_of(18.0)), *b1 = random_array(rng, 3, 0.2);
    ref_conv(net, 3, 3, 3, 1, 1, 2, 2, 2, 2, w1, b1, round); /* (3, 5, 5): padding 2, dilation 2 */
    ref_relu(net);
    double *w2 = random_array(rng, 2 * 3 * 6, 1.0 / sqrt_of(18.0)), *b2 = random_array(rng, 2, 0.2);
    ref_conv(net, 2, 2, 3, 2, 1, 1, 1, 1, 1, w2, b2, round); /* (2, 3, 5): stride (2, 1), padding 1 */
    ref_relu(net);
    ref_flatten(net);
    double *w3 = random_array(rng, 3 * 30, 1.0 / sqrt_of(30.0)), *b3 = random_array(rng, 3, 0.2);
    ref_dense(net, 3, w3, b3, round);
    free(w1), free(b1), free(w2), free(b2), free(w3), free(b3);
}

typedef struct {
    int network; /* 0 mlp, 1 cnn */
    int d;
} ValueJob;

static void value_job(void *ctx) {
    const ValueJob *job = ctx;
    Rng rng = {job->network == 0 ? 0x5EED0001u : 0x5EED0002u};
    RefNet ref;
    if (job->network == 0)
        make_mlp(&ref, &rng, job->d == 0);
    else
        make_cnn(&ref, &rng, job->d == 0);
    Subject t = {&ref, job->d, 3, NULL, NULL, {NULL}};
    t.x = random_array(&rng, t.batch * ref.in_size, 1.0);
    if (job->d == 0)
        for (int64_t i = 0; i < t.batch * ref.in_size; i++) t.x[i] = (double)(float)t.x[i];
    check_network(&t, &rng);
    free(t.x);
    ref_free(&ref);
}

/* ---- the hand fixture and the zero denominator ------------------------------------------------ */

static void hand_job(void *ctx) {
    const int d = *(const int *)ctx;
    int64_t shape[1] = {3};
    double w1[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2}, w2[3] = {3, 3, 3}, x[3] = {1, 2, 3};
    RefNet ref;
    ref_init(&ref, "hand", 1, shape);
    ref_dense(&ref, 3, w1, NULL, 0);
    ref_relu(&ref);
    ref_dense(&ref, 1, w2, NULL, 0);
    void *net = build(&ref, d);
    if (!net) return;
    const double expected[3] = {18, 36, 54};
    void *xb = to_elements(d, x, 3), *yb = calloc(1, sizeof(double)), *rel = calloc(3, sizeof(double));
    const char *fn = typed("dtd_network_forward", d);
    dtd_status s = DCALL(fn, AP(net), AI64(1), AP(xb), AI64(3), AP(yb), AI64(1));
    double y = elem_get(yb, d, 0);
    check(s == DTD_OK && y == 108.0, fn, "hand fixture: f([1, 2, 3]) = 108", "%s, f = %.17g", status_name(s), y);

    void *rules = NULL;
    DCALL("dtd_rules_create", AP(net), AP(&rules));
    DCALL("dtd_rules_set_epsilon", AP(rules), AI64(0), AF64(0.0), AI32(DTD_BIAS_INCLUDE));
    DCALL("dtd_rules_set_epsilon", AP(rules), AI64(2), AF64(0.0), AI32(DTD_BIAS_INCLUDE));
    double seed108 = 108, seed1 = 1, got[3];
    void *s108 = to_elements(d, &seed108, 1), *s1 = to_elements(d, &seed1, 1);
    dtd_ledger_entry ledger[3];
    fn = typed("dtd_relevance_lrp", d);
    s = DCALL(fn, AP(net), AP(rules), AI64(1), AP(xb), AI64(3), AP(s108), AI64(1), AP(rel), AI64(3), AP(ledger), AI64(3));
    from_elements(d, rel, got, 3);
    check(s == DTD_OK && got[0] == 18 && got[1] == 36 && got[2] == 54, fn, "hand fixture: LRP-0 seeded with 108 gives [18, 36, 54]",
          "%s, got [%.17g, %.17g, %.17g]", status_name(s), got[0], got[1], got[2]);
    int conserved = s == DTD_OK;
    for (int l = 0; l < 3 && conserved; l++)
        conserved = ledger[l].layer == l && ledger[l].relevance_out == 108 && ledger[l].relevance_in == 108 &&
                    ledger[l].absorbed_bias == 0 && ledger[l].absorbed_stabilizer == 0 && ledger[l].dropped == 0;
    check(conserved, fn, "hand fixture: every ledger entry is out = in = 108, nothing absorbed or dropped",
          "layer 0: out %g in %g bias %g stab %g dropped %g", ledger[0].relevance_out, ledger[0].relevance_in,
          ledger[0].absorbed_bias, ledger[0].absorbed_stabilizer, ledger[0].dropped);
    fn = typed("dtd_relevance_gradient_x_input", d);
    s = DCALL(fn, AP(net), AI64(1), AP(xb), AI64(3), AP(s1), AI64(1), AP(rel), AI64(3));
    from_elements(d, rel, got, 3);
    check(s == DTD_OK && got[0] == expected[0] && got[1] == expected[1] && got[2] == expected[2], fn,
          "hand fixture: gradient x input seeded with 1 gives [18, 36, 54]", "%s, got [%.17g, %.17g, %.17g]", status_name(s),
          got[0], got[1], got[2]);
    free(xb), free(yb), free(rel), free(s108), free(s1);
    ref_free(&ref);
}

static void zero_job(void *ctx) {
    const int d = *(const int *)ctx;
    int64_t shape[1] = {2};
    double w[2] = {1, -1}, x[2] = {1, 1}, r = 2, got[2];
    RefNet ref;
    ref_init(&ref, "zero", 1, shape);
    ref_dense(&ref, 1, w, NULL, 0);
    void *net = build(&ref, d);
    if (!net) return;
    void *xb = to_elements(d, x, 2), *rb = to_elements(d, &r, 1), *rel = calloc(2, sizeof(double));
    const char *fn = typed("dtd_relevance_lrp", d);
    const double eps[2] = {0.0, 0.5};
    for (int k = 0; k < 2; k++) {
        void *rules = NULL;
        dtd_ledger_entry ledger[1];
        DCALL("dtd_rules_create", AP(net), AP(&rules));
        DCALL("dtd_rules_set_epsilon", AP(rules), AI64(0), AF64(eps[k]), AI32(DTD_BIAS_INCLUDE));
        dtd_status s = DCALL(fn, AP(net), AP(rules), AI64(1), AP(xb), AI64(2), AP(rb), AI64(1), AP(rel), AI64(2), AP(ledger), AI64(1));
        from_elements(d, rel, got, 2);
        if (k == 0) {
            check(s == DTD_OK && got[0] == 0 && got[1] == 0, fn, "z = 0 with epsilon 0: the share is 0, never NaN",
                  "%s, got [%.17g, %.17g]", status_name(s), got[0], got[1]);
            check(s == DTD_OK && ledger[0].dropped == 2 && ledger[0].relevance_in == 0 && ledger[0].relevance_out == 2, fn,
                  "z = 0 with epsilon 0: the ledger reports the relevance as dropped", "out %g in %g dropped %g",
                  ledger[0].relevance_out, ledger[0].relevance_in, ledger[0].dropped);
        } else {
            /* sign(0) = +1: stab(0) = +0.5, s = 2 / 0.5 = 4, R_in = a (.) W s = [4, -4] */
            check(s == DTD_OK && got[0] == 4 && got[1] == -4, fn, "z = 0 with epsilon 0.5: sign(0) = +1 gives [4, -4]",
                  "%s, got [%.17g, %.17g]", status_name(s), got[0], got[1]);
            check(s == DTD_OK && ledger[0].absorbed_stabilizer == 2 && ledger[0].dropped == 0, fn,
                  "z = 0 with epsilon 0.5: the stabiliser absorbs all of R", "stabilizer %g dropped %g",
                  ledger[0].absorbed_stabilizer, ledger[0].dropped);
        }
        VCALL("dtd_rules_destroy", AP(rules));
    }
    free(xb), free(rb), free(rel);
    ref_free(&ref);
}

void run_value_checks(void) {
    for (int d = 0; d < 2; d++) {
        char what[80];
        snprintf(what, sizeof what, "hand fixture, %s", dtype_text[d]);
        isolated("values", what, hand_job, &d);
        snprintf(what, sizeof what, "zero denominator, %s", dtype_text[d]);
        isolated("values", what, zero_job, &d);
        for (int network = 0; network < 2; network++) {
            ValueJob job = {network, d};
            snprintf(what, sizeof what, "%s, %s", network == 0 ? "mlp" : "cnn", dtype_text[d]);
            isolated("values", what, value_job, &job);
        }
    }
    run_full_backward_values();
}
