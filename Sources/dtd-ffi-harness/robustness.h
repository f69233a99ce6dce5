/**
 * robustness.h : the fixture and the per-function "recipes" of the robustness sweep.
 *
 * A recipe writes one *valid* call of a function (which must succeed) and tags every argument
 * with its role: network handle, buffer and its count, a size, a layer index, an enum, a
 * parameter, ... sweep.c derives from the roles the perturbations and the status each one must
 * produce (NULL -> DTD_ERROR_NULL_POINTER, count - 1 -> DTD_ERROR_BUFFER_TOO_SMALL, ...). So one
 * short recipe per function yields 10-30 exact checks, and a new function needs one new recipe.
 */
#ifndef DTD_HARNESS_ROBUSTNESS_H
#define DTD_HARNESS_ROBUSTNESS_H

#include "harness.h"

/* ---- The fixture's geometry ---------------------------------------------------------------- */
/* net: input (2, 4, 4) -> 0 conv 2->3 3x3 pad 1 -> 1 relu -> 2 flatten (48) -> 3 dense 48->5
 *      -> 4 relu -> 5 dense 5->3. Rules: epsilon(0) (LRP-0, a root rule) on layers 0, 3, 5. */
#define FX_IN 32
#define FX_LAYERS 6
#define FX_OUT 3
#define FX_ROOT_LAYER 3
#define FX_ROOT_LAYER_IN 48
#define FX_ROOTS 5       /* neurons of layer 3 = roots per sample (LRP-0: one per neuron) */
#define FX_PPS 2         /* points per sample for dtd_audit_points_* */
#define FX_SPP 2         /* seeds per sample for dtd_theory_rank1_csc_* */
#define FX_NONLINEAR 1   /* a layer without weights (relu) */
/* chain (full-backward DTD): input (4) -> 0 dense 4->3 -> 1 relu -> 2 dense 3->2 -> 3 relu. */
#define FX_FB_IN 4
#define FX_FB_OUT 2
#define FX_FB_LAYERS 2   /* dense layers decomposed */
#define FX_FB_UNITS 4    /* unit records per sample: 3 + the target */
#define FX_FB_ROOTS 15   /* root elements per sample: 3 x 4 + 1 x 3 */
#define FX_FB_BOXES 28   /* box elements per sample: 4 x 4 + 4 x 3 */
/* dtd_relevance_lrp_layers_*: record layers 3 (5 outputs) and 1 (3 x 4 x 4); mask layer 1 by channel. */
#define FX_RECORDED (FX_BATCH * (5 + 48))

struct Fixture {
    int live; /* handles exist (built in a child) */
    void *net[2], *rules[2];          /* [dtype]: 0 = float32, 1 = float64 */
    void *twin[2], *twin_rules[2];    /* the same layers, another network (another lineage) */
    void *empty[2];                   /* input (2, 4, 4), no layers */
    void *flat_builder[2];            /* input (6), no layers: add dense 6 -> 4, relu */
    void *dense_builder[2];           /* input (6) + dense 6 -> 4: add batch-norm (4) */
    void *image_builder[2];           /* input (2, 5, 5), no layers: conv, pools, flatten */
    void *victim_net, *victim_rules;  /* handed to the _destroy recipes */
    void *dead_net, *dead_rules;      /* created and destroyed: a dangling handle */

    /* Element buffers, [dtype], each allocated as doubles so one size fits both types. */
    void *x[2], *seed[2], *output[2], *relevance[2], *explanation[2], *points[2], *audit_points[2];
    void *root[2], *seeds[2], *dense_w[2], *dense_b[2], *conv_w[2], *conv_b[2], *bn[2][4];
    void *low[2], *high[2];
    /* Full-backward DTD: the dense/ReLU chain, its inputs, outputs and query (section 8). */
    void *chain[2];
    void *chain_x[2], *fb_relevance[2], *fb_slope[2], *fb_roots[2], *fb_boxes[2];
    dtd_full_backward_query fb_query;
    dtd_full_backward_sizes fb_sizes;
    dtd_full_backward_unit fb_units[FX_BATCH * FX_FB_UNITS];
    dtd_full_backward_sample fb_samples[FX_BATCH];
    dtd_full_backward_region fb_regions[FX_BATCH * FX_FB_LAYERS];

    /* Graph layers and relevance at layers: route/add source lists, records, a channel mask. */
    int64_t route_from[4], add_from[4], record_layers[4];
    void *recorded[2];
    uint8_t keep[8];
    dtd_relevance_mask masks[2];

    dtd_ledger_entry ledger[FX_BATCH * FX_LAYERS];
    dtd_root_info info[FX_BATCH * FX_ROOTS];
    dtd_audit_record records[FX_BATCH * FX_ROOTS];
    dtd_audit_summary summary;
    dtd_root_query query;
    int64_t targets[FX_BATCH];
    int64_t shape_image[3], shape_flat[1];
    int64_t shape_out[8];
    int64_t out_i64;
    int32_t out_i32;
    void *out_handle;
    double distances[FX_BATCH];
    double csc[FX_LAYERS + 1];
    double f0[FX_BATCH]; /* f_0(x) per sample (live fixtures) */
};

/* ---- Recipes -------------------------------------------------------------------------------- */

