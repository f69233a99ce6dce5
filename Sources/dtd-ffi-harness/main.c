/**
 * dtd-ffi-harness : calls every function of Tests/abi/signatures.txt in libdtd.so through libffi.
 *
 *   dtd-ffi-harness [libdtd.so [signatures.txt]] [--phases=specific,handles,catalogue,null,recipes,values,zennit]
 *
 * Defaults: .build/release/libdtd.so and Tests/abi/signatures.txt (run from the repository root).
 * Phases, in order:
 *   specific  version, status strings, error messages, the bad-input list with exact codes,
 *             failed builds leave the network unchanged, NaN propagation, out-of-memory
 *   handles   stale handles are rejected forever (the address-reuse patterns), wrong-type destroys
 *   catalogue bad API arguments, each with its status and a message naming the argument
 *   null      every function with NULL pointers and 0 / -1 / largest / smallest scalars
 *   recipes   every fallible function: its valid call, then each argument perturbed by its role
 *   values    forward, gradient, gradient x input and every LRP rule against a naive reference;
 *             the theory functions and audited points; the non-finite values convention
 *   zennit    every case of Tests/Fixtures/zennit and zennit_graph against Zennit, float64 and float32
 * Output: one "FAIL <function>: <check>: <detail>" line per failed check as it happens, a line per
 * function with its counts, how many table functions were exercised, and last exactly
 * "N passed, N failed". Exit status 1 if anything failed, 2 on a usage error.
 */
#include "harness.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int phase_enabled(const char *phases, const char *name) {
    if (!phases) return 1;
    size_t n = strlen(name);
    for (const char *p = phases; (p = strstr(p, name)) != NULL; p += n)
        if ((p == phases || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

int main(int argc, char **argv) {
    const char *library_path = ".build/release/libdtd.so";
    const char *table_path = "Tests/abi/signatures.txt";
    const char *phases = NULL;
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--phases=", 9) == 0) {
            phases = argv[i] + 9;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [libdtd.so [signatures.txt]] [--phases=specific,handles,catalogue,null,recipes,values,zennit]\n", argv[0]);
            return 2;
        } else if (positional == 0) {
            library_path = argv[i], positional++;
        } else if (positional == 1) {
            table_path = argv[i], positional++;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("dtd-ffi-harness: library %s, table %s\n", library_path, table_path);

    char error[512];
    if (table_load(table_path, error, sizeof error) != 0) {
        fprintf(stderr, "dtd-ffi-harness: %s\n", error);
        return 2;
    }
    printf("signature table: %d functions\n", g_table.count);
    void *library = dlopen(library_path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        check(0, "library", "dlopen", "%s", dlerror());
        tally_summary();
        return 1;
    }
    table_resolve(library);

    if (phase_enabled(phases, "specific")) run_specific_checks();
    if (phase_enabled(phases, "handles")) run_handle_checks();
    if (phase_enabled(phases, "catalogue")) run_catalogue_checks();
    if (phase_enabled(phases, "null")) sweep_null_arguments();
    if (phase_enabled(phases, "recipes")) sweep_recipes();
    if (phase_enabled(phases, "values")) {
        run_value_checks();
        run_theory_checks();
        run_nonfinite_checks();
        run_winograd_checks();
    }
    if (phase_enabled(phases, "zennit")) run_zennit_checks();

    if (!phases) {
        int unexercised = 0;
        for (int i = 0; i < g_table.count; i++) {
            Function *f = &g_table.items[i];
            if (f->callable && calls_of(f->name) == 0) {
                unexercised++;
                check(0, f->name, "exercised through ffi_call", "no phase called this exported function");
            }
        }
        check(unexercised == 0, "table", "every function the library exports was exercised", "%d were not", unexercised);
    }
    int failed = tally_summary();
    return failed ? 1 : 0;
}
