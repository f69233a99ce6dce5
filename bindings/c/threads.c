/*
 * threads.c : one network and one rule set shared by 8 threads.
 *
 *   make run            (or: make && ./build/threads)
 *
 * A fully built network and a fully set rule set are immutable, so any number of threads may
 * explain with them at once (Include/dtd.h, "Threads"). Each thread runs LRP on the same inputs
 * many times and compares the relevance and the ledger bit for bit with a serial run. Between
 * runs each thread makes its own mistake (a different error per thread, none of which modifies
 * the shared handles) and checks that dtd_last_error_message() is its own: it names the thread's
 * bad value, and it is still the same text after the other threads have made their mistakes,
 * because the message is thread-local.
 *
 * Exit status: 0 when every result matched and every message was the thread's own, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtd.h"

#define THREADS 8
#define ITERATIONS 200
#define BATCH 4
#define IN 64
#define HIDDEN1 128
#define HIDDEN2 64
#define OUT 10
#define LAYERS 5 /* dense, relu, dense, relu, dense */

static dtd_network *net;
static dtd_rules *rules;
static float x[BATCH * IN], seed[BATCH * OUT];
static float serial_relevance[BATCH * IN];
static dtd_ledger_entry serial_ledger[BATCH * LAYERS];
/* A start gate, so all threads explain at the same time. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static int go;

typedef struct {
    int id;
    long runs, mismatches, message_failures;
    char first_problem[2600];
} Worker;

/* Deterministic weights in [-scale, scale). */
static void fill(float *values, int n, unsigned seed_value, float scale) {
    unsigned state = seed_value;
    int i;
    for (i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        values[i] = scale * ((float)(state >> 8) / 8388608.0f - 1.0f);
    }
}

static void note(Worker *w, const char *problem) {
    if (!w->first_problem[0]) snprintf(w->first_problem, sizeof w->first_problem, "%s", problem);
}

/*
 * Thread `id` provokes its own error, which mentions the token 1000 + id. None of these calls
 * modifies the shared network or rule set. Returns the status; `expected` receives the status
 * the header documents for the mistake.
 */
static dtd_status provoke(int id, dtd_status *expected) {
    static const int64_t flat[1] = {IN};
    float out[OUT];
    int64_t shape[DTD_MAX_RANK], rank = 0, target = 1002;
    dtd_layer_kind layer_kind = 0;
    dtd_rule_kind rule_kind = 0;
    dtd_network *other = NULL;
    switch (id) {
    case 0:
        *expected = DTD_ERROR_LAYER_INDEX;
        return dtd_network_layer_kind(net, 1000, &layer_kind);
    case 1:
        *expected = DTD_ERROR_SIZE;
        return dtd_network_forward_f32(net, -1001, x, BATCH * IN, out, OUT);
    case 2:
        *expected = DTD_ERROR_OUT_OF_RANGE;
        return dtd_relevance_target_seed_f32(net, 1, x, IN, &target, 1, out, OUT);
    case 3:
        *expected = DTD_ERROR_BUFFER_TOO_SMALL; /* "input holds 1003 elements" */
        return dtd_network_forward_f32(net, 1000, x, 1003, out, OUT);
    case 4:
        *expected = DTD_ERROR_LAYER_INDEX;
        return dtd_network_layer_shape(net, 1004, shape, DTD_MAX_RANK, &rank);
    case 5:
        *expected = DTD_ERROR_LAYER_INDEX;
        return dtd_rules_kind(rules, 1005, &rule_kind);
    case 6:
        *expected = DTD_ERROR_INVALID_ARGUMENT; /* dtype 1006 */
        return dtd_network_create(1006, flat, 1, &other);
    default:
        *expected = DTD_ERROR_BUFFER_TOO_SMALL; /* batch 1007 with one sample's input */
        return dtd_relevance_lrp_f32(net, rules, 1007, x, IN, seed, OUT, serial_relevance, IN, NULL, 0);
    }
}

