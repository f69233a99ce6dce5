/**
 * reference.h : a naive reference implementation of what libdtd computes, for the value checks.
 *
 * Plain loops in double precision, written straight from the formulas in Include/dtd.h (sections
 * 4-5), sharing no structure with the engine: every dense or conv layer becomes an
 * explicit (out x in) matrix M (a conv unrolled tap by tap, so zero padding is simply "no
 * column"), with its bias expanded per output element and a 0/1 matrix S of the taps that exist
 * (flat's "ones", which counts in-bounds taps only). One function per rule, one sample at a time.
 */
#ifndef DTD_HARNESS_REFERENCE_H
#define DTD_HARNESS_REFERENCE_H

#include <stdint.h>

/* REF_POOL is an average pool (padded, count_include_pad or not) or an adaptive one: a fixed
 * linear map P with P = 1 / divisor on its taps, so LRP's norm rule is the epsilon rule on P and
 * flat is the flat rule on its taps. Graph layers read `src` (layer indices, -1 = the input). */
typedef enum { REF_DENSE, REF_CONV, REF_RELU, REF_FLATTEN, REF_ROUTE, REF_ADD, REF_IDENTITY, REF_POOL, REF_MAXPOOL, REF_BATCHNORM } RefKind;

#define REF_MAX_SOURCES 8

typedef struct {
    RefKind kind;
    int64_t in, out;      /* elements per sample at the layer's input and output */
    double *M, *S, *b;    /* linear layers: (out x in) matrix, tap mask, expanded bias (zeros if none) */
    /* The raw parameters the layer was built from (libdtd gets these). */
    int has_bias;
    int64_t cout, cin, kh, kw, sh, sw, ph, pw, dh, dw; /* conv; dense: cout = out, cin = in; pools: kernel, stride */
    int64_t pt, pb, pl, pr;                           /* padding per side (conv, pools) */
    int padded;                                       /* built through the _padded entry point */
    int adaptive, include_pad;                        /* REF_POOL: adaptive (kh x kw = output size); divisor */
    int64_t in_c, in_h, in_w, out_h, out_w;           /* conv / pool geometry */
    int64_t out_rank, out_shape[3];                   /* the layer's output shape (per sample) */
    double bn_eps;                                    /* REF_BATCHNORM: w_raw = gamma | beta | mean | var */
    int nsrc;                                         /* route, add: the `from` list */
    int64_t src[REF_MAX_SOURCES];
    double *w_raw, *b_raw;
    int64_t w_count, b_count;
} RefLayer;

#define REF_MAX_LAYERS 16

typedef struct {
    const char *name;
    int64_t in_rank, in_shape[3], in_size, out_size;
    int64_t cur_rank, cur_shape[3]; /* the current output shape while building */
    int count;
    RefLayer layers[REF_MAX_LAYERS];
} RefNet;

/** A rule for one linear layer, as the header defines them. */
typedef struct {
    int kind;          /* DTD_RULE_* */
    double epsilon;    /* epsilon: its epsilon; all other rules: the stabiliser */
    double alpha, beta, gamma;
    int bias_mode;     /* DTD_BIAS_INCLUDE / DTD_BIAS_EXCLUDE */
    double low, high;  /* zbox scalar bounds, used when the arrays are NULL */
    const double *low_per_channel, *high_per_channel; /* conv: one per input channel */
    const double *low_per_element, *high_per_element; /* one per input element */
} RefRule;

/** One ledger entry, as dtd_ledger_entry. */
typedef struct {
    double relevance_out, relevance_in, absorbed_bias, absorbed_stabilizer, dropped;
} RefLedger;

/* Building (parameters are copied; `round_to_float` rounds them as a float32 network stores them). */
void ref_init(RefNet *net, const char *name, int64_t rank, const int64_t *shape);
void ref_dense(RefNet *net, int64_t out, const double *w, const double *b, int round_to_float);
void ref_conv(RefNet *net, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
              int64_t dw, const double *w, const double *b, int round_to_float);
/** conv with a padding of its own per side (built with dtd_network_add_conv2d_padded_*). */
void ref_conv_padded(RefNet *net, int64_t cout, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                     int64_t pr, int64_t dh, int64_t dw, const double *w, const double *b, int round_to_float);
void ref_relu(RefNet *net);
void ref_flatten(RefNet *net);
void ref_identity(RefNet *net);
/** A batch norm after a dense/conv layer, folded into it as DESIGN.md 3b says (s = gamma /
 *  sqrt(var + eps), W' = s W, b' = (b - mean) s + beta); the batch norm's own index is the identity. */
void ref_batchnorm(RefNet *net, const double *gamma, const double *beta, const double *mean, const double *var, double eps,
                   int round_to_float);
void ref_route(RefNet *net, const int64_t *from, int count);
void ref_add(RefNet *net, const int64_t *from, int count);
void ref_avgpool_padded(RefNet *net, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                        int include_pad);
void ref_maxpool_padded(RefNet *net, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr);
void ref_adaptive_avgpool(RefNet *net, int64_t oh, int64_t ow);
/** Elements per sample of layer `layer`'s output (-1: the input). */
int64_t ref_size(const RefNet *net, int64_t layer);
void ref_free(RefNet *net);

/** Activations of one sample: acts[l] is the input of layer l, acts[count] the output. Free with ref_free_acts. */
double **ref_forward(const RefNet *net, const double *x);
void ref_free_acts(const RefNet *net, double **acts);

/** J(x)^T r for one sample (ReLU'(0) = 0). */
void ref_gradient(const RefNet *net, double **acts, const double *r, double *result);

/** LRP of one sample seeded with r; rules[l] for each linear layer l, and for pooling and add
 *  layers DTD_RULE_EPSILON (norm with that stabiliser), DTD_RULE_FLAT or 0 (norm with 1e-6);
 *  ledger may be NULL (else net->count entries). */
void ref_lrp(const RefNet *net, double **acts, const RefRule *rules, const double *r, double *result, RefLedger *ledger);
/** As ref_lrp(), keeping the relevance at every layer boundary: levels[l] at the input of layer
 *  l, levels[count] the seed (arrays from ref_alloc_levels(), freed with ref_free_acts()). */
void ref_lrp_levels(const RefNet *net, double **acts, const RefRule *rules, const double *r, double **levels,
                    RefLedger *ledger);
double **ref_alloc_levels(const RefNet *net);

/** Layers `from`.. of `net` as a network of their own (a view: it shares the layers' arrays, so
 *  never ref_free() it); its input is layer `from`'s input, flat. */
RefNet ref_tail(const RefNet *net, int from);
/** The local model of `reference` (activations from ref_forward()) at x: every ReLU keeps the
 *  reference's on/off state. Activations as ref_forward(); free with ref_free_acts(). */
double **ref_forward_frozen(const RefNet *net, double **reference, const double *x);

/** A mask as dtd_relevance_mask: per channel (count == C of a (C, H, W) output) or per element. */
typedef struct {
    int64_t layer;
    const unsigned char *keep;
    int64_t count;
} RefMask;

/** ref_lrp with masks; at[l] (if `at` and at[l] are non-NULL) receives the relevance at the
 *  output of layer l after its mask: what every consumer sent back, summed; `levels` (may be
 *  NULL) as ref_lrp_levels(). */
void ref_lrp_layers(const RefNet *net, double **acts, const RefRule *rules, const double *r, double *result, RefLedger *ledger,
                    double **at, const RefMask *masks, int nmasks, double **levels);

#endif /* DTD_HARNESS_REFERENCE_H */
