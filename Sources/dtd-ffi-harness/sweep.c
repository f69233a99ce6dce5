/**
 * sweep.c : the robustness sweeps. Nothing a caller passes may crash the process (Include/dtd.h, conventions).
 *
 * 1. sweep_null_arguments(): every function of the table, driven by its signature alone, with
 *    every pointer NULL and every integer 0, then -1, then the largest value, then the smallest
 *    (doubles 0, -1, DBL_MAX, NaN). A fallible function must fail with a documented code and a
 *    message; the others must return (a `const char *` function a non-NULL string).
 * 2. sweep_recipes(): every fallible or destroying function from its recipe (recipes.c): the
 *    valid call must succeed; then one argument at a time is perturbed according to its role,
 *    and the call must give the status the header documents for that mistake.
 * Each call runs in its own child with a fresh fixture (isolate.c), so one crash is one failure.
 */
#include "robustness.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. Signature-only sweep --------------------------------------------------------------- */

typedef struct {
    Function *f;
    int variant; /* 0: zeros, 1: -1, 2: largest, 3: smallest / NaN */
} NullJob;

static const char *const null_variant_text[] = {
    "all pointers NULL, integers 0, doubles 0",
    "all pointers NULL, integers -1, doubles -1",
    "all pointers NULL, integers INT32_MAX/INT64_MAX, doubles DBL_MAX",
    "all pointers NULL, integers INT32_MIN/INT64_MIN, doubles NaN",
};

/** The statuses of the few functions whose NULL / 0 / extreme arguments are a valid call (0 for
 *  the rest, which must fail). dtd_set_max_scratch_bytes(): a NULL out_previous is allowed and
 *  every cap >= 0 is valid, so 0 and INT64_MAX succeed and -1 and INT64_MIN are DTD_ERROR_SIZE. */
static unsigned null_sweep_valid(const char *name, int variant) {
    if (strcmp(name, "dtd_set_max_scratch_bytes") == 0) return (variant == 0 || variant == 2) ? ST(DTD_OK) : ST(DTD_ERROR_SIZE);
    return 0;
}

static void null_job(void *ctx) {
    NullJob *job = ctx;
    Function *f = job->f;
    Arg args[HARNESS_MAX_PARAMS];
    for (int i = 0; i < f->nparams; i++) {
        switch (f->kinds[i]) {
        case KIND_POINTER: args[i] = AP(NULL); break;
        case KIND_I32: {
            const int32_t v[] = {0, -1, INT32_MAX, INT32_MIN};
            args[i] = AI32(v[job->variant]);
            break;
        }
        case KIND_I64: {
            const int64_t v[] = {0, -1, INT64_MAX, INT64_MIN};
            args[i] = AI64(v[job->variant]);
            break;
        }
        case KIND_F64: {
            const double v[] = {0.0, -1.0, DBL_MAX, NAN};
            args[i] = AF64(v[job->variant]);
            break;
        }
        case KIND_VOID: args[i] = AP(NULL); break;
        }
    }
    const char *what = null_variant_text[job->variant];
    if (f->ret_kind == KIND_I32 && strcmp(f->ret, "dtd_status") == 0) {
        dtd_status s = dcall(f->name, f->nparams, args);
        if (s == NO_CALL) return;
        unsigned valid = null_sweep_valid(f->name, job->variant);
        check(valid ? ((valid & ST(s)) != 0) : (s != DTD_OK && s > 0 && s < DTD_ERROR_INTERNAL), f->name, what,
              "returned %s, expected %s", status_name(s), valid ? mask_text(valid) : "a documented error");
    } else if (f->ret_kind == KIND_POINTER) {
        const char *text = scall(f->name, f->nparams, args);
        check(text != NULL, f->name, what, "returned NULL");
        if (text && strcmp(f->name, "dtd_status_string") == 0)
            check(text[0] != '\0', f->name, what, "returned an empty string");
    } else if (f->ret_kind == KIND_VOID) {
        check(vcall(f->name, f->nparams, args) == 0, f->name, what, "could not be called");
    } else {
        Value out;
        char why[300];
        check(invoke(f, args, f->nparams, &out, why, sizeof why) == 0, f->name, what, "%s", why);
    }
}

void sweep_null_arguments(void) {
    for (int i = 0; i < g_table.count; i++) {
        Function *f = &g_table.items[i];
        if (!f->callable) continue;
        int variants = f->nparams == 0 ? 1 : 4; /* without parameters the four are the same call */
        for (int v = 0; v < variants; v++) {
            NullJob job = {f, v};
            isolated(f->name, f->nparams ? null_variant_text[v] : "call without arguments", null_job, &job);
        }
    }
}

/* ---- 2. Recipe sweep: planning -------------------------------------------------------------- */

