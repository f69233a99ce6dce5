/**
 * nonfinite.c : the header's "Non-finite values" convention, checked as values. A batch of 3 in
 * which sample 1 holds a NaN (or an infinity) in its input or seed is compared with the same batch
 * made finite (the NaN replaced by 0.5, or the seed's NaN by 1):
 *   - the other samples' results are bit for bit those of the finite batch (a NaN stays in its
 *     sample);
 *   - sample 1: every forward output is NaN; the gradient stays finite, as the input reaches it
 *     only through ReLU masks (a NaN pre-activation passes no gradient) and max-pool winners (a
 *     NaN wins its window): exactly 0 in the mlp, where every hidden unit sees the NaN; gradient
 *     x input is NaN at the NaN element only; the LRP relevance of every rule that reads the
 *     activations is NaN everywhere, while w^2 and flat, which read none, give the finite
 *     batch's result in the mlp (finite values in the cnn, whose max-pool routes by the input);
 *     a NaN seed makes that sample's LRP relevance and gradient NaN everywhere; an infinite input
 *     leaves some output non-finite;
 *   - the audit (section 6): that sample's roots have NaN output changes and segments, the
 *     summary's mean segment, conservation error and unexplained fraction are NaN.
 * Networks: an mlp 6 -> 8 -> relu -> 7 -> relu -> 3 and a cnn (2, 6, 6) -> conv 4 3x3 (padding
 * 1) -> relu -> maxpool 2 -> flatten -> dense 3, with biases, in float32 and float64.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robustness.h"
#include "values.h"

#define NF_BATCH 3
#define NF_SAMPLE 1   /* the sample that holds the NaN */
#define NF_ELEMENT 2  /* where, in that sample's input */

typedef struct {
    const char *name;
    int d;
    void *net;
    int64_t in, out;
    int linear[3], nlinear;
} Subject;

static void *random_elements(int d, Rng *rng, int64_t n, double scale) {
    double *v = zeros(n);
    for (int64_t i = 0; i < n; i++) v[i] = scale * rng_normal(rng);
    void *p = to_elements(d, v, n);
    free(v);
    return p;
}

/** Builds the subject's network (setup calls). Returns 0 on success. */
static int subject_build(Subject *t, int cnn, int d) {
    Rng rng = {cnn ? 0xF1A7u : 0xF1A8u};
    memset(t, 0, sizeof *t);
    t->d = d;
    t->name = cnn ? "cnn" : "mlp";
    set_setup_mode(1);
    dtd_status s;
    if (cnn) {
        int64_t shape[3] = {2, 6, 6};
        void *w1 = random_elements(d, &rng, 4 * 2 * 9, 0.4), *b1 = random_elements(d, &rng, 4, 0.1);
        void *w2 = random_elements(d, &rng, 3 * 36, 0.3), *b2 = random_elements(d, &rng, 3, 0.1);
        s = DCALL("dtd_network_create", AI32(d ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32), AP(shape), AI64(3), AP(&t->net));
        if (s == DTD_OK)
            s = DCALL(typed("dtd_network_add_conv2d", d), AP(t->net), AP(w1), AI64(72), AI64(4), AI64(2), AI64(3), AI64(3), AP(b1), AI64(4),
                      AI64(1), AI64(1), AI64(1), AI64(1), AI64(1), AI64(1));
        if (s == DTD_OK) s = DCALL("dtd_network_add_relu", AP(t->net));
        if (s == DTD_OK) s = DCALL("dtd_network_add_maxpool2d", AP(t->net), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0), AI64(0));
        if (s == DTD_OK) s = DCALL("dtd_network_add_flatten", AP(t->net));
        if (s == DTD_OK) s = DCALL(typed("dtd_network_add_dense", d), AP(t->net), AP(w2), AI64(108), AI64(3), AI64(36), AP(b2), AI64(3));
        free(w1), free(b1), free(w2), free(b2);
        t->in = 72, t->out = 3, t->nlinear = 2, t->linear[0] = 0, t->linear[1] = 4;
    } else {
        int64_t shape[1] = {6}, sizes[4] = {6, 8, 7, 3};
        s = DCALL("dtd_network_create", AI32(d ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32), AP(shape), AI64(1), AP(&t->net));
        for (int k = 0; k < 3 && s == DTD_OK; k++) {
            void *w = random_elements(d, &rng, sizes[k + 1] * sizes[k], 1.0 / sqrt_of((double)sizes[k]));
            void *b = random_elements(d, &rng, sizes[k + 1], 0.2);
            s = DCALL(typed("dtd_network_add_dense", d), AP(t->net), AP(w), AI64(sizes[k + 1] * sizes[k]), AI64(sizes[k + 1]),
                      AI64(sizes[k]), AP(b), AI64(sizes[k + 1]));
            if (s == DTD_OK && k < 2) s = DCALL("dtd_network_add_relu", AP(t->net));
            free(w), free(b);
            t->linear[k] = 2 * k;
        }
        t->in = 6, t->out = 3, t->nlinear = 3;
    }
    set_setup_mode(0);
    check(s == DTD_OK, "values", "builds the non-finite values network", "%s %s: %s", t->name, dtype_text[d], last_message());
    return s == DTD_OK ? 0 : -1;
}

