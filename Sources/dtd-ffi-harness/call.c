/**
 * call.c : argument lists -> ffi_call, and the contract every fallible call must keep.
 *
 * dcall() checks, for every fallible call the harness makes, what the header promises:
 *  - the status is one of the codes 0..17 and never DTD_ERROR_INTERNAL ("please report it");
 *  - dtd_last_error_message() is non-empty after a failure and empty after a success.
 * Violations are failed checks at once; the calls that kept the contract are summarised per
 * function when the child ends (call_epilogue, called by isolate.c).
 */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- formatting ------------------------------------------------------------------------- */

static char ring[16][160];
static int ring_next;

static char *ring_buffer(void) {
    char *b = ring[ring_next];
    ring_next = (ring_next + 1) % 16;
    return b;
}

const char *typed(const char *base, int dtype) {
    /* Interned, so the result stays valid for the life of the process. */
    static char names[256][96];
    static int count;
    char name[96];
    snprintf(name, sizeof name, "%s%s", base, dtype == 0 ? "_f32" : "_f64");
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], name) == 0) return names[i];
    if (count == 256) abort();
    snprintf(names[count], sizeof names[count], "%s", name);
    return names[count++];
}

static const char *const status_names[] = {
    "DTD_OK", "DTD_ERROR_NULL_POINTER", "DTD_ERROR_INVALID_ARGUMENT", "DTD_ERROR_SIZE", "DTD_ERROR_OVERFLOW",
    "DTD_ERROR_SHAPE_MISMATCH", "DTD_ERROR_BUFFER_TOO_SMALL", "DTD_ERROR_LAYER_INDEX", "DTD_ERROR_DTYPE",
    "DTD_ERROR_EMPTY_NETWORK", "DTD_ERROR_RULE", "DTD_ERROR_NON_FINITE", "DTD_ERROR_LAYER_ORDER",
    "DTD_ERROR_NETWORK_MISMATCH", "DTD_ERROR_OUT_OF_RANGE", "DTD_ERROR_OUT_OF_MEMORY", "DTD_ERROR_UNSUPPORTED",
    "DTD_ERROR_INTERNAL",
};

const char *status_name(dtd_status status) {
    char *b = ring_buffer();
    if (status >= 0 && status <= DTD_ERROR_INTERNAL)
        snprintf(b, sizeof ring[0], "%s (%d)", status_names[status], (int)status);
    else
        snprintf(b, sizeof ring[0], "unknown status %d", (int)status);
    return b;
}

const char *mask_text(unsigned mask) {
    char *b = ring_buffer();
    b[0] = '\0';
    size_t used = 0;
    for (int s = 0; s <= DTD_ERROR_INTERNAL; s++) {
        if (!(mask & ST(s))) continue;
        int n = snprintf(b + used, sizeof ring[0] - used, "%s%s", used ? " or " : "", status_names[s] + 4);
        if (n < 0 || (size_t)n >= sizeof ring[0] - used) break;
        used += (size_t)n;
    }
    return b;
}