typedef enum {
    SUB_NONE,
    SUB_DEAD_NETWORK,        /* a destroyed network handle */
    SUB_OTHER_DTYPE_NETWORK, /* the same fixture network, of the other dtype */
    SUB_TWIN_NETWORK,        /* an identical network that the rule set was not made for */
    SUB_EMPTY_NETWORK,       /* a network without layers */
    SUB_DEAD_RULES,
    SUB_TWIN_RULES,          /* rules made for the twin network */
    SUB_OTHER_DTYPE_RULES,
    SUB_QUERY_FIELD,         /* one field of the dtd_root_query changed */
    SUB_FB_QUERY_FIELD,      /* one field of the dtd_full_backward_query changed */
} Substitution;

typedef enum { QF_LAYER, QF_TARGET, QF_PLACEMENT, QF_FLAGS, QF_TOL, QF_BEGIN, QF_END,
               FBQ_TARGET, FBQ_METHOD, FBQ_DIRECTIONS, FBQ_LOWER } QueryField;

typedef struct {
    char what[200];
    int n;                   /* arguments replaced (0-2) */
    int index[2];
    Arg value[2];
    Substitution sub;
    int sub_index;           /* the argument a substitution replaces */
    QueryField field;
    int64_t field_int;
    double field_double;
    unsigned expect;         /* acceptable statuses */
} Variant;

#define MAX_VARIANTS 160
#define REJECT_HUGE                                                                                                     \
    (ST(DTD_ERROR_SIZE) | ST(DTD_ERROR_OVERFLOW) | ST(DTD_ERROR_BUFFER_TOO_SMALL) | ST(DTD_ERROR_SHAPE_MISMATCH) |     \
     ST(DTD_ERROR_OUT_OF_RANGE) | ST(DTD_ERROR_INVALID_ARGUMENT))

typedef struct {
    Variant *v;
    int count;
    int dropped;
} Plan;

static Variant *plan_add(Plan *plan, unsigned expect, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static Variant *plan_add(Plan *plan, unsigned expect, const char *fmt, ...) {
    static Variant spare;
    if (plan->count == MAX_VARIANTS) {
        plan->dropped++;
        return &spare;
    }
    Variant *v = &plan->v[plan->count++];
    memset(v, 0, sizeof *v);
    v->expect = expect;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->what, sizeof v->what, fmt, ap);
    va_end(ap);
    return v;
}

static void set_arg(Variant *v, int index, Arg value) {
    v->index[v->n] = index;
    v->value[v->n] = value;
    v->n++;
}

static int has_role(const Call *c, Role role) {
    for (int i = 0; i < c->n; i++)
        if (c->p[i].role == role) return 1;
    return 0;
}

static void plan_int(Plan *plan, int index, Arg base, int64_t value, unsigned expect, const char *label) {
    Arg a = base;
    if (a.kind == KIND_I32) {
        if (value < INT32_MIN || value > INT32_MAX) return;
        a.v.i32 = (int32_t)value;
    } else {
        a.v.i64 = value;
    }
    Variant *v = plan_add(plan, expect, "argument %d = %s", index + 1, label);
    set_arg(v, index, a);
}

static const char *int_label(int64_t value) {
    static char ring[8][32];
    static int next;
    char *b = ring[next++ % 8];
    if (value == INT64_MAX) return "INT64_MAX";
    if (value == INT64_MIN) return "INT64_MIN";
    if (value == INT32_MAX) return "INT32_MAX";
    if (value == INT32_MIN) return "INT32_MIN";
    snprintf(b, 32, "%lld", (long long)value);
    return b;
}

static void plan_double(Plan *plan, int index, double value, unsigned expect, const char *label) {
    Variant *v = plan_add(plan, expect, "argument %d = %s", index + 1, label);
    set_arg(v, index, AF64(value));
}

static void plan_query(Plan *plan, int index, QueryField field, int64_t i, double d, unsigned expect, const char *label) {
    Variant *v = plan_add(plan, expect, "argument %d (query): %s", index + 1, label);
    v->sub = SUB_QUERY_FIELD;
    v->sub_index = index;
    v->field = field;
    v->field_int = i;
    v->field_double = d;
}

static void plan_fb_query(Plan *plan, int index, QueryField field, int64_t i, double d, unsigned expect, const char *label) {
    Variant *v = plan_add(plan, expect, "argument %d (full-backward query): %s", index + 1, label);
    v->sub = SUB_FB_QUERY_FIELD;
    v->sub_index = index;
    v->field = field;
    v->field_int = i;
    v->field_double = d;
}

static void plan_sub(Plan *plan, int index, Substitution sub, unsigned expect, const char *label) {
    Variant *v = plan_add(plan, expect, "argument %d = %s", index + 1, label);
    v->sub = sub;
    v->sub_index = index;
}

