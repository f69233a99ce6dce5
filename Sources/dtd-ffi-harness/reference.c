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
 */
#include "reference.h"

#include <stdlib.h>
#include <string.h>

#include "../../Include/dtd.h"

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
}

/* The current activation shape (C, H, W) of an image network: found from the last conv. */
static void current_image(const RefNet *net, int64_t *c, int64_t *h, int64_t *w) {
    *c = net->in_shape[0], *h = net->in_shape[1], *w = net->in_shape[2];
    for (int i = 0; i < net->count; i++) {
        const RefLayer *L = &net->layers[i];
        if (L->kind == REF_CONV) *c = L->cout, *h = L->out_h, *w = L->out_w;
    }
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
    net->out_size = out;
}

void ref_conv(RefNet *net, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
              int64_t dw, const double *w, const double *b, int round_to_float) {
    int64_t c, h, wd;
    current_image(net, &c, &h, &wd);
    RefLayer *L = append(net, REF_CONV);
    L->cout = cout, L->cin = c, L->kh = kh, L->kw = kw, L->sh = sh, L->sw = sw, L->ph = ph, L->pw = pw, L->dh = dh, L->dw = dw;
    L->in_c = c, L->in_h = h, L->in_w = wd;
    L->out_h = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    L->out_w = (wd + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
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
                            int64_t iy = y * sh - ph + ky * dh, ix = x * sw - pw + kx * dw;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                            int64_t col = (ci * h + iy) * wd + ix;
                            L->M[row * L->in + col] += L->w_raw[((o * c + ci) * kh + ky) * kw + kx];
                            L->S[row * L->in + col] = 1.0;
                        }
            }
    net->out_size = L->out;
}

void ref_relu(RefNet *net) {
    RefLayer *L = append(net, REF_RELU);
    L->out = L->in;
}

void ref_flatten(RefNet *net) {
    RefLayer *L = append(net, REF_FLATTEN);
    L->out = L->in;
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
        for (int64_t j = 0; j < L->out; j++) {
            if (L->kind == REF_DENSE || L->kind == REF_CONV) {
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

void ref_gradient(const RefNet *net, double **acts, const double *r, double *result) {
    double *g = copy_of(r, net->out_size, 0);
    for (int l = net->count - 1; l >= 0; l--) {
        const RefLayer *L = &net->layers[l];
        double *gin = calloc((size_t)L->in, sizeof(double));
        if (!gin) abort();
        for (int64_t i = 0; i < L->in; i++) {
            if (L->kind == REF_DENSE || L->kind == REF_CONV) {
                for (int64_t j = 0; j < L->out; j++) gin[i] += L->M[j * L->in + i] * g[j];
            } else if (L->kind == REF_RELU) {
                gin[i] = acts[l][i] > 0 ? g[i] : 0.0; /* ReLU'(0) = 0 */
            } else {
                gin[i] = g[i];
            }
        }
        free(g);
        g = gin;
    }
    memcpy(result, g, (size_t)net->in_size * sizeof(double));
    free(g);
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

void ref_lrp_levels(const RefNet *net, double **acts, const RefRule *rules, const double *r, double **levels,
                    RefLedger *ledger) {
    double *R = copy_of(r, net->out_size, 0);
    if (levels) memcpy(levels[net->count], R, (size_t)net->out_size * sizeof(double));
    for (int l = net->count - 1; l >= 0; l--) {
        const RefLayer *L = &net->layers[l];
        double *Rin = calloc((size_t)L->in, sizeof(double));
        RefLedger led = {0, 0, 0, 0, 0};
        if (!Rin) abort();
        if (L->kind == REF_DENSE || L->kind == REF_CONV) {
            lrp_linear(L, &rules[l], acts[l], R, Rin, &led);
        } else { /* relu and flatten pass relevance unchanged */
            memcpy(Rin, R, (size_t)L->in * sizeof(double));
            for (int64_t j = 0; j < L->out; j++) led.relevance_out += R[j];
            led.relevance_in = led.relevance_out;
        }
        if (ledger) ledger[l] = led;
        if (levels) memcpy(levels[l], Rin, (size_t)L->in * sizeof(double));
        free(R);
        R = Rin;
    }
    free(R);
}

void ref_lrp(const RefNet *net, double **acts, const RefRule *rules, const double *r, double *result, RefLedger *ledger) {
    double **levels = ref_alloc_levels(net);
    ref_lrp_levels(net, acts, rules, r, levels, ledger);
    memcpy(result, levels[0], (size_t)net->in_size * sizeof(double));
    ref_free_acts(net, levels);
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