static void format_args(const Arg *args, int nargs, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < nargs && used < size; i++) {
        int n = 0;
        const char *sep = i ? ", " : "";
        switch (args[i].kind) {
        case KIND_POINTER:
            n = args[i].v.p ? snprintf(out + used, size - used, "%s%p", sep, args[i].v.p)
                            : snprintf(out + used, size - used, "%sNULL", sep);
            break;
        case KIND_I32: n = snprintf(out + used, size - used, "%s%" PRId32, sep, args[i].v.i32); break;
        case KIND_I64: n = snprintf(out + used, size - used, "%s%" PRId64, sep, args[i].v.i64); break;
        case KIND_F64: n = snprintf(out + used, size - used, "%s%.17g", sep, args[i].v.f64); break;
        case KIND_VOID: break;
        }
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* ---- ffi_call ------------------------------------------------------------------------------ */

int invoke(Function *f, const Arg *args, int nargs, Value *out, char *why, size_t why_size) {
    if (!f->callable) {
        snprintf(why, why_size, "%s is not callable: %s", f->name, f->problem);
        return -1;
    }
    if (nargs != f->nparams) {
        snprintf(why, why_size, "%s takes %d arguments in the table, the harness passed %d", f->name, f->nparams, nargs);
        return -1;
    }
    void *values[HARNESS_MAX_PARAMS];
    Arg copy[HARNESS_MAX_PARAMS];
    for (int i = 0; i < nargs; i++) {
        if (args[i].kind != f->kinds[i]) {
            snprintf(why, why_size, "%s parameter %d is '%s' (%s) in the table, the harness passed a %s", f->name, i + 1,
                     f->params[i], kind_name(f->kinds[i]), kind_name(args[i].kind));
            return -1;
        }
        copy[i] = args[i];
        switch (copy[i].kind) {
        case KIND_POINTER: values[i] = &copy[i].v.p; break;
        case KIND_I32: values[i] = &copy[i].v.i32; break;
        case KIND_I64: values[i] = &copy[i].v.i64; break;
        case KIND_F64: values[i] = &copy[i].v.f64; break;
        case KIND_VOID: values[i] = NULL; break;
        }
    }
    char text[512];
    format_args(args, nargs, text, sizeof text);
    note_call(f->name, text);

    /* Return storage must be at least an ffi_arg wide; narrow integers come back widened. */
    union {
        ffi_arg u;
        ffi_sarg s;
        void *p;
        double d;
        int64_t i64;
    } ret;
    memset(&ret, 0, sizeof ret);
    ffi_call(&f->cif, FFI_FN(f->address), f->ret_kind == KIND_VOID ? NULL : &ret, nargs ? values : NULL);
    memset(out, 0, sizeof *out);
    switch (f->ret_kind) {
    case KIND_POINTER: out->p = ret.p; break;
    case KIND_I32: out->i32 = (int32_t)ret.s; break;
    case KIND_I64: out->i64 = ret.i64; break;
    case KIND_F64: out->f64 = ret.d; break;
    case KIND_VOID: break;
    }
    return 0;
}

/* ---- the error-message contract ------------------------------------------------------------ */

typedef struct {
    char name[96];
    long calls;
    long violations;
} ContractTally;

static ContractTally contract[128];
static int contract_count;
static char message_copy[1100];

const char *last_message(void) { return message_copy; }

static ContractTally *contract_of(const char *name) {
    for (int i = 0; i < contract_count; i++)
        if (strcmp(contract[i].name, name) == 0) return &contract[i];
    if (contract_count == (int)(sizeof contract / sizeof contract[0])) return NULL;
    ContractTally *t = &contract[contract_count++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->calls = t->violations = 0;
    return t;
}

void call_epilogue(void) {
    for (int i = 0; i < contract_count; i++) {
        if (contract[i].violations == 0)
            check(1, contract[i].name, "dtd_last_error_message() empty after success, non-empty after failure", "%ld calls",
                  contract[i].calls);
    }
    contract_count = 0;
}

static Function *must_find(const char *name) {
    Function *f = table_find(name);
    if (!f) check(0, name, "the harness calls only functions of the table", "%s is not in signatures.txt", name);
    return f;
}

dtd_status dcall(const char *name, int nargs, const Arg *args) {
    Function *f = must_find(name);
    if (!f) return NO_CALL;
    Value out;
    char why[400];
    if (f->ret_kind != KIND_I32 || strcmp(f->ret, "dtd_status") != 0) {
        check(0, name, "harness call kind", "dcall() used on '%s', which returns %s", name, f->ret);
        return NO_CALL;
    }
    if (invoke(f, args, nargs, &out, why, sizeof why) != 0) {
        check(0, name, "call possible", "%s", why);
        return NO_CALL;
    }
    dtd_status status = out.i32;
    message_copy[0] = '\0';
    Function *m = table_find("dtd_last_error_message");
    Value msg;
    if (m && m->callable && invoke(m, NULL, 0, &msg, why, sizeof why) == 0) {
        ContractTally *t = in_setup_mode() ? NULL : contract_of(name);
        if (t) t->calls++;
        if (!msg.p) {
            check(0, name, "dtd_last_error_message() is never NULL", "NULL after %s returned %s", name, status_name(status));
            if (t) t->violations++;
        } else {
            snprintf(message_copy, sizeof message_copy, "%s", (const char *)msg.p);
            int empty = message_copy[0] == '\0';
            if (status == DTD_OK && !empty) {
                check(0, name, "dtd_last_error_message() is empty after a success", "message \"%s\"", message_copy);
                if (t) t->violations++;
            } else if (status != DTD_OK && empty) {
                check(0, name, "dtd_last_error_message() is non-empty after a failure", "empty after %s",
                      status_name(status));
                if (t) t->violations++;
            }
        }
    }
    if (status < 0 || status > DTD_ERROR_INTERNAL)
        check(0, name, "status is a documented code", "returned %d, outside 0..17", (int)status);
    if (status == DTD_ERROR_INTERNAL)
        check(0, name, "no internal error", "DTD_ERROR_INTERNAL: %s", message_copy);
    return status;
}

static int plain_call(const char *name, Kind expected, int nargs, const Arg *args, Value *out) {
    Function *f = must_find(name);
    if (!f) return -1;
    char why[400];
    if (f->ret_kind != expected) {
        check(0, name, "harness call kind", "'%s' returns %s, the harness expected a %s", name, f->ret, kind_name(expected));
        return -1;
    }
    if (invoke(f, args, nargs, out, why, sizeof why) != 0) {
        check(0, name, "call possible", "%s", why);
        return -1;
    }
    return 0;
}

const char *scall(const char *name, int nargs, const Arg *args) {
    Value out;
    return plain_call(name, KIND_POINTER, nargs, args, &out) == 0 ? (const char *)out.p : NULL;
}

int32_t icall(const char *name, int nargs, const Arg *args) {
    Value out;
    return plain_call(name, KIND_I32, nargs, args, &out) == 0 ? out.i32 : INT32_MIN;
}

int vcall(const char *name, int nargs, const Arg *args) {
    Value out;
    return plain_call(name, KIND_VOID, nargs, args, &out);
}

/* ---- random numbers -------------------------------------------------------------------------- */

double rng_uniform(Rng *rng) {
    uint64_t x = rng->state ? rng->state : 0x9E3779B97F4A7C15u;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return (double)((x * 2685821657736338717u) >> 11) * 0x1.0p-53;
}

double rng_normal(Rng *rng) {
    double sum = 0;
    for (int k = 0; k < 12; k++) sum += rng_uniform(rng);
    return sum - 6.0;
}

double sqrt_of(double x) {
    if (!(x > 0)) return 0.0;
    double r = x > 1 ? x : 1.0;
    for (int k = 0; k < 200; k++) {
        double next = 0.5 * (r + x / r);
        if (next >= r) break;
        r = next;
    }
    return r;
}

double wave(int i, int salt) {
    uint64_t h = (uint64_t)(uint32_t)i * 0x9E3779B97F4A7C15u + (uint64_t)(uint32_t)salt * 0xC2B2AE3D27D4EB4Fu;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9u;
    h ^= h >> 32;
    return (double)(h >> 11) * 0x1.0p-52 - 1.0;
}
