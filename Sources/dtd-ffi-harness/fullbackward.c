/**
 * fullbackward.c : full-backward DTD (dtd.h section 8) through ffi_call.
 *
 * Values (phase "values"), against computations written here from the header's definitions:
 *   hand    one dense unit with a ReLU on two inputs, worked by hand: z = a1 + 2 a2 - 1 at
 *           (1, 1) has its root at (0.6, 0.2), R0 = (0.4, 1.6), hinge distance 2/sqrt(5), box
 *           [0, inf)^2 and [0, 2]^2 within distance 1; z = a1 + a2 + 0.5 leaves u = 0.5 unresolved.
 *   chain   a seeded random dense/ReLU chain, exact method: the header's affine bookkeeping
 *           recomputed with plain loops from the returned roots and skip flags (alpha_j =
 *           gamma_j D_j w_j, beta_j = gamma_j D_j b_j - kappa_j, messages to the layer below) must
 *           give back every R_j(a), R_j(root), R0 and its slope; every root lies in the closure
 *           of its region (the ReLU pattern through the layers above, naive forward; float32
 *           output rounds the roots, so hinges match within 1e-6 there); lp_min <=
 *           R_j(root); the ledger closes to 1e-9 f from the records.
 *   sampled the sampled methods: roots within the search radius 1, the same seed the same bytes.
 *   absent  DTD_CLP_LIBRARY pointing at a missing file: dtd_full_backward_available() = 0, the
 *           exact method DTD_ERROR_UNSUPPORTED ("install coinor-libclp"), the sampled ones work.
 * Specific (phase "specific"): the bad-input list with exact codes (a conv layer, pooling, a
 * missing ReLU, f_k(x) <= 0, an input below input_lower, NaN input).
 * Where CLP is not installed, the exact-method value checks are skipped with a printed note.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reference.h"
#include "robustness.h"

static const char *const dtype_name[2] = {"float32", "float64"};

static int clp_missing(const char *what) {
    if (icall("dtd_full_backward_available", 0, NULL) == 1) return 0;
    printf("note: %s skipped: COIN-OR CLP (libClp.so.1, Debian coinor-libclp1) is not installed\n", what);
    return 1;
}

static void *elements_of(int d, const double *values, int64_t n) {
    void *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!p) abort();
    for (int64_t i = 0; i < n; i++) elem_set(p, d, i, values[i]);
    return p;
}

/** A dense/ReLU chain network of dtype d from float64 parameters (rounded to float for d = 0). */
static void *build_chain(int d, int64_t in, int layers, const int64_t *outs, double *const *w, double *const *b) {
    void *net = NULL;
    int64_t shape[1] = {in};
    if (DCALL("dtd_network_create", AI32(d ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32), AP(shape), AI64(1), AP(&net)) != DTD_OK)
        return NULL;
    int64_t fan_in = in;
    for (int l = 0; l < layers; l++) {
        void *wb = elements_of(d, w[l], outs[l] * fan_in), *bb = elements_of(d, b[l], outs[l]);
        dtd_status s = DCALL(typed("dtd_network_add_dense", d), AP(net), AP(wb), AI64(outs[l] * fan_in), AI64(outs[l]),
                             AI64(fan_in), AP(bb), AI64(outs[l]));
        free(wb), free(bb);
        if (s != DTD_OK || DCALL("dtd_network_add_relu", AP(net)) != DTD_OK) return NULL;
        fan_in = outs[l];
    }
    return net;
}

static double tolerance_of(int d) { return d ? 1e-12 : 2e-6; }

/* ---- hand-computed cases ------------------------------------------------------------------------ */

