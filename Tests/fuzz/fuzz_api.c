/**
 * fuzz_api.c : a libFuzzer target that turns bytes into a sequence of libdtd calls.
 *
 * One input sets a scratch cap (64 MiB down to 16 KiB), builds one network of random layers (or a
 * dense/ReLU chain) with honest-but-hostile sizes and values (mostly sizes that fit the current
 * shape, sometimes 0, -1, 2^31, 2^62 or a count one off; weights mostly small, sometimes NaN,
 * infinity or 1e300), a rule set with a random rule per layer (sometimes out of its domain,
 * sometimes missing), then runs every method once — forward, the target seed, gradient,
 * gradient x input, LRP with the ledger, the roots, the root audit, the audit of given points,
 * the four theory checks, full-backward DTD with its region sizes — and destroys everything in a
 * random order, with double and wrong-type destroys.
 *
 * Buffers are exactly as large as the count passed with them (malloc'd per call), so any read or
 * write past a caller's buffer is an AddressSanitizer report, not silent. Every call must keep
 * the header's contract, else the target aborts (a crash the fuzzer records):
 *  - the status is a documented code (0..17) and never DTD_ERROR_INTERNAL;
 *  - dtd_last_error_message() is never NULL, empty after a success, non-empty after a failure;
 *  - a wrong-type or repeated destroy frees nothing (the handle still works) and says why.
 *
 * Layer kinds are one table, LAYERS below: a new kind (the graph layers of issue 10: route, add,
 * identity, adaptive_avgpool2d) is one function and one entry.
 *
 * Build and run: Tests/fuzz/run.sh (README.md there).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtd.h"

/* ---- bytes -> decisions ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    size_t n;
} Bytes;

static uint8_t u8(Bytes *b) {
    if (b->n == 0) return 0;
    b->n--;
    return *b->p++;
}

static int pick(Bytes *b, int n) { return (int)(u8(b) % (unsigned)n); }

static const int64_t HOSTILE_SIZES[] = {0, -1, INT64_MIN, INT64_MAX, (int64_t)1 << 31, ((int64_t)1 << 31) - 1,
                                        (int64_t)1 << 32, (int64_t)1 << 62, -((int64_t)1 << 40), 65537, 3, 1};

/** A size in [lo, hi] most of the time (honest), a hostile one when the byte is 240 or more. */
static int64_t size_in(Bytes *b, int64_t lo, int64_t hi) {
    uint8_t t = u8(b);
    if (t >= 240) return HOSTILE_SIZES[t % (sizeof HOSTILE_SIZES / sizeof HOSTILE_SIZES[0])];
    return lo + (int64_t)(t % (uint64_t)(hi - lo + 1));
}

/** A layer index: one of the network's `layers` most of the time, else -2, -1, `layers`, or huge. */
static int64_t layer_index(Bytes *b, int64_t layers) {
    if (layers > 0 && pick(b, 8)) return pick(b, 64) % layers;
    static const int64_t odd[] = {-1, -2, 0, INT64_MAX, INT64_MIN + 1, (int64_t)1 << 40};
    int k = pick(b, 7);
    return k < 6 ? odd[k] : layers;
}

/** `layer - 1` (the layer whose output feeds `layer`) without overflowing. */
static int64_t before(int64_t layer) { return layer == INT64_MIN ? INT64_MIN : layer - 1; }

/** A count that is `need` most of the time, sometimes one off either way or 0. */
static int64_t count_for(Bytes *b, int64_t need) {
    uint8_t t = u8(b);
    if (t < 236) return need;
    if (t < 244) return need - 1;
    if (t < 252) return need + 1;
    return 0;
}

static double value(Bytes *b) {
    uint8_t t = u8(b);
    if (t >= 248) {
        static const double special[] = {NAN, INFINITY, -INFINITY, 1e300, -1e-300, 0.0, -0.0, 1e-310};
        return special[t - 248];
    }
    return ((double)t - 124.0) / 40.0;
}

/** A parameter (epsilon, gamma, ...): usually in [0, 1], sometimes negative or non-finite. */
static double parameter(Bytes *b) {
    uint8_t t = u8(b);
    if (t >= 244) {
        static const double special[] = {NAN, INFINITY, -1.0, -1e-9, 1e300, 0.0, 1e6, -INFINITY, 2.0, 0.5, 1e-12, 3.0};
        return special[t - 244];
    }
    return (double)t / 240.0;
}

/* ---- the contract of every call ----------------------------------------------------------- */

static void fail(const char *what, const char *call, dtd_status status) {
    const char *m = dtd_last_error_message();
    fprintf(stderr, "fuzz_api: contract broken: %s: %s returned %d, message \"%s\"\n", what, call, (int)status, m ? m : "(NULL)");
    abort();
}

/* Open findings that belong to another issue, reported and reproduced in Tests/fuzz/known/: an
 * internal error whose message contains one of these is printed (every time) instead of aborting,
 * so a long run can go on. Remove the entry when the finding is fixed. */
