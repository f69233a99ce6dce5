/**
 * reference.c : naive forward, gradient and LRP, one sample at a time (see reference.h).
 *
 * Notation as in the header: a layer maps a to z = M a + b; R arrives at its output;
 * stab(d) = d + s sign(d) with sign(0) = +1; M+ = max(M, 0), M- = min(M, 0), likewise a+, a-,
 * b+, b-; a stabilised denominator of exactly 0 gives a share of 0. Bias mode exclude sets b to
 * 0 inside the rule (the gamma gate still uses the true z). The ledger follows the header:
 * relevance_out = relevance_in + absorbed_bias + absorbed_stabilizer + dropped, where, per
 * denominator group with coefficient c and share s_j = R_j / stab(D_j): absorbed_bias is
 * c sum_j s_j (bias term of D_j), absorbed_stabilizer is c sum_j s_j (stab(D_j) - D_j), and
 * dropped is the relevance whose share was forced to 0 (zero denominator, gamma's closed gate).
 *
 * Graphs (DESIGN.md 3b): acts[l + 1] is layer l's output and acts[0] the input, so source s of a
 * route/add is acts[s + 1]. Backward passes keep one accumulator per output and visit the layers
 * from the top: each layer takes what its consumers have summed at its output and sends its
 * shares to its sources (route: channel slices, i.e. per-sample blocks in order; add: the gradient
 * to every operand, relevance by Zennit's Sum rule x_k R / stab(sum x) or flat R / stab(K)).
 * Max-pool routes to the first maximum of the window in row-major order (padding never wins).
 */
#include "reference.h"

#include <stdlib.h>
#include <string.h>

#include "../../Include/dtd.h"
#include "harness.h" /* sqrt_of: the harness links no libm */

static double *copy_of(const double *src, int64_t n, int round_to_float) {
    double *dst = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!dst) abort();
    for (int64_t i = 0; src && i < n; i++) dst[i] = round_to_float ? (double)(float)src[i] : src[i];
    return dst;
}

static RefLayer *append(RefNet *net, RefKind kind) {
    if (net->count == REF_MAX_LAYERS) abort();
    RefLayer *L = &net->layers[net->count++];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->in = net->out_size;
    return L;
}

/** Records the layer's output shape as the network's current one. */
static void set_output(RefNet *net, RefLayer *L, int64_t rank, int64_t c, int64_t h, int64_t w) {
    L->out_rank = rank;
    L->out_shape[0] = c, L->out_shape[1] = h, L->out_shape[2] = w;
    L->out = rank == 3 ? c * h * w : c;
    net->cur_rank = rank;
    net->cur_shape[0] = c, net->cur_shape[1] = h, net->cur_shape[2] = w;
    net->out_size = L->out;
}

int64_t ref_size(const RefNet *net, int64_t layer) { return layer < 0 ? net->in_size : net->layers[layer].out; }

static const int64_t *shape_of(const RefNet *net, int64_t layer, int64_t *rank) {
    if (layer < 0) {
        *rank = net->in_rank;
        return net->in_shape;
    }
    *rank = net->layers[layer].out_rank;
    return net->layers[layer].out_shape;
}

void ref_init(RefNet *net, const char *name, int64_t rank, const int64_t *shape) {
    memset(net, 0, sizeof *net);
    net->name = name;
    net->in_rank = rank;
    net->in_size = 1;
    for (int64_t i = 0; i < rank; i++) {
        net->in_shape[i] = shape[i];
        net->in_size *= shape[i];
    }
    net->out_size = net->in_size;
    net->cur_rank = rank;
    for (int64_t i = 0; i < rank; i++) net->cur_shape[i] = shape[i];
}

static void current_image(const RefNet *net, int64_t *c, int64_t *h, int64_t *w) {
    *c = net->cur_shape[0], *h = net->cur_shape[1], *w = net->cur_shape[2];
}

void ref_dense(RefNet *net, int64_t out, const double *w, const double *b, int round_to_float) {
    RefLayer *L = append(net, REF_DENSE);
    L->out = out;
    L->cout = out, L->cin = L->in;
    L->w_count = out * L->in;
    L->w_raw = copy_of(w, L->w_count, round_to_float);
    L->has_bias = b != NULL;
    L->b_count = b ? out : 0;
    L->b_raw = copy_of(b, L->b_count, round_to_float);
    L->M = copy_of(L->w_raw, L->w_count, 0);
    L->S = calloc((size_t)L->w_count, sizeof(double));
    L->b = copy_of(b ? L->b_raw : NULL, out, 0); /* zeros without a bias */
    if (!L->S) abort();
    for (int64_t i = 0; i < L->w_count; i++) L->S[i] = 1.0;
    set_output(net, L, 1, out, 1, 1);
}