static void *work(void *arg) {
    Worker *w = arg;
    float relevance[BATCH * IN];
    dtd_ledger_entry ledger[BATCH * LAYERS];
    char token[16], mine[1100], problem[2600];
    int i, k;
    snprintf(token, sizeof token, "%d", 1000 + w->id);
    pthread_mutex_lock(&gate_lock);
    while (!go) pthread_cond_wait(&gate_open, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    for (i = 0; i < ITERATIONS; i++) {
        /* The shared explanation, compared bit for bit with the serial run. */
        dtd_status s = dtd_relevance_lrp_f32(net, rules, BATCH, x, BATCH * IN, seed, BATCH * OUT, relevance, BATCH * IN, ledger,
                                             BATCH * LAYERS);
        w->runs++;
        if (s != DTD_OK || memcmp(relevance, serial_relevance, sizeof relevance) != 0 ||
            memcmp(ledger, serial_ledger, sizeof ledger) != 0) {
            w->mismatches++;
            snprintf(problem, sizeof problem, "iteration %d: LRP %s%s", i, dtd_status_string(s),
                     s == DTD_OK ? ", result differs from the serial run" : "");
            note(w, problem);
        }
        if (dtd_last_error_message()[0] != '\0') {
            w->message_failures++;
            snprintf(problem, sizeof problem, "iteration %d: message after a success is \"%s\"", i, dtd_last_error_message());
            note(w, problem);
        }

        /* This thread's own mistake and its own message. */
        {
            dtd_status expected = DTD_OK, got = provoke(w->id, &expected);
            snprintf(mine, sizeof mine, "%s", dtd_last_error_message());
            if (got != expected || strstr(mine, token) == NULL) {
                w->message_failures++;
                snprintf(problem, sizeof problem, "iteration %d: %s (expected %s), message \"%s\" lacks \"%s\"", i,
                         dtd_status_string(got), dtd_status_string(expected), mine, token);
                note(w, problem);
            }
        }
        /* Let the other threads fail in between; this thread's message must not change. */
        for (k = 0; k < 3; k++) sched_yield();
        if (strcmp(dtd_last_error_message(), mine) != 0) {
            w->message_failures++;
            snprintf(problem, sizeof problem, "iteration %d: message changed from \"%s\" to \"%s\"", i, mine,
                     dtd_last_error_message());
            note(w, problem);
        }
    }
    return NULL;
}

int main(void) {
    static float w1[HIDDEN1 * IN], b1[HIDDEN1], w2[HIDDEN2 * HIDDEN1], b2[HIDDEN2], w3[OUT * HIDDEN2], b3[OUT];
    const int64_t shape[1] = {IN};
    pthread_t threads[THREADS];
    Worker workers[THREADS];
    long runs = 0, mismatches = 0, message_failures = 0;
    int i, started = 0, exit_code = 1;

    if (!DTD_CHECK_ABI()) {
        fprintf(stderr, "libdtd ABI %d, built for ABI %d\n", (int)dtd_abi_version(), DTD_ABI_VERSION);
        return 1;
    }
    fill(w1, HIDDEN1 * IN, 1, 0.25f), fill(b1, HIDDEN1, 2, 0.1f);
    fill(w2, HIDDEN2 * HIDDEN1, 3, 0.15f), fill(b2, HIDDEN2, 4, 0.1f);
    fill(w3, OUT * HIDDEN2, 5, 0.2f), fill(b3, OUT, 6, 0.1f);
    fill(x, BATCH * IN, 7, 1.0f), fill(seed, BATCH * OUT, 8, 1.0f);

    /* Build everything before any thread starts: building must not overlap use. */
    if (dtd_network_create(DTD_DTYPE_FLOAT32, shape, 1, &net) != DTD_OK ||
        dtd_network_add_dense_f32(net, w1, HIDDEN1 * IN, HIDDEN1, IN, b1, HIDDEN1) != DTD_OK ||
        dtd_network_add_relu(net) != DTD_OK ||
        dtd_network_add_dense_f32(net, w2, HIDDEN2 * HIDDEN1, HIDDEN2, HIDDEN1, b2, HIDDEN2) != DTD_OK ||
        dtd_network_add_relu(net) != DTD_OK || dtd_network_add_dense_f32(net, w3, OUT * HIDDEN2, OUT, HIDDEN2, b3, OUT) != DTD_OK ||
        dtd_rules_create(net, &rules) != DTD_OK ||
        dtd_rules_set_composite(rules, DTD_COMPOSITE_EPSILON_ALPHA2_BETA1, 1e-6, 0.25, 0.0, 1.0) != DTD_OK ||
        dtd_rules_set_zbox(rules, 0, -1.0, 1.0, DTD_DEFAULT_STABILIZER, DTD_BIAS_INCLUDE) != DTD_OK ||
        dtd_relevance_lrp_f32(net, rules, BATCH, x, BATCH * IN, seed, BATCH * OUT, serial_relevance, BATCH * IN, serial_ledger,
                              BATCH * LAYERS) != DTD_OK) {
        fprintf(stderr, "set-up failed: %s\n", dtd_last_error_message());
        goto cleanup;
    }

    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].id = i;
        if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            break;
        }
        started++;
    }
    pthread_mutex_lock(&gate_lock);
    go = 1;
    pthread_cond_broadcast(&gate_open);
    pthread_mutex_unlock(&gate_lock);
    for (i = 0; i < started; i++) pthread_join(threads[i], NULL);

    for (i = 0; i < started; i++) {
        runs += workers[i].runs;
        mismatches += workers[i].mismatches;
        message_failures += workers[i].message_failures;
        if (workers[i].first_problem[0]) printf("thread %d: %s\n", i, workers[i].first_problem);
    }
    printf("%d threads x %d iterations: %ld LRP runs, %ld differ from the serial run; %ld error-message problems\n", started,
           ITERATIONS, runs, mismatches, message_failures);
    exit_code = (started == THREADS && mismatches == 0 && message_failures == 0) ? 0 : 1;
    printf("%s\n", exit_code == 0 ? "ok: results bit-identical, every error message thread-local" : "FAILED");

cleanup:
    dtd_rules_destroy(rules);
    dtd_network_destroy(net);
    return exit_code;
}
