/**
 * zennit.c : every Zennit reference case (Tests/Fixtures/zennit, Tests/Fixtures/zennit_graph)
 * through ffi_call, in float64 and float32.
 *
 * Each fixture file (format: Tests/Fixtures/README.md) is parsed with cJSON in the parent; each
 * case and dtype then runs in its own child (isolate.c), which builds the network layer by layer
 * exactly as the file says, sets the case's rule on each layer it names, runs the case's method
 * (lrp, gradient, gradient_x_input) on its input and output relevance, and compares the forward
 * output and the input relevance with Zennit's, sample by sample:
 *   relative error = max |got - expected| / max |expected| over one sample (the plain max
 *   difference when that sample's expected values are all 0), float64 <= 1e-9, float32 <= 1e-4.
 * Float32 relevance budget: max(1e-4, 3 x floor), where floor is the same sample's error of a
 * float64 run on the case's data rounded to float32 (weights, biases, batch-norm parameters,
 * input, seed). This is the budget of the Swift RuleReferenceTests and of
 * bindings/python/tests/test_zennit_fixtures.py: one ill-conditioned chain case (epsilon 1e-9
 * with the bias excluded on cnn_poolpad_nobias) loses 4.9e-5 to data rounding alone, and
 * Zennit's own float32 run misses its float64 result there by 1.1e-4.
 * One check per case and dtype, group "zennit float64" / "zennit float32", named by file and case.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fixture_dirs[] = {"Tests/Fixtures/zennit", "Tests/Fixtures/zennit_graph"};
static const char *const group[2] = {"zennit float32", "zennit float64"};
static const double tolerance[2] = {1e-4, 1e-9};

/* ---- failures as text (a case reports one check, with the first problem found) ------------- */

typedef struct {
    char text[1500];
} Problem;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(Problem *p, const char *format, ...) {
    if (p->text[0] == '\0') {
        va_list ap;
        va_start(ap, format);
        vsnprintf(p->text, sizeof p->text, format, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- JSON access ------------------------------------------------------------------------------ */

/** A JSON number that is an integer in [lo, hi]. */
static int integer(const cJSON *item, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!(v >= (double)lo && v <= (double)hi) || v != (double)(int64_t)v) return -1;
    *out = (int64_t)v;
    return 0;
}

/** An int or a list of `n` ints (each in [lo, hi]): PyTorch's int-or-tuple arguments. */
static int ints(const cJSON *item, int n, int64_t lo, int64_t hi, int64_t *out) {
    if (cJSON_IsNumber(item)) {
        if (integer(item, lo, hi, &out[0]) != 0) return -1;
        for (int i = 1; i < n; i++) out[i] = out[0];
        return 0;
    }
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != n) return -1;
    for (int i = 0; i < n; i++)
        if (integer(cJSON_GetArrayItem(item, i), lo, hi, &out[i]) != 0) return -1;
    return 0;
}

/** A tensor {"shape": [...], "data": [...]} (or a plain flat list of numbers, rank 1). */
typedef struct {
    int64_t shape[8];
    int rank;
    int64_t count;
    double *data;
} Tensor;

static void tensor_free(Tensor *t) {
    free(t->data);
    t->data = NULL;
}

static int tensor_read(const cJSON *item, Tensor *t, Problem *p, const char *what) {
    memset(t, 0, sizeof *t);
    const cJSON *data = item;
    if (cJSON_IsObject(item)) {
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
        data = cJSON_GetObjectItemCaseSensitive(item, "data");
        int rank = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
        if (rank < 1 || rank > 8) return fail(p, "%s: \"shape\" is not a list of 1 to 8 sizes", what);
        t->rank = rank;
        t->count = 1;
        for (int i = 0; i < rank; i++) {
            if (integer(cJSON_GetArrayItem(shape, i), 1, INT32_MAX, &t->shape[i]) != 0)
                return fail(p, "%s: shape entry %d is not a positive integer", what, i);
            t->count *= t->shape[i];
            if (t->count > ((int64_t)1 << 31)) return fail(p, "%s: more than 2^31 elements", what);
        }
    }
    if (!cJSON_IsArray(data)) return fail(p, "%s: no \"data\" list", what);
    int64_t n = cJSON_GetArraySize(data);
    if (!cJSON_IsObject(item)) t->rank = 1, t->shape[0] = t->count = n;
    if (n != t->count) return fail(p, "%s: %lld data values for %lld elements of its shape", what, (long long)n, (long long)t->count);
    t->data = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!t->data) return fail(p, "%s: out of memory", what);
    int64_t i = 0;
    for (const cJSON *v = data->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v)) return fail(p, "%s: data value %lld is not a number", what, (long long)i);
        t->data[i] = v->valuedouble;
    }
    return 0;
}