static const char *const KNOWN_INTERNAL[] = {
    /* none open; an entry is a substring of the message of an open finding in Tests/fuzz/known/ */
    "",
};

static int known_internal(const char *message) {
    for (size_t i = 0; i < sizeof KNOWN_INTERNAL / sizeof KNOWN_INTERNAL[0]; i++)
        if (message && KNOWN_INTERNAL[i][0] && strstr(message, KNOWN_INTERNAL[i])) return 1;
    return 0;
}

static dtd_status checked(dtd_status status, const char *call) {
    const char *m = dtd_last_error_message();
    if (status < 0 || status > DTD_ERROR_INTERNAL) fail("status outside 0..17", call, status);
    if (status == DTD_ERROR_INTERNAL && known_internal(m)) {
        fprintf(stderr, "fuzz_api: known open finding (Tests/fuzz/known/README.md): %s\n", m);
        return status;
    }
    if (status == DTD_ERROR_INTERNAL) fail("DTD_ERROR_INTERNAL", call, status);
    if (m == NULL) fail("dtd_last_error_message() is NULL", call, status);
    if ((status == DTD_OK) != (m[0] == '\0')) fail("message empty iff success", call, status);
    return status;
}

#define CALL(expr) checked((expr), #expr)

/* ---- buffers of the network's element type ------------------------------------------------ */

/** Element buffers are allocated at their exact count, so ASan sees any overrun; counts above
 *  this cap are passed with a smaller buffer only when the count is the buffer's truth. */
#define MAX_ELEMENTS ((int64_t)1 << 20)

typedef struct {
    Bytes in;
    int f64;          /* 1: float64 network, 0: float32 */
    dtd_network *net;
    dtd_rules *rules;
    int64_t batch;    /* the batch size calls use (may be hostile) */
    int trace;        /* FUZZ_API_TRACE: print the network and every buffer's first values */
    int64_t samples;  /* samples the input buffers really hold */
} Fuzz;

static size_t esize(const Fuzz *f) { return f->f64 ? sizeof(double) : sizeof(float); }

/** `count` elements (NULL when count <= 0 or above the cap), filled from the input bytes. */
static void *elements(Fuzz *f, int64_t count) {
    if (count <= 0 || count > MAX_ELEMENTS) return NULL;
    void *p = malloc((size_t)count * esize(f));
    if (!p) abort();
    double first = value(&f->in), step = value(&f->in);
    if (!isfinite(step)) step = 0.25;
    for (int64_t i = 0; i < count; i++) {
        double v = i < 8 ? value(&f->in) : first + step * (double)((i * 7919) % 23 - 11) / 11.0;
        if (f->f64) ((double *)p)[i] = v;
        else ((float *)p)[i] = (float)v;
    }
    if (f->trace) {
        fprintf(stderr, "    %lld values:", (long long)count);
        for (int64_t i = 0; i < count && i < 12; i++)
            fprintf(stderr, " %.17g", f->f64 ? ((double *)p)[i] : (double)((float *)p)[i]);
        fprintf(stderr, "%s\n", count > 12 ? " ..." : "");
    }
    return p;
}

/** An output buffer of `count` elements of `size` bytes (NULL above the cap). */
static void *output(int64_t count, size_t size) {
    if (count <= 0 || count > MAX_ELEMENTS) return NULL;
    void *p = malloc((size_t)count * size);
    if (!p) abort();
    memset(p, 0xA5, (size_t)count * size);
    return p;
}

/** A count that may lie only downwards: the buffer allocated for it must hold it. */
static int64_t truthful(int64_t count, const void *buffer) { return buffer ? count : 0; }

/* ---- the network's current shape ---------------------------------------------------------- */

typedef struct {
    int64_t dims[DTD_MAX_RANK];
    int64_t rank, size, layers;
} Shape;

static Shape current(const Fuzz *f, int64_t layer) {
    Shape s = {{0, 0, 0}, 0, 0, 0};
    CALL(dtd_network_layer_count(f->net, &s.layers));
    if (layer == INT64_MIN) layer = s.layers - 1;
    if (CALL(dtd_network_layer_shape(f->net, layer, s.dims, DTD_MAX_RANK, &s.rank)) != DTD_OK) return s;
    s.size = 1;
    for (int64_t i = 0; i < s.rank; i++) s.size *= s.dims[i];
    return s;
}

/* ---- layers: one function and one table entry per kind ------------------------------------ */

static void add_dense(Fuzz *f) {
    Shape s = current(f, INT64_MIN);
    if (s.rank == 3 && pick(&f->in, 4) != 0) CALL(dtd_network_add_flatten(f->net)), s = current(f, INT64_MIN);
    int64_t in = pick(&f->in, 8) ? s.size : size_in(&f->in, 1, 16);
    int64_t out = size_in(&f->in, 1, 12);
    int64_t need = (in > 0 && out > 0 && in <= MAX_ELEMENTS && out <= MAX_ELEMENTS && in * out <= MAX_ELEMENTS) ? in * out : 16;
    int64_t wc = count_for(&f->in, need);
    void *w = elements(f, wc);
    int64_t bc = pick(&f->in, 3) ? count_for(&f->in, out > 0 && out <= 4096 ? out : 4) : 0;
    void *b = elements(f, bc);
    bc = truthful(bc, b);
    if (f->f64)
        CALL(dtd_network_add_dense_f64(f->net, w, truthful(wc, w), out, in, b, bc));
    else
        CALL(dtd_network_add_dense_f32(f->net, w, truthful(wc, w), out, in, b, bc));
    free(w), free(b);
}