static void fb_hand_job(void *ctx) {
    const int d = *(const int *)ctx;
    if (clp_missing("full-backward hand case")) return;
    const char *fn = typed("dtd_full_backward_compute", d), *regions_fn = typed("dtd_full_backward_regions", d);
    const double tol = tolerance_of(d);
    char what[160];
    double w[2] = {1, 2}, b[1] = {-1}, x[2] = {1, 1};
    double *ws[1] = {w}, *bs[1] = {b};
    int64_t outs[1] = {1};
    void *net = build_chain(d, 2, 1, outs, ws, bs);
    check(net != NULL, fn, "builds the hand network", "%s", last_message());
    if (!net) return;
    dtd_full_backward_query q = {.target = 0, .method = DTD_FULL_BACKWARD_EXACT, .directions = 0, .seed = 0, .input_lower = 0};
    dtd_full_backward_sizes sizes;
    dtd_status s = DCALL("dtd_full_backward_count", AP(net), AP(&q), AP(&sizes));
    check(s == DTD_OK && sizes.layers == 1 && sizes.units == 1 && sizes.root_elements == 2 && sizes.box_elements == 8,
          "dtd_full_backward_count", "hand network: 1 dense layer, 1 unit, 2 root and 8 box elements",
          "%s: %lld %lld %lld %lld", status_name(s), (long long)sizes.layers, (long long)sizes.units,
          (long long)sizes.root_elements, (long long)sizes.box_elements);
    void *xb = elements_of(d, x, 2), *rel = calloc(2, sizeof(double)), *slope = calloc(2, sizeof(double));
    void *roots = calloc(2, sizeof(double)), *boxes = calloc(8, sizeof(double));
    dtd_full_backward_unit unit;
    dtd_full_backward_sample sample;
    dtd_full_backward_region region;
    s = DCALL(fn, AP(net), AP(&q), AI64(1), AP(xb), AI64(2), AP(&unit), AI64(1), AP(rel), AI64(2), AP(slope), AI64(2), AP(roots),
              AI64(2), AP(&sample), AI64(1));
    const double distance = 2 / sqrt_of(5);
    snprintf(what, sizeof what, "hand case z = a1 + 2 a2 - 1 at (1, 1), %s: root (0.6, 0.2), R0 (0.4, 1.6), u = 0", dtype_name[d]);
    check(s == DTD_OK && unit.layer == 0 && unit.unit == 0 && unit.dense_index == 0 && unit.flags == 0 &&
              abs_of(unit.relevance - 2) <= tol && abs_of(unit.lp_min) <= tol && abs_of(unit.unresolved) <= tol &&
              abs_of(unit.root_distance - distance) <= tol && abs_of(elem_get(roots, d, 0) - 0.6) <= tol &&
              abs_of(elem_get(roots, d, 1) - 0.2) <= tol && abs_of(elem_get(rel, d, 0) - 0.4) <= tol &&
              abs_of(elem_get(rel, d, 1) - 1.6) <= tol && elem_get(slope, d, 0) == 1 && elem_get(slope, d, 1) == 2 &&
              abs_of(sample.output - 2) <= tol && abs_of(sample.ledger_error) <= tol && sample.solver_calls >= 1,
          fn, what, "%s: flags %d R %.17g lp %.17g u %.17g dist %.17g root (%.17g, %.17g) R0 (%.17g, %.17g); %s", status_name(s),
          (int)unit.flags, unit.relevance, unit.lp_min, unit.unresolved, unit.root_distance, elem_get(roots, d, 0),
          elem_get(roots, d, 1), elem_get(rel, d, 0), elem_get(rel, d, 1), last_message());
    s = DCALL(regions_fn, AP(net), AP(&q), AI64(1), AP(xb), AI64(2), AP(&region), AI64(1), AP(boxes), AI64(8));
    double box[8];
    for (int i = 0; i < 8; i++) box[i] = elem_get(boxes, d, i);
    snprintf(what, sizeof what, "hand case, %s: hinge 2/sqrt(5), box [0, inf)^2, within distance 1 [0, 2]^2", dtype_name[d]);
    check(s == DTD_OK && region.layer == 0 && region.constraints == 1 && region.unbounded == 2 &&
              abs_of(region.hinge_distance - distance) <= tol && region.mean_width == INFINITY &&
              abs_of(region.mean_width_clipped - 2) <= tol && box[0] == 0 && box[1] == 0 && box[2] == INFINITY &&
              box[3] == INFINITY && abs_of(box[4]) <= tol && abs_of(box[5]) <= tol && abs_of(box[6] - 2) <= tol &&
              abs_of(box[7] - 2) <= tol,
          regions_fn, what, "%s: hinge %.17g constraints %lld unbounded %lld box [%g %g %g %g | %g %g %g %g]", status_name(s),
          region.hinge_distance, (long long)region.constraints, (long long)region.unbounded, box[0], box[1], box[2], box[3],
          box[4], box[5], box[6], box[7]);
    VCALL("dtd_network_destroy", AP(net));

    /* z = a1 + a2 + 0.5: min over the orthant is 0.5 at a = 0, left unresolved; the root is the
     * nearest point with z <= 0.5 + 1e-9, (5e-10, 5e-10). */
    double w2[2] = {1, 1}, b2[1] = {0.5};
    double *ws2[1] = {w2}, *bs2[1] = {b2};
    net = build_chain(d, 2, 1, outs, ws2, bs2);
    if (!net) return;
    s = DCALL(fn, AP(net), AP(&q), AI64(1), AP(xb), AI64(2), AP(&unit), AI64(1), AP(rel), AI64(2), AP(NULL), AI64(0), AP(roots),
              AI64(2), AP(&sample), AI64(1));
    snprintf(what, sizeof what, "z = a1 + a2 + 0.5 at (1, 1), %s: u = 0.5 unresolved, root (5e-10, 5e-10)", dtype_name[d]);
    check(s == DTD_OK && unit.flags == DTD_UNIT_UNRESOLVED && abs_of(unit.lp_min - 0.5) <= tol &&
              abs_of(unit.unresolved - (0.5 + 1e-9)) <= tol && abs_of(elem_get(roots, d, 0) - 5e-10) <= tol &&
              abs_of(elem_get(rel, d, 0) - (1 - 5e-10)) <= tol && abs_of(sample.unresolved_sum - (0.5 + 1e-9)) <= tol,
          fn, what, "%s: flags %d lp %.17g u %.17g root0 %.17g R0 %.17g", status_name(s), (int)unit.flags, unit.lp_min,
          unit.unresolved, elem_get(roots, d, 0), elem_get(rel, d, 0));
    VCALL("dtd_network_destroy", AP(net));
    free(xb), free(rel), free(slope), free(roots), free(boxes);
}