/* ---- element buffers ------------------------------------------------------------------------ */

/** `n` values as dtype `d` (0 float32, 1 float64); `round32` rounds float64 values to float32
 *  first (the floor run). NULL for n == 0 is not needed: callers pass NULL themselves. */
static void *elements(int d, const double *values, int64_t n, int round32) {
    void *buffer = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!buffer) abort();
    for (int64_t i = 0; i < n; i++) {
        if (d == 0) ((float *)buffer)[i] = (float)values[i];
        else ((double *)buffer)[i] = round32 ? (double)(float)values[i] : values[i];
    }
    return buffer;
}

static double element(const void *buffer, int d, int64_t i) {
    return d == 0 ? (double)((const float *)buffer)[i] : ((const double *)buffer)[i];
}

/* ---- building a network through the ABI ------------------------------------------------------ */

/** A status other than DTD_OK becomes the problem, naming the function, the layer (if >= 0) and
 *  the library's message. */
static int ok_or_fail(dtd_status s, const char *fn, int64_t layer, Problem *p) {
    if (s == DTD_OK) return 0;
    if (layer < 0) return fail(p, "%s returned %s: %s", fn, status_name(s), last_message());
    return fail(p, "layer %lld: %s returned %s: %s", (long long)layer, fn, status_name(s), last_message());
}

/** Padding: an int, [ph, pw] or [top, bottom, left, right]; `sides` gets top, bottom, left,
 *  right; returns 1 when symmetric (the plain function applies), 0 when not, -1 if malformed. */
static int padding_of(const cJSON *layer, int64_t sides[4]) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(layer, "padding");
    int64_t two[2] = {0, 0};
    if (!item) {
        memset(sides, 0, 4 * sizeof sides[0]);
        return 1;
    }
    if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 4) {
        if (ints(item, 4, 0, INT32_MAX, sides) != 0) return -1;
        return sides[0] == sides[1] && sides[2] == sides[3];
    }
    if (ints(item, 2, 0, INT32_MAX, two) != 0) return -1;
    sides[0] = sides[1] = two[0];
    sides[2] = sides[3] = two[1];
    return 1;
}

/** An optional tensor field (absent or null: NULL data, count 0). */
static int optional_tensor(const cJSON *layer, const char *key, Tensor *t, Problem *p, int64_t index) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(layer, key);
    memset(t, 0, sizeof *t);
    if (!item || cJSON_IsNull(item)) return 0;
    char what[64];
    snprintf(what, sizeof what, "layer %lld \"%s\"", (long long)index, key);
    return tensor_read(item, t, p, what);
}

static int required_tensor(const cJSON *layer, const char *key, Tensor *t, Problem *p, int64_t index) {
    if (optional_tensor(layer, key, t, p, index) != 0) return -1;
    if (!t->data) return fail(p, "layer %lld: no \"%s\" tensor", (long long)index, key);
    return 0;
}

static int add_dense(void *net, const cJSON *layer, int64_t index, int d, int round32, Problem *p) {
    Tensor w, b;
    int result = -1;
    if (required_tensor(layer, "weight", &w, p, index) == 0 && optional_tensor(layer, "bias", &b, p, index) == 0) {
        if (w.rank != 2) {
            fail(p, "layer %lld: dense weight of rank %d, not (out, in)", (long long)index, w.rank);
        } else {
            void *wb = elements(d, w.data, w.count, round32), *bb = b.data ? elements(d, b.data, b.count, round32) : NULL;
            const char *fn = typed("dtd_network_add_dense", d);
            dtd_status s = DCALL(fn, AP(net), AP(wb), AI64(w.count), AI64(w.shape[0]), AI64(w.shape[1]), AP(bb), AI64(b.count));
            result = ok_or_fail(s, fn, index, p);
            free(wb), free(bb);
        }
        tensor_free(&b);
    }
    tensor_free(&w);
    return result;
}