void ref_conv(RefNet *net, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
              int64_t dw, const double *w, const double *b, int round_to_float) {
    ref_conv_padded(net, cout, kh, kw, sh, sw, ph, ph, pw, pw, dh, dw, w, b, round_to_float);
    RefLayer *L = &net->layers[net->count - 1];
    L->padded = 0, L->ph = ph, L->pw = pw;
}

void ref_conv_padded(RefNet *net, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                     int64_t pr, int64_t dh, int64_t dw, const double *w, const double *b, int round_to_float) {
    int64_t c, h, wd;
    current_image(net, &c, &h, &wd);
    RefLayer *L = append(net, REF_CONV);
    L->cout = cout, L->cin = c, L->kh = kh, L->kw = kw, L->sh = sh, L->sw = sw, L->dh = dh, L->dw = dw;
    L->pt = pt, L->pb = pb, L->pl = pl, L->pr = pr, L->padded = 1;
    L->in_c = c, L->in_h = h, L->in_w = wd;
    L->out_h = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    L->out_w = (wd + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    L->out = cout * L->out_h * L->out_w;
    L->w_count = cout * c * kh * kw;
    L->w_raw = copy_of(w, L->w_count, round_to_float);
    L->has_bias = b != NULL;
    L->b_count = b ? cout : 0;
    L->b_raw = copy_of(b, L->b_count, round_to_float);
    L->M = calloc((size_t)(L->out * L->in), sizeof(double));
    L->S = calloc((size_t)(L->out * L->in), sizeof(double));
    L->b = calloc((size_t)L->out, sizeof(double));
    if (!L->M || !L->S || !L->b) abort();
    /* Unroll: output (o, y, x) reads input (ci, y*sh - ph + ky*dh, x*sw - pw + kx*dw) when in bounds. */
    for (int64_t o = 0; o < cout; o++)
        for (int64_t y = 0; y < L->out_h; y++)
            for (int64_t x = 0; x < L->out_w; x++) {
                int64_t row = (o * L->out_h + y) * L->out_w + x;
                L->b[row] = b ? L->b_raw[o] : 0.0;
                for (int64_t ci = 0; ci < c; ci++)
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t iy = y * sh - pt + ky * dh, ix = x * sw - pl + kx * dw;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                            int64_t col = (ci * h + iy) * wd + ix;
                            L->M[row * L->in + col] += L->w_raw[((o * c + ci) * kh + ky) * kw + kx];
                            L->S[row * L->in + col] = 1.0;
                        }
            }
    set_output(net, L, 3, cout, L->out_h, L->out_w);
}

static void same_shape(RefNet *net, RefLayer *L) {
    set_output(net, L, net->cur_rank, net->cur_shape[0], net->cur_rank == 3 ? net->cur_shape[1] : 1,
               net->cur_rank == 3 ? net->cur_shape[2] : 1);
}

void ref_relu(RefNet *net) { same_shape(net, append(net, REF_RELU)); }

void ref_identity(RefNet *net) { same_shape(net, append(net, REF_IDENTITY)); }

void ref_batchnorm(RefNet *net, const double *gamma, const double *beta, const double *mean, const double *var, double eps,
                   int round_to_float) {
    RefLayer *P = &net->layers[net->count - 1]; /* the dense/conv it folds into */
    int64_t channels = P->cout, plane = P->kind == REF_CONV ? P->out_h * P->out_w : 1;
    RefLayer *L = append(net, REF_BATCHNORM);
    L->w_count = 4 * channels;
    L->w_raw = calloc((size_t)L->w_count, sizeof(double));
    if (!L->w_raw) abort();
    const double *parts[4] = {gamma, beta, mean, var};
    for (int k = 0; k < 4; k++)
        for (int64_t c = 0; c < channels; c++) L->w_raw[k * channels + c] = round_to_float ? (double)(float)parts[k][c] : parts[k][c];
    L->bn_eps = eps;
    const double *g = L->w_raw, *be = g + channels, *mu = be + channels, *v = mu + channels;
    for (int64_t j = 0; j < P->out; j++) {
        int64_t c = j / plane;
        double scale = g[c] / sqrt_of(v[c] + eps);
        for (int64_t i = 0; i < P->in; i++) P->M[j * P->in + i] *= scale;
        P->b[j] = ((P->has_bias ? P->b_raw[c] : 0.0) - mu[c]) * scale + be[c];
    }
    same_shape(net, L);
}