/* ---- a random chain: the bookkeeping recomputed ------------------------------------------------ */

#define CH_LAYERS 3
#define CH_BATCH 4
static const int64_t ch_sizes[CH_LAYERS + 1] = {5, 6, 4, 2};

/** Whether `p` (an input of chain layer l) keeps every ReLU of layers l.. (of the last: unit 0) in
 *  its state at `a`, units within `tol` (relative) of their hinge matching either. */
static int in_region(const RefNet *ref, int l, const double *a, const double *p, double tol) {
    double cur_a[8], cur_p[8], next_a[8], next_p[8];
    for (int64_t i = 0; i < ch_sizes[l]; i++) cur_a[i] = a[i], cur_p[i] = p[i];
    for (int m = l; m < CH_LAYERS; m++) {
        const RefLayer *L = &ref->layers[2 * m];
        double scale = 1;
        for (int64_t j = 0; j < L->out; j++) {
            double za = L->b[j], zp = L->b[j];
            for (int64_t i = 0; i < L->in; i++) za += L->M[j * L->in + i] * cur_a[i], zp += L->M[j * L->in + i] * cur_p[i];
            next_a[j] = za, next_p[j] = zp;
            scale = max_of(scale, abs_of(za));
        }
        for (int64_t j = 0; j < (m == CH_LAYERS - 1 ? 1 : L->out); j++)
            if (abs_of(next_p[j]) > tol * scale && (next_p[j] > 0) != (next_a[j] > 0)) return 0;
        for (int64_t j = 0; j < L->out; j++) cur_a[j] = max_of(next_a[j], 0), cur_p[j] = max_of(next_p[j], 0);
    }
    return 1;
}