static void add_conv2d(Fuzz *f) {
    Shape s = current(f, INT64_MIN);
    int64_t cin = (s.rank == 3 && pick(&f->in, 8)) ? s.dims[0] : size_in(&f->in, 1, 4);
    static const int64_t wide[] = {1, 2, 3, 4, 16, 17, 20, 2}; /* 16+ channels reach Winograd */
    int64_t cout = u8(&f->in) < 240 ? wide[pick(&f->in, 8)] : HOSTILE_SIZES[pick(&f->in, 12)];
    int64_t kh = size_in(&f->in, 1, 5), kw = pick(&f->in, 2) ? kh : size_in(&f->in, 1, 5);
    int64_t sh = size_in(&f->in, 1, 3), sw = size_in(&f->in, 1, 3);
    int64_t ph = size_in(&f->in, 0, 3), pw = size_in(&f->in, 0, 3);
    int64_t dh = pick(&f->in, 4) ? 1 : size_in(&f->in, 1, 3), dw = pick(&f->in, 4) ? 1 : size_in(&f->in, 1, 3);
    int64_t need = 16;
    if (cin > 0 && cout > 0 && kh > 0 && kw > 0 && cin <= 64 && cout <= 64 && kh <= 64 && kw <= 64) need = cout * cin * kh * kw;
    int64_t wc = count_for(&f->in, need);
    void *w = elements(f, wc);
    int64_t bc = (cout > 0 && cout <= 64 && pick(&f->in, 2)) ? cout : 0;
    void *b = bc ? elements(f, bc) : NULL;
    if (f->f64)
        CALL(dtd_network_add_conv2d_f64(f->net, w, truthful(wc, w), cout, cin, kh, kw, b, bc, sh, sw, ph, pw, dh, dw));
    else
        CALL(dtd_network_add_conv2d_f32(f->net, w, truthful(wc, w), cout, cin, kh, kw, b, bc, sh, sw, ph, pw, dh, dw));
    free(w), free(b);
}

static void add_relu(Fuzz *f) { CALL(dtd_network_add_relu(f->net)); }

static void add_flatten(Fuzz *f) { CALL(dtd_network_add_flatten(f->net)); }

static void pool_args(Fuzz *f, int64_t a[6]) {
    a[0] = size_in(&f->in, 1, 3), a[1] = pick(&f->in, 2) ? a[0] : size_in(&f->in, 1, 3);
    a[2] = pick(&f->in, 2) ? a[0] : size_in(&f->in, 1, 3), a[3] = pick(&f->in, 2) ? a[1] : size_in(&f->in, 1, 3);
    a[4] = size_in(&f->in, 0, 1), a[5] = size_in(&f->in, 0, 2); /* above kernel / 2 sometimes */
}

static void add_maxpool2d(Fuzz *f) {
    int64_t a[6];
    pool_args(f, a);
    CALL(dtd_network_add_maxpool2d(f->net, a[0], a[1], a[2], a[3], a[4], a[5]));
}

static void add_avgpool2d(Fuzz *f) {
    int64_t a[6];
    pool_args(f, a);
    int32_t include = pick(&f->in, 3) - 1; /* -1, 0, 1: any nonzero means true */
    CALL(dtd_network_add_avgpool2d(f->net, a[0], a[1], a[2], a[3], a[4], a[5], include));
}

static void add_batchnorm(Fuzz *f) {
    Shape s = current(f, INT64_MIN);
    int64_t honest = s.rank == 3 ? s.dims[0] : s.size;
    int64_t n = count_for(&f->in, honest > 0 && honest <= 4096 ? honest : 4);
    if (n <= 0 || n > 4096) n = 4;
    void *g = elements(f, n), *be = elements(f, n), *m = elements(f, n), *v = elements(f, n);
    if (v && pick(&f->in, 4)) /* mostly a valid variance */
        for (int64_t i = 0; i < n; i++) {
            if (f->f64) ((double *)v)[i] = fabs(((double *)v)[i]) + 0.1;
            else ((float *)v)[i] = fabsf(((float *)v)[i]) + 0.1f;
        }
    double eps = pick(&f->in, 4) ? 1e-5 : parameter(&f->in);
    if (f->f64) CALL(dtd_network_add_batchnorm_f64(f->net, g, be, m, v, n, eps));
    else CALL(dtd_network_add_batchnorm_f32(f->net, g, be, m, v, n, eps));
    free(g), free(be), free(m), free(v);
}

typedef struct {
    const char *name;
    void (*add)(Fuzz *);
} LayerKind;

