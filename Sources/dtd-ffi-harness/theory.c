/**
 * theory.c : the values of the section 6-7 functions that values.c does not cover, in float32 and
 * float64, through ffi_call, against the naive reference (reference.c) and the header's text:
 *   dtd_theory_constant_root   (J^T r) (.) (x - root), for a shared root and one root per sample
 *   dtd_theory_gxi_distance    ||LRP(x; r) - G|| / ||G||, G = x (.) J^T (r / f(x)), for z+ and LRP-0
 *   dtd_theory_rank1_csc       per layer boundary, the mean over the batch of the mean pairwise
 *                              cosine of the LRP relevance of 3 seeds per sample (z+ and epsilon)
 *   dtd_theory_construct_roots root_ij = a_i - (e_i R_j / R) / (c_j w_ij), c_j = R_j / z_j (1 when
 *                              z_j = 0 or R_j = 0), R_j from the top-down pass (every rule above
 *                              the layer in root form: bias excluded, no stabiliser), R = sum_j R_j;
 *                              for the three dense layers; the records (R_j, z_j, t = 1/c_j, wv NaN)
 *   dtd_audit_points           per point p of layer l's input a: g(p) - g(a) (g: layers l.. to
 *                              output 0), the gradient test (1e-5), the ReLU pattern (hinge units
 *                              within 1e-9 of their layer's largest |pre-activation| match either
 *                              state), the Taylor residual, and segment_inside, the exact exit of
 *                              a -> p from the closure of a's region (a's local model is affine
 *                              along the segment: one linear equation per unit); the summary
 * Network: mlp 6 -> dense 8 -> relu -> dense 7 -> relu -> dense 3 with biases, batch 3, inputs
 * |N(0, 1)| redrawn until f_0(x) > 0.1 (relevance reaches every layer). The float32 network and
 * inputs hold the float-rounded values, on which the reference computes in double. Tolerances:
 * value_tolerance (float32 1e-4, float64 1e-10), per sample, or per root / point.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "robustness.h"
#include "values.h"

#define T_BATCH 3
#define T_SEEDS 3
#define T_POINTS 5

typedef struct {
    RefNet ref;
    int d;
    double x[T_BATCH * 6];
    double **acts[T_BATCH];
    void *net;
} Theory;

static double *random_values(Rng *rng, int64_t n, double scale) {
    double *p = zeros(n);
    for (int64_t i = 0; i < n; i++) p[i] = scale * rng_normal(rng);
    return p;
}

/** Rounds to float32 when d is 0 (what the float32 network sees). */
static double as_dtype(int d, double v) { return d == 0 ? (double)(float)v : v; }

static void theory_setup(Theory *t, int d) {
    Rng rng = {0x7E0A1u};
    int64_t shape[1] = {6}, sizes[4] = {6, 8, 7, 3};
    memset(t, 0, sizeof *t);
    t->d = d;
    ref_init(&t->ref, "theory mlp", 1, shape);
    for (int k = 0; k < 3; k++) {
        double *w = random_values(&rng, sizes[k + 1] * sizes[k], 1.2 / sqrt_of((double)sizes[k]));
        double *b = random_values(&rng, sizes[k + 1], 0.2);
        ref_dense(&t->ref, sizes[k + 1], w, b, d == 0);
        if (k < 2) ref_relu(&t->ref);
        free(w), free(b);
    }
    for (int n = 0; n < T_BATCH; n++) {
        double *x = t->x + n * 6;
        for (;;) {
            for (int i = 0; i < 6; i++) x[i] = as_dtype(d, abs_of(rng_normal(&rng)));
            t->acts[n] = ref_forward(&t->ref, x);
            if (t->acts[n][t->ref.count][0] > 0.1) break;
            ref_free_acts(&t->ref, t->acts[n]);
        }
    }
    t->net = build_network(&t->ref, d);
}

static void theory_teardown(Theory *t) {
    for (int n = 0; n < T_BATCH; n++)
        if (t->acts[n]) ref_free_acts(&t->ref, t->acts[n]);
    if (t->net) VCALL("dtd_network_destroy", AP(t->net));
    ref_free(&t->ref);
}