static void fb_chain_job(void *ctx) {
    const int d = *(const int *)ctx;
    if (clp_missing("full-backward random chain")) return;
    const char *fn = typed("dtd_full_backward_compute", d);
    Rng rng = {0xFB0C4A1Fu}; /* the same network in both dtypes (float32: rounded) */
    double *w[CH_LAYERS], *b[CH_LAYERS];
    RefNet ref;
    int64_t shape[1] = {ch_sizes[0]};
    ref_init(&ref, "chain", 1, shape);
    for (int l = 0; l < CH_LAYERS; l++) {
        w[l] = calloc((size_t)(ch_sizes[l + 1] * ch_sizes[l]), sizeof(double));
        b[l] = calloc((size_t)ch_sizes[l + 1], sizeof(double));
        if (!w[l] || !b[l]) abort();
        for (int64_t i = 0; i < ch_sizes[l + 1] * ch_sizes[l]; i++) w[l][i] = 2 * rng_uniform(&rng) - 0.8;
        for (int64_t i = 0; i < ch_sizes[l + 1]; i++) b[l][i] = 0.4 * rng_uniform(&rng) - 0.3;
        if (d == 0) {
            for (int64_t i = 0; i < ch_sizes[l + 1] * ch_sizes[l]; i++) w[l][i] = (double)(float)w[l][i];
            for (int64_t i = 0; i < ch_sizes[l + 1]; i++) b[l][i] = (double)(float)b[l][i];
        }
        ref_dense(&ref, ch_sizes[l + 1], w[l], b[l], 0);
        ref_relu(&ref);
    }
    void *net = build_chain(d, ch_sizes[0], CH_LAYERS, ch_sizes + 1, w, b);
    /* Inputs with f_0(x) > 0.05 (naive forward). */
    double x[CH_BATCH * 5], f[CH_BATCH];
    int found = 0;
    for (int tries = 0; tries < 10000 && found < CH_BATCH; tries++) {
        double candidate[5];
        for (int i = 0; i < 5; i++) candidate[i] = d ? 2 * rng_uniform(&rng) : (double)(float)(2 * rng_uniform(&rng));
        double **acts = ref_forward(&ref, candidate);
        double out = acts[ref.count][0];
        ref_free_acts(&ref, acts);
        if (out > 0.05) {
            for (int i = 0; i < 5; i++) x[found * 5 + i] = candidate[i];
            f[found++] = out;
        }
    }
    check(net != NULL && found == CH_BATCH, fn, "random chain: network and inputs with f_0 > 0.05", "found %d", found);
    if (!net || found < CH_BATCH) return;
    dtd_full_backward_query q = {.target = 0, .method = DTD_FULL_BACKWARD_EXACT, .directions = 0, .seed = 0, .input_lower = 0};
    dtd_full_backward_sizes sizes;
    DCALL("dtd_full_backward_count", AP(net), AP(&q), AP(&sizes));
    const int64_t units_per = 6 + 4 + 1, roots_per = 6 * 5 + 4 * 6 + 4;
    check(sizes.layers == 3 && sizes.units == units_per && sizes.root_elements == roots_per && sizes.box_elements == 4 * 15,
          "dtd_full_backward_count", "random chain 5-6-4-2: sizes", "%lld %lld %lld %lld", (long long)sizes.layers,
          (long long)sizes.units, (long long)sizes.root_elements, (long long)sizes.box_elements);
    dtd_full_backward_unit *units = calloc(CH_BATCH * units_per, sizeof *units);
    dtd_full_backward_sample samples[CH_BATCH];
    void *xb = elements_of(d, x, CH_BATCH * 5), *rel = calloc(CH_BATCH * 5, sizeof(double));
    void *slope = calloc(CH_BATCH * 5, sizeof(double)), *roots = calloc(CH_BATCH * roots_per, sizeof(double));
    if (!units || !rel || !slope || !roots) abort();
    dtd_status s = DCALL(fn, AP(net), AP(&q), AI64(CH_BATCH), AP(xb), AI64(CH_BATCH * 5), AP(units), AI64(CH_BATCH * units_per),
                         AP(rel), AI64(CH_BATCH * 5), AP(slope), AI64(CH_BATCH * 5), AP(roots), AI64(CH_BATCH * roots_per),
                         AP(samples), AI64(CH_BATCH));
    check(s == DTD_OK, fn, "random chain: the exact method runs", "%s: %s", status_name(s), last_message());
    if (s != DTD_OK) return;
    const double rel_tol = d ? 1e-9 : 1e-5;
    int bookkeeping = 1, region = 1, bound = 1, skipped_ok = 1;
    double worst = 0;
    for (int n = 0; n < CH_BATCH; n++) {
        double **acts = ref_forward(&ref, &x[n * 5]); /* acts[2l]: the input of dense layer l */
        double gamma[8] = {1}, kappa[8] = {0};
        int record = units_per, root_offset = (int)roots_per;
        double ledger = 0;
        for (int l = CH_LAYERS - 1; l >= 0; l--) {
            const RefLayer *L = &ref.layers[2 * l];
            const double *a = acts[2 * l], *z = acts[2 * l + 1];
            int64_t count = l == CH_LAYERS - 1 ? 1 : L->out;
            record -= (int)count;
            root_offset -= (int)(count * L->in);
            double next_gamma[8] = {0}, next_kappa[8] = {0};
            for (int64_t k = 0; k < count; k++) {
                const dtd_full_backward_unit *u = &units[n * units_per + record + k];
                int64_t j = l == CH_LAYERS - 1 ? 0 : k;
                double g = z[j] > 0 ? gamma[k] : 0, alpha[8], beta = g * L->b[j] - kappa[k], r = beta;
                for (int64_t i = 0; i < L->in; i++) alpha[i] = g * L->M[j * L->in + i], r += alpha[i] * a[i];
                double e = abs_of(u->relevance - r) / f[n];
                worst = max_of(worst, e);
                bookkeeping &= u->layer == 2 * l && u->unit == j && u->dense_index == l && e <= rel_tol;
                if (u->flags & DTD_UNIT_SKIPPED) {
                    skipped_ok &= u->relevance <= 1e-9 * f[n] + rel_tol * f[n];
                    ledger += u->relevance;
                    continue;
                }
                double root[8], at_root = beta, distance = 0;
                for (int64_t i = 0; i < L->in; i++) {
                    root[i] = elem_get(roots, d, n * roots_per + root_offset + k * L->in + i);
                    at_root += alpha[i] * root[i];
                    distance += (a[i] - root[i]) * (a[i] - root[i]);
                    next_gamma[i] += alpha[i];
                    next_kappa[i] += alpha[i] * root[i];
                }
                e = abs_of(u->unresolved - at_root) / f[n];
                worst = max_of(worst, e);
                bookkeeping &= e <= rel_tol && abs_of(u->root_distance - sqrt_of(distance)) <= rel_tol * (1 + u->root_distance);
                region &= in_region(&ref, l, a, root, d ? 1e-9 : 1e-6); /* float32: roots rounded on output */
                for (int64_t i = 0; i < L->in; i++) region &= root[i] >= -1e-9;
                bound &= u->lp_min <= u->unresolved + rel_tol * f[n];
                if (!(u->flags & DTD_UNIT_UNRESOLVED)) bound &= abs_of(u->unresolved) <= 1e-9 * f[n] + rel_tol * f[n];
                ledger += u->unresolved;
            }
            for (int64_t i = 0; i < L->in; i++) gamma[i] = next_gamma[i], kappa[i] = next_kappa[i];
        }
        for (int i = 0; i < 5; i++) {
            double r0 = gamma[i] * x[n * 5 + i] - kappa[i], e = abs_of(elem_get(rel, d, n * 5 + i) - r0) / f[n];
            worst = max_of(worst, e);
            bookkeeping &= e <= rel_tol && abs_of(elem_get(slope, d, n * 5 + i) - gamma[i]) <= rel_tol * (1 + abs_of(gamma[i]));
            ledger += elem_get(rel, d, n * 5 + i);
        }
        bookkeeping &= abs_of(ledger - f[n]) <= (d ? 1e-9 : 1e-5) * f[n] && abs_of(samples[n].output - f[n]) <= rel_tol * f[n];
        ref_free_acts(&ref, acts);
    }
    char what[200];
    snprintf(what, sizeof what, "random chain, %s: R_j(a), R_j(root), R0 and its slope follow from the roots; the ledger closes",
             dtype_name[d]);
    check(bookkeeping, fn, what, "largest relative error %.3g", worst);
    snprintf(what, sizeof what, "random chain, %s: every root lies in the closure of its region", dtype_name[d]);
    check(region, fn, what, "a root leaves its region");
    snprintf(what, sizeof what, "random chain, %s: lp_min <= R_j(root); resolved units leave ~0", dtype_name[d]);
    check(bound && skipped_ok, fn, what, "bound %d skipped %d", bound, skipped_ok);
    VCALL("dtd_network_destroy", AP(net));
    for (int l = 0; l < CH_LAYERS; l++) free(w[l]), free(b[l]);
    free(units), free(xb), free(rel), free(slope), free(roots);
    ref_free(&ref);
}