static const LayerKind LAYERS[] = {
    {"dense", add_dense},       {"conv2d", add_conv2d},       {"relu", add_relu},           {"flatten", add_flatten},
    {"maxpool2d", add_maxpool2d}, {"avgpool2d", add_avgpool2d}, {"batchnorm", add_batchnorm}, {"conv2d", add_conv2d},
    {"relu", add_relu},
    /* graph layers (issue 10), once they exist: {"route", add_route}, {"add", add_add},
     * {"identity", add_identity}, {"adaptive_avgpool2d", add_adaptive_avgpool2d} */
};
#define LAYER_KINDS ((int)(sizeof LAYERS / sizeof LAYERS[0]))

/** The largest per-sample activation of the network (input included). */
static int64_t largest_activation(const Fuzz *f) {
    Shape in = current(f, -1);
    int64_t largest = in.size;
    for (int64_t l = 0; l < in.layers; l++) {
        Shape s = current(f, l);
        if (s.size > largest) largest = s.size;
    }
    return largest;
}

/* ---- rules -------------------------------------------------------------------------------- */

static void set_rules(Fuzz *f) {
    int64_t layers = 0;
    CALL(dtd_network_layer_count(f->net, &layers));
    if (pick(&f->in, 4) == 0)
        CALL(dtd_rules_set_composite(f->rules, size_in(&f->in, 1, 5), parameter(&f->in), parameter(&f->in), -parameter(&f->in),
                                     parameter(&f->in)));
    for (int64_t l = 0; l < layers + (pick(&f->in, 8) == 0); l++) { /* sometimes one past the end */
        int32_t bias = pick(&f->in, 16) ? pick(&f->in, 2) : 2;
        double stab = pick(&f->in, 2) ? DTD_DEFAULT_STABILIZER : parameter(&f->in);
        switch (pick(&f->in, 10)) {
        case 0: CALL(dtd_rules_set_epsilon(f->rules, l, pick(&f->in, 2) ? 0.0 : parameter(&f->in), bias)); break;
        case 1: CALL(dtd_rules_set_zplus(f->rules, l, stab, bias)); break;
        case 2: {
            double alpha = 1.0 + parameter(&f->in);
            CALL(dtd_rules_set_alphabeta(f->rules, l, alpha, pick(&f->in, 8) ? alpha - 1.0 : parameter(&f->in), stab, bias));
            break;
        }
        case 3: CALL(dtd_rules_set_gamma(f->rules, l, parameter(&f->in), stab, bias)); break;
        case 4: CALL(dtd_rules_set_wsquare(f->rules, l, stab, bias)); break;
        case 5: CALL(dtd_rules_set_flat(f->rules, l, stab)); break;
        case 6: {
            double low = -parameter(&f->in), high = parameter(&f->in);
            CALL(dtd_rules_set_zbox(f->rules, l, low, high, stab, bias));
            break;
        }
        case 7: {
            Shape in = current(f, l - 1);
            int64_t options[3] = {1, in.rank == 3 ? in.dims[0] : 1, in.size};
            int64_t n = count_for(&f->in, options[pick(&f->in, 3)]);
            void *low = elements(f, n), *high = elements(f, n);
            if (low && high && pick(&f->in, 4))
                for (int64_t i = 0; i < n; i++) {
                    if (f->f64) ((double *)high)[i] = ((double *)low)[i] + 1.0;
                    else ((float *)high)[i] = ((float *)low)[i] + 1.0f;
                }
            int64_t c = truthful(n, low && high ? low : NULL);
            if (f->f64) CALL(dtd_rules_set_zbox_bounds_f64(f->rules, l, low, c, high, c, stab, bias));
            else CALL(dtd_rules_set_zbox_bounds_f32(f->rules, l, low, c, high, c, stab, bias));
            free(low), free(high);
            break;
        }
        case 8: break; /* no rule: LRP must say which layer lacks one */
        default: CALL(dtd_rules_set_epsilon(f->rules, l, 1e-6, DTD_BIAS_INCLUDE)); break;
        }
        dtd_rule_kind kind;
        CALL(dtd_rules_kind(f->rules, l, &kind));
    }
}

/* ---- the methods -------------------------------------------------------------------------- */

typedef struct {
    void *x, *seed, *relevance;
    int64_t x_count, seed_count, relevance_count, in_size, out_size, layers;
} Batch;

/** Full-backward DTD (section 8): count, compute and the region sizes, on any network (a network
 *  that is not a dense/ReLU chain must be DTD_ERROR_UNSUPPORTED, naming the layer). */