void ref_flatten(RefNet *net) {
    RefLayer *L = append(net, REF_FLATTEN);
    set_output(net, L, 1, L->in, 1, 1);
}

static void sources(RefLayer *L, const int64_t *from, int count) {
    if (count > REF_MAX_SOURCES) abort();
    L->nsrc = count;
    for (int k = 0; k < count; k++) L->src[k] = from[k];
}

void ref_route(RefNet *net, const int64_t *from, int count) {
    RefLayer *L = append(net, REF_ROUTE);
    sources(L, from, count);
    int64_t rank = 1, channels = 0;
    const int64_t *shape = NULL;
    for (int k = 0; k < count; k++) {
        shape = shape_of(net, from[k], &rank);
        channels += shape[0];
    }
    set_output(net, L, rank, channels, rank == 3 ? shape[1] : 1, rank == 3 ? shape[2] : 1);
}

void ref_add(RefNet *net, const int64_t *from, int count) {
    RefLayer *L = append(net, REF_ADD);
    sources(L, from, count);
    same_shape(net, L);
}

/** A pooling layer as an explicit map: P[j][i] = weight of input i in output j, S its taps. */
static RefLayer *pool_layer(RefNet *net, RefKind kind, int64_t oh, int64_t ow) {
    int64_t c, h, w;
    current_image(net, &c, &h, &w);
    RefLayer *L = append(net, kind);
    L->in_c = c, L->in_h = h, L->in_w = w, L->out_h = oh, L->out_w = ow;
    set_output(net, L, 3, c, oh, ow);
    L->M = calloc((size_t)(L->out * L->in), sizeof(double));
    L->S = calloc((size_t)(L->out * L->in), sizeof(double));
    L->b = calloc((size_t)L->out, sizeof(double));
    if (!L->M || !L->S || !L->b) abort();
    return L;
}

/** Window of output (y, x): rows [y0, y1), columns [x0, x1) of the unpadded input, and the
 *  window's full size including padding (for count_include_pad). */
static void window(const RefLayer *L, int64_t y, int64_t x, int64_t *y0, int64_t *y1, int64_t *x0, int64_t *x1, int64_t *full) {
    if (L->adaptive) {
        *y0 = (y * L->in_h) / L->out_h, *y1 = ((y + 1) * L->in_h + L->out_h - 1) / L->out_h;
        *x0 = (x * L->in_w) / L->out_w, *x1 = ((x + 1) * L->in_w + L->out_w - 1) / L->out_w;
        *full = (*y1 - *y0) * (*x1 - *x0);
        return;
    }
    int64_t ys = y * L->sh - L->pt, xs = x * L->sw - L->pl;
    *y0 = ys < 0 ? 0 : ys, *y1 = ys + L->kh > L->in_h ? L->in_h : ys + L->kh;
    *x0 = xs < 0 ? 0 : xs, *x1 = xs + L->kw > L->in_w ? L->in_w : xs + L->kw;
    *full = L->kh * L->kw;
}

static void fill_pool(RefLayer *L) {
    for (int64_t ch = 0; ch < L->in_c; ch++)
        for (int64_t y = 0; y < L->out_h; y++)
            for (int64_t x = 0; x < L->out_w; x++) {
                int64_t y0, y1, x0, x1, full, row = (ch * L->out_h + y) * L->out_w + x;
                window(L, y, x, &y0, &y1, &x0, &x1, &full);
                double divisor = (L->adaptive || !L->include_pad) ? (double)((y1 - y0) * (x1 - x0)) : (double)full;
                for (int64_t iy = y0; iy < y1; iy++)
                    for (int64_t ix = x0; ix < x1; ix++) {
                        int64_t col = (ch * L->in_h + iy) * L->in_w + ix;
                        L->M[row * L->in + col] = 1.0 / divisor;
                        L->S[row * L->in + col] = 1.0;
                    }
            }
}

void ref_avgpool_padded(RefNet *net, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                        int include_pad) {
    int64_t c, h, w;
    current_image(net, &c, &h, &w);
    RefLayer *L = pool_layer(net, REF_POOL, (h + pt + pb - kh) / sh + 1, (w + pl + pr - kw) / sw + 1);
    L->kh = kh, L->kw = kw, L->sh = sh, L->sw = sw, L->pt = pt, L->pb = pb, L->pl = pl, L->pr = pr, L->include_pad = include_pad;
    L->padded = 1;
    fill_pool(L);
}