/* ---- the sampled methods ------------------------------------------------------------------------- */

static void fb_sampled_job(void *ctx) {
    (void)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    for (int method = DTD_FULL_BACKWARD_SAMPLED; method <= DTD_FULL_BACKWARD_BISECT; method++) {
        const char *fn = "dtd_full_backward_compute_f64";
        dtd_full_backward_query q = {.target = 0, .method = method, .directions = 0, .seed = 77, .input_lower = 0};
        dtd_full_backward_unit first[FX_BATCH * FX_FB_UNITS], again[FX_BATCH * FX_FB_UNITS];
        dtd_full_backward_sample samples[FX_BATCH];
        double r0[FX_BATCH * FX_FB_IN], roots[2][FX_BATCH * FX_FB_ROOTS];
        dtd_full_backward_unit *runs[2] = {first, again};
        dtd_status s[2];
        for (int k = 0; k < 2; k++)
            s[k] = DCALL(fn, AP(fx->chain[1]), AP(&q), AI64(FX_BATCH), AP(fx->chain_x[1]), AI64(FX_BATCH * FX_FB_IN), AP(runs[k]),
                         AI64(FX_BATCH * FX_FB_UNITS), AP(r0), AI64(FX_BATCH * FX_FB_IN), AP(NULL), AI64(0), AP(roots[k]),
                         AI64(FX_BATCH * FX_FB_ROOTS), AP(samples), AI64(FX_BATCH));
        int radius = 1, nan_lp = 1;
        for (int i = 0; i < FX_BATCH * FX_FB_UNITS; i++) {
            if (!(first[i].flags & DTD_UNIT_SKIPPED)) radius &= first[i].root_distance <= 1 + 1e-12;
            nan_lp &= isnan(first[i].lp_min);
        }
        for (int i = 0; i < FX_BATCH * FX_FB_ROOTS; i++) radius &= isnan(roots[0][i]) || roots[0][i] >= 0;
        char what[160];
        snprintf(what, sizeof what, "%s: roots within the search radius 1 and >= 0, lp_min NaN, no solver calls, same seed same bytes",
                 method == DTD_FULL_BACKWARD_SAMPLED ? "sampled" : "bisect");
        check(s[0] == DTD_OK && s[1] == DTD_OK && radius && nan_lp && samples[0].solver_calls == 0 &&
                  samples[0].root_searches >= FX_FB_LAYERS && memcmp(first, again, sizeof first) == 0 &&
                  memcmp(roots[0], roots[1], sizeof roots[0]) == 0,
              fn, what, "%s / %s, radius %d, lp NaN %d, searches %lld: %s", status_name(s[0]), status_name(s[1]), radius, nan_lp,
              (long long)samples[0].root_searches, last_message());
    }
    fixture_free(fx);
}