static void full_backward(Fuzz *f, const Batch *b) {
    dtd_full_backward_query q;
    memset(&q, 0, sizeof q);
    q.target = b->out_size > 0 && pick(&f->in, 8) ? pick(&f->in, 64) % b->out_size : size_in(&f->in, -1, 4);
    q.method = pick(&f->in, 16) ? 1 + pick(&f->in, 3) : pick(&f->in, 6) - 1;
    static const int32_t directions[] = {1, 2, 3, 0, -1, (1 << 20) + 1};
    q.directions = directions[pick(&f->in, 16) ? pick(&f->in, 3) : 3 + pick(&f->in, 3)];
    q.seed = u8(&f->in) * 0x9E3779B97F4A7C15u;
    static const double lower[] = {0.0, -INFINITY, -1.0, NAN, INFINITY, 5.0};
    q.input_lower = lower[pick(&f->in, 8) ? pick(&f->in, 3) : 3 + pick(&f->in, 3)];
    dtd_full_backward_sizes sizes;
    if (CALL(dtd_full_backward_count(f->net, &q, &sizes)) != DTD_OK) return;
    if (sizes.units > 4096 || sizes.root_elements > MAX_ELEMENTS / 4 || sizes.box_elements > MAX_ELEMENTS / 4) return;
    int64_t uc = count_for(&f->in, f->samples * sizes.units);
    dtd_full_backward_unit *units = output(uc, sizeof *units);
    uc = truthful(uc, units);
    int64_t rc = count_for(&f->in, f->samples * b->in_size), sc = pick(&f->in, 2) ? count_for(&f->in, f->samples * b->in_size) : 0;
    void *relevance = output(rc, esize(f)), *slope = output(sc, esize(f));
    rc = truthful(rc, relevance), sc = truthful(sc, slope);
    int64_t pc = pick(&f->in, 3) ? 0 : count_for(&f->in, f->samples * sizes.root_elements);
    void *roots = output(pc, esize(f));
    pc = truthful(pc, roots);
    int64_t nc = pick(&f->in, 2) ? count_for(&f->in, f->samples) : 0;
    dtd_full_backward_sample *samples = output(nc, sizeof *samples);
    nc = truthful(nc, samples);
    if (f->f64)
        CALL(dtd_full_backward_compute_f64(f->net, &q, f->batch, b->x, b->x_count, units, uc, relevance, rc, slope, sc, roots, pc,
                                           samples, nc));
    else
        CALL(dtd_full_backward_compute_f32(f->net, &q, f->batch, b->x, b->x_count, units, uc, relevance, rc, slope, sc, roots, pc,
                                           samples, nc));
    if (pick(&f->in, 4) == 0) {
        int64_t gc = count_for(&f->in, f->samples * sizes.layers), bc = pick(&f->in, 2) ? count_for(&f->in, f->samples * sizes.box_elements) : 0;
        dtd_full_backward_region *regions = output(gc, sizeof *regions);
        void *boxes = output(bc, esize(f));
        gc = truthful(gc, regions), bc = truthful(bc, boxes);
        if (f->f64) CALL(dtd_full_backward_regions_f64(f->net, &q, f->batch, b->x, b->x_count, regions, gc, boxes, bc));
        else CALL(dtd_full_backward_regions_f32(f->net, &q, f->batch, b->x, b->x_count, regions, gc, boxes, bc));
        free(regions), free(boxes);
    }
    free(units), free(relevance), free(slope), free(roots), free(samples);
}