/** Every linear layer of `t` gets `rule`. */
static void every_layer(const Theory *t, RefRule rule, RefRule *rules) {
    for (int l = 0; l < t->ref.count; l++) {
        memset(&rules[l], 0, sizeof rules[l]);
        if (t->ref.layers[l].kind == REF_DENSE) rules[l] = rule;
    }
}

/* ---- T2: a constant root ------------------------------------------------------------------------ */

static void check_constant_root(Theory *t) {
    const int d = t->d, N = T_BATCH;
    const int64_t in = t->ref.in_size, out = t->ref.out_size;
    Rng rng = {0xC0057u};
    double *seed = random_values(&rng, N * out, 1.0), *shared = random_values(&rng, in, 1.0);
    double *each = random_values(&rng, N * in, 1.0), *got = zeros(N * in), *want = zeros(N * in), *g = zeros(in);
    for (int64_t i = 0; i < N * out; i++) seed[i] = as_dtype(d, seed[i]);
    for (int64_t i = 0; i < in; i++) shared[i] = as_dtype(d, shared[i]);
    for (int64_t i = 0; i < N * in; i++) each[i] = as_dtype(d, each[i]);
    void *xb = to_elements(d, t->x, N * in), *sb = to_elements(d, seed, N * out), *rel = to_elements(d, got, N * in);
    const char *fn = typed("dtd_theory_constant_root", d);
    for (int k = 0; k < 2; k++) {
        const double *root = k == 0 ? shared : each;
        const int64_t count = k == 0 ? in : N * in;
        void *rb = to_elements(d, root, count);
        dtd_status s = DCALL(fn, AP(t->net), AI64(N), AP(xb), AI64(N * in), AP(rb), AI64(count), AP(sb), AI64(N * out), AP(rel),
                             AI64(N * in));
        for (int n = 0; n < N; n++) {
            ref_gradient(&t->ref, t->acts[n], seed + n * out, g);
            for (int64_t i = 0; i < in; i++)
                want[n * in + i] = g[i] * (t->x[n * in + i] - root[k == 0 ? i : n * in + i]);
        }
        char what[160];
        snprintf(what, sizeof what, "%s %s: (J^T r) (.) (x - root) for %s", t->ref.name, dtype_text[d],
                 k == 0 ? "a root shared by the batch" : "one root per sample");
        check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
        from_elements(d, rel, got, N * in);
        if (s == DTD_OK) compare(fn, what, got, want, N * in, N, value_tolerance[d]);
        free(rb);
    }
    free(seed), free(shared), free(each), free(got), free(want), free(g), free(xb), free(sb), free(rel);
}

/* ---- T2: the distance to gradient x input -------------------------------------------------------- */

static double norm_of(const double *v, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += v[i] * v[i];
    return sqrt_of(sum);
}

