/**
 * winograd.c : Winograd's F(2x2, 3x3) through the C ABI (Include/dtd.h, "Rounding"), with and
 * without it. DTD_WINOGRAD is read once per process, on first use: one forked child sets
 * DTD_WINOGRAD=0 before its first call and writes its results to a file, a second child (the
 * run's own setting) computes the same and compares. Both in float32 and float64:
 *   - a wide CNN (conv 16 -> 16, no bias, relu, conv 16 -> 16 with an integer bias, relu,
 *     maxpool 2, flatten, dense 3; weights in {-1, 0, 1}; integer inputs below 2^8, so im2col is
 *     exact) with a dead patch, zero padding and first-layer windows made to cancel exactly:
 *     the gradient bit for bit the same (same ReLU masks and max-pool winners), forward and LRP
 *     with epsilon, LRP-0, z+, gamma (its gates) and alpha-beta within 1e-12 / 1e-5 per element;
 *   - the same network with real-valued weights and inputs: some forward output differs in its
 *     last bits (the second child really used Winograd) and all agree to 1e-12 / 1e-5;
 *   - one convolution of it: every window of zeros gives exactly 0.
 * Run with DTD_WINOGRAD=0 in the environment, the "Winograd ran" checks fail, as they must.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "robustness.h"
#include "values.h"

#define W_C 16
#define W_H 10
#define W_N 3
#define W_IN (W_C * W_H * W_H)
#define W_OUT 3
#define W_RULES 5

/* Results per dtype: forward (N x 3), gradient and LRP per rule (N x in), the real-data forward,
 * the single convolution's output (N x in). */
typedef struct {
    double forward[W_N * W_OUT], gradient[W_N * W_IN], lrp[W_RULES][W_N * W_IN];
    double real_forward[W_N * W_OUT], conv[W_N * W_IN];
} Results;

typedef struct {
    double w1[W_C * W_C * 9], w2[W_C * W_C * 9], b2[W_C], w3[W_OUT * W_C * 25];
    double x[W_N * W_IN], seed[W_N * W_OUT];
} Data;

static int ternary(Rng *rng) { return (int)(rng_uniform(rng) * 3.0) - 1; }

/** The exact wide CNN's data (integer-valued) or, with `real`, real-valued weights and inputs. */
static void make_data(Data *data, int real) {
    Rng rng = {real ? 0xB16u : 0xB15u};
    for (int i = 0; i < W_C * W_C * 9; i++) {
        data->w1[i] = real ? rng_normal(&rng) / 12 : ternary(&rng);
        data->w2[i] = real ? rng_normal(&rng) / 12 : ternary(&rng);
    }
    for (int co = 0; co < W_C; co++) {
        if (!real) data->w1[(co * W_C) * 9 + 4] = co % 2 == 0 ? 1 : -1;
        data->b2[co] = real ? rng_normal(&rng) / 10 : (double)((int)(rng_uniform(&rng) * 17) - 8);
    }
    for (int i = 0; i < W_OUT * W_C * 25; i++) data->w3[i] = real ? rng_normal(&rng) / 20 : ternary(&rng);
    for (int i = 0; i < W_N * W_IN; i++) data->x[i] = real ? rng_uniform(&rng) : (double)(int)(rng_uniform(&rng) * 256);
    for (int i = 0; i < W_N * W_OUT; i++) data->seed[i] = (double)(int)((rng_uniform(&rng) * 2 - 1) * 64) / 64;
    for (int n = 0; n < W_N; n++)
        for (int c = 0; c < W_C; c++)
            for (int y = 0; y < 4; y++)
                for (int x = 6; x < 10; x++) data->x[n * W_IN + (c * W_H + y) * W_H + x] = 0; /* the dead patch */
    if (real) return;
    static const int centres[7][2] = {{1, 1}, {1, 4}, {4, 1}, {4, 4}, {7, 2}, {7, 7}, {8, 5}};
    for (int n = 0; n < W_N; n++)
        for (int k = 0; k < 7; k++) {
            const int y = centres[k][0], x = centres[k][1], co = (5 * k + n) % W_C;
            const double target = k % 3 - 1;
            double *centre = &data->x[n * W_IN + y * W_H + x], rest = 0;
            *centre = 0;
            for (int c = 0; c < W_C; c++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int iy = y + ky - 1, ix = x + kx - 1;
                        if (iy < 0 || iy >= W_H || ix < 0 || ix >= W_H) continue;
                        rest += data->w1[((co * W_C + c) * 3 + ky) * 3 + kx] * data->x[n * W_IN + (c * W_H + iy) * W_H + ix];
                    }
            double v = (target - rest) * data->w1[(co * W_C) * 9 + 4];
            *centre = v < 0 ? 0 : v > 2047 ? 2047 : v;
        }
}

