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

typedef enum { REF_DENSE, REF_CONV, REF_RELU, REF_FLATTEN } RefKind;

typedef struct {
    RefKind kind;
    int64_t in, out;      /* elements per sample at the layer's input and output */
    double *M, *S, *b;    /* linear layers: (out x in) matrix, tap mask, expanded bias (zeros if none) */
    /* The raw parameters the layer was built from (libdtd gets these). */
    int has_bias;
    int64_t cout, cin, kh, kw, sh, sw, ph, pw, dh, dw; /* conv; dense: cout = out, cin = in */
    int64_t in_c, in_h, in_w, out_h, out_w;           /* conv geometry */
    double *w_raw, *b_raw;
    int64_t w_count, b_count;
} RefLayer;

#define REF_MAX_LAYERS 12

typedef struct {
    const char *name;
    int64_t in_rank, in_shape[3], in_size, out_size;
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
void ref_relu(RefNet *net);
void ref_flatten(RefNet *net);
void ref_free(RefNet *net);

/** Activations of one sample: acts[l] is the input of layer l, acts[count] the output. Free with ref_free_acts. */
double **ref_forward(const RefNet *net, const double *x);
void ref_free_acts(const RefNet *net, double **acts);

/** J(x)^T r for one sample (ReLU'(0) = 0). */
void ref_gradient(const RefNet *net, double **acts, const double *r, double *result);

/** LRP of one sample seeded with r; rules[l] for each linear layer l; ledger may be NULL
 *  (else net->count entries). */
void ref_lrp(const RefNet *net, double **acts, const RefRule *rules, const double *r, double *result, RefLedger *ledger);

#endif /* DTD_HARNESS_REFERENCE_H */