void ref_adaptive_avgpool(RefNet *net, int64_t oh, int64_t ow) {
    RefLayer *L = pool_layer(net, REF_POOL, oh, ow);
    L->adaptive = 1, L->kh = oh, L->kw = ow;
    fill_pool(L);
}

void ref_maxpool_padded(RefNet *net, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
    int64_t c, h, w;
    current_image(net, &c, &h, &w);
    RefLayer *L = append(net, REF_MAXPOOL);
    L->kh = kh, L->kw = kw, L->sh = sh, L->sw = sw, L->pt = pt, L->pb = pb, L->pl = pl, L->pr = pr, L->padded = 1;
    L->in_c = c, L->in_h = h, L->in_w = w;
    L->out_h = (h + pt + pb - kh) / sh + 1, L->out_w = (w + pl + pr - kw) / sw + 1;
    set_output(net, L, 3, c, L->out_h, L->out_w);
}

/** The input index a max-pool output takes: the first maximum of its window in row-major order. */
static int64_t winner(const RefLayer *L, const double *a, int64_t j) {
    int64_t ch = j / (L->out_h * L->out_w), y = (j / L->out_w) % L->out_h, x = j % L->out_w;
    int64_t y0, y1, x0, x1, full, best = -1;
    window(L, y, x, &y0, &y1, &x0, &x1, &full);
    for (int64_t iy = y0; iy < y1; iy++)
        for (int64_t ix = x0; ix < x1; ix++) {
            int64_t i = (ch * L->in_h + iy) * L->in_w + ix;
            if (best < 0 || a[i] > a[best]) best = i;
        }
    return best;
}

void ref_free(RefNet *net) {
    for (int i = 0; i < net->count; i++) {
        RefLayer *L = &net->layers[i];
        free(L->M), free(L->S), free(L->b), free(L->w_raw), free(L->b_raw);
    }
    net->count = 0;
}

/* ---- forward and gradient --------------------------------------------------------------------- */

double **ref_forward(const RefNet *net, const double *x) {
    double **acts = calloc((size_t)net->count + 1, sizeof(double *));
    if (!acts) abort();
    acts[0] = copy_of(x, net->in_size, 0);
    for (int l = 0; l < net->count; l++) {
        const RefLayer *L = &net->layers[l];
        double *a = acts[l], *y = calloc((size_t)L->out, sizeof(double));
        if (!y) abort();
        if (L->kind == REF_ROUTE) { /* per sample, channel blocks are contiguous: concatenate */
            int64_t at = 0;
            for (int k = 0; k < L->nsrc; k++) {
                int64_t n = ref_size(net, L->src[k]);
                memcpy(y + at, acts[L->src[k] + 1], (size_t)n * sizeof(double));
                at += n;
            }
            acts[l + 1] = y;
            continue;
        }
        for (int64_t j = 0; j < L->out; j++) {
            if (L->kind == REF_ADD) {
                y[j] = a[j];
                for (int k = 0; k < L->nsrc; k++) y[j] += acts[L->src[k] + 1][j];
            } else if (L->kind == REF_MAXPOOL) {
                y[j] = a[winner(L, a, j)];
            } else if (L->kind == REF_POOL) {
                double z = 0;
                for (int64_t i = 0; i < L->in; i++) z += L->M[j * L->in + i] * a[i];
                y[j] = z;
            } else if (L->kind == REF_DENSE || L->kind == REF_CONV) {
                double z = L->b[j];
                for (int64_t i = 0; i < L->in; i++) z += L->M[j * L->in + i] * a[i];
                y[j] = z;
            } else if (L->kind == REF_RELU) {
                y[j] = a[j] > 0 ? a[j] : 0.0;
            } else {
                y[j] = a[j];
            }
        }
        acts[l + 1] = y;
    }
    return acts;
}

void ref_free_acts(const RefNet *net, double **acts) {
    for (int l = 0; l <= net->count; l++) free(acts[l]);
    free(acts);
}

/** One accumulator per activation (acts layout): acc[0] the input, acc[l + 1] layer l's output. */
static double **accumulators(const RefNet *net) {
    double **acc = calloc((size_t)net->count + 1, sizeof(double *));
    if (!acc) abort();
    for (int k = 0; k <= net->count; k++) {
        acc[k] = calloc((size_t)(k == 0 ? net->in_size : net->layers[k - 1].out) + 1, sizeof(double));
        if (!acc[k]) abort();
    }
    return acc;
}

static void free_accumulators(const RefNet *net, double **acc) {
    for (int k = 0; k <= net->count; k++) free(acc[k]);
    free(acc);
}