/* ---- without CLP --------------------------------------------------------------------------------- */

static void fb_absent_job(void *ctx) {
    (void)ctx;
    /* Before any libdtd call in this child: the solver is looked up on first use. */
    setenv("DTD_CLP_LIBRARY", "/nonexistent/libClp.so.1", 1);
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    int32_t available = icall("dtd_full_backward_available", 0, NULL);
    check(available == 0, "dtd_full_backward_available", "0 when DTD_CLP_LIBRARY names a missing file", "returned %d", (int)available);
    dtd_full_backward_query q = fx->fb_query;
    q.method = DTD_FULL_BACKWARD_EXACT;
    for (int d = 0; d < 2; d++) {
        const char *fn = typed("dtd_full_backward_compute", d), *regions_fn = typed("dtd_full_backward_regions", d);
        dtd_status s = DCALL(fn, AP(fx->chain[d]), AP(&q), AI64(FX_BATCH), AP(fx->chain_x[d]), AI64(FX_BATCH * FX_FB_IN),
                             AP(fx->fb_units), AI64(FX_BATCH * FX_FB_UNITS), AP(fx->fb_relevance[d]), AI64(FX_BATCH * FX_FB_IN),
                             AP(NULL), AI64(0), AP(NULL), AI64(0), AP(NULL), AI64(0));
        check(s == DTD_ERROR_UNSUPPORTED && strstr(last_message(), "install coinor-libclp") &&
                  strstr(last_message(), "/nonexistent/libClp.so.1"),
              fn, "without CLP the exact method is DTD_ERROR_UNSUPPORTED, naming what to install", "%s: %s", status_name(s),
              last_message());
        s = DCALL(regions_fn, AP(fx->chain[d]), AP(&q), AI64(FX_BATCH), AP(fx->chain_x[d]), AI64(FX_BATCH * FX_FB_IN),
                  AP(fx->fb_regions), AI64(FX_BATCH * FX_FB_LAYERS), AP(NULL), AI64(0));
        check(s == DTD_ERROR_UNSUPPORTED, regions_fn, "without CLP the exact region sizes are DTD_ERROR_UNSUPPORTED", "%s",
              status_name(s));
        s = DCALL(fn, AP(fx->chain[d]), AP(&fx->fb_query), AI64(FX_BATCH), AP(fx->chain_x[d]), AI64(FX_BATCH * FX_FB_IN),
                  AP(fx->fb_units), AI64(FX_BATCH * FX_FB_UNITS), AP(fx->fb_relevance[d]), AI64(FX_BATCH * FX_FB_IN), AP(NULL),
                  AI64(0), AP(NULL), AI64(0), AP(NULL), AI64(0));
        check(s == DTD_OK, fn, "without CLP the sampled method still runs", "%s: %s", status_name(s), last_message());
    }
    fixture_free(fx);
}