static int add_conv(void *net, const cJSON *layer, int64_t index, int d, int round32, Problem *p) {
    Tensor w, b;
    int64_t stride[2] = {1, 1}, dilation[2] = {1, 1}, pad[4];
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(layer, "stride");
    const cJSON *di = cJSON_GetObjectItemCaseSensitive(layer, "dilation");
    if (st && ints(st, 2, 1, INT32_MAX, stride) != 0) return fail(p, "layer %lld: malformed \"stride\"", (long long)index);
    if (di && ints(di, 2, 1, INT32_MAX, dilation) != 0) return fail(p, "layer %lld: malformed \"dilation\"", (long long)index);
    int symmetric = padding_of(layer, pad);
    if (symmetric < 0) return fail(p, "layer %lld: malformed \"padding\"", (long long)index);
    int result = -1;
    if (required_tensor(layer, "weight", &w, p, index) == 0 && optional_tensor(layer, "bias", &b, p, index) == 0) {
        if (w.rank != 4) {
            fail(p, "layer %lld: conv2d weight of rank %d, not (out, in, kh, kw)", (long long)index, w.rank);
        } else {
            void *wb = elements(d, w.data, w.count, round32), *bb = b.data ? elements(d, b.data, b.count, round32) : NULL;
            const char *fn;
            dtd_status s;
            if (symmetric) {
                fn = typed("dtd_network_add_conv2d", d);
                s = DCALL(fn, AP(net), AP(wb), AI64(w.count), AI64(w.shape[0]), AI64(w.shape[1]), AI64(w.shape[2]),
                          AI64(w.shape[3]), AP(bb), AI64(b.count), AI64(stride[0]), AI64(stride[1]), AI64(pad[0]), AI64(pad[2]),
                          AI64(dilation[0]), AI64(dilation[1]));
            } else {
                fn = typed("dtd_network_add_conv2d_padded", d);
                s = DCALL(fn, AP(net), AP(wb), AI64(w.count), AI64(w.shape[0]), AI64(w.shape[1]), AI64(w.shape[2]),
                          AI64(w.shape[3]), AP(bb), AI64(b.count), AI64(stride[0]), AI64(stride[1]), AI64(pad[0]), AI64(pad[1]),
                          AI64(pad[2]), AI64(pad[3]), AI64(dilation[0]), AI64(dilation[1]));
            }
            result = ok_or_fail(s, fn, index, p);
            free(wb), free(bb);
        }
        tensor_free(&b);
    }
    tensor_free(&w);
    return result;
}

static int add_pool(void *net, const cJSON *layer, int64_t index, int average, Problem *p) {
    int64_t kernel[2], stride[2], pad[4];
    if (ints(cJSON_GetObjectItemCaseSensitive(layer, "kernel"), 2, 1, INT32_MAX, kernel) != 0)
        return fail(p, "layer %lld: malformed \"kernel\"", (long long)index);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(layer, "stride");
    stride[0] = kernel[0], stride[1] = kernel[1]; /* PyTorch's default: the kernel */
    if (st && !cJSON_IsNull(st) && ints(st, 2, 1, INT32_MAX, stride) != 0)
        return fail(p, "layer %lld: malformed \"stride\"", (long long)index);
    int symmetric = padding_of(layer, pad);
    if (symmetric < 0) return fail(p, "layer %lld: malformed \"padding\"", (long long)index);
    const cJSON *cip = cJSON_GetObjectItemCaseSensitive(layer, "count_include_pad");
    int32_t include = cip ? cJSON_IsTrue(cip) : 1; /* PyTorch's default */
    if (cip && !cJSON_IsBool(cip)) return fail(p, "layer %lld: \"count_include_pad\" is not a boolean", (long long)index);
    const char *fn;
    dtd_status s;
    if (average && symmetric) {
        fn = "dtd_network_add_avgpool2d";
        s = DCALL(fn, AP(net), AI64(kernel[0]), AI64(kernel[1]), AI64(stride[0]), AI64(stride[1]), AI64(pad[0]), AI64(pad[2]),
                  AI32(include));
    } else if (average) {
        fn = "dtd_network_add_avgpool2d_padded";
        s = DCALL(fn, AP(net), AI64(kernel[0]), AI64(kernel[1]), AI64(stride[0]), AI64(stride[1]), AI64(pad[0]), AI64(pad[1]),
                  AI64(pad[2]), AI64(pad[3]), AI32(include));
    } else if (symmetric) {
        fn = "dtd_network_add_maxpool2d";
        s = DCALL(fn, AP(net), AI64(kernel[0]), AI64(kernel[1]), AI64(stride[0]), AI64(stride[1]), AI64(pad[0]), AI64(pad[2]));
    } else {
        fn = "dtd_network_add_maxpool2d_padded";
        s = DCALL(fn, AP(net), AI64(kernel[0]), AI64(kernel[1]), AI64(stride[0]), AI64(stride[1]), AI64(pad[0]), AI64(pad[1]),
                  AI64(pad[2]), AI64(pad[3]));
    }
    return ok_or_fail(s, fn, index, p);
}