void ref_gradient(const RefNet *net, double **acts, const double *r, double *result) {
    double **acc = accumulators(net);
    memcpy(acc[net->count], r, (size_t)net->out_size * sizeof(double));
    for (int l = net->count - 1; l >= 0; l--) {
        const RefLayer *L = &net->layers[l];
        const double *g = acc[l + 1];
        double *gin = acc[l];
        if (L->kind == REF_ROUTE) {
            int64_t at = 0;
            for (int k = 0; k < L->nsrc; k++) {
                int64_t n = ref_size(net, L->src[k]);
                for (int64_t i = 0; i < n; i++) acc[L->src[k] + 1][i] += g[at + i];
                at += n;
            }
            continue;
        }
        if (L->kind == REF_ADD) {
            for (int64_t j = 0; j < L->out; j++) {
                gin[j] += g[j];
                for (int k = 0; k < L->nsrc; k++) acc[L->src[k] + 1][j] += g[j];
            }
            continue;
        }
        if (L->kind == REF_MAXPOOL) {
            for (int64_t j = 0; j < L->out; j++) gin[winner(L, acts[l], j)] += g[j];
            continue;
        }
        for (int64_t i = 0; i < L->in; i++) {
            if (L->kind == REF_DENSE || L->kind == REF_CONV || L->kind == REF_POOL) {
                for (int64_t j = 0; j < L->out; j++) gin[i] += L->M[j * L->in + i] * g[j];
            } else if (L->kind == REF_RELU) {
                gin[i] += acts[l][i] > 0 ? g[i] : 0.0; /* ReLU'(0) = 0 */
            } else {
                gin[i] += g[i];
            }
        }
    }
    memcpy(result, acc[0], (size_t)net->in_size * sizeof(double));
    free_accumulators(net, acc);
}

/* ---- LRP ---------------------------------------------------------------------------------------- */

static double pos(double v) { return v > 0 ? v : 0.0; }
static double neg(double v) { return v < 0 ? v : 0.0; }
static double stab(double d, double s) { return d >= 0 ? d + s : d - s; }
static double share(double r, double d) { return d == 0 ? 0.0 : r / d; }

/** Shares s_j = gate_j R_j / stab(D_j); adds the group's ledger terms with coefficient c. */
static void divide(int64_t out, const double *D, const double *bias_term, const int *gate, const double *R, double s_eps,
                   double c, double *s, RefLedger *led) {
    for (int64_t j = 0; j < out; j++) {
        if (gate && !gate[j]) {
            s[j] = 0.0;
            continue;
        }
        double d = stab(D[j], s_eps);
        s[j] = share(R[j], d);
        if (d == 0) continue;
        led->dropped -= c * R[j];
        led->absorbed_bias += c * s[j] * (bias_term ? bias_term[j] : 0.0);
        led->absorbed_stabilizer += c * s[j] * (d - D[j]);
    }
}

