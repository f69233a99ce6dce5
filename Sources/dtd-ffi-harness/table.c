/**
 * table.c : reads Tests/abi/signatures.txt and turns each line into a callable ffi_cif.
 *
 * Line format (see the table's own header): `<return type> <name>(<types, comma-separated>)`,
 * "void" for no parameters. Type mapping, as the ABI conventions fix it: every pointer is
 * ffi_type_pointer; int32_t and the header's int32_t typedefs (dtd_status, dtd_dtype, ...) are
 * ffi_type_sint32; int64_t is ffi_type_sint64; double is ffi_type_double; void. Any other type is
 * an error: the harness would otherwise call with a guessed ABI.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Table g_table;

/** The header's int32_t typedefs. */
static const char *const int32_types[] = {
    "int32_t", "dtd_status", "dtd_dtype", "dtd_layer_kind", "dtd_rule_kind",
    "dtd_bias_mode", "dtd_composite", "dtd_placement",
};

const char *kind_name(Kind kind) {
    switch (kind) {
    case KIND_VOID: return "void";
    case KIND_POINTER: return "pointer";
    case KIND_I32: return "sint32";
    case KIND_I64: return "sint64";
    case KIND_F64: return "double";
    }
    return "?";
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/** Maps one C type of the table to its kind and ffi type; -1 for an unknown type. */
static int map_type(const char *type, int is_return, Kind *kind, ffi_type **ffi) {
    if (strchr(type, '*')) {
        *kind = KIND_POINTER;
        *ffi = &ffi_type_pointer;
        return 0;
    }
    if (strcmp(type, "void") == 0 && is_return) {
        *kind = KIND_VOID;
        *ffi = &ffi_type_void;
        return 0;
    }
    for (size_t i = 0; i < sizeof int32_types / sizeof int32_types[0]; i++) {
        if (strcmp(type, int32_types[i]) == 0) {
            *kind = KIND_I32;
            *ffi = &ffi_type_sint32;
            return 0;
        }
    }
    if (strcmp(type, "int64_t") == 0) {
        *kind = KIND_I64;
        *ffi = &ffi_type_sint64;
        return 0;
    }
    if (strcmp(type, "double") == 0) {
        *kind = KIND_F64;
        *ffi = &ffi_type_double;
        return 0;
    }
    return -1;
}

/** Parses one table line into `f`. Returns 0, or -1 with f->problem set. */
static int parse_line(char *line, Function *f) {
    snprintf(f->line, sizeof f->line, "%s", line);
    char *open = strchr(line, '(');
    char *close = strrchr(line, ')');
    if (!open || !close || close < open || *trim(close + 1) != '\0') {
        snprintf(f->problem, sizeof f->problem, "not '<return type> <name>(<types>)'");
        return -1;
    }
    *open = '\0';
    *close = '\0';
    char *head = trim(line);
    char *name = head + strlen(head);
    while (name > head && (name[-1] == '_' || (name[-1] >= 'a' && name[-1] <= 'z') || (name[-1] >= 'A' && name[-1] <= 'Z') ||
                           (name[-1] >= '0' && name[-1] <= '9')))
        name--;
    if (name == head || *name == '\0') {
        snprintf(f->problem, sizeof f->problem, "no return type or no name");
        return -1;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    *name = '\0';
    snprintf(f->ret, sizeof f->ret, "%s", trim(head));
    if (map_type(f->ret, 1, &f->ret_kind, &f->ffi_ret) != 0) {
        snprintf(f->problem, sizeof f->problem, "unknown return type '%s'", f->ret);
        return -1;
    }
    char *params = trim(open + 1);
    f->nparams = 0;
    if (strcmp(params, "void") == 0) return 0;
    for (char *save = NULL, *p = strtok_r(params, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (f->nparams == HARNESS_MAX_PARAMS) {
            snprintf(f->problem, sizeof f->problem, "more than %d parameters", HARNESS_MAX_PARAMS);
            return -1;
        }
        int i = f->nparams++;
        snprintf(f->params[i], sizeof f->params[i], "%s", trim(p));
        if (map_type(f->params[i], 0, &f->kinds[i], &f->ffi_params[i]) != 0) {
            snprintf(f->problem, sizeof f->problem, "parameter %d: unknown type '%s'", i + 1, f->params[i]);
            return -1;
        }
    }
    return 0;
}

int table_load(const char *path, char *error, size_t error_size) {
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(error, error_size, "cannot open %s", path);
        return -1;
    }
    int capacity = 64;
    g_table.items = calloc((size_t)capacity, sizeof(Function));
    g_table.count = 0;
    char buffer[1024];
    int number = 0, bad = 0;
    while (fgets(buffer, sizeof buffer, file)) {
        number++;
        char *line = trim(buffer);
        if (*line == '\0' || *line == '#') continue;
        if (g_table.count == capacity) {
            capacity *= 2;
            Function *grown = realloc(g_table.items, (size_t)capacity * sizeof(Function));
            if (!grown) break;
            g_table.items = grown;
        }
        Function *f = &g_table.items[g_table.count++];
        memset(f, 0, sizeof *f);
        f->line_number = number;
        if (parse_line(line, f) != 0) {
            check(0, f->name[0] ? f->name : "table", "signature table line parses",
                  "signatures.txt:%d: %s: %s", number, f->problem, f->line);
            bad++;
        }
        for (int i = 0; i < g_table.count - 1; i++) {
            if (strcmp(g_table.items[i].name, f->name) == 0) {
                check(0, f->name, "signature table lists each function once", "signatures.txt:%d repeats line %d", number,
                      g_table.items[i].line_number);
            }
        }
    }
    fclose(file);
    if (g_table.count == 0) {
        snprintf(error, error_size, "%s lists no functions", path);
        return -1;
    }
    check(bad == 0, "table", "every signature table line parses", "%d of %d lines do not parse", bad, g_table.count);
    return 0;
}

void table_resolve(void *library) {
    for (int i = 0; i < g_table.count; i++) {
        Function *f = &g_table.items[i];
        if (f->problem[0]) continue;
        dlerror();
        f->address = dlsym(library, f->name);
        const char *failure = dlerror();
        if (!f->address) {
            snprintf(f->problem, sizeof f->problem, "symbol not found in the library (dlsym: %s)", failure ? failure : "NULL");
            check(0, f->name, "exported by the library", "%s", f->problem);
            continue;
        }
        ffi_status s = ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, (unsigned)f->nparams, f->ffi_ret, f->ffi_params);
        if (s != FFI_OK) {
            snprintf(f->problem, sizeof f->problem, "ffi_prep_cif failed (%d)", (int)s);
            check(0, f->name, "ffi_prep_cif", "%s", f->problem);
            continue;
        }
        f->callable = 1;
    }
}

Function *table_find(const char *name) {
    for (int i = 0; i < g_table.count; i++)
        if (strcmp(g_table.items[i].name, name) == 0) return &g_table.items[i];
    return NULL;
}

int name_dtype(const char *name) {
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, "_f32") == 0) return 0;
    if (n > 4 && strcmp(name + n - 4, "_f64") == 0) return 1;
    return -1;
}