/** Rule cases: which rule on the first linear layer and which on the others. */
typedef enum { RULE_EPSILON, RULE_ZPLUS, RULE_GAMMA, RULE_ALPHABETA, RULE_ZBOX, RULE_WSQUARE, RULE_FLAT } RuleCase;
static const char *const rule_text[] = {"epsilon 0.1", "z+", "gamma 0.25", "alpha 2 beta 1", "zbox first, epsilon above", "w^2",
                                        "flat first, w^2 above"};

static void *subject_rules(const Subject *t, RuleCase rule) {
    void *set = NULL;
    set_setup_mode(1);
    dtd_status s = DCALL("dtd_rules_create", AP(t->net), AP(&set));
    for (int k = 0; k < t->nlinear && s == DTD_OK; k++) {
        const int64_t l = t->linear[k];
        switch (rule) {
        case RULE_EPSILON: s = DCALL("dtd_rules_set_epsilon", AP(set), AI64(l), AF64(0.1), AI32(DTD_BIAS_INCLUDE)); break;
        case RULE_ZPLUS: s = DCALL("dtd_rules_set_zplus", AP(set), AI64(l), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)); break;
        case RULE_GAMMA: s = DCALL("dtd_rules_set_gamma", AP(set), AI64(l), AF64(0.25), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)); break;
        case RULE_ALPHABETA:
            s = DCALL("dtd_rules_set_alphabeta", AP(set), AI64(l), AF64(2), AF64(1), AF64(1e-6), AI32(DTD_BIAS_INCLUDE));
            break;
        case RULE_ZBOX:
            s = k == 0 ? DCALL("dtd_rules_set_zbox", AP(set), AI64(l), AF64(-1), AF64(1), AF64(1e-6), AI32(DTD_BIAS_INCLUDE))
                       : DCALL("dtd_rules_set_epsilon", AP(set), AI64(l), AF64(0.1), AI32(DTD_BIAS_INCLUDE));
            break;
        case RULE_WSQUARE: s = DCALL("dtd_rules_set_wsquare", AP(set), AI64(l), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)); break;
        case RULE_FLAT:
            s = k == 0 ? DCALL("dtd_rules_set_flat", AP(set), AI64(l), AF64(1e-6))
                       : DCALL("dtd_rules_set_wsquare", AP(set), AI64(l), AF64(1e-6), AI32(DTD_BIAS_INCLUDE));
            break;
        }
    }
    set_setup_mode(0);
    if (s != DTD_OK) {
        check(0, "values", "sets the non-finite values rules", "%s: %s", rule_text[rule], last_message());
        VCALL("dtd_rules_destroy", AP(set));
        return NULL;
    }
    return set;
}

/* ---- what sample NF_SAMPLE holds, and the other samples ----------------------------------------- */

enum { ALL_NAN, ALL_ZERO, ALL_FINITE, NAN_AT_ELEMENT, NAN_ONLY_AT_ELEMENT, SOME_NONFINITE, AS_FINITE };