static int add_batchnorm(void *net, const cJSON *layer, int64_t index, int d, int round32, Problem *p) {
    static const char *const keys[4] = {"gamma", "beta", "running_mean", "running_var"};
    Tensor t[4];
    memset(t, 0, sizeof t);
    double eps = 1e-5; /* PyTorch's default */
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(layer, "eps");
    int result = -1;
    if (e && !cJSON_IsNumber(e)) {
        fail(p, "layer %lld: \"eps\" is not a number", (long long)index);
        return -1;
    }
    if (e) eps = e->valuedouble;
    int k = 0;
    for (; k < 4; k++)
        if (required_tensor(layer, keys[k], &t[k], p, index) != 0) break;
    if (k == 4) {
        int64_t count = t[0].count;
        if (t[1].count != count || t[2].count != count || t[3].count != count) {
            fail(p, "layer %lld: batch-norm parameters of different lengths", (long long)index);
        } else {
            void *b[4];
            for (int i = 0; i < 4; i++) b[i] = elements(d, t[i].data, count, round32);
            const char *fn = typed("dtd_network_add_batchnorm", d);
            dtd_status s = DCALL(fn, AP(net), AP(b[0]), AP(b[1]), AP(b[2]), AP(b[3]), AI64(count), AF64(eps));
            result = ok_or_fail(s, fn, index, p);
            for (int i = 0; i < 4; i++) free(b[i]);
        }
    }
    for (int i = 0; i < 4; i++) tensor_free(&t[i]);
    return result;
}

static int add_sources(void *net, const cJSON *layer, int64_t index, int route, Problem *p) {
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(layer, "from");
    int n = cJSON_IsArray(from) ? cJSON_GetArraySize(from) : 0;
    if (n < 1 || n > 64) return fail(p, "layer %lld: \"from\" is not a list of 1 to 64 layer indices", (long long)index);
    int64_t sources[64];
    if (ints(from, n, -1, INT32_MAX, sources) != 0) return fail(p, "layer %lld: malformed \"from\"", (long long)index);
    const char *fn = route ? "dtd_network_add_route" : "dtd_network_add_add";
    return ok_or_fail(DCALL(fn, AP(net), AP(sources), AI64(n)), fn, index, p);
}

/** The network of `spec` in dtype `d` (`round32`: float64 with the data rounded to float32). */
static void *build(const cJSON *spec, int d, int round32, Problem *p) {
    int64_t shape[DTD_MAX_RANK];
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(spec, "input_shape");
    int rank = cJSON_IsArray(in) ? cJSON_GetArraySize(in) : 0;
    if (rank < 1 || rank > DTD_MAX_RANK || ints(in, rank, 1, INT32_MAX, shape) != 0) {
        fail(p, "\"input_shape\" is not a list of 1 to %d positive sizes", DTD_MAX_RANK);
        return NULL;
    }
    void *net = NULL;
    dtd_status s = DCALL("dtd_network_create", AI32(d == 0 ? DTD_DTYPE_FLOAT32 : DTD_DTYPE_FLOAT64), AP(shape), AI64(rank), AP(&net));
    if (s != DTD_OK) {
        fail(p, "dtd_network_create returned %s: %s", status_name(s), last_message());
        return NULL;
    }
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(spec, "layers");
    if (!cJSON_IsArray(layers)) {
        fail(p, "no \"layers\" list");
        VCALL("dtd_network_destroy", AP(net));
        return NULL;
    }
    int64_t index = 0;
    for (const cJSON *layer = layers->child; layer; layer = layer->next, index++) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(layer, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        int r;
        if (strcmp(t, "dense") == 0) r = add_dense(net, layer, index, d, round32, p);
        else if (strcmp(t, "conv2d") == 0) r = add_conv(net, layer, index, d, round32, p);
        else if (strcmp(t, "relu") == 0) r = ok_or_fail(DCALL("dtd_network_add_relu", AP(net)), "dtd_network_add_relu", index, p);
        else if (strcmp(t, "flatten") == 0)
            r = ok_or_fail(DCALL("dtd_network_add_flatten", AP(net)), "dtd_network_add_flatten", index, p);
        else if (strcmp(t, "identity") == 0)
            r = ok_or_fail(DCALL("dtd_network_add_identity", AP(net)), "dtd_network_add_identity", index, p);
        else if (strcmp(t, "maxpool2d") == 0) r = add_pool(net, layer, index, 0, p);
        else if (strcmp(t, "avgpool2d") == 0) r = add_pool(net, layer, index, 1, p);
        else if (strcmp(t, "batchnorm") == 0) r = add_batchnorm(net, layer, index, d, round32, p);
        else if (strcmp(t, "route") == 0) r = add_sources(net, layer, index, 1, p);
        else if (strcmp(t, "add") == 0) r = add_sources(net, layer, index, 0, p);
        else if (strcmp(t, "adaptive_avgpool2d") == 0) {
            int64_t size[2];
            r = ints(cJSON_GetObjectItemCaseSensitive(layer, "output_size"), 2, 1, INT32_MAX, size) != 0
                    ? fail(p, "layer %lld: malformed \"output_size\"", (long long)index)
                    : ok_or_fail(DCALL("dtd_network_add_adaptive_avgpool2d", AP(net), AI64(size[0]), AI64(size[1])),
                                 "dtd_network_add_adaptive_avgpool2d", index, p);
        } else {
            r = fail(p, "layer %lld: unknown layer type \"%s\"", (long long)index, t);
        }
        if (r != 0) {
            VCALL("dtd_network_destroy", AP(net));
            return NULL;
        }
    }
    return net;
}