static void check_gxi_distance(Theory *t) {
    const int d = t->d, N = T_BATCH;
    const int64_t in = t->ref.in_size, out = t->ref.out_size;
    Rng rng = {0x6C1u};
    double *seed = random_values(&rng, N * out, 1.0), *scaled = zeros(out), *g = zeros(in), *lrp = zeros(in), *diff = zeros(in);
    for (int64_t i = 0; i < N * out; i++) seed[i] = as_dtype(d, seed[i]);
    void *xb = to_elements(d, t->x, N * in), *sb = to_elements(d, seed, N * out);
    const char *fn = typed("dtd_theory_gxi_distance", d);
    const RefRule cases[2] = {{.kind = DTD_RULE_ZPLUS, .epsilon = DTD_DEFAULT_STABILIZER, .bias_mode = DTD_BIAS_INCLUDE},
                              {.kind = DTD_RULE_EPSILON, .epsilon = 0, .bias_mode = DTD_BIAS_INCLUDE}};
    for (int c = 0; c < 2; c++) {
        RefRule rules[REF_MAX_LAYERS];
        every_layer(t, cases[c], rules);
        void *set = build_rules(t->net, &t->ref, rules, d);
        double got[T_BATCH] = {NAN, NAN, NAN}, want[T_BATCH];
        dtd_status s = DCALL(fn, AP(t->net), AP(set), AI64(N), AP(xb), AI64(N * in), AP(sb), AI64(N * out), AP(got), AI64(N));
        for (int n = 0; n < N; n++) {
            /* G = x (.) grad f(x)^T (r / f(x)), 0 where f_k(x) = 0 */
            const double *f = t->acts[n][t->ref.count];
            for (int64_t k = 0; k < out; k++) scaled[k] = f[k] != 0 ? seed[n * out + k] / f[k] : 0.0;
            ref_gradient(&t->ref, t->acts[n], scaled, g);
            ref_lrp(&t->ref, t->acts[n], rules, seed + n * out, lrp, NULL);
            for (int64_t i = 0; i < in; i++) g[i] *= t->x[n * in + i], diff[i] = lrp[i] - g[i];
            double norm = norm_of(g, in);
            want[n] = norm > 0 ? norm_of(diff, in) / norm : norm_of(diff, in);
        }
        char what[160];
        snprintf(what, sizeof what, "%s %s: ||LRP - G|| / ||G|| for %s", t->ref.name, dtype_text[d],
                 c == 0 ? "z+" : "LRP-0 with the bias (T2: 0 up to rounding)");
        check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
        /* Absolute: LRP-0's distance is 0 up to rounding, z+'s is of order 1. */
        int worst = 0;
        for (int n = 0; n < N; n++)
            if (!(abs_of(got[n] - want[n]) <= abs_of(got[worst] - want[worst]))) worst = n;
        if (s == DTD_OK)
            check(abs_of(got[worst] - want[worst]) <= value_tolerance[d] && (c == 1 || want[worst] > 1e-2), fn, what,
                  "sample %d: %.17g, reference %.17g (tolerance %g)", worst, got[worst], want[worst], value_tolerance[d]);
        VCALL("dtd_rules_destroy", AP(set));
    }
    free(seed), free(scaled), free(g), free(lrp), free(diff), free(xb), free(sb);
}

/* ---- rank-1 convergence ------------------------------------------------------------------------- */

/** The mean over pairs of the cosine of `count` vectors of `size` (zero vectors count 0). */
static double mean_pairwise_cosine(double *const *vectors, int count, int64_t size) {
    double sum = 0;
    int pairs = 0;
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++, pairs++) {
            double dot = 0, uu = 0, vv = 0;
            for (int64_t k = 0; k < size; k++) {
                dot += vectors[i][k] * vectors[j][k];
                uu += vectors[i][k] * vectors[i][k];
                vv += vectors[j][k] * vectors[j][k];
            }
            sum += uu > 0 && vv > 0 ? dot / (sqrt_of(uu) * sqrt_of(vv)) : 0.0;
        }
    return pairs ? sum / pairs : 0.0;
}