static void run_methods(Fuzz *f) {
    Shape in = current(f, -1), out = current(f, INT64_MIN);
    Batch b = {NULL, NULL, NULL, 0, 0, 0, in.size, out.size, out.layers};
    f->samples = 1 + pick(&f->in, 3); /* what the buffers hold: honest; the batch may lie */
    f->batch = pick(&f->in, 8) ? f->samples : size_in(&f->in, 1, 4);
    if (f->samples * b.in_size > MAX_ELEMENTS || f->samples * b.out_size > MAX_ELEMENTS) return;
    b.x_count = count_for(&f->in, f->samples * b.in_size);
    b.x = elements(f, b.x_count);
    b.x_count = truthful(b.x_count, b.x);
    b.seed_count = count_for(&f->in, f->samples * b.out_size);
    b.seed = elements(f, b.seed_count);
    b.seed_count = truthful(b.seed_count, b.seed);
    b.relevance_count = count_for(&f->in, f->samples * b.in_size);
    b.relevance = output(b.relevance_count, esize(f));
    b.relevance_count = truthful(b.relevance_count, b.relevance);
    int64_t batch = f->batch;

    /* forward and the target seed */
    int64_t yc = count_for(&f->in, f->samples * b.out_size);
    void *y = output(yc, esize(f));
    yc = truthful(yc, y);
    if (f->f64) CALL(dtd_network_forward_f64(f->net, batch, b.x, b.x_count, y, yc));
    else CALL(dtd_network_forward_f32(f->net, batch, b.x, b.x_count, y, yc));
    int64_t targets[4];
    for (int i = 0; i < 4; i++) targets[i] = pick(&f->in, 16) ? (b.out_size > 0 ? pick(&f->in, 64) % b.out_size : 0) : size_in(&f->in, -2, 2);
    int64_t tc = f->samples < 4 ? f->samples : 4;
    if (pick(&f->in, 2)) {
        if (f->f64) CALL(dtd_relevance_target_seed_f64(f->net, batch, b.x, b.x_count, targets, tc, b.seed, b.seed_count));
        else CALL(dtd_relevance_target_seed_f32(f->net, batch, b.x, b.x_count, targets, tc, b.seed, b.seed_count));
    }
    free(y);

    /* gradient, gradient x input */
    if (f->f64) {
        CALL(dtd_relevance_gradient_f64(f->net, batch, b.x, b.x_count, b.seed, b.seed_count, b.relevance, b.relevance_count));
        CALL(dtd_relevance_gradient_x_input_f64(f->net, batch, b.x, b.x_count, b.seed, b.seed_count, b.relevance, b.relevance_count));
    } else {
        CALL(dtd_relevance_gradient_f32(f->net, batch, b.x, b.x_count, b.seed, b.seed_count, b.relevance, b.relevance_count));
        CALL(dtd_relevance_gradient_x_input_f32(f->net, batch, b.x, b.x_count, b.seed, b.seed_count, b.relevance, b.relevance_count));
    }

    /* LRP with the ledger */
    int64_t lc = pick(&f->in, 4) ? count_for(&f->in, f->samples * b.layers) : 0;
    dtd_ledger_entry *ledger = lc > 0 ? output(lc, sizeof *ledger) : NULL;
    lc = truthful(lc, ledger);
    if (f->f64)
        CALL(dtd_relevance_lrp_f64(f->net, f->rules, batch, b.x, b.x_count, b.seed, b.seed_count, b.relevance, b.relevance_count, ledger, lc));
    else
        CALL(dtd_relevance_lrp_f32(f->net, f->rules, batch, b.x, b.x_count, b.seed, b.seed_count, b.relevance, b.relevance_count, ledger, lc));
    free(ledger);

    /* roots and the root audit */
    dtd_root_query q;
    q.layer = layer_index(&f->in, b.layers);
    q.target = b.out_size > 0 && pick(&f->in, 8) ? pick(&f->in, 64) % b.out_size : size_in(&f->in, -1, 4);
    q.placement = pick(&f->in, 16) ? 1 + pick(&f->in, 2) : pick(&f->in, 5) - 1;
    q.flags = pick(&f->in, 8) ? pick(&f->in, 2) : 7;
    q.tol = pick(&f->in, 8) ? 1e-5 : parameter(&f->in);
    Shape at = current(f, q.layer >= 0 && q.layer < b.layers ? q.layer : 0), below = current(f, before(q.layer));
    int64_t width = at.size > 0 ? at.size : 1;
    int64_t begin = pick(&f->in, 64) % width;
    q.neuron_begin = pick(&f->in, 8) ? begin : size_in(&f->in, -1, 4);
    q.neuron_end = pick(&f->in, 8) ? begin + 1 + pick(&f->in, 16) : size_in(&f->in, 0, 8);
    if (q.neuron_end > width && pick(&f->in, 4)) q.neuron_end = width;
    int64_t per = 0;
    if (CALL(dtd_roots_count(f->net, f->rules, &q, &per)) == DTD_OK && per > 0 && per <= 4096) {
        int64_t layer_in = below.size > 0 ? below.size : 1;
        int64_t ic = count_for(&f->in, f->samples * per);
        dtd_root_info *info = output(ic, sizeof *info);
        ic = truthful(ic, info);
        int64_t pc = pick(&f->in, 3) ? count_for(&f->in, f->samples * per * layer_in) : 0;
        void *points = output(pc, esize(f));
        pc = truthful(pc, points);
        if (f->f64) CALL(dtd_roots_compute_f64(f->net, f->rules, &q, batch, b.x, b.x_count, points, pc, info, ic));
        else CALL(dtd_roots_compute_f32(f->net, f->rules, &q, batch, b.x, b.x_count, points, pc, info, ic));
        int64_t rc = count_for(&f->in, f->samples * per);
        dtd_audit_record *records = output(rc, sizeof *records);
        rc = truthful(rc, records);
        dtd_audit_summary summary;
        if (f->f64) CALL(dtd_audit_roots_f64(f->net, f->rules, &q, batch, b.x, b.x_count, records, rc, pick(&f->in, 2) ? &summary : NULL));
        else CALL(dtd_audit_roots_f32(f->net, f->rules, &q, batch, b.x, b.x_count, records, rc, pick(&f->in, 2) ? &summary : NULL));
        /* T3: constructed roots of a dense layer (an explanation of the layer input) */
        int64_t ec = count_for(&f->in, f->samples * layer_in);
        void *explanation = elements(f, ec);
        ec = truthful(ec, explanation);
        if (f->f64)
            CALL(dtd_theory_construct_roots_f64(f->net, f->rules, &q, batch, b.x, b.x_count, explanation, ec, points, pc, info, ic));
        else
            CALL(dtd_theory_construct_roots_f32(f->net, f->rules, &q, batch, b.x, b.x_count, explanation, ec, points, pc, info, ic));
        free(info), free(points), free(records), free(explanation);
    }

    /* the audit of given points */
    int64_t layer = layer_index(&f->in, b.layers);
    Shape pin = current(f, before(layer));
    int64_t pps = size_in(&f->in, 1, 3), psize = pin.size > 0 ? pin.size : 1;
    if (pps > 0 && pps <= 8 && f->samples * pps * psize <= MAX_ELEMENTS) {
        int64_t pc = count_for(&f->in, f->samples * pps * psize);
        void *points = elements(f, pc);
        pc = truthful(pc, points);
        int64_t rc = count_for(&f->in, f->samples * pps);
        dtd_audit_record *records = output(rc, sizeof *records);
        rc = truthful(rc, records);
        dtd_audit_summary summary;
        int64_t target = b.out_size > 0 ? pick(&f->in, 64) % b.out_size : 0;
        if (f->f64) CALL(dtd_audit_points_f64(f->net, layer, target, batch, b.x, b.x_count, pps, points, pc, records, rc, &summary));
        else CALL(dtd_audit_points_f32(f->net, layer, target, batch, b.x, b.x_count, pps, points, pc, records, rc, &summary));
        free(points), free(records);
    }

    /* the theory checks */
    int64_t dc = count_for(&f->in, f->samples);
    double *distances = output(dc, sizeof(double));
    dc = truthful(dc, distances);
    if (f->f64) CALL(dtd_theory_gxi_distance_f64(f->net, f->rules, batch, b.x, b.x_count, b.seed, b.seed_count, distances, dc));
    else CALL(dtd_theory_gxi_distance_f32(f->net, f->rules, batch, b.x, b.x_count, b.seed, b.seed_count, distances, dc));
    free(distances);
    int64_t root_count = count_for(&f->in, pick(&f->in, 2) ? b.in_size : f->samples * b.in_size);
    void *root = elements(f, root_count);
    root_count = truthful(root_count, root);
    if (f->f64)
        CALL(dtd_theory_constant_root_f64(f->net, batch, b.x, b.x_count, root, root_count, b.seed, b.seed_count, b.relevance, b.relevance_count));
    else
        CALL(dtd_theory_constant_root_f32(f->net, batch, b.x, b.x_count, root, root_count, b.seed, b.seed_count, b.relevance, b.relevance_count));
    free(root);
    int64_t spp = size_in(&f->in, 1, 3);
    if (spp > 0 && spp <= 8 && f->samples * spp * b.out_size <= MAX_ELEMENTS) {
        int64_t sc = count_for(&f->in, f->samples * spp * b.out_size);
        void *seeds = elements(f, sc);
        sc = truthful(sc, seeds);
        int64_t cc = count_for(&f->in, b.layers + 1);
        double *csc = output(cc, sizeof(double));
        cc = truthful(cc, csc);
        if (f->f64) CALL(dtd_theory_rank1_csc_f64(f->net, f->rules, batch, b.x, b.x_count, spp, seeds, sc, csc, cc));
        else CALL(dtd_theory_rank1_csc_f32(f->net, f->rules, batch, b.x, b.x_count, spp, seeds, sc, csc, cc));
        free(seeds), free(csc);
    }
    full_backward(f, &b);
    free(b.x), free(b.seed), free(b.relevance);
}