/* ---- rules ------------------------------------------------------------------------------------ */

/** A number field of a rule; `fallback` (if not NaN) when absent. */
static int rule_number(const cJSON *rule, const char *key, double fallback, double *out, const char *layer, Problem *p) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(rule, key);
    if (!item && !isnan(fallback)) {
        *out = fallback;
        return 0;
    }
    if (!cJSON_IsNumber(item)) return fail(p, "rules[\"%s\"]: no number \"%s\"", layer, key);
    *out = item->valuedouble;
    return 0;
}

/** The rule set of a case: {"<layer>": {"rule": ..., "bias": "include"|"exclude", ...}}. */
static void *make_rules(void *net, const cJSON *rules, Problem *p) {
    void *set = NULL;
    dtd_status s = DCALL("dtd_rules_create", AP(net), AP(&set));
    if (s != DTD_OK) {
        fail(p, "dtd_rules_create returned %s: %s", status_name(s), last_message());
        return NULL;
    }
    if (!cJSON_IsObject(rules)) {
        fail(p, "\"rules\" is not an object");
        VCALL("dtd_rules_destroy", AP(set));
        return NULL;
    }
    for (const cJSON *r = rules->child; r; r = r->next) {
        const char *key = r->string ? r->string : "";
        char *end = NULL;
        long layer = strtol(key, &end, 10);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "rule");
        const cJSON *bias = cJSON_GetObjectItemCaseSensitive(r, "bias");
        const char *rule = cJSON_IsString(name) ? name->valuestring : "";
        int32_t mode = DTD_BIAS_INCLUDE; /* Zennit's default */
        double eps = 0, stab = 0, a = 0, b = 0, lo = 0, hi = 0;
        const double none = NAN, stab_default = DTD_DEFAULT_STABILIZER;
        const char *fn = NULL;
        if (end == key || *end != '\0' || layer < 0) fail(p, "rules: \"%s\" is not a layer index", key);
        else if (bias && !(cJSON_IsString(bias) && (strcmp(bias->valuestring, "include") == 0 || strcmp(bias->valuestring, "exclude") == 0)))
            fail(p, "rules[\"%s\"]: \"bias\" is neither \"include\" nor \"exclude\"", key);
        else if (bias && strcmp(bias->valuestring, "exclude") == 0) mode = DTD_BIAS_EXCLUDE;
        if (p->text[0]) break;
        if (strcmp(rule, "epsilon") == 0) {
            if (rule_number(r, "epsilon", none, &eps, key, p) == 0)
                fn = "dtd_rules_set_epsilon", s = DCALL(fn, AP(set), AI64(layer), AF64(eps), AI32(mode));
        } else if (strcmp(rule, "zplus") == 0) {
            if (rule_number(r, "stabilizer", stab_default, &stab, key, p) == 0)
                fn = "dtd_rules_set_zplus", s = DCALL(fn, AP(set), AI64(layer), AF64(stab), AI32(mode));
        } else if (strcmp(rule, "alphabeta") == 0) {
            if (rule_number(r, "alpha", none, &a, key, p) == 0 && rule_number(r, "beta", none, &b, key, p) == 0 &&
                rule_number(r, "stabilizer", stab_default, &stab, key, p) == 0)
                fn = "dtd_rules_set_alphabeta", s = DCALL(fn, AP(set), AI64(layer), AF64(a), AF64(b), AF64(stab), AI32(mode));
        } else if (strcmp(rule, "gamma") == 0) {
            if (rule_number(r, "gamma", none, &a, key, p) == 0 && rule_number(r, "stabilizer", stab_default, &stab, key, p) == 0)
                fn = "dtd_rules_set_gamma", s = DCALL(fn, AP(set), AI64(layer), AF64(a), AF64(stab), AI32(mode));
        } else if (strcmp(rule, "wsquare") == 0) {
            if (rule_number(r, "stabilizer", stab_default, &stab, key, p) == 0)
                fn = "dtd_rules_set_wsquare", s = DCALL(fn, AP(set), AI64(layer), AF64(stab), AI32(mode));
        } else if (strcmp(rule, "flat") == 0) {
            /* flat always drops the bias (header section 5), so "bias" has nothing to select */
            if (rule_number(r, "stabilizer", stab_default, &stab, key, p) == 0)
                fn = "dtd_rules_set_flat", s = DCALL(fn, AP(set), AI64(layer), AF64(stab));
        } else if (strcmp(rule, "zbox") == 0) {
            if (rule_number(r, "low", none, &lo, key, p) == 0 && rule_number(r, "high", none, &hi, key, p) == 0 &&
                rule_number(r, "stabilizer", stab_default, &stab, key, p) == 0)
                fn = "dtd_rules_set_zbox", s = DCALL(fn, AP(set), AI64(layer), AF64(lo), AF64(hi), AF64(stab), AI32(mode));
        } else {
            fail(p, "rules[\"%s\"]: unknown rule \"%s\"", key, rule);
        }
        if (!fn || ok_or_fail(s, fn, layer, p) != 0) break;
    }
    if (p->text[0]) {
        VCALL("dtd_rules_destroy", AP(set));
        return NULL;
    }
    return set;
}