/** Checks a (batch, size) result against the finite batch's: other samples bit-identical, sample
 *  NF_SAMPLE as `expect` says. */
static void expect_rows(const Subject *t, const char *fn, const char *what, const double *got, const double *finite, int64_t size,
                        int expect) {
    char text[260];
    int64_t at = -1;
    for (int n = 0; n < NF_BATCH && at < 0; n++) {
        if (n == NF_SAMPLE) continue;
        for (int64_t i = 0; i < size && at < 0; i++)
            if (memcmp(&got[n * size + i], &finite[n * size + i], sizeof(double)) != 0) at = n * size + i;
    }
    snprintf(text, sizeof text, "%s %s: %s: the other samples are bit for bit those of the finite batch", t->name, dtype_text[t->d], what);
    check(at < 0, fn, text, "element %lld: %.17g, finite batch %.17g", (long long)at, at >= 0 ? got[at] : 0.0, at >= 0 ? finite[at] : 0.0);

    const double *row = got + NF_SAMPLE * size, *clean = finite + NF_SAMPLE * size;
    int64_t bad = -1, nonfinite = 0;
    for (int64_t i = 0; i < size; i++) {
        int ok = 1;
        switch (expect) {
        case ALL_NAN: ok = isnan(row[i]); break;
        case ALL_ZERO: ok = row[i] == 0; break;
        case ALL_FINITE: ok = isfinite(row[i]); break;
        case NAN_AT_ELEMENT: ok = i == NF_ELEMENT ? isnan(row[i]) : row[i] == 0; break;
        case NAN_ONLY_AT_ELEMENT: ok = i == NF_ELEMENT ? isnan(row[i]) : isfinite(row[i]); break;
        case AS_FINITE: ok = memcmp(&row[i], &clean[i], sizeof(double)) == 0; break;
        default: break;
        }
        nonfinite += !isfinite(row[i]);
        if (!ok && bad < 0) bad = i;
    }
    if (expect == SOME_NONFINITE && nonfinite == 0) bad = 0;
    static const char *const expectation[] = {"NaN everywhere",
                                              "exactly 0 everywhere (every ReLU above the NaN sees a NaN pre-activation)",
                                              "finite everywhere",
                                              "NaN at the NaN input, 0 elsewhere",
                                              "NaN at the NaN input, finite elsewhere",
                                              "somewhere not finite",
                                              "the finite batch's result (the rules read no activation)"};
    snprintf(text, sizeof text, "%s %s: %s: the sample holding it is %s", t->name, dtype_text[t->d], what, expectation[expect]);
    check(bad < 0, fn, text, "element %lld of %lld: %.17g", (long long)bad, (long long)size, bad >= 0 ? row[bad] : 0.0);
}

/* ---- the checks ------------------------------------------------------------------------------------- */

typedef struct {
    int cnn, d;
} Job;