typedef enum {
    ROLE_NETWORK,        /* a network handle */
    ROLE_RULES,          /* a rule-set handle */
    ROLE_OUT_HANDLE,     /* receives a new handle */
    ROLE_BUFFER,         /* element buffer; the next argument is its ROLE_COUNT unless BUF_UNPAIRED */
    ROLE_COUNT,          /* element count of the preceding buffer */
    ROLE_OUT_VALUE,      /* required out-pointer to one value */
    ROLE_QUERY,          /* const dtd_root_query * */
    ROLE_SUMMARY,        /* optional dtd_audit_summary * */
    ROLE_SIZE,           /* a size >= `min` (batch, features, kernel, stride, ...) */
    ROLE_PADDING,        /* a size >= 0 */
    ROLE_LAYER,          /* a layer index in [0, limit) */
    ROLE_LAYER_OR_INPUT, /* a layer index in [-1, limit) */
    ROLE_TARGET,         /* an output index in [0, limit) */
    ROLE_ENUM,           /* one of `valid` */
    ROLE_FLAG,           /* any int32 (nonzero = true) */
    ROLE_PARAM,          /* a double parameter; PARAM_* flags give its domain */
    ROLE_BYTES,          /* a byte count >= 0 where every such value is valid (a cap; 0 = none) */
    ROLE_OPTIONAL_OUT,   /* an out-pointer that may be NULL */
    ROLE_FB_QUERY,       /* const dtd_full_backward_query * (FBQ_* flags) */
    ROLE_LIST_COUNT,     /* entries of the preceding list (route/add sources, records, masks): >= `min`;
                            not a capacity, so a count above the list's length is never probed */
} Role;

/* Param.flags */
#define BUF_OPTIONAL 0x01u  /* may be NULL with a count of 0 */
#define BUF_EXACT 0x02u     /* the count must equal the need (layer parameters, bounds, roots) */
#define BUF_UNPAIRED 0x04u  /* no count argument follows */
#define SIZE_SHAPED 0x08u   /* value - 1 breaks the shapes: DTD_ERROR_SHAPE_MISMATCH */
#define LAYER_LINEAR 0x10u  /* must name a dense/conv layer */
#define PARAM_NONNEG 0x20u  /* >= 0 and finite */
#define PARAM_LOW 0x40u     /* finite, <= `pair` (the high bound) */
#define PARAM_HIGH 0x80u    /* finite, >= `pair` (the low bound) */
#define PARAM_ALPHA 0x100u  /* >= 0, alpha - beta == 1 */
#define PARAM_BETA 0x200u   /* >= 0, alpha - beta == 1 */
#define SIZE_SCALES 0x400u  /* value + 1 outgrows the buffers sized by it: DTD_ERROR_BUFFER_TOO_SMALL */
#define FBQ_READS_INPUT 0x800u /* ROLE_FB_QUERY: the call checks the input against input_lower */

typedef struct {
    Role role;
    char ctype[48];        /* the C type the recipe means; compared with the table */
    Arg value;             /* the valid value */
    unsigned flags;
    dtd_status too_small;  /* ROLE_COUNT: status for a count below the need */
    int64_t min;           /* ROLE_SIZE, ROLE_LIST_COUNT: smallest valid value */
    int64_t limit;         /* ROLE_LAYER*: layer count; ROLE_TARGET: output size */
    unsigned nonlinear_expect; /* ROLE_LAYER + LAYER_LINEAR: statuses for a layer without weights */
    int64_t valid[8];      /* ROLE_ENUM */
    int nvalid;
    double pair;           /* PARAM_LOW / PARAM_HIGH: the other bound */
} Param;

/* Call.flags */
#define CALL_DESTROY_NETWORK 0x1u
#define CALL_DESTROY_RULES 0x2u
#define CALL_QUERY_PLACEMENT_IGNORED 0x4u /* the function documents that it ignores query placement and flags */

typedef struct {
    char name[96];
    int dtype;             /* 0 / 1 for _f32 / _f64 functions, -1 otherwise */
    Param p[HARNESS_MAX_PARAMS];
    int n;
    unsigned flags;
    unsigned empty_expect; /* statuses for an empty network in place of the network; 0 = no such variant */
    int query_layers, query_outputs, query_neurons; /* limits for the query-field perturbations */
    int overflow;          /* a recipe added more than HARNESS_MAX_PARAMS arguments */
} Call;

typedef void (*RecipeFn)(Call *c, Fixture *fx, int dtype);

/** The recipe of table function `name`, or NULL. Untyped recipes are written for float64. */
RecipeFn recipe_for(const char *name);
/** Fills `c` from the recipe of `name` on fixture `fx`. Returns 0, or -1 if there is no recipe. */
int recipe_call(const char *name, Fixture *fx, Call *c);
/** Every recipe's function name (for the check that no recipe is stale). */
int recipe_names(const char **names, int capacity);

/** Element size in bytes of dtype 0 / 1. */
#define ELEM_SIZE(d) ((d) == 0 ? sizeof(float) : sizeof(double))
/** "const float *" / "double *" ... */
const char *elem_type(int dtype, int is_const);
/** Stores `value` as element `i` of a float32 (d = 0) or float64 (d = 1) buffer. */
void elem_set(void *buffer, int dtype, int64_t i, double value);
double elem_get(const void *buffer, int dtype, int64_t i);

#endif /* DTD_HARNESS_ROBUSTNESS_H */