/* ---- one case ---------------------------------------------------------------------------------- */

typedef enum { METHOD_LRP, METHOD_GRADIENT, METHOD_GRADIENT_X_INPUT } Method;

/** The case's tensors and geometry, read once in the parent. */
typedef struct {
    const char *file;       /* e.g. "zennit_graph/resnet_tiny.json" */
    const cJSON *spec, *c;  /* the file, the case */
    const char *name;
    Method method;
    Tensor x, seed, expected_output, expected_relevance;
    int64_t batch, in_size, out_size;
} Case;

/** Runs the case's method on `net` (rules built from the case when LRP); relevance and output
 *  are caller-allocated (batch x in / batch x out, as dtype d). */
static int run(const Case *k, void *net, int d, int round32, void *output, void *relevance, Problem *p) {
    int64_t N = k->batch, in = N * k->in_size, out = N * k->out_size;
    void *x = elements(d, k->x.data, in, round32), *r = elements(d, k->seed.data, out, round32);
    int result = -1;
    const char *fn = typed("dtd_network_forward", d);
    dtd_status s = DCALL(fn, AP(net), AI64(N), AP(x), AI64(in), AP(output), AI64(out));
    if (ok_or_fail(s, fn, -1, p) == 0) {
        if (k->method == METHOD_LRP) {
            void *set = make_rules(net, cJSON_GetObjectItemCaseSensitive(k->c, "rules"), p);
            if (set) {
                fn = typed("dtd_relevance_lrp", d);
                s = DCALL(fn, AP(net), AP(set), AI64(N), AP(x), AI64(in), AP(r), AI64(out), AP(relevance), AI64(in), AP(NULL), AI64(0));
                result = ok_or_fail(s, fn, -1, p);
                VCALL("dtd_rules_destroy", AP(set));
            }
        } else {
            fn = typed(k->method == METHOD_GRADIENT ? "dtd_relevance_gradient" : "dtd_relevance_gradient_x_input", d);
            s = DCALL(fn, AP(net), AI64(N), AP(x), AI64(in), AP(r), AI64(out), AP(relevance), AI64(in));
            result = ok_or_fail(s, fn, -1, p);
        }
    }
    free(x), free(r);
    return result;
}

/** Relative error of sample n: max |got - want| / max |want| over it (plain max difference when
 *  that sample's expected values are all 0); infinity for NaN. `at` gets the worst element. */
static double sample_error(const void *got, int d, const double *want, int64_t n, int64_t size, int64_t *at) {
    double scale = 0, worst = 0;
    *at = n * size;
    for (int64_t i = n * size; i < (n + 1) * size; i++) scale = max_of(scale, abs_of(want[i]));
    for (int64_t i = n * size; i < (n + 1) * size; i++) {
        double g = element(got, d, i), e = abs_of(g - want[i]);
        if (isnan(e)) return *at = i, INFINITY;
        if (e > worst) worst = e, *at = i;
    }
    return scale > 0 ? worst / scale : worst;
}

typedef struct {
    const Case *k;
    int d;
} CaseJob;