/** One linear layer: a (input), R (relevance at the output) -> Rin; ledger terms in led. */
static void lrp_linear(const RefLayer *L, const RefRule *rule, const double *a, const double *R, double *Rin, RefLedger *led) {
    const int64_t in = L->in, out = L->out;
    const double *M = L->M;
    const int include = rule->bias_mode == DTD_BIAS_INCLUDE;
    const double s_eps = rule->epsilon;
    double *D1 = calloc((size_t)out, sizeof(double)), *D2 = calloc((size_t)out, sizeof(double));
    double *B1 = calloc((size_t)out, sizeof(double)), *B2 = calloc((size_t)out, sizeof(double));
    double *s1 = calloc((size_t)out, sizeof(double)), *s2 = calloc((size_t)out, sizeof(double));
    double *lo = calloc((size_t)in, sizeof(double)), *hi = calloc((size_t)in, sizeof(double));
    int *g1 = calloc((size_t)out, sizeof(int)), *g2 = calloc((size_t)out, sizeof(int));
    if (!D1 || !D2 || !B1 || !B2 || !s1 || !s2 || !lo || !hi || !g1 || !g2) abort();
    memset(Rin, 0, (size_t)in * sizeof(double));
    led->relevance_out = 0;
    for (int64_t j = 0; j < out; j++) led->relevance_out += R[j];
    led->dropped = led->relevance_out; /* what no kept share carries, below */
    led->absorbed_bias = led->absorbed_stabilizer = 0;

#define W(j, i) M[(j) * in + (i)]
    switch (rule->kind) {
    case DTD_RULE_EPSILON:
        /* a (.) M^T (R / stab(z)), z = M a + b */
        for (int64_t j = 0; j < out; j++) {
            B1[j] = include ? L->b[j] : 0.0;
            D1[j] = B1[j];
            for (int64_t i = 0; i < in; i++) D1[j] += W(j, i) * a[i];
        }
        divide(out, D1, B1, NULL, R, s_eps, 1.0, s1, led);
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < out; j++) Rin[i] += a[i] * W(j, i) * s1[j];
        break;
    case DTD_RULE_ZPLUS:
    case DTD_RULE_ALPHABETA: {
        /* s+ = R / stab(M+ a+ + b+ + M- a-);  s- = R / stab(M- a+ + b- + M+ a-) */
        double alpha = rule->kind == DTD_RULE_ZPLUS ? 1.0 : rule->alpha;
        double beta = rule->kind == DTD_RULE_ZPLUS ? 0.0 : rule->beta;
        for (int64_t j = 0; j < out; j++) {
            B1[j] = include ? pos(L->b[j]) : 0.0;
            B2[j] = include ? neg(L->b[j]) : 0.0;
            D1[j] = B1[j], D2[j] = B2[j];
            for (int64_t i = 0; i < in; i++) {
                D1[j] += pos(W(j, i)) * pos(a[i]) + neg(W(j, i)) * neg(a[i]);
                D2[j] += neg(W(j, i)) * pos(a[i]) + pos(W(j, i)) * neg(a[i]);
            }
        }
        divide(out, D1, B1, NULL, R, s_eps, alpha, s1, led);
        if (rule->kind == DTD_RULE_ALPHABETA) divide(out, D2, B2, NULL, R, s_eps, -beta, s2, led);
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < out; j++) {
                Rin[i] += alpha * (pos(a[i]) * pos(W(j, i)) * s1[j] + neg(a[i]) * neg(W(j, i)) * s1[j]);
                if (rule->kind == DTD_RULE_ALPHABETA)
                    Rin[i] -= beta * (pos(a[i]) * neg(W(j, i)) * s2[j] + neg(a[i]) * pos(W(j, i)) * s2[j]);
            }
        break;
    }
    case DTD_RULE_GAMMA: {
        /* M_g+ = M + g M+, M_g- = M + g M-; gates from the true z = M a + b */
        double g = rule->gamma;
        for (int64_t j = 0; j < out; j++) {
            double z = L->b[j];
            for (int64_t i = 0; i < in; i++) z += W(j, i) * a[i];
            g1[j] = z > 0, g2[j] = z < 0;
            B1[j] = include ? L->b[j] + g * pos(L->b[j]) : 0.0;
            B2[j] = include ? L->b[j] + g * neg(L->b[j]) : 0.0;
            D1[j] = B1[j], D2[j] = B2[j];
            for (int64_t i = 0; i < in; i++) {
                double wp = W(j, i) + g * pos(W(j, i)), wn = W(j, i) + g * neg(W(j, i));
                D1[j] += wp * pos(a[i]) + wn * neg(a[i]);
                D2[j] += wn * pos(a[i]) + wp * neg(a[i]);
            }
        }
        divide(out, D1, B1, g1, R, s_eps, 1.0, s1, led);
        divide(out, D2, B2, g2, R, s_eps, 1.0, s2, led);
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < out; j++) {
                double wp = W(j, i) + g * pos(W(j, i)), wn = W(j, i) + g * neg(W(j, i));
                Rin[i] += pos(a[i]) * wp * s1[j] + neg(a[i]) * wn * s1[j] + pos(a[i]) * wn * s2[j] + neg(a[i]) * wp * s2[j];
            }
        break;
    }
    case DTD_RULE_WSQUARE:
        /* (M^2)^T (R / stab(M^2 1 + b^2)) */
        for (int64_t j = 0; j < out; j++) {
            B1[j] = include ? L->b[j] * L->b[j] : 0.0;
            D1[j] = B1[j];
            for (int64_t i = 0; i < in; i++) D1[j] += W(j, i) * W(j, i);
        }
        divide(out, D1, B1, NULL, R, s_eps, 1.0, s1, led);
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < out; j++) Rin[i] += W(j, i) * W(j, i) * s1[j];
        break;
    case DTD_RULE_FLAT:
        /* S^T (R / stab(S 1)): every existing tap weighs 1, no bias */
        for (int64_t j = 0; j < out; j++)
            for (int64_t i = 0; i < in; i++) D1[j] += L->S[j * in + i];
        divide(out, D1, NULL, NULL, R, s_eps, 1.0, s1, led);
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < out; j++) Rin[i] += L->S[j * in + i] * s1[j];
        break;
    case DTD_RULE_ZBOX: {
        /* s = R / stab(M a + b - (M+ l + b+) - (M- h + b-)): the biases cancel */
        int64_t plane = L->kind == REF_CONV ? L->in_h * L->in_w : 1;
        for (int64_t i = 0; i < in; i++) {
            int64_t ch = i / plane;
            lo[i] = rule->low_per_element ? rule->low_per_element[i] : rule->low_per_channel ? rule->low_per_channel[ch] : rule->low;
            hi[i] = rule->high_per_element ? rule->high_per_element[i] : rule->high_per_channel ? rule->high_per_channel[ch] : rule->high;
        }
        for (int64_t j = 0; j < out; j++)
            for (int64_t i = 0; i < in; i++) D1[j] += W(j, i) * a[i] - pos(W(j, i)) * lo[i] - neg(W(j, i)) * hi[i];
        divide(out, D1, NULL, NULL, R, s_eps, 1.0, s1, led);
        for (int64_t i = 0; i < in; i++)
            for (int64_t j = 0; j < out; j++)
                Rin[i] += a[i] * W(j, i) * s1[j] - lo[i] * pos(W(j, i)) * s1[j] - hi[i] * neg(W(j, i)) * s1[j];
        break;
    }
    default:
        abort();
    }
