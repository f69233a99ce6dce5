/**
 * registry_threads.c : handles created and destroyed on 8 threads at once, for ThreadSanitizer.
 *
 * The header allows dtd_network_create / dtd_rules_create from any thread at any time, and the
 * destroy of a handle no other thread uses. Each thread here runs 2,000 rounds of: create a
 * network and a rule set, use a network shared by all threads, destroy both, and check that the
 * destroyed handles are rejected. All of it goes through libdtd's one handle registry (a
 * Synchronization.Mutex), so TSan sees every registry access race there is — and, in a debug
 * build, the Mutex false positive Tests/sanitizers/tsan.supp documents.
 *
 *   cc -fsanitize=thread ... registry_threads.c -ldtd && ./registry_threads     (Tests/sanitizers/tsan.sh)
 * Exit status 1 on any wrong status.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "dtd.h"

#define THREADS 8
#define ROUNDS 2000

static dtd_network *shared;

static void *worker(void *arg) {
    long *failures = arg;
    const int64_t shape[1] = {3};
    const double weight[6] = {1, 2, 3, -1, -2, -3};
    for (int round = 0; round < ROUNDS; round++) {
        dtd_network *net = NULL;
        dtd_rules *rules = NULL;
        int64_t count = 0;
        dtd_rule_kind kind = 0;
        *failures += dtd_network_create(DTD_DTYPE_FLOAT64, shape, 1, &net) != DTD_OK;
        *failures += dtd_network_add_dense_f64(net, weight, 6, 2, 3, NULL, 0) != DTD_OK;
        *failures += dtd_rules_create(net, &rules) != DTD_OK;
        *failures += dtd_network_layer_count(shared, &count) != DTD_OK || count != 1;
        dtd_rules_destroy(rules);
        dtd_network_destroy(net);
        *failures += dtd_network_layer_count(net, &count) != DTD_ERROR_INVALID_ARGUMENT;
        *failures += dtd_rules_kind(rules, 0, &kind) != DTD_ERROR_INVALID_ARGUMENT;
    }
    return NULL;
}

int main(void) {
    const int64_t shape[1] = {3};
    const double weight[6] = {1, 0, 0, 0, 1, 0};
    if (dtd_network_create(DTD_DTYPE_FLOAT64, shape, 1, &shared) != DTD_OK ||
        dtd_network_add_dense_f64(shared, weight, 6, 2, 3, NULL, 0) != DTD_OK) {
        fprintf(stderr, "registry_threads: could not build the shared network: %s\n", dtd_last_error_message());
        return 1;
    }
    pthread_t threads[THREADS];
    long failures[THREADS] = {0};
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, worker, &failures[t]);
    long total = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        total += failures[t];
    }
    dtd_network_destroy(shared);
    printf("registry_threads: %d threads x %d create/use/destroy rounds, %ld wrong statuses\n", THREADS, ROUNDS, total);
    return total == 0 ? 0 : 1;
}