static void case_job(void *ctx) {
    const CaseJob *job = ctx;
    const Case *k = job->k;
    const int d = job->d;
    const int64_t N = k->batch, in = N * k->in_size, out = N * k->out_size;
    Problem p = {""};
    char what[400];
    snprintf(what, sizeof what, "%s: %s", k->file, k->name);
    /* Allocated as doubles, so one size fits both dtypes. */
    void *output = calloc((size_t)out, sizeof(double)), *relevance = calloc((size_t)in, sizeof(double));
    double *floor_output = calloc((size_t)out, sizeof(double)), *floor_relevance = calloc((size_t)in, sizeof(double));
    if (!output || !relevance || !floor_output || !floor_relevance) abort();

    void *net = build(k->spec, d, 0, &p);
    if (net) {
        run(k, net, d, 0, output, relevance, &p);
        VCALL("dtd_network_destroy", AP(net));
    }
    /* The float32 floor: the same case in float64 on the data rounded to float32. */
    void *rounded = d == 0 && !p.text[0] ? build(k->spec, 1, 1, &p) : NULL;
    if (rounded) {
        run(k, rounded, 1, 1, floor_output, floor_relevance, &p);
        VCALL("dtd_network_destroy", AP(rounded));
    }
    for (int64_t n = 0; n < N && !p.text[0]; n++) {
        int64_t at;
        double e = sample_error(output, d, k->expected_output.data, n, k->out_size, &at);
        if (!(e <= tolerance[d])) {
            fail(&p, "sample %lld forward output: relative error %.3g > %g (element %lld: got %.17g, Zennit %.17g)", (long long)n,
                 e, tolerance[d], (long long)(at - n * k->out_size), element(output, d, at), k->expected_output.data[at]);
            break;
        }
        double budget = tolerance[d], floor_error = 0;
        if (d == 0) {
            int64_t unused;
            floor_error = sample_error(floor_relevance, 1, k->expected_relevance.data, n, k->in_size, &unused);
            budget = max_of(budget, 3 * floor_error);
        }
        e = sample_error(relevance, d, k->expected_relevance.data, n, k->in_size, &at);
        if (!(e <= budget))
            fail(&p, "sample %lld relevance: relative error %.3g > budget %.3g (%s %.3g; element %lld: got %.17g, Zennit %.17g)",
                 (long long)n, e, budget, d == 0 ? "float32 data-rounding floor" : "float64 tolerance",
                 d == 0 ? floor_error : tolerance[d], (long long)(at - n * k->in_size), element(relevance, d, at),
                 k->expected_relevance.data[at]);
    }
    check(!p.text[0], group[d], what, "%s", p.text);
    free(output), free(relevance), free(floor_output), free(floor_relevance);
}

/* ---- files ------------------------------------------------------------------------------------ */

static void case_free(Case *k) {
    tensor_free(&k->x);
    tensor_free(&k->seed);
    tensor_free(&k->expected_output);
    tensor_free(&k->expected_relevance);
}

static int64_t product(const int64_t *shape, int from, int to) {
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= shape[i];
    return n;
}

/** Reads case `c` of `spec`; the problem names what is malformed. */
static int case_read(Case *k, const cJSON *spec, const cJSON *c, const char *file, Problem *p) {
    memset(k, 0, sizeof *k);
    k->file = file, k->spec = spec, k->c = c;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name"), *method = cJSON_GetObjectItemCaseSensitive(c, "method");
    k->name = cJSON_IsString(name) ? name->valuestring : "(unnamed case)";
    const char *m = cJSON_IsString(method) ? method->valuestring : "";
    if (strcmp(m, "lrp") == 0) k->method = METHOD_LRP;
    else if (strcmp(m, "gradient") == 0) k->method = METHOD_GRADIENT;
    else if (strcmp(m, "gradient_x_input") == 0) k->method = METHOD_GRADIENT_X_INPUT;
    else return fail(p, "unknown method \"%s\"", m);
    if (tensor_read(cJSON_GetObjectItemCaseSensitive(c, "input"), &k->x, p, "\"input\"") != 0 ||
        tensor_read(cJSON_GetObjectItemCaseSensitive(c, "output_relevance"), &k->seed, p, "\"output_relevance\"") != 0 ||
        tensor_read(cJSON_GetObjectItemCaseSensitive(c, "expected_output"), &k->expected_output, p, "\"expected_output\"") != 0 ||
        tensor_read(cJSON_GetObjectItemCaseSensitive(c, "expected_relevance"), &k->expected_relevance, p, "\"expected_relevance\"") != 0)
        return -1;
    if (k->x.rank < 2 || k->seed.rank != 2) return fail(p, "input must be (batch, *input_shape), output_relevance (batch, outputs)");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(spec, "input_shape");
    int64_t sample_shape[8];
    int rank = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    if (rank != k->x.rank - 1 || ints(shape, rank, 1, INT32_MAX, sample_shape) != 0 ||
        memcmp(sample_shape, k->x.shape + 1, (size_t)rank * sizeof sample_shape[0]) != 0)
        return fail(p, "\"input\" is not (batch, *input_shape)");
    k->batch = k->x.shape[0];
    k->in_size = product(k->x.shape, 1, k->x.rank);
    k->out_size = k->seed.shape[1];
    if (k->seed.shape[0] != k->batch || k->expected_output.count != k->seed.count ||
        k->expected_relevance.count != k->x.count)
        return fail(p, "tensor sizes disagree: input %lld, output_relevance %lld, expected_output %lld, expected_relevance %lld "
                    "(batch %lld)",
                    (long long)k->x.count, (long long)k->seed.count, (long long)k->expected_output.count,
                    (long long)k->expected_relevance.count, (long long)k->batch);
    return 0;
}