/* ---- destroying ----------------------------------------------------------------------------- */

/** After a destroy that must free nothing: its message says so (read before any other call). */
static void refused(const char *what) {
    const char *m = dtd_last_error_message();
    if (!m || !strstr(m, "nothing was freed")) {
        fprintf(stderr, "fuzz_api: contract broken: %s freed something or said nothing (\"%s\")\n", what, m ? m : "(NULL)");
        abort();
    }
}

static void still(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_api: contract broken: %s\n", what);
        abort();
    }
}

static void destroy_all(Fuzz *f) {
    int64_t count = 0;
    dtd_rule_kind kind = 0;
    if (f->rules && pick(&f->in, 4) == 0) { /* the wrong destroy first: it must free nothing */
        dtd_network_destroy((dtd_network *)f->rules);
        refused("dtd_network_destroy(rules)");
        still(dtd_rules_kind(f->rules, 0, &kind) != DTD_ERROR_INVALID_ARGUMENT, "the rule set survives dtd_network_destroy(rules)");
    }
    if (f->net && pick(&f->in, 4) == 0) {
        dtd_rules_destroy((dtd_rules *)f->net);
        refused("dtd_rules_destroy(network)");
        still(dtd_network_layer_count(f->net, &count) == DTD_OK, "the network survives dtd_rules_destroy(network)");
    }
    int rules_first = pick(&f->in, 2);
    if (rules_first) dtd_rules_destroy(f->rules);
    dtd_network_destroy(f->net);
    if (!rules_first) dtd_rules_destroy(f->rules);
    if (pick(&f->in, 4) == 0) { /* twice: a no-op that says the handle is gone */
        dtd_network_destroy(f->net);
        if (f->net) {
            refused("a second dtd_network_destroy");
            still(dtd_network_layer_count(f->net, &count) == DTD_ERROR_INVALID_ARGUMENT, "a destroyed network stays rejected");
        }
    }
}