/** The network of `data` (`conv_only`: the first convolution alone), built as set-up calls. */
static void *build(const Data *data, int d, int conv_only) {
    int64_t shape[3] = {W_C, W_H, W_H};
    void *net = NULL;
    set_setup_mode(1);
    void *w1 = to_elements(d, data->w1, W_C * W_C * 9), *w2 = to_elements(d, data->w2, W_C * W_C * 9);
    void *b2 = to_elements(d, data->b2, W_C), *w3 = to_elements(d, data->w3, W_OUT * W_C * 25);
    dtd_status s = DCALL("dtd_network_create", AI32(d ? DTD_DTYPE_FLOAT64 : DTD_DTYPE_FLOAT32), AP(shape), AI64(3), AP(&net));
    const char *conv = typed("dtd_network_add_conv2d", d);
    if (s == DTD_OK)
        s = DCALL(conv, AP(net), AP(w1), AI64(W_C * W_C * 9), AI64(W_C), AI64(W_C), AI64(3), AI64(3), AP(NULL), AI64(0), AI64(1),
                  AI64(1), AI64(1), AI64(1), AI64(1), AI64(1));
    if (!conv_only) {
        if (s == DTD_OK) s = DCALL("dtd_network_add_relu", AP(net));
        if (s == DTD_OK)
            s = DCALL(conv, AP(net), AP(w2), AI64(W_C * W_C * 9), AI64(W_C), AI64(W_C), AI64(3), AI64(3), AP(b2), AI64(W_C), AI64(1),
                      AI64(1), AI64(1), AI64(1), AI64(1), AI64(1));
        if (s == DTD_OK) s = DCALL("dtd_network_add_relu", AP(net));
        if (s == DTD_OK) s = DCALL("dtd_network_add_maxpool2d", AP(net), AI64(2), AI64(2), AI64(2), AI64(2), AI64(0), AI64(0));
        if (s == DTD_OK) s = DCALL("dtd_network_add_flatten", AP(net));
        if (s == DTD_OK)
            s = DCALL(typed("dtd_network_add_dense", d), AP(net), AP(w3), AI64(W_OUT * W_C * 25), AI64(W_OUT), AI64(W_C * 25), AP(NULL),
                      AI64(0));
    }
    set_setup_mode(0);
    free(w1), free(w2), free(b2), free(w3);
    check(s == DTD_OK, "values", "builds the Winograd network", "%s: %s", status_name(s), last_message());
    return s == DTD_OK ? net : NULL;
}

static void set_rule(void *set, int rule, int64_t layer) {
    switch (rule) {
    case 0: DCALL("dtd_rules_set_epsilon", AP(set), AI64(layer), AF64(0.0), AI32(DTD_BIAS_INCLUDE)); break;
    case 1: DCALL("dtd_rules_set_epsilon", AP(set), AI64(layer), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)); break;
    case 2: DCALL("dtd_rules_set_zplus", AP(set), AI64(layer), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)); break;
    case 3: DCALL("dtd_rules_set_gamma", AP(set), AI64(layer), AF64(0.25), AF64(1e-6), AI32(DTD_BIAS_EXCLUDE)); break;
    default: DCALL("dtd_rules_set_alphabeta", AP(set), AI64(layer), AF64(2), AF64(1), AF64(1e-6), AI32(DTD_BIAS_INCLUDE)); break;
    }
}
static const char *const rule_text[W_RULES] = {"LRP-0", "epsilon 1e-6", "z+", "gamma 0.25 (bias excluded)", "alpha 2 beta 1"};

/** Everything Results holds, for dtype `d`, in this process. */
static void compute(int d, Results *r) {
    Data exact, real;
    make_data(&exact, 0);
    make_data(&real, 1);
    memset(r, 0, sizeof *r);
    void *net = build(&exact, d, 0), *conv = build(&exact, d, 1), *other = build(&real, d, 0);
    if (!net || !conv || !other) return;
    void *x = to_elements(d, exact.x, W_N * W_IN), *xr = to_elements(d, real.x, W_N * W_IN);
    void *seed = to_elements(d, exact.seed, W_N * W_OUT), *out = to_elements(d, r->gradient, W_N * W_IN);
    DCALL(typed("dtd_network_forward", d), AP(net), AI64(W_N), AP(x), AI64(W_N * W_IN), AP(out), AI64(W_N * W_OUT));
    from_elements(d, out, r->forward, W_N * W_OUT);
    DCALL(typed("dtd_network_forward", d), AP(other), AI64(W_N), AP(xr), AI64(W_N * W_IN), AP(out), AI64(W_N * W_OUT));
    from_elements(d, out, r->real_forward, W_N * W_OUT);
    DCALL(typed("dtd_network_forward", d), AP(conv), AI64(W_N), AP(x), AI64(W_N * W_IN), AP(out), AI64(W_N * W_IN));
    from_elements(d, out, r->conv, W_N * W_IN);
    DCALL(typed("dtd_relevance_gradient", d), AP(net), AI64(W_N), AP(x), AI64(W_N * W_IN), AP(seed), AI64(W_N * W_OUT), AP(out),
          AI64(W_N * W_IN));
    from_elements(d, out, r->gradient, W_N * W_IN);
    for (int rule = 0; rule < W_RULES; rule++) {
        void *set = NULL;
        DCALL("dtd_rules_create", AP(net), AP(&set));
        set_rule(set, rule, 0), set_rule(set, rule, 2), set_rule(set, rule, 6);
        DCALL(typed("dtd_relevance_lrp", d), AP(net), AP(set), AI64(W_N), AP(x), AI64(W_N * W_IN), AP(seed), AI64(W_N * W_OUT), AP(out),
              AI64(W_N * W_IN), AP(NULL), AI64(0));
        from_elements(d, out, r->lrp[rule], W_N * W_IN);
        VCALL("dtd_rules_destroy", AP(set));
    }
    free(x), free(xr), free(seed), free(out);
    VCALL("dtd_network_destroy", AP(net));
    VCALL("dtd_network_destroy", AP(conv));
    VCALL("dtd_network_destroy", AP(other));
}