static void plan_call(const Call *c, Plan *plan) {
    int typed_fn = c->dtype >= 0;
    int with_rules = has_role(c, ROLE_RULES), with_network = has_role(c, ROLE_NETWORK);
    if (c->flags & (CALL_DESTROY_NETWORK | CALL_DESTROY_RULES)) {
        plan_add(plan, 0, "a live handle");
        set_arg(plan_add(plan, 0, "NULL (a harmless no-op)"), 0, AP(NULL));
        plan_sub(plan, 0, (c->flags & CALL_DESTROY_NETWORK) ? SUB_DEAD_NETWORK : SUB_DEAD_RULES, 0,
                 "an already-destroyed handle");
        return;
    }
    plan_add(plan, ST(DTD_OK), "the valid call");
    for (int i = 0; i < c->n; i++) {
        const Param *p = &c->p[i];
        Arg base = p->value;
        switch (p->role) {
        case ROLE_NETWORK:
            set_arg(plan_add(plan, ST(DTD_ERROR_NULL_POINTER), "argument %d (network) = NULL", i + 1), i, AP(NULL));
            plan_sub(plan, i, SUB_DEAD_NETWORK, ST_ANY_ERROR, "a destroyed network handle");
            if (typed_fn)
                plan_sub(plan, i, SUB_OTHER_DTYPE_NETWORK,
                         with_rules ? ST(DTD_ERROR_DTYPE) | ST(DTD_ERROR_NETWORK_MISMATCH) : ST(DTD_ERROR_DTYPE),
                         "a network of the other dtype (wrong _f32/_f64 entry point)");
            if (with_rules)
                plan_sub(plan, i, SUB_TWIN_NETWORK, ST(DTD_ERROR_NETWORK_MISMATCH),
                         "an identical network the rule set was not made for");
            if (c->empty_expect) plan_sub(plan, i, SUB_EMPTY_NETWORK, c->empty_expect, "a network without layers");
            break;
        case ROLE_RULES:
            set_arg(plan_add(plan, ST(DTD_ERROR_NULL_POINTER), "argument %d (rules) = NULL", i + 1), i, AP(NULL));
            plan_sub(plan, i, SUB_DEAD_RULES, ST_ANY_ERROR, "a destroyed rule-set handle");
            if (with_network)
                plan_sub(plan, i, SUB_TWIN_RULES, ST(DTD_ERROR_NETWORK_MISMATCH), "rules made for another (identical) network");
            if (typed_fn)
                plan_sub(plan, i, SUB_OTHER_DTYPE_RULES,
                         with_network ? ST(DTD_ERROR_DTYPE) | ST(DTD_ERROR_NETWORK_MISMATCH) : ST(DTD_ERROR_DTYPE),
                         "rules of the other dtype");
            break;
        case ROLE_OUT_HANDLE:
        case ROLE_OUT_VALUE:
            set_arg(plan_add(plan, ST(DTD_ERROR_NULL_POINTER), "argument %d (out-pointer) = NULL", i + 1), i, AP(NULL));
            break;
        case ROLE_BUFFER:
            set_arg(plan_add(plan, ST(DTD_ERROR_NULL_POINTER), "argument %d (buffer) = NULL%s", i + 1,
                             (p->flags & BUF_UNPAIRED) ? "" : " with a nonzero count"),
                    i, AP(NULL));
            if ((p->flags & BUF_OPTIONAL) && !(p->flags & BUF_UNPAIRED)) {
                Variant *v = plan_add(plan, ST(DTD_OK), "argument %d (optional buffer) = NULL with count 0", i + 1);
                set_arg(v, i, AP(NULL));
                set_arg(v, i + 1, AI64(0));
            }
            break;
        case ROLE_COUNT: {
            int64_t need = base.v.i64;
            plan_int(plan, i, base, -1, ST(DTD_ERROR_SIZE), "-1 (negative count)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_SIZE), "INT64_MIN (negative count)");
            if (need > 0) plan_int(plan, i, base, 0, ST(p->too_small), "0 (count below the need)");
            if (need - 1 > 0) plan_int(plan, i, base, need - 1, ST(p->too_small), "need - 1 (one element too few)");
            if (p->flags & BUF_EXACT) {
                plan_int(plan, i, base, need + 1, ST(p->too_small), "need + 1 (count must fit the shape exactly)");
                plan_int(plan, i, base, INT64_MAX, ST(p->too_small), "INT64_MAX (count must fit the shape exactly)");
            } else {
                plan_int(plan, i, base, INT64_MAX, ST(DTD_OK), "INT64_MAX (larger than needed is allowed; only the prefix is used)");
            }
            break;
        }
        case ROLE_QUERY:
            set_arg(plan_add(plan, ST(DTD_ERROR_NULL_POINTER), "argument %d (query) = NULL", i + 1), i, AP(NULL));
            plan_query(plan, i, QF_LAYER, -1, 0, ST(DTD_ERROR_LAYER_INDEX), "layer = -1");
            plan_query(plan, i, QF_LAYER, c->query_layers, 0, ST(DTD_ERROR_LAYER_INDEX), "layer = layer count");
            plan_query(plan, i, QF_LAYER, INT64_MAX, 0, ST(DTD_ERROR_LAYER_INDEX), "layer = INT64_MAX");
            plan_query(plan, i, QF_LAYER, FX_NONLINEAR, 0, ST(DTD_ERROR_RULE) | ST(DTD_ERROR_LAYER_INDEX),
                       "layer = a relu layer (no weights)");
            plan_query(plan, i, QF_TARGET, -1, 0, ST(DTD_ERROR_OUT_OF_RANGE), "target = -1");
            plan_query(plan, i, QF_TARGET, c->query_outputs, 0, ST(DTD_ERROR_OUT_OF_RANGE), "target = output size");
            if (c->flags & CALL_QUERY_PLACEMENT_IGNORED) {
                plan_query(plan, i, QF_PLACEMENT, 0, 0, ST(DTD_OK), "placement = 0 (documented as ignored)");
                plan_query(plan, i, QF_FLAGS, 0x40, 0, ST(DTD_OK), "flags = 0x40 (documented as ignored)");
            } else {
                unsigned bad = ST(DTD_ERROR_OUT_OF_RANGE) | ST(DTD_ERROR_INVALID_ARGUMENT);
                plan_query(plan, i, QF_PLACEMENT, 0, 0, bad, "placement = 0 (unknown)");
                plan_query(plan, i, QF_PLACEMENT, 3, 0, bad, "placement = 3 (unknown)");
                plan_query(plan, i, QF_FLAGS, 0x40, 0, bad, "flags = 0x40 (unknown bit)");
            }
            plan_query(plan, i, QF_TOL, 0, 0.0, ST(DTD_ERROR_OUT_OF_RANGE), "tol = 0");
            plan_query(plan, i, QF_TOL, 0, -1.0, ST(DTD_ERROR_OUT_OF_RANGE), "tol = -1");
            plan_query(plan, i, QF_TOL, 0, NAN, ST(DTD_ERROR_OUT_OF_RANGE) | ST(DTD_ERROR_NON_FINITE), "tol = NaN");
            plan_query(plan, i, QF_BEGIN, -1, 0, ST(DTD_ERROR_OUT_OF_RANGE), "neuron_begin = -1");
            plan_query(plan, i, QF_BEGIN, c->query_neurons, 0, ST(DTD_ERROR_OUT_OF_RANGE), "neuron_begin = neuron_end");
            plan_query(plan, i, QF_END, c->query_neurons + 1, 0, ST(DTD_ERROR_OUT_OF_RANGE), "neuron_end = layer size + 1");
            plan_query(plan, i, QF_END, INT64_MAX, 0, ST(DTD_ERROR_OUT_OF_RANGE), "neuron_end = INT64_MAX");
            break;
        case ROLE_SUMMARY:
            set_arg(plan_add(plan, ST(DTD_OK), "argument %d (optional summary) = NULL", i + 1), i, AP(NULL));
            break;
        case ROLE_OPTIONAL_OUT:
            set_arg(plan_add(plan, ST(DTD_OK), "argument %d (optional out-pointer) = NULL", i + 1), i, AP(NULL));
            break;
        case ROLE_BYTES:
            plan_int(plan, i, base, 0, ST(DTD_OK), "0 (none)");
            plan_int(plan, i, base, INT64_MAX, ST(DTD_OK), "INT64_MAX (any size is valid)");
            plan_int(plan, i, base, -1, ST(DTD_ERROR_SIZE), "-1 (negative)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_SIZE), "INT64_MIN (negative)");
            break;
        case ROLE_FB_QUERY: {
            unsigned input_checked = (p->flags & FBQ_READS_INPUT) ? ST(DTD_ERROR_INVALID_ARGUMENT) : ST(DTD_OK);
            set_arg(plan_add(plan, ST(DTD_ERROR_NULL_POINTER), "argument %d (query) = NULL", i + 1), i, AP(NULL));
            plan_fb_query(plan, i, FBQ_TARGET, -1, 0, ST(DTD_ERROR_OUT_OF_RANGE), "target = -1");
            plan_fb_query(plan, i, FBQ_TARGET, FX_FB_OUT, 0, ST(DTD_ERROR_OUT_OF_RANGE), "target = output size");
            plan_fb_query(plan, i, FBQ_TARGET, INT64_MAX, 0, ST(DTD_ERROR_OUT_OF_RANGE), "target = INT64_MAX");
            plan_fb_query(plan, i, FBQ_METHOD, 0, 0, ST(DTD_ERROR_INVALID_ARGUMENT), "method = 0 (unknown)");
            plan_fb_query(plan, i, FBQ_METHOD, 4, 0, ST(DTD_ERROR_INVALID_ARGUMENT), "method = 4 (unknown)");
            plan_fb_query(plan, i, FBQ_METHOD, -1, 0, ST(DTD_ERROR_INVALID_ARGUMENT), "method = -1 (unknown)");
            plan_fb_query(plan, i, FBQ_METHOD, DTD_FULL_BACKWARD_BISECT, 0, ST(DTD_OK), "method = BISECT");
            plan_fb_query(plan, i, FBQ_METHOD, DTD_FULL_BACKWARD_EXACT, 0, ST(DTD_OK) | ST(DTD_ERROR_UNSUPPORTED),
                          "method = EXACT (DTD_ERROR_UNSUPPORTED where CLP is not installed)");
            plan_fb_query(plan, i, FBQ_DIRECTIONS, -1, 0, ST(DTD_ERROR_OUT_OF_RANGE), "directions = -1");
            plan_fb_query(plan, i, FBQ_DIRECTIONS, (1 << 20) + 1, 0, ST(DTD_ERROR_OUT_OF_RANGE), "directions = 2^20 + 1");
            plan_fb_query(plan, i, FBQ_DIRECTIONS, INT32_MIN, 0, ST(DTD_ERROR_OUT_OF_RANGE), "directions = INT32_MIN");
            plan_fb_query(plan, i, FBQ_DIRECTIONS, 0, 0, ST(DTD_OK), "directions = 0 (the study's 50)");
            plan_fb_query(plan, i, FBQ_LOWER, 0, NAN, ST(DTD_ERROR_INVALID_ARGUMENT), "input_lower = NaN");
            plan_fb_query(plan, i, FBQ_LOWER, 0, INFINITY, ST(DTD_ERROR_INVALID_ARGUMENT), "input_lower = +infinity");
            plan_fb_query(plan, i, FBQ_LOWER, 0, -INFINITY, ST(DTD_OK), "input_lower = -infinity (no bound)");
            plan_fb_query(plan, i, FBQ_LOWER, 0, 10.0, input_checked, "input_lower = 10 (above the inputs)");
            break;
        }
        case ROLE_SIZE:
            plan_int(plan, i, base, 0, ST(DTD_ERROR_SIZE), "0 (size must be positive)");
            plan_int(plan, i, base, -1, ST(DTD_ERROR_SIZE), "-1 (negative size)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_SIZE), "INT64_MIN (negative size)");
            plan_int(plan, i, base, INT64_MAX, REJECT_HUGE, "INT64_MAX (huge size)");
            plan_int(plan, i, base, INT64_MAX / 2 + 1, REJECT_HUGE, "2^62 (huge size)");
            if (p->min == 2)
                plan_int(plan, i, base, 1, ST(DTD_ERROR_SIZE) | ST(DTD_ERROR_OUT_OF_RANGE) | ST(DTD_ERROR_INVALID_ARGUMENT),
                         "1 (below the minimum of 2)");
            if (p->flags & SIZE_SHAPED) {
                if (base.v.i64 - 1 >= p->min)
                    plan_int(plan, i, base, base.v.i64 - 1, ST(DTD_ERROR_SHAPE_MISMATCH), "value - 1 (shapes no longer fit)");
                plan_int(plan, i, base, base.v.i64 + 1, ST(DTD_ERROR_SHAPE_MISMATCH), "value + 1 (shapes no longer fit)");
            }
            if (p->flags & SIZE_SCALES)
                plan_int(plan, i, base, base.v.i64 + 1, ST(DTD_ERROR_BUFFER_TOO_SMALL), "value + 1 (buffers sized for value)");
            break;
        case ROLE_LIST_COUNT:
            plan_int(plan, i, base, -1, ST(DTD_ERROR_SIZE), "-1 (negative count)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_SIZE), "INT64_MIN (negative count)");
            plan_int(plan, i, base, 0, p->min > 0 ? ST(DTD_ERROR_SIZE) : ST(DTD_OK),
                     p->min > 0 ? "0 (an empty list)" : "0 (an empty list is allowed)");
            /* Beyond any list a caller could hold: rejected before a single entry is read. */
            plan_int(plan, i, base, INT64_MAX, REJECT_HUGE, "INT64_MAX (huge count)");
            plan_int(plan, i, base, INT64_MAX / 2 + 1, REJECT_HUGE, "2^62 (huge count)");
            break;
        case ROLE_PADDING:
            plan_int(plan, i, base, -1, ST(DTD_ERROR_SIZE) | ST(DTD_ERROR_INVALID_ARGUMENT), "-1 (negative padding)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_SIZE) | ST(DTD_ERROR_INVALID_ARGUMENT), "INT64_MIN (negative padding)");
            plan_int(plan, i, base, INT64_MAX, REJECT_HUGE, "INT64_MAX (huge padding)");
            plan_int(plan, i, base, INT64_MAX / 2 + 1, REJECT_HUGE, "2^62 (huge padding; 2 * padding overflows)");
            break;
        case ROLE_LAYER:
            plan_int(plan, i, base, -1, ST(DTD_ERROR_LAYER_INDEX), "-1 (layer index out of range)");
            plan_int(plan, i, base, p->limit, ST(DTD_ERROR_LAYER_INDEX), "layer count (layer index out of range)");
            plan_int(plan, i, base, INT64_MAX, ST(DTD_ERROR_LAYER_INDEX), "INT64_MAX (layer index out of range)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_LAYER_INDEX), "INT64_MIN (layer index out of range)");
            if (p->flags & LAYER_LINEAR)
                plan_int(plan, i, base, FX_NONLINEAR, p->nonlinear_expect, "a relu layer (no weights for a rule)");
            break;
        case ROLE_LAYER_OR_INPUT:
            plan_int(plan, i, base, -1, ST(DTD_OK), "-1 (the network input)");
            plan_int(plan, i, base, -2, ST(DTD_ERROR_LAYER_INDEX), "-2 (layer index out of range)");
            plan_int(plan, i, base, p->limit, ST(DTD_ERROR_LAYER_INDEX), "layer count (layer index out of range)");
            plan_int(plan, i, base, INT64_MAX, ST(DTD_ERROR_LAYER_INDEX), "INT64_MAX (layer index out of range)");
            plan_int(plan, i, base, INT64_MIN, ST(DTD_ERROR_LAYER_INDEX), "INT64_MIN (layer index out of range)");
            break;
        case ROLE_TARGET:
            plan_int(plan, i, base, -1, ST(DTD_ERROR_OUT_OF_RANGE), "-1 (target out of range)");
            plan_int(plan, i, base, p->limit, ST(DTD_ERROR_OUT_OF_RANGE), "output size (target out of range)");
            plan_int(plan, i, base, INT64_MAX, ST(DTD_ERROR_OUT_OF_RANGE), "INT64_MAX (target out of range)");
            break;
        case ROLE_ENUM: {
            const int64_t candidates[] = {0, -1, 2, 3, 6, 99, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
            for (size_t k = 0; k < sizeof candidates / sizeof candidates[0]; k++) {
                int valid = 0;
                for (int j = 0; j < p->nvalid; j++) valid |= p->valid[j] == candidates[k];
                if (!valid)
                    plan_int(plan, i, base, candidates[k], ST(DTD_ERROR_INVALID_ARGUMENT), int_label(candidates[k]));
            }
            break;
        }
        case ROLE_FLAG:
            plan_int(plan, i, base, 0, ST(DTD_OK), "0");
            plan_int(plan, i, base, -1, ST(DTD_OK), "-1 (any nonzero is true)");
            plan_int(plan, i, base, INT32_MAX, ST(DTD_OK), "INT32_MAX (any nonzero is true)");
            break;
        case ROLE_PARAM: {
            unsigned nonfinite = ST(DTD_ERROR_NON_FINITE);
            unsigned either = ST(DTD_ERROR_NON_FINITE) | ST(DTD_ERROR_INVALID_ARGUMENT);
            unsigned invalid = ST(DTD_ERROR_INVALID_ARGUMENT);
            if (p->flags & PARAM_NONNEG) {
                plan_double(plan, i, -1.0, invalid, "-1 (must be >= 0)");
                plan_double(plan, i, -DBL_MIN, invalid, "-DBL_MIN (must be >= 0)");
                plan_double(plan, i, 0.0, ST(DTD_OK), "0 (allowed)");
                plan_double(plan, i, NAN, nonfinite, "NaN");
                plan_double(plan, i, INFINITY, nonfinite, "+infinity");
                plan_double(plan, i, -INFINITY, either, "-infinity");
                plan_double(plan, i, DBL_MAX, ST(DTD_OK) | ST_ANY_ERROR, "DBL_MAX (finite; any documented outcome)");
            }
            if (p->flags & (PARAM_LOW | PARAM_HIGH)) {
                plan_double(plan, i, NAN, nonfinite, "NaN");
                plan_double(plan, i, INFINITY, (p->flags & PARAM_LOW) ? either : nonfinite, "+infinity");
                plan_double(plan, i, -INFINITY, (p->flags & PARAM_HIGH) ? either : nonfinite, "-infinity");
                if (p->flags & PARAM_LOW) plan_double(plan, i, p->pair + 1.0, invalid, "high + 1 (low > high)");
                if (p->flags & PARAM_HIGH) plan_double(plan, i, p->pair - 1.0, invalid, "low - 1 (high < low)");
            }
            if (p->flags & (PARAM_ALPHA | PARAM_BETA)) {
                plan_double(plan, i, -1.0, invalid, "-1 (must be >= 0)");
                plan_double(plan, i, base.v.f64 + 0.5, invalid, "value + 0.5 (alpha - beta != 1)");
                plan_double(plan, i, NAN, either, "NaN");
                plan_double(plan, i, INFINITY, either, "+infinity");
            }
            break;
        }
        }
    }
}

/* ---- 2. Recipe sweep: running one variant in a child ---------------------------------------- */

typedef struct {
    const char *name;
    const Variant *variant;
} VariantJob;

/** The handle of the other dtype that plays the same part in the fixture as `handle`. */
static void *other_dtype(Fixture *fx, void *handle) {
    void **groups[] = {fx->net, fx->rules, fx->twin, fx->twin_rules, fx->empty, fx->flat_builder, fx->dense_builder,
                       fx->image_builder, fx->chain};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (int d = 0; d < 2; d++)
            if (groups[g][d] == handle) return groups[g][1 - d];
    return NULL;
}

static void apply_query_field(Fixture *fx, const Variant *v) {
    dtd_root_query *q = &fx->query;
    switch (v->field) {
    case QF_LAYER: q->layer = v->field_int; break;
    case QF_TARGET: q->target = v->field_int; break;
    case QF_PLACEMENT: q->placement = (dtd_placement)v->field_int; break;
    case QF_FLAGS: q->flags = (int32_t)v->field_int; break;
    case QF_TOL: q->tol = v->field_double; break;
    case QF_BEGIN: q->neuron_begin = v->field_int; break;
    case QF_END: q->neuron_end = v->field_int; break;
    case FBQ_TARGET: fx->fb_query.target = v->field_int; break;
    case FBQ_METHOD: fx->fb_query.method = (dtd_full_backward_method)v->field_int; break;
    case FBQ_DIRECTIONS: fx->fb_query.directions = (int32_t)v->field_int; break;
    case FBQ_LOWER: fx->fb_query.input_lower = v->field_double; break;
    }
}

/** Replaces handle arguments as the variant says; returns 0, or -1 if the fixture lacks one. */
static int substitute(Fixture *fx, const Call *c, const Variant *v, Arg *args) {
    int i = v->sub_index, d = c->dtype >= 0 ? c->dtype : 1;
    void *h = args[i].v.p;
    switch (v->sub) {
    case SUB_NONE: return 0;
    case SUB_DEAD_NETWORK: args[i] = AP(fx->dead_net); return 0;
    case SUB_DEAD_RULES: args[i] = AP(fx->dead_rules); return 0;
    case SUB_OTHER_DTYPE_NETWORK:
    case SUB_OTHER_DTYPE_RULES: args[i] = AP(other_dtype(fx, h)); return args[i].v.p ? 0 : -1;
    case SUB_TWIN_NETWORK: args[i] = AP(fx->twin[d]); return 0;
    case SUB_TWIN_RULES: args[i] = AP(fx->twin_rules[d]); return 0;
    case SUB_EMPTY_NETWORK: args[i] = AP(fx->empty[d]); return 0;
    case SUB_QUERY_FIELD:
    case SUB_FB_QUERY_FIELD: apply_query_field(fx, v); return 0;
    }
    return -1;
}

/** After a _destroy call: the handle is gone, a second destroy is harmless, others still work. */
static void after_destroy(Fixture *fx, const Call *c, const Variant *v, void *handle) {
    int network = (c->flags & CALL_DESTROY_NETWORK) != 0;
    const char *name = c->name;
    int64_t count = -1;
    int32_t kind = -1;
    if (handle && handle == (network ? fx->victim_net : fx->victim_rules)) {
        check(vcall(name, 1, (Arg[]){AP(handle)}) == 0, name, "destroying the same handle twice is harmless", "not called");
        dtd_status s = network ? DCALL("dtd_network_layer_count", AP(handle), AP(&count))
                               : DCALL("dtd_rules_kind", AP(handle), AI64(0), AP(&kind));
        check(s != DTD_OK && s != NO_CALL, name, "a destroyed handle is rejected, not used",
              "%s on the destroyed handle returned %s", network ? "dtd_network_layer_count" : "dtd_rules_kind", status_name(s));
        if (network) {
            s = DCALL("dtd_rules_kind", AP(fx->victim_rules), AI64(0), AP(&kind));
            check(s == DTD_OK && kind == DTD_RULE_EPSILON, name,
                  "rule sets made for a destroyed network stay valid handles (header, dtd_network_destroy)",
                  "dtd_rules_kind on them returned %s, kind %d", status_name(s), (int)kind);
        }
    }
    count = -1;
    dtd_status s = DCALL("dtd_network_layer_count", AP(fx->net[1]), AP(&count));
    kind = -1;
    dtd_status r = DCALL("dtd_rules_kind", AP(fx->rules[1]), AI64(0), AP(&kind));
    check(s == DTD_OK && count == FX_LAYERS && r == DTD_OK && kind == DTD_RULE_EPSILON, name,
          "other live handles keep working", "after %s(%s): layer_count %s (%lld), rules_kind %s (%d)", name, v->what,
          status_name(s), (long long)count, status_name(r), (int)kind);
}

static void variant_job(void *ctx) {
    const VariantJob *job = ctx;
    const Variant *v = job->variant;
    Fixture *fx = fixture_build(1);
    if (!fx) return;
    Call c;
    recipe_call(job->name, fx, &c);
    Arg args[HARNESS_MAX_PARAMS];
    for (int i = 0; i < c.n; i++) args[i] = c.p[i].value;
    for (int k = 0; k < v->n; k++) args[v->index[k]] = v->value[k];
    if (substitute(fx, &c, v, args) != 0) {
        check(0, c.name, v->what, "the harness fixture has no substitute for this argument");
        return;
    }
    if (c.flags & (CALL_DESTROY_NETWORK | CALL_DESTROY_RULES)) {
        int called = vcall(c.name, c.n, args) == 0;
        check(called, c.name, v->what, "could not be called");
        if (called) after_destroy(fx, &c, v, args[0].v.p);
        return;
    }
    /* An out-handle must be set to NULL on failure (header: dtd_network_create, dtd_rules_create). */
    void **out_handle = NULL;
    for (int i = 0; i < c.n; i++)
        if (c.p[i].role == ROLE_OUT_HANDLE && args[i].v.p) out_handle = args[i].v.p;
    static char sentinel;
    if (out_handle) *out_handle = &sentinel;
    dtd_status s = dcall(c.name, c.n, args);
    if (s == NO_CALL) return;
    check(s >= 0 && s < 32 && (v->expect & ST(s)), c.name, v->what, "returned %s, expected %s; message: \"%s\"",
          status_name(s), mask_text(v->expect), last_message());
    if (out_handle) {
        char what[260];
        snprintf(what, sizeof what, "%s: the out-handle is %s", v->what, s == DTD_OK ? "a new handle" : "NULL after the failure");
        check(s == DTD_OK ? (*out_handle != NULL && *out_handle != &sentinel) : *out_handle == NULL, c.name, what, "it is %p",
              *out_handle);
    }
}

/* ---- 2. Recipe sweep: the driver ------------------------------------------------------------- */

/** The recipe's arguments must be the table's, type for type. */
static int recipe_matches_table(const Call *c, const Function *f) {
    int ok = !c->overflow && c->n == f->nparams;
    check(ok, f->name, "recipe has the table's parameter count", "recipe %d, table %d", c->n, f->nparams);
    if (!ok) return 0;
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->p[i].ctype, f->params[i]) != 0 || c->p[i].value.kind != f->kinds[i]) {
            check(0, f->name, "recipe parameter types equal the table's", "parameter %d: recipe '%s', table '%s'", i + 1,
                  c->p[i].ctype, f->params[i]);
            return 0;
        }
    }
    check(1, f->name, "recipe parameter types equal the table's", " ");
    return 1;
}

void sweep_recipes(void) {
    Fixture *layout = fixture_build(0); /* buffers only: enough to lay out arguments */
    Variant *variants = calloc(MAX_VARIANTS, sizeof(Variant));
    if (!layout || !variants) return;
    for (int t = 0; t < g_table.count; t++) {
        Function *f = &g_table.items[t];
        int fallible = f->ret_kind == KIND_I32 && strcmp(f->ret, "dtd_status") == 0;
        int destroys = f->ret_kind == KIND_VOID;
        if (!fallible && !destroys) continue; /* version and message functions: specific.c */
        Call c;
        if (recipe_call(f->name, layout, &c) != 0) {
            check(0, f->name, "the harness has a valid-call recipe for every fallible function",
                  "no recipe in recipes.c; only the signature-only sweep exercised it");
            continue;
        }
        /* The recipe is checked against the table even when the library lacks the function, so a
         * recipe written from the header is ready (and type-correct) before the export appears. */
        if (!recipe_matches_table(&c, f)) continue;
        Plan plan = {variants, 0, 0};
        plan_call(&c, &plan);
        check(plan.dropped == 0, f->name, "all planned perturbations fit", "%d dropped (raise MAX_VARIANTS)", plan.dropped);
        if (!f->callable) continue; /* reported once already (missing symbol) */
        for (int k = 0; k < plan.count; k++) {
            VariantJob job = {f->name, &variants[k]};
            isolated(f->name, variants[k].what, variant_job, &job);
        }
    }
    /* Stale recipes: names no longer in the table. */
    const char *names[128];
    int n = recipe_names(names, 128), stale = 0;
    for (int i = 0; i < n; i++) {
        if (table_find(names[i])) continue;
        stale++;
        check(0, names[i], "every recipe belongs to a function of the table",
              "recipes.c has a recipe for %s, which signatures.txt does not list", names[i]);
    }
    check(stale == 0, "table", "every recipe belongs to a function of the table", "%d stale recipes", stale);
    free(variants);
    fixture_free(layout);
}