static void check_rank1_csc(Theory *t) {
    const int d = t->d, N = T_BATCH, S = T_SEEDS, L = t->ref.count;
    const int64_t in = t->ref.in_size, out = t->ref.out_size;
    Rng rng = {0xC5Cu};
    double *seeds = random_values(&rng, N * S * out, 1.0);
    for (int64_t i = 0; i < N * S * out; i++) seeds[i] = as_dtype(d, seeds[i]);
    void *xb = to_elements(d, t->x, N * in), *sb = to_elements(d, seeds, N * S * out);
    const char *fn = typed("dtd_theory_rank1_csc", d);
    const RefRule cases[2] = {{.kind = DTD_RULE_ZPLUS, .epsilon = DTD_DEFAULT_STABILIZER, .bias_mode = DTD_BIAS_INCLUDE},
                              {.kind = DTD_RULE_EPSILON, .epsilon = 0.1, .bias_mode = DTD_BIAS_INCLUDE}};
    for (int c = 0; c < 2; c++) {
        RefRule rules[REF_MAX_LAYERS];
        every_layer(t, cases[c], rules);
        void *set = build_rules(t->net, &t->ref, rules, d);
        double csc[REF_MAX_LAYERS + 1], want[REF_MAX_LAYERS + 1] = {0};
        for (int l = 0; l <= L; l++) csc[l] = NAN;
        dtd_status s = DCALL(fn, AP(t->net), AP(set), AI64(N), AP(xb), AI64(N * in), AI64(S), AP(sb), AI64(N * S * out), AP(csc),
                             AI64(L + 1));
        double **levels[T_SEEDS];
        for (int n = 0; n < N; n++) {
            for (int k = 0; k < S; k++) {
                levels[k] = ref_alloc_levels(&t->ref);
                ref_lrp_levels(&t->ref, t->acts[n], rules, seeds + (n * S + k) * out, levels[k], NULL);
            }
            for (int l = 0; l <= L; l++) {
                double *vectors[T_SEEDS];
                for (int k = 0; k < S; k++) vectors[k] = levels[k][l];
                want[l] += mean_pairwise_cosine(vectors, S, l < L ? t->ref.layers[l].in : out) / N;
            }
            for (int k = 0; k < S; k++) ref_free_acts(&t->ref, levels[k]);
        }
        char what[160];
        snprintf(what, sizeof what, "%s %s: the mean pairwise cosine of %s relevance at every layer boundary", t->ref.name,
                 dtype_text[d], c == 0 ? "z+" : "epsilon 0.1");
        check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
        int worst = 0;
        for (int l = 0; l <= L; l++)
            if (!(abs_of(csc[l] - want[l]) <= abs_of(csc[worst] - want[worst]))) worst = l;
        if (s == DTD_OK)
            check(abs_of(csc[worst] - want[worst]) <= value_tolerance[d], fn, what, "csc[%d] = %.17g, reference %.17g (tolerance %g)",
                  worst, csc[worst], want[worst], value_tolerance[d]);
        VCALL("dtd_rules_destroy", AP(set));
    }
    free(seeds), free(xb), free(sb);
}

/* ---- T3: constructed roots ---------------------------------------------------------------------- */