void run_full_backward_values(void) {
    for (int d = 0; d < 2; d++) {
        char what[80];
        snprintf(what, sizeof what, "full-backward hand cases, %s", dtype_name[d]);
        isolated("values", what, fb_hand_job, &d);
        snprintf(what, sizeof what, "full-backward random chain, %s", dtype_name[d]);
        isolated("values", what, fb_chain_job, &d);
    }
    isolated("values", "full-backward sampled methods", fb_sampled_job, NULL);
    isolated("values", "full-backward without CLP", fb_absent_job, NULL);
}

/* ---- the bad-input list ------------------------------------------------------------------------- */

static void expect_status(const char *fn, const char *what, dtd_status got, dtd_status want, const char *needle) {
    check(got == want && (!needle || strstr(last_message(), needle)), fn, what, "returned %s (expected %s), message \"%s\"",
          status_name(got), status_name(want), last_message());
}

static void fb_bad_input_job(void *ctx) {
    (void)ctx;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    dtd_full_backward_query q = fx->fb_query;
    dtd_full_backward_sizes sizes;
    const char *count = "dtd_full_backward_count", *fn = "dtd_full_backward_compute_f64";
    expect_status(count, "a conv layer is DTD_ERROR_UNSUPPORTED naming it", DCALL(count, AP(fx->net[1]), AP(&q), AP(&sizes)),
                  DTD_ERROR_UNSUPPORTED, "layer 0 is conv2d");
    int64_t flat[1] = {6}, image[3] = {1, 4, 4};
    void *missing = NULL, *pooled = NULL;
    DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(flat), AI64(1), AP(&missing));
    DCALL("dtd_network_add_dense_f64", AP(missing), AP(fx->dense_w[1]), AI64(24), AI64(4), AI64(6), AP(NULL), AI64(0));
    expect_status(count, "a dense layer without a ReLU after it is DTD_ERROR_UNSUPPORTED", DCALL(count, AP(missing), AP(&q), AP(&sizes)),
                  DTD_ERROR_UNSUPPORTED, "without a ReLU");
    DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(image), AI64(3), AP(&pooled));
    DCALL("dtd_network_add_maxpool2d", AP(pooled), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0), AI64(0));
    expect_status(count, "a pooling layer is DTD_ERROR_UNSUPPORTED naming it", DCALL(count, AP(pooled), AP(&q), AP(&sizes)),
                  DTD_ERROR_UNSUPPORTED, "layer 0 is maxpool2d");
    double x[FX_BATCH * FX_FB_IN];
    for (int i = 0; i < FX_BATCH * FX_FB_IN; i++) x[i] = elem_get(fx->chain_x[1], 1, i);
    for (int i = FX_FB_IN; i < 2 * FX_FB_IN; i++) x[i] = 0; /* sample 1: all biases < 0, so f_0 = 0 */