/** FUZZ_API_TRACE=1: the network an input built, layer by layer, on stderr (for reproducers). */
static void describe(const Fuzz *f) {
    static const char *const kinds[] = {"?", "dense", "conv2d", "relu", "maxpool2d", "avgpool2d", "flatten", "batchnorm"};
    Shape in = current(f, -1);
    fprintf(stderr, "network %s, input (%lld", f->f64 ? "float64" : "float32", (long long)in.dims[0]);
    for (int64_t i = 1; i < in.rank; i++) fprintf(stderr, ", %lld", (long long)in.dims[i]);
    fprintf(stderr, ")\n");
    for (int64_t l = 0; l < in.layers; l++) {
        dtd_layer_kind kind = 0;
        dtd_network_layer_kind(f->net, l, &kind);
        Shape s = current(f, l);
        fprintf(stderr, "  %lld %s -> (%lld", (long long)l, kind >= 1 && kind <= 7 ? kinds[kind] : "?", (long long)s.dims[0]);
        for (int64_t i = 1; i < s.rank; i++) fprintf(stderr, ", %lld", (long long)s.dims[i]);
        fprintf(stderr, ")\n");
    }
}

/* ---- the entry points ----------------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    /* One thread: the networks are far below the parallel threshold, and libFuzzer wants each
     * input to run the same way every time. Callers may override both. */
    setenv("DTD_NUM_THREADS", "1", 0);
    setenv("DTD_SPIN_US", "0", 0);
    /* No buffer cache: every scratch buffer is its own malloc, so ASan sees each one (a pool of
     * reused blocks would hide a use after free), and memory stays bounded. */
    setenv("DTD_CACHE_MB", "0", 0);
    if (!DTD_CHECK_ABI()) {
        fprintf(stderr, "fuzz_api: libdtd ABI %d, header %d\n", dtd_abi_version(), DTD_ABI_VERSION);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Fuzz f;
    memset(&f, 0, sizeof f);
    f.in = (Bytes){data, size};
    f.trace = getenv("FUZZ_API_TRACE") != NULL;
    /* A scratch cap on every input: a valid but enormous request (a hostile padding can make a
     * conv output of 2^31 elements) must be a status, and a cap reached halfway through a call
     * exercises the error paths of everything allocated before it. */
    static const int64_t caps[] = {(int64_t)64 << 20, (int64_t)4 << 20, (int64_t)256 << 10, (int64_t)16 << 10};
    CALL(dtd_set_max_scratch_bytes(caps[pick(&f.in, 4)], NULL));
    f.f64 = pick(&f.in, 2);
    int64_t shape[3];
    int64_t rank = pick(&f.in, 2) ? 3 : 1;
    if (rank == 3) {
        shape[0] = size_in(&f.in, 1, 3), shape[1] = size_in(&f.in, 1, 9), shape[2] = pick(&f.in, 2) ? shape[1] : size_in(&f.in, 1, 9);
    } else {
        shape[0] = size_in(&f.in, 1, 24);
    }
    if (pick(&f.in, 32) == 0) rank = size_in(&f.in, -1, 4); /* a hostile rank */
    if (rank < 0 || rank > 3) {
        CALL(dtd_network_create(f.f64 ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32, shape, rank, &f.net));
        if (f.net) abort();
        return 0;
    }
    int32_t dtype = pick(&f.in, 64) ? (f.f64 ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32) : 3;
    if (CALL(dtd_network_create(dtype, shape, rank, &f.net)) != DTD_OK) {
        if (f.net) abort(); /* the header: out_network is NULL on failure */
        return 0;
    }
    int layers = pick(&f.in, 9);
    if (rank == 1 && pick(&f.in, 4) == 0) {
        /* A dense/ReLU chain (batch norms sometimes): what full-backward DTD decomposes. */
        for (int i = 0; i < layers; i++) {
            add_dense(&f);
            if (pick(&f.in, 6) == 0) add_batchnorm(&f);
            add_relu(&f);
        }
    } else {
        for (int i = 0; i < layers; i++) LAYERS[pick(&f.in, LAYER_KINDS)].add(&f);
    }
    if (f.trace) describe(&f);
    dtd_dtype got = 0;
    int64_t elements_per_sample = 0;
    CALL(dtd_network_dtype(f.net, &got));
    CALL(dtd_network_input_size(f.net, &elements_per_sample));
    CALL(dtd_network_output_size(f.net, &elements_per_sample));
    for (int64_t l = -1; l <= layers; l++) {
        dtd_layer_kind kind;
        CALL(dtd_network_layer_kind(f.net, l, &kind));
    }
    if (CALL(dtd_rules_create(f.net, &f.rules)) == DTD_OK) {
        /* Compute calls are capped; preparing rules is not (it is model memory), and some rules
         * keep a buffer per output unit, so rules go only on networks of sane activation sizes.
         * (A hostile padding can make a valid network with 2^31 activations per sample.) */
        if (largest_activation(&f) <= MAX_ELEMENTS) set_rules(&f);
        if (pick(&f.in, 16) == 0) CALL(dtd_network_add_relu(f.net)); /* the rule set no longer fits */
        run_methods(&f);
    } else {
        run_methods(&f); /* every method on an empty network, with a NULL rule set */
    }
    destroy_all(&f);
    return 0;
}