static void check_construct_roots(Theory *t) {
    const int d = t->d, N = T_BATCH;
    const int64_t in = t->ref.in_size, out = t->ref.out_size;
    RefRule rules[REF_MAX_LAYERS], forms[REF_MAX_LAYERS];
    every_layer(t, (RefRule){.kind = DTD_RULE_ZPLUS, .epsilon = DTD_DEFAULT_STABILIZER, .bias_mode = DTD_BIAS_INCLUDE}, rules);
    every_layer(t, (RefRule){.kind = DTD_RULE_ZPLUS, .epsilon = 0, .bias_mode = DTD_BIAS_EXCLUDE}, forms);
    void *set = build_rules(t->net, &t->ref, rules, d);
    void *xb = to_elements(d, t->x, N * in);
    Rng rng = {0x73u};
    for (int layer = 0; layer < t->ref.count; layer += 2) {
        const RefLayer *Ly = &t->ref.layers[layer];
        const int64_t I = Ly->in, J = Ly->out;
        dtd_root_query query = {layer, 0, DTD_PLACEMENT_RELEVANCE, 0, 1e-5, 0, J};
        /* The explanation: positive shares rescaled to the total the library's own roots carry
         * (the call checks that total to 1e-6, tighter than float32's top-down pass). */
        dtd_root_info *info = calloc((size_t)(N * J), sizeof *info);
        void *pb = calloc((size_t)(N * J * I), sizeof(double));
        double *e = zeros(N * I), *got = zeros(N * J * I), *want = zeros(N * J * I);
        double *R = zeros(N * J), *z = zeros(N * J), *Rgot = zeros(N * J), *zgot = zeros(N * J), *tgot = zeros(N * J);
        double *twant = zeros(N * J), *seed = zeros(out);
        if (!info || !pb) abort();
        dtd_status s = DCALL(typed("dtd_roots_compute", d), AP(t->net), AP(set), AP(&query), AI64(N), AP(xb), AI64(N * in), AP(NULL),
                             AI64(0), AP(info), AI64(N * J));
        for (int n = 0; n < N; n++) {
            double total = 0, sum = 0;
            for (int64_t j = 0; j < J; j++) total += info[n * J + j].relevance;
            for (int64_t i = 0; i < I; i++) sum += e[n * I + i] = 0.5 + rng_uniform(&rng);
            for (int64_t i = 0; i < I; i++) e[n * I + i] = as_dtype(d, e[n * I + i] * total / sum);
        }
        void *eb = to_elements(d, e, N * I);
        const char *fn = typed("dtd_theory_construct_roots", d);
        memset(info, 0, (size_t)(N * J) * sizeof *info);
        if (s == DTD_OK)
            s = DCALL(fn, AP(t->net), AP(set), AP(&query), AI64(N), AP(xb), AI64(N * in), AP(eb), AI64(N * I), AP(pb), AI64(N * J * I),
                      AP(info), AI64(N * J));
        /* The reference: R_j at layer's output from the root forms above it. */
        int flags_ok = 1, nan_wv = 1;
        for (int n = 0; n < N; n++) {
            double **levels = ref_alloc_levels(&t->ref);
            for (int64_t k = 0; k < out; k++) seed[k] = k == 0 ? t->acts[n][t->ref.count][0] : 0.0;
            ref_lrp_levels(&t->ref, t->acts[n], forms, seed, levels, NULL);
            double total = 0;
            for (int64_t j = 0; j < J; j++) total += R[n * J + j] = levels[layer + 1][j];
            const double *a = t->acts[n][layer];
            for (int64_t j = 0; j < J; j++) {
                double rj = R[n * J + j], zj = z[n * J + j] = t->acts[n][layer + 1][j];
                double c = zj == 0 || rj == 0 ? 1.0 : rj / zj;
                twant[n * J + j] = 1 / c;
                for (int64_t i = 0; i < I; i++) {
                    double w = Ly->M[j * I + i], share = e[n * I + i] * rj / total;
                    want[(n * J + j) * I + i] = w != 0 ? a[i] - share / (c * w) : a[i];
                }
                const dtd_root_info *r = &info[n * J + j];
                Rgot[n * J + j] = r->relevance, zgot[n * J + j] = r->z, tgot[n * J + j] = r->t;
                if (r->neuron != j || r->flags != (rj == 0 ? DTD_ROOT_AT_INPUT : 0)) flags_ok = 0;
                if (!isnan(r->wv)) nan_wv = 0;
            }
            ref_free_acts(&t->ref, levels);
        }
        char what[200];
        snprintf(what, sizeof what, "%s %s: roots of dense layer %d reproduce a positive explanation", t->ref.name, dtype_text[d], layer);
        check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
        if (s == DTD_OK) {
            from_elements(d, pb, got, N * J * I);
            compare(fn, what, got, want, N * J * I, N * J, value_tolerance[d]);
            char part[320];
            snprintf(part, sizeof part, "%s: R_j of the records", what);
            compare(fn, part, Rgot, R, N * J, N, value_tolerance[d]);
            snprintf(part, sizeof part, "%s: z_j of the records", what);
            compare(fn, part, zgot, z, N * J, N, value_tolerance[d]);
            snprintf(part, sizeof part, "%s: t = 1 / c_j of the records", what);
            compare(fn, part, tgot, twant, N * J, N * J, value_tolerance[d]);
            snprintf(part, sizeof part, "%s: records name their neuron, wv is NaN, AT_INPUT exactly where R_j = 0", what);
            check(flags_ok && nan_wv, fn, part, "neuron/flags %s, wv NaN %s", flags_ok ? "ok" : "wrong", nan_wv ? "yes" : "no");
        }
        free(info), free(pb), free(e), free(got), free(want), free(R), free(z), free(Rgot), free(zgot), free(tgot), free(twant);
        free(seed), free(eb);
    }
    VCALL("dtd_rules_destroy", AP(set));
    free(xb);
}

/* ---- audited points ------------------------------------------------------------------------------- */

/** The audit of point p of a (the input of `tail`'s first layer) against output `target`. */
typedef struct {
    int same_gradient, same_pattern;
    double output_change, taylor_residual, segment_inside, scale;
} PointAudit;