#define COMPUTE(query, input)                                                                                              \
    DCALL(fn, AP(fx->chain[1]), AP(query), AI64(FX_BATCH), AP(input), AI64(FX_BATCH * FX_FB_IN), AP(fx->fb_units),          \
          AI64(FX_BATCH * FX_FB_UNITS), AP(fx->fb_relevance[1]), AI64(FX_BATCH * FX_FB_IN), AP(NULL), AI64(0), AP(NULL), AI64(0), \
          AP(NULL), AI64(0))
    expect_status(fn, "f_k(x) <= 0 is DTD_ERROR_INVALID_ARGUMENT naming the sample", COMPUTE(&q, x), DTD_ERROR_INVALID_ARGUMENT,
                  "sample 1: f_0(x) = 0.0 is not > 0");
    for (int i = 0; i < FX_BATCH * FX_FB_IN; i++) x[i] = elem_get(fx->chain_x[1], 1, i);
    x[2] = -0.5;
    expect_status(fn, "an input below input_lower is DTD_ERROR_INVALID_ARGUMENT", COMPUTE(&q, x), DTD_ERROR_INVALID_ARGUMENT,
                  "input[0][2] = -0.5 is below input_lower");
    x[2] = NAN;
    expect_status(fn, "a NaN input is DTD_ERROR_NON_FINITE", COMPUTE(&q, x), DTD_ERROR_NON_FINITE, "input[0][2]");
    x[2] = -0.5;
    q.input_lower = -INFINITY;
    expect_status(fn, "with input_lower = -infinity a negative input is fine", COMPUTE(&q, x), DTD_OK, NULL);
#undef COMPUTE
    VCALL("dtd_network_destroy", AP(missing));
    VCALL("dtd_network_destroy", AP(pooled));
    fixture_free(fx);
}

void run_full_backward_specific(void) { isolated("specific", "the full-backward bad-input list", fb_bad_input_job, NULL); }