static void nonfinite_job(void *ctx) {
    const Job *job = ctx;
    Subject t;
    if (subject_build(&t, job->cnn, job->d) != 0) return;
    const int d = t.d, N = NF_BATCH;
    const int64_t in = t.in, out = t.out;
    Rng rng = {0xBADu};
    double *x = zeros(N * in), *seed = zeros(N * out), *got = zeros(N * in), *finite = zeros(N * in);
    for (int64_t i = 0; i < N * in; i++) x[i] = rng_normal(&rng);
    for (int64_t i = 0; i < N * out; i++) seed[i] = rng_normal(&rng);
    x[NF_SAMPLE * in + NF_ELEMENT] = 0.5;
    void *x_finite = to_elements(d, x, N * in), *r_finite = to_elements(d, seed, N * out);
    x[NF_SAMPLE * in + NF_ELEMENT] = NAN;
    void *x_nan = to_elements(d, x, N * in);
    x[NF_SAMPLE * in + NF_ELEMENT] = INFINITY;
    void *x_inf = to_elements(d, x, N * in);
    seed[NF_SAMPLE * out] = NAN;
    void *r_nan = to_elements(d, seed, N * out);
    void *result = to_elements(d, got, N * in);
    char what[200];

    /* forward, with NaN and with infinity */
    const char *fn = typed("dtd_network_forward", d);
    dtd_status s1 = DCALL(fn, AP(t.net), AI64(N), AP(x_finite), AI64(N * in), AP(result), AI64(N * out));
    from_elements(d, result, finite, N * out);
    dtd_status s2 = DCALL(fn, AP(t.net), AI64(N), AP(x_nan), AI64(N * in), AP(result), AI64(N * out));
    from_elements(d, result, got, N * out);
    check(s1 == DTD_OK && s2 == DTD_OK, fn, "a NaN input is computed, not rejected", "%s / %s", status_name(s1), status_name(s2));
    expect_rows(&t, fn, "forward, NaN in an input", got, finite, out, ALL_NAN);
    s2 = DCALL(fn, AP(t.net), AI64(N), AP(x_inf), AI64(N * in), AP(result), AI64(N * out));
    from_elements(d, result, got, N * out);
    expect_rows(&t, fn, "forward, infinity in an input", got, finite, out, SOME_NONFINITE);

    /* gradient and gradient x input */
    const char *grads[2] = {typed("dtd_relevance_gradient", d), typed("dtd_relevance_gradient_x_input", d)};
    for (int k = 0; k < 2; k++) {
        fn = grads[k];
        s1 = DCALL(fn, AP(t.net), AI64(N), AP(x_finite), AI64(N * in), AP(r_finite), AI64(N * out), AP(result), AI64(N * in));
        from_elements(d, result, finite, N * in);
        s2 = DCALL(fn, AP(t.net), AI64(N), AP(x_nan), AI64(N * in), AP(r_finite), AI64(N * out), AP(result), AI64(N * in));
        from_elements(d, result, got, N * in);
        check(s1 == DTD_OK && s2 == DTD_OK, fn, "a NaN input is computed, not rejected", "%s / %s", status_name(s1), status_name(s2));
        /* In the mlp every hidden unit depends on the NaN; in the cnn only the conv outputs next
         * to it, and the max-pool windows they win. */
        expect_rows(&t, fn, "NaN in an input", got, finite, in,
                    k == 0 ? (job->cnn ? ALL_FINITE : ALL_ZERO) : (job->cnn ? NAN_ONLY_AT_ELEMENT : NAN_AT_ELEMENT));
    }
    fn = grads[0];
    DCALL(fn, AP(t.net), AI64(N), AP(x_finite), AI64(N * in), AP(r_finite), AI64(N * out), AP(result), AI64(N * in));
    from_elements(d, result, finite, N * in);
    DCALL(fn, AP(t.net), AI64(N), AP(x_finite), AI64(N * in), AP(r_nan), AI64(N * out), AP(result), AI64(N * in));
    from_elements(d, result, got, N * in);
    expect_rows(&t, fn, "NaN in a seed", got, finite, in, ALL_NAN);

    /* LRP, rule by rule */
    fn = typed("dtd_relevance_lrp", d);
    for (int rule = RULE_EPSILON; rule <= RULE_FLAT; rule++) {
        void *set = subject_rules(&t, (RuleCase)rule);
        if (!set) continue;
        s1 = DCALL(fn, AP(t.net), AP(set), AI64(N), AP(x_finite), AI64(N * in), AP(r_finite), AI64(N * out), AP(result), AI64(N * in),
                   AP(NULL), AI64(0));
        from_elements(d, result, finite, N * in);
        s2 = DCALL(fn, AP(t.net), AP(set), AI64(N), AP(x_nan), AI64(N * in), AP(r_finite), AI64(N * out), AP(result), AI64(N * in),
                   AP(NULL), AI64(0));
        from_elements(d, result, got, N * in);
        snprintf(what, sizeof what, "%s, NaN in an input", rule_text[rule]);
        check(s1 == DTD_OK && s2 == DTD_OK, fn, what, "%s / %s: %s", status_name(s1), status_name(s2), last_message());
        /* w^2 and flat read no activation, but max-pool routes their relevance to the winners. */
        expect_rows(&t, fn, what, got, finite, in, rule >= RULE_WSQUARE ? (job->cnn ? ALL_FINITE : AS_FINITE) : ALL_NAN);
        if (rule == RULE_EPSILON) {
            DCALL(fn, AP(t.net), AP(set), AI64(N), AP(x_finite), AI64(N * in), AP(r_nan), AI64(N * out), AP(result), AI64(N * in), AP(NULL),
                  AI64(0));
            from_elements(d, result, got, N * in);
            snprintf(what, sizeof what, "%s, NaN in a seed", rule_text[rule]);
            expect_rows(&t, fn, what, got, finite, in, ALL_NAN);
        }
        VCALL("dtd_rules_destroy", AP(set));
    }

    /* the audit of the first layer's z+ roots */
    if (!job->cnn) {
        void *set = subject_rules(&t, RULE_ZPLUS);
        const int64_t J = 8;
        dtd_root_query query = {0, 0, DTD_PLACEMENT_RELEVANCE, 0, 1e-5, 0, J};
        dtd_audit_record *clean = calloc(N * J, sizeof *clean), *dirty = calloc(N * J, sizeof *dirty);
        dtd_audit_summary summary;
        if (!clean || !dirty) abort();
        fn = typed("dtd_audit_roots", d);
        s1 = DCALL(fn, AP(t.net), AP(set), AP(&query), AI64(N), AP(x_finite), AI64(N * in), AP(clean), AI64(N * J), AP(NULL));
        s2 = DCALL(fn, AP(t.net), AP(set), AP(&query), AI64(N), AP(x_nan), AI64(N * in), AP(dirty), AI64(N * J), AP(&summary));
        check(s1 == DTD_OK && s2 == DTD_OK, fn, "mlp: a NaN input is audited, not rejected", "%s / %s", status_name(s1), status_name(s2));
        int others = memcmp(clean, dirty, NF_SAMPLE * J * sizeof *clean) == 0 &&
                     memcmp(clean + (NF_SAMPLE + 1) * J, dirty + (NF_SAMPLE + 1) * J, (N - NF_SAMPLE - 1) * J * sizeof *clean) == 0;
        int nan_roots = 1;
        for (int64_t j = 0; j < J; j++)
            nan_roots &= isnan(dirty[NF_SAMPLE * J + j].output_change) && isnan(dirty[NF_SAMPLE * J + j].segment_inside);
        snprintf(what, sizeof what, "mlp %s: NaN in an input: the other samples' records are those of the finite batch", dtype_text[d]);
        check(others, fn, what, "a record of another sample differs");
        snprintf(what, sizeof what, "mlp %s: NaN in an input: that sample's roots have NaN output changes and segments", dtype_text[d]);
        check(nan_roots, fn, what, "a root of the NaN sample has a number there");
        snprintf(what, sizeof what, "mlp %s: NaN in an input: the summary's mean segment, conservation and unexplained fraction are NaN",
                 dtype_text[d]);
        check(isnan(summary.mean_segment_inside) && isnan(summary.max_conservation_error) && isnan(summary.unexplained_fraction), fn,
              what, "mean segment %g, conservation %g, unexplained fraction %g", summary.mean_segment_inside,
              summary.max_conservation_error, summary.unexplained_fraction);
        free(clean), free(dirty);
        VCALL("dtd_rules_destroy", AP(set));
    }
    free(x), free(seed), free(got), free(finite), free(x_finite), free(r_finite), free(x_nan), free(x_inf), free(r_nan), free(result);
    set_setup_mode(1);
    VCALL("dtd_network_destroy", AP(t.net));
    set_setup_mode(0);
}

void run_nonfinite_checks(void) {
    for (int d = 0; d < 2; d++)
        for (int cnn = 0; cnn < 2; cnn++) {
            Job job = {cnn, d};
            char what[80];
            snprintf(what, sizeof what, "non-finite values, %s %s", cnn ? "cnn" : "mlp", dtype_text[d]);
            isolated("values", what, nonfinite_job, &job);
        }
}