static PointAudit audit_point(const RefNet *tail, const double *a, const double *p, int64_t target) {
    const int64_t I = tail->in_size, out = tail->out_size;
    PointAudit r = {1, 1, 0, 0, 0, 0};
    double **at_a = ref_forward(tail, a), **at_p = ref_forward(tail, p), **frozen = ref_forward_frozen(tail, at_a, p);
    double *unit = zeros(out), *grad_a = zeros(I), *grad_p = zeros(I);
    unit[target] = 1;
    ref_gradient(tail, at_a, unit, grad_a);
    ref_gradient(tail, at_p, unit, grad_p);
    double ga = at_a[tail->count][target], gp = at_p[tail->count][target], taylor = 0, worst = 0, mu = INFINITY;
    for (int64_t i = 0; i < I; i++) {
        worst = max_of(worst, abs_of(grad_p[i] - grad_a[i]));
        taylor += grad_p[i] * (a[i] - p[i]);
        r.scale += abs_of(grad_p[i] * (a[i] - p[i]));
    }
    r.same_gradient = worst <= 1e-5;
    r.output_change = gp - ga;
    r.taylor_residual = ga - gp - taylor;
    r.scale = max_of(max_of(1.0, r.scale), max_of(abs_of(ga), abs_of(gp)));
    for (int l = 0; l < tail->count; l++) {
        if (tail->layers[l].kind != REF_RELU) continue;
        const double *z0 = at_a[l], *z1 = at_p[l], *zf = frozen[l];
        double largest = 0;
        for (int64_t u = 0; u < tail->layers[l].in; u++) largest = max_of(largest, max_of(abs_of(z0[u]), abs_of(z1[u])));
        for (int64_t u = 0; u < tail->layers[l].in; u++) {
            if ((z0[u] > 0) != (z1[u] > 0) && abs_of(z1[u]) > 1e-9 * largest) r.same_pattern = 0;
            /* Along a + s (p - a) the local model's pre-activation is z0 + s (zf - z0). */
            double slope = zf[u] - z0[u];
            if (z0[u] > 0 && slope < 0) mu = z0[u] / -slope < mu ? z0[u] / -slope : mu;
            if (z0[u] <= 0 && slope > 0) mu = -z0[u] / slope < mu ? -z0[u] / slope : mu;
        }
    }
    r.segment_inside = mu < 1 ? mu : 1.0;
    ref_free_acts(tail, at_a), ref_free_acts(tail, at_p), ref_free_acts(tail, frozen);
    free(unit), free(grad_a), free(grad_p);
    return r;
}