/* ---- the two children ------------------------------------------------------------------------- */

typedef struct {
    const char *path;
} Exchange;

static void im2col_job(void *ctx) {
    const Exchange *e = ctx;
    setenv("DTD_WINOGRAD", "0", 1); /* before this process's first call */
    Results *r = calloc(2, sizeof *r);
    if (!r) abort();
    compute(0, &r[0]);
    compute(1, &r[1]);
    FILE *f = fopen(e->path, "wb");
    int ok = f && fwrite(r, sizeof *r, 2, f) == 2;
    if (f) fclose(f);
    check(ok, "values", "Winograd: the im2col results are written for the comparison", "%s", e->path);
    free(r);
}

static void winograd_job(void *ctx) {
    const Exchange *e = ctx;
    Results *mine = calloc(2, sizeof *mine), *other = calloc(2, sizeof *other);
    if (!mine || !other) abort();
    FILE *f = fopen(e->path, "rb");
    int ok = f && fread(other, sizeof *other, 2, f) == 2;
    if (f) fclose(f);
    check(ok, "values", "Winograd: the im2col results are read", "%s", e->path);
    if (!ok) goto done;
    for (int d = 0; d < 2; d++) {
        compute(d, &mine[d]);
        const Results *a = &mine[d], *b = &other[d];
        const double tol = d ? 1e-12 : 1e-5;
        char what[240];
        const char *fn = typed("dtd_relevance_gradient", d);
        snprintf(what, sizeof what, "wide CNN %s, with and without Winograd: the gradient bit for bit (same masks and winners)",
                 dtype_text[d]);
        check(memcmp(a->gradient, b->gradient, sizeof a->gradient) == 0, fn, what, "the gradients differ");
        fn = typed("dtd_network_forward", d);
        snprintf(what, sizeof what, "wide CNN %s, with and without Winograd: forward per element", dtype_text[d]);
        compare_per(fn, what, a->forward, b->forward, W_N * W_OUT, W_N, 1e-3, tol);
        fn = typed("dtd_relevance_lrp", d);
        for (int rule = 0; rule < W_RULES; rule++) {
            snprintf(what, sizeof what, "wide CNN %s, with and without Winograd: %s per element", dtype_text[d], rule_text[rule]);
            compare_per(fn, what, a->lrp[rule], b->lrp[rule], W_N * W_IN, W_N, 1e-3, tol);
        }
        fn = typed("dtd_network_forward", d);
        snprintf(what, sizeof what, "real-valued wide CNN %s: Winograd ran (some output differs from im2col's in its last bits)",
                 dtype_text[d]);
        check(memcmp(a->real_forward, b->real_forward, sizeof a->real_forward) != 0, fn, what,
              "the outputs are bit for bit im2col's (is DTD_WINOGRAD=0 set?)");
        snprintf(what, sizeof what, "real-valued wide CNN %s: with and without Winograd per sample", dtype_text[d]);
        compare(fn, what, a->real_forward, b->real_forward, W_N * W_OUT, W_N, tol);
        /* A window of zeros (all channels, padding included) gives exactly 0: the dead patch is
         * rows 0-3, columns 6-9, so the outputs at rows 0-2, columns 7-9 read only zeros. */
        int bad = 0;
        for (int n = 0; n < W_N; n++)
            for (int c = 0; c < W_C; c++)
                for (int y = 0; y < 3; y++)
                    for (int x = 7; x < 10; x++) bad += a->conv[n * W_IN + (c * W_H + y) * W_H + x] != 0;
        snprintf(what, sizeof what, "conv 16 -> 16 %s (Winograd): every window of zeros gives exactly 0", dtype_text[d]);
        check(bad == 0, fn, what, "%d of %d outputs are not 0", bad, W_N * W_C * 9);
    }
done:
    free(mine), free(other);
}

void run_winograd_checks(void) {
    char path[] = "/tmp/dtd-harness-winograd-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        check(0, "values", "Winograd: a temporary file for the comparison", "mkstemp failed");
        return;
    }
    close(fd);
    Exchange e = {path};
    isolated("values", "Winograd: im2col side (DTD_WINOGRAD=0)", im2col_job, &e);
    isolated("values", "Winograd: with and without it", winograd_job, &e);
    unlink(path);
}