static char *read_text(const char *path, Problem *p) {
    FILE *f = fopen(path, "rb");
    if (!f) return fail(p, "cannot open %s: %s", path, strerror(errno)), NULL;
    size_t size = 0, capacity = 1 << 16;
    char *text = malloc(capacity);
    for (size_t n; text && (n = fread(text + size, 1, capacity - size - 1, f)) > 0;) {
        size += n;
        if (capacity - size - 1 == 0) {
            char *grown = realloc(text, capacity *= 2);
            if (!grown) free(text);
            text = grown;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!text || bad) {
        free(text);
        return fail(p, "cannot read %s", path), NULL;
    }
    text[size] = '\0';
    return text;
}

/** Every case of one file, each dtype in its own child; returns the number of cases. */
static int run_file(const char *dir, const char *base) {
    char path[512], file[300];
    snprintf(path, sizeof path, "%s/%s", dir, base);
    const char *leaf = strrchr(dir, '/');
    snprintf(file, sizeof file, "%s/%s", leaf ? leaf + 1 : dir, base);
    Problem p = {""};
    char *text = read_text(path, &p);
    cJSON *spec = text ? cJSON_Parse(text) : NULL;
    if (text && !spec) {
        const char *near = cJSON_GetErrorPtr();
        fail(&p, "not valid JSON near \"%.40s\"", near ? near : "?");
    }
    free(text);
    const cJSON *cases = spec ? cJSON_GetObjectItemCaseSensitive(spec, "cases") : NULL;
    if (spec && (!cJSON_IsArray(cases) || cJSON_GetArraySize(cases) == 0)) fail(&p, "no \"cases\" list");
    if (p.text[0]) {
        for (int d = 1; d >= 0; d--) check(0, group[d], file, "%s", p.text);
        cJSON_Delete(spec);
        return 0;
    }
    int count = 0, index = 0;
    for (const cJSON *c = cases->child; c; c = c->next, index++, count++) {
        Case k;
        Problem bad = {""};
        if (case_read(&k, spec, c, file, &bad) != 0) {
            for (int d = 1; d >= 0; d--) check(0, group[d], file, "case %d (%s): %s", index, k.name, bad.text);
        } else {
            for (int d = 1; d >= 0; d--) {
                CaseJob job = {&k, d};
                char what[400];
                snprintf(what, sizeof what, "%s: %s", file, k.name);
                isolated(group[d], what, case_job, &job);
            }
        }
        case_free(&k);
    }
    cJSON_Delete(spec);
    return count;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void run_zennit_checks(void) {
    for (size_t i = 0; i < sizeof fixture_dirs / sizeof fixture_dirs[0]; i++) {
        const char *dir = fixture_dirs[i];
        DIR *listing = opendir(dir);
        if (!listing) {
            for (int d = 1; d >= 0; d--)
                check(0, group[d], dir, "cannot open the fixture directory: %s (run the harness from the repository root)",
                      strerror(errno));
            continue;
        }
        char *names[256];
        int files = 0;
        for (struct dirent *e; (e = readdir(listing)) != NULL && files < 256;) {
            size_t n = strlen(e->d_name);
            if (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) {
                names[files] = malloc(n + 1);
                if (!names[files]) abort();
                memcpy(names[files++], e->d_name, n + 1);
            }
        }
        closedir(listing);
        qsort(names, (size_t)files, sizeof names[0], by_name);
        if (files == 0)
            for (int d = 1; d >= 0; d--) check(0, group[d], dir, "no *.json fixture files in the directory");
        int cases = 0;
        for (int f = 0; f < files; f++) {
            cases += run_file(dir, names[f]);
            free(names[f]);
        }
        printf("zennit: %s: %d files, %d cases, each in float64 and float32\n", dir, files, cases);
    }
}