static void check_audit_points(Theory *t) {
    const int d = t->d, N = T_BATCH, P = T_POINTS;
    const int64_t in = t->ref.in_size;
    const double steps[T_POINTS] = {0, 1e-3, 0.3, 2, -1.5}; /* p = a + step * v; the last: v = a */
    Rng rng = {0xA0D17u};
    void *xb = to_elements(d, t->x, N * in);
    const char *fn = typed("dtd_audit_points", d);
    for (int layer = 0; layer <= 2; layer += 2) {
        const int64_t I = t->ref.layers[layer].in;
        RefNet tail = ref_tail(&t->ref, layer);
        double *points = zeros(N * P * I);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < P; k++)
                for (int64_t i = 0; i < I; i++) {
                    const double ai = t->acts[n][layer][i], v = k == P - 1 ? ai : rng_normal(&rng);
                    points[(n * P + k) * I + i] = as_dtype(d, ai + steps[k] * v);
                }
        void *pb = to_elements(d, points, N * P * I);
        dtd_audit_record *records = calloc((size_t)(N * P), sizeof *records);
        dtd_audit_summary summary;
        memset(&summary, 0, sizeof summary);
        if (!records) abort();
        dtd_status s = DCALL(fn, AP(t->net), AI64(layer), AI64(0), AI64(N), AP(xb), AI64(N * in), AI64(P), AP(pb), AI64(N * P * I),
                             AP(records), AI64(N * P), AP(&summary));
        char what[200];
        snprintf(what, sizeof what, "%s %s: points of layer %d's input audited against g", t->ref.name, dtype_text[d], layer);
        check(s == DTD_OK, fn, what, "%s: %s", status_name(s), last_message());
        if (s == DTD_OK) {
            char detail[400] = "";
            double tol = value_tolerance[d], worst = 0, segments = 0;
            int outside_gradient = 0, outside_pattern = 0, unchanged = 0, wrong = 0;
            for (int n = 0; n < N; n++) {
                int gradient_fails = 0, pattern_fails = 0;
                for (int k = 0; k < P; k++) {
                    const dtd_audit_record *r = &records[n * P + k];
                    PointAudit w = audit_point(&tail, t->acts[n][layer], points + (n * P + k) * I, 0);
                    double errors[3] = {abs_of(r->output_change - w.output_change) / w.scale,
                                        abs_of(r->taylor_residual - w.taylor_residual) / w.scale,
                                        abs_of(r->segment_inside - w.segment_inside)};
                    for (int e = 0; e < 3; e++) {
                        if (isnan(errors[e])) errors[e] = INFINITY;
                        if (errors[e] > worst) {
                            worst = errors[e];
                            snprintf(detail, sizeof detail, "sample %d point %d: %s %.17g, reference %.17g", n, k,
                                     e == 0 ? "output_change" : e == 1 ? "taylor_residual" : "segment_inside",
                                     e == 0 ? r->output_change : e == 1 ? r->taylor_residual : r->segment_inside,
                                     e == 0 ? w.output_change : e == 1 ? w.taylor_residual : w.segment_inside);
                        }
                    }
                    if (r->same_gradient != w.same_gradient || r->same_pattern != w.same_pattern || r->root.neuron != k ||
                        !isnan(r->root.t) || !isnan(r->root.wv) || !isnan(r->admissible_t) || r->unexplained != 0) {
                        if (!wrong)
                            snprintf(detail + strlen(detail), sizeof detail - strlen(detail),
                                     "; sample %d point %d: same_gradient %d (reference %d), same_pattern %d (%d), neuron %lld, "
                                     "t %g, wv %g, admissible_t %g, unexplained %g",
                                     n, k, r->same_gradient, w.same_gradient, r->same_pattern, w.same_pattern,
                                     (long long)r->root.neuron, r->root.t, r->root.wv, r->admissible_t, r->unexplained);
                        wrong++;
                    }
                    gradient_fails |= !w.same_gradient, pattern_fails |= !w.same_pattern;
                    unchanged += abs_of(w.output_change) < 1e-6;
                    segments += w.segment_inside;
                }
                outside_gradient += gradient_fails, outside_pattern += pattern_fails;
            }
            check(!wrong && worst <= tol, fn, what, "%s (worst error %.3g, tolerance %g; %d records with a wrong flag or field)", detail,
                  worst, tol, wrong);
            char part[260];
            snprintf(part, sizeof part, "%s: the summary", what);
            int summary_ok = summary.samples == N && summary.pairs == N * P &&
                             summary.outside_by_gradient == (double)outside_gradient / N &&
                             summary.outside_by_pattern == (double)outside_pattern / N &&
                             summary.unchanged_output == (double)unchanged / (N * P) &&
                             abs_of(summary.mean_segment_inside - segments / (N * P)) <= tol && isnan(summary.max_conservation_error);
            check(summary_ok, fn, part,
                  "samples %lld, pairs %lld, outside by gradient %g (%g), by pattern %g (%g), unchanged %g (%g), mean segment %.17g (%.17g), "
                  "conservation %g (NaN)",
                  (long long)summary.samples, (long long)summary.pairs, summary.outside_by_gradient, (double)outside_gradient / N,
                  summary.outside_by_pattern, (double)outside_pattern / N, summary.unchanged_output, (double)unchanged / (N * P),
                  summary.mean_segment_inside, segments / (N * P), summary.max_conservation_error);
        }
        free(points), free(pb), free(records);
    }
    free(xb);
}

static void theory_job(void *ctx) {
    Theory t;
    theory_setup(&t, *(const int *)ctx);
    if (t.net) {
        check_constant_root(&t);
        check_gxi_distance(&t);
        check_rank1_csc(&t);
        check_construct_roots(&t);
        check_audit_points(&t);
    }
    theory_teardown(&t);
}

void run_theory_checks(void) {
    for (int d = 0; d < 2; d++) {
        char what[80];
        snprintf(what, sizeof what, "theory and audited points, %s", dtype_text[d]);
        isolated("values", what, theory_job, &d);
    }
}