#undef W
    led->relevance_in = 0;
    for (int64_t i = 0; i < in; i++) led->relevance_in += Rin[i];
    free(D1), free(D2), free(B1), free(B2), free(s1), free(s2), free(lo), free(hi), free(g1), free(g2);
}

/** Zennit's Sum rule at an add: operand k receives x_k R / stab(sum x) (norm), or R / stab(K)
 *  (flat: every operand weighs 1); ledger terms as for a linear layer without a bias. */
static void lrp_add(const RefLayer *L, double **acts, int l, const RefRule *rule, const double *R, double **acc, RefLedger *led) {
    const int K = L->nsrc + 1;
    const double *x[REF_MAX_SOURCES + 1];
    double *dst[REF_MAX_SOURCES + 1];
    x[0] = acts[l], dst[0] = acc[l];
    for (int k = 1; k < K; k++) x[k] = acts[L->src[k - 1] + 1], dst[k] = acc[L->src[k - 1] + 1];
    int flat = rule->kind == DTD_RULE_FLAT;
    double eps = rule->kind == 0 ? 1e-6 : rule->epsilon;
    double *D = calloc((size_t)L->out, sizeof(double)), *s = calloc((size_t)L->out, sizeof(double));
    if (!D || !s) abort();
    led->relevance_out = 0;
    for (int64_t j = 0; j < L->out; j++) led->relevance_out += R[j];
    led->dropped = led->relevance_out;
    for (int64_t j = 0; j < L->out; j++) {
        D[j] = flat ? (double)K : 0.0;
        for (int k = 0; !flat && k < K; k++) D[j] += x[k][j];
    }
    divide(L->out, D, NULL, NULL, R, eps, 1.0, s, led);
    for (int64_t j = 0; j < L->out; j++)
        for (int k = 0; k < K; k++) {
            double share_k = (flat ? 1.0 : x[k][j]) * s[j];
            dst[k][j] += share_k;
            led->relevance_in += share_k;
        }
    free(D), free(s);
}

static int keeps(const RefLayer *L, const RefMask *m, int64_t j) {
    if (m->count == L->out) return m->keep[j] != 0;
    int64_t plane = L->out_rank == 3 ? L->out_shape[1] * L->out_shape[2] : 1;
    return m->keep[j / plane] != 0;
}

void ref_lrp_layers(const RefNet *net, double **acts, const RefRule *rules, const double *r, double *result, RefLedger *ledger,
                    double **at, const RefMask *masks, int nmasks, double **levels) {
    double **acc = accumulators(net);
    memcpy(acc[net->count], r, (size_t)net->out_size * sizeof(double));
    for (int l = net->count - 1; l >= 0; l--) {
        const RefLayer *L = &net->layers[l];
        double *R = acc[l + 1];
        for (int k = 0; k < nmasks; k++)
            if (masks[k].layer == l)
                for (int64_t j = 0; j < L->out; j++)
                    if (!keeps(L, &masks[k], j)) R[j] = 0.0;
        if (at && at[l]) memcpy(at[l], R, (size_t)L->out * sizeof(double));
        RefLedger led = {0, 0, 0, 0, 0};
        if (L->kind == REF_DENSE || L->kind == REF_CONV || L->kind == REF_POOL) {
            double *Rin = calloc((size_t)L->in, sizeof(double));
            if (!Rin) abort();
            RefRule rule = rules[l];
            if (L->kind == REF_POOL) { /* norm = epsilon on P with its stabiliser; flat on the taps */
                if (rule.kind == 0) rule.kind = DTD_RULE_EPSILON, rule.epsilon = 1e-6;
                rule.bias_mode = DTD_BIAS_EXCLUDE;
            }
            lrp_linear(L, &rule, acts[l], R, Rin, &led);
            for (int64_t i = 0; i < L->in; i++) acc[l][i] += Rin[i];
            free(Rin);
        } else if (L->kind == REF_ADD) {
            lrp_add(L, acts, l, &rules[l], R, acc, &led);
        } else {
            for (int64_t j = 0; j < L->out; j++) led.relevance_out += R[j];
            led.relevance_in = led.relevance_out;
            if (L->kind == REF_ROUTE) { /* split back by slice */
                int64_t off = 0;
                for (int k = 0; k < L->nsrc; k++) {
                    int64_t n = ref_size(net, L->src[k]);
                    for (int64_t i = 0; i < n; i++) acc[L->src[k] + 1][i] += R[off + i];
                    off += n;
                }
            } else if (L->kind == REF_MAXPOOL) { /* winner takes all, like the gradient */
                for (int64_t j = 0; j < L->out; j++) acc[l][winner(L, acts[l], j)] += R[j];
            } else { /* relu, flatten, identity pass relevance unchanged */
                for (int64_t i = 0; i < L->in; i++) acc[l][i] += R[i];
            }
        }
        if (ledger) ledger[l] = led;
    }
    memcpy(result, acc[0], (size_t)net->in_size * sizeof(double));
    if (levels) /* chains: the input of layer l is the output of layer l - 1 (theory checks) */
        for (int l = 0; l <= net->count; l++) {
            int64_t n = ref_size(net, l - 1), room = l < net->count ? net->layers[l].in : net->out_size;
            memcpy(levels[l], acc[l], (size_t)(n < room ? n : room) * sizeof(double));
        }
    free_accumulators(net, acc);
}

void ref_lrp_levels(const RefNet *net, double **acts, const RefRule *rules, const double *r, double **levels,
                    RefLedger *ledger) {
    double *result = calloc((size_t)net->in_size, sizeof(double));
    if (!result) abort();
    ref_lrp_layers(net, acts, rules, r, result, ledger, NULL, NULL, 0, levels);
    free(result);
}

void ref_lrp(const RefNet *net, double **acts, const RefRule *rules, const double *r, double *result, RefLedger *ledger) {
    ref_lrp_layers(net, acts, rules, r, result, ledger, NULL, NULL, 0, NULL);
}

double **ref_alloc_levels(const RefNet *net) {
    double **levels = calloc((size_t)net->count + 1, sizeof(double *));
    if (!levels) abort();
    for (int l = 0; l <= net->count; l++) {
        levels[l] = calloc((size_t)(l < net->count ? net->layers[l].in : net->out_size) + 1, sizeof(double));
        if (!levels[l]) abort();
    }
    return levels;
}

/* ---- sub-networks and the local model --------------------------------------------------------- */

RefNet ref_tail(const RefNet *net, int from) {
    RefNet tail = *net;
    tail.count = net->count - from;
    for (int l = 0; l < tail.count; l++) tail.layers[l] = net->layers[from + l];
    tail.in_size = net->layers[from].in;
    tail.in_rank = 1, tail.in_shape[0] = tail.in_size;
    return tail;
}

double **ref_forward_frozen(const RefNet *net, double **reference, const double *x) {
    double **acts = ref_forward(net, x);
    for (int l = 0; l < net->count; l++) {
        const RefLayer *L = &net->layers[l];
        double *a = acts[l], *y = acts[l + 1];
        for (int64_t j = 0; j < L->out; j++) {
            if (L->kind == REF_DENSE || L->kind == REF_CONV) {
                double z = L->b[j];
                for (int64_t i = 0; i < L->in; i++) z += L->M[j * L->in + i] * a[i];
                y[j] = z;
            } else if (L->kind == REF_RELU) {
                y[j] = reference[l][j] > 0 ? a[j] : 0.0; /* the reference's on/off state */
            } else {
                y[j] = a[j];
            }
        }
    }
    return acts;
}
