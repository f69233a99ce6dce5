/**
 * handles.c : handles never come back to life, and a destroy checks the handle's type.
 *
 * The header promises DTD_ERROR_INVALID_ARGUMENT for a handle that is not live. A registry keyed
 * on addresses breaks that as soon as a new handle reuses a freed address (issue 13 measured 206
 * of 500 destroyed handles accepted after 500 new creations). These checks replay that pattern
 * and harsher ones, and count every stale handle the library accepts (which must be 0):
 *  - 500 networks destroyed, 500 created, each destroyed pointer used and destroyed again;
 *  - 2,000 random rounds of creating and destroying networks and rule sets;
 *  - 100,000 create/destroy cycles, each checking the last three (stale) handles while a new one
 *    exists, then every stale handle once more while 16 new networks are live;
 *  - wrong-type destroys (dtd_network_destroy on a rule set and the reverse) free nothing and
 *    say why in dtd_last_error_message(); a handle of the wrong type as an argument is rejected;
 *  - forged pointers (a stack address, a handle value with a future generation) are rejected.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t SHAPE[1] = {3};
static const double WEIGHT[6] = {1, 2, 3, -1, -2, -3};

/** A float64 network (3) -> dense(2): it has a layer, so acting on it is observable. */
static void *make_network(void) {
    void *net = NULL;
    if (DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(SHAPE), AI64(1), AP(&net)) != DTD_OK) return NULL;
    if (DCALL("dtd_network_add_dense_f64", AP(net), AP(WEIGHT), AI64(6), AI64(2), AI64(3), AP(NULL), AI64(0)) != DTD_OK) return NULL;
    return net;
}

static void *make_rules(void *net) {
    void *rules = NULL;
    if (DCALL("dtd_rules_create", AP(net), AP(&rules)) != DTD_OK) return NULL;
    return rules;
}

/** 1 if libdtd accepts `handle` as a live network (a stale handle must not be). */
static int network_accepted(void *handle) {
    int64_t count = -1;
    return DCALL("dtd_network_layer_count", AP(handle), AP(&count)) == DTD_OK;
}

static int rules_accepted(void *handle) {
    int32_t kind = -1;
    return DCALL("dtd_rules_kind", AP(handle), AI64(0), AP(&kind)) == DTD_OK;
}

static const char *message_now(void) {
    const char *m = SCALL0("dtd_last_error_message");
    return m ? m : "(NULL)";
}

/* ---- the pattern: 500 destroyed, 500 created ------------------------------------------ */

#define BATCH_HANDLES 500

static void reuse_job(void *ctx) {
    (void)ctx;
    void *old[BATCH_HANDLES], *fresh[BATCH_HANDLES];
    int made = 1;
    for (int i = 0; i < BATCH_HANDLES; i++) made &= (old[i] = make_network()) != NULL;
    for (int i = 0; i < BATCH_HANDLES; i++) VCALL("dtd_network_destroy", AP(old[i]));
    for (int i = 0; i < BATCH_HANDLES; i++) made &= (fresh[i] = make_network()) != NULL;
    check(made, "handles", "500 + 500 networks created", "a create or add failed: %s", last_message());
    int accepted = 0, message_ok = 0;
    for (int i = 0; i < BATCH_HANDLES; i++) {
        accepted += network_accepted(old[i]);
        message_ok += strstr(last_message(), "already destroyed") != NULL;
    }
    check(accepted == 0, "dtd_network_layer_count", "0 of 500 destroyed networks accepted after 500 new creations",
          "%d accepted", accepted);
    check(message_ok == BATCH_HANDLES, "dtd_network_layer_count", "a destroyed handle's message says it was already destroyed",
          "%d of 500 did; last: \"%s\"", message_ok, last_message());
    /* Destroying the stale pointers again must not free any of the new networks. */
    for (int i = 0; i < BATCH_HANDLES; i++) VCALL("dtd_network_destroy", AP(old[i]));
    int alive = 0;
    for (int i = 0; i < BATCH_HANDLES; i++) alive += network_accepted(fresh[i]);
    check(alive == BATCH_HANDLES, "dtd_network_destroy", "destroying 500 stale handles again frees none of the 500 new networks",
          "%d of 500 new networks still live", alive);
    for (int i = 0; i < BATCH_HANDLES; i++) VCALL("dtd_network_destroy", AP(fresh[i]));
}

/* ---- 2,000 random rounds -------------------------------------------------------------------- */

#define ROUNDS 2000

typedef struct {
    void *handle;
    int is_rules;
} Entry;

static void random_rounds_job(void *ctx) {
    (void)ctx;
    Rng rng = {0x13u};
    Entry live[ROUNDS + 1], dead[ROUNDS + 1];
    int nlive = 0, ndead = 0, accepted = 0, checks = 0, failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double u = rng_uniform(&rng);
        if (nlive > 0 && u < 0.45) { /* destroy a random live handle */
            int k = (int)(rng_uniform(&rng) * nlive);
            Entry e = live[k];
            live[k] = live[--nlive];
            VCALL(e.is_rules ? "dtd_rules_destroy" : "dtd_network_destroy", AP(e.handle));
            dead[ndead++] = e;
        } else { /* create a network, or a rule set for a random live network */
            int k = nlive > 0 ? (int)(rng_uniform(&rng) * nlive) : -1;
            Entry e = {NULL, 0};
            if (k >= 0 && !live[k].is_rules && u > 0.75)
                e = (Entry){make_rules(live[k].handle), 1};
            else
                e.handle = make_network();
            if (e.handle) live[nlive++] = e;
            else failures++;
        }
        /* A random dead handle, as either type, must be rejected now. */
        if (ndead > 0) {
            Entry e = dead[(int)(rng_uniform(&rng) * ndead)];
            accepted += network_accepted(e.handle) + rules_accepted(e.handle);
            checks += 2;
        }
    }
    for (int i = 0; i < ndead; i++) accepted += network_accepted(dead[i].handle) + rules_accepted(dead[i].handle), checks += 2;
    int alive = 0;
    for (int i = 0; i < nlive; i++) alive += live[i].is_rules ? rules_accepted(live[i].handle) : network_accepted(live[i].handle);
    check(failures == 0, "handles", "2,000 random rounds: every create succeeds", "%d failed: %s", failures, last_message());
    check(accepted == 0, "handles", "2,000 random create/destroy rounds: 0 stale handles accepted", "%d of %d stale checks accepted",
          accepted, checks);
    check(alive == nlive, "handles", "2,000 random rounds: every live handle still works", "%d of %d", alive, nlive);
    for (int i = 0; i < nlive; i++) VCALL(live[i].is_rules ? "dtd_rules_destroy" : "dtd_network_destroy", AP(live[i].handle));
}

/* ---- 100,000 create/destroy cycles ---------------------------------------------------------- */

#define CYCLES 100000

static void cycles_job(void *ctx) {
    (void)ctx;
    void **stale = calloc(CYCLES, sizeof *stale);
    if (!stale) abort();
    int64_t shape[1] = {3};
    int accepted = 0, failures = 0;
    long checks = 0;
    for (int i = 0; i < CYCLES; i++) {
        void *net = NULL;
        /* An empty network: the cheapest create, which is what makes address reuse likely. */
        if (DCALL("dtd_network_create", AI32(DTD_DTYPE_FLOAT64), AP(shape), AI64(1), AP(&net)) != DTD_OK) failures++;
        /* The last three stale handles, while a new one exists (allocators alternate addresses). */
        for (int back = 1; back <= 3 && back <= i; back++) accepted += network_accepted(stale[i - back]), checks++;
        VCALL("dtd_network_destroy", AP(net));
        stale[i] = net;
    }
    /* Every stale handle once more, while 16 new networks are live. */
    void *live[16];
    for (int k = 0; k < 16; k++) live[k] = make_network();
    for (int i = 0; i < CYCLES; i++) accepted += network_accepted(stale[i]), checks++;
    for (int k = 0; k < 16; k++) VCALL("dtd_network_destroy", AP(live[k]));
    check(failures == 0, "handles", "100,000 creates succeed", "%d failed", failures);
    check(accepted == 0, "dtd_network_layer_count", "100,000 create/destroy cycles with ~400,000 stale checks: 0 accepted",
          "%d of %ld accepted", accepted, checks);
    free(stale);
}

/* ---- wrong types and forged pointers --------------------------------------------------------- */

static void wrong_type_job(void *ctx) {
    (void)ctx;
    void *net = make_network();
    void *rules = net ? make_rules(net) : NULL;
    if (!net || !rules) {
        check(0, "handles", "wrong-type fixtures", "could not build them: %s", last_message());
        return;
    }
    VCALL("dtd_network_destroy", AP(rules));
    const char *m = message_now();
    check(strstr(m, "dtd_network_destroy") && strstr(m, "dtd_rules handle") && strstr(m, "nothing was freed"), "dtd_network_destroy",
          "on a rule set: the message says it is a dtd_rules handle and nothing was freed", "message \"%s\"", m);
    check(rules_accepted(rules), "dtd_network_destroy", "on a rule set: the rule set is not freed", "rejected: %s", last_message());

    VCALL("dtd_rules_destroy", AP(net));
    m = message_now();
    check(strstr(m, "dtd_rules_destroy") && strstr(m, "dtd_network handle") && strstr(m, "nothing was freed"), "dtd_rules_destroy",
          "on a network: the message says it is a dtd_network handle and nothing was freed", "message \"%s\"", m);
    check(network_accepted(net), "dtd_rules_destroy", "on a network: the network is not freed", "rejected: %s", last_message());

    /* A handle of the wrong type as an argument. */
    int64_t count = -1;
    dtd_status s = DCALL("dtd_network_layer_count", AP(rules), AP(&count));
    check(s == DTD_ERROR_INVALID_ARGUMENT && strstr(last_message(), "dtd_rules handle, not a dtd_network"), "dtd_network_layer_count",
          "a rule set passed as the network is DTD_ERROR_INVALID_ARGUMENT naming both types", "%s: \"%s\"", status_name(s),
          last_message());
    int32_t kind = -1;
    s = DCALL("dtd_rules_kind", AP(net), AI64(0), AP(&kind));
    check(s == DTD_ERROR_INVALID_ARGUMENT && strstr(last_message(), "dtd_network handle, not a dtd_rules"), "dtd_rules_kind",
          "a network passed as the rule set is DTD_ERROR_INVALID_ARGUMENT naming both types", "%s: \"%s\"", status_name(s),
          last_message());
    void *swapped = NULL;
    s = DCALL("dtd_rules_create", AP(rules), AP(&swapped));
    check(s == DTD_ERROR_INVALID_ARGUMENT && swapped == NULL, "dtd_rules_create", "a rule set as the network is rejected", "%s",
          status_name(s));

    /* Forged pointers: never dereferenced, reported as not made by libdtd. */
    double local = 0;
    void *forged[3] = {&local, (void *)(uintptr_t)0xD, NULL};
    /* The live network's value with a generation that was never issued (bits 28.. hold it). */
    forged[2] = (void *)((uintptr_t)net + ((uintptr_t)1 << 40));
    for (int i = 0; i < 3; i++) {
        s = DCALL("dtd_network_layer_count", AP(forged[i]), AP(&count));
        check(s == DTD_ERROR_INVALID_ARGUMENT && strstr(last_message(), "not made by libdtd"), "dtd_network_layer_count",
              "a forged pointer is DTD_ERROR_INVALID_ARGUMENT (not made by libdtd)", "%p: %s \"%s\"", forged[i], status_name(s),
              last_message());
        VCALL("dtd_network_destroy", AP(forged[i]));
    }
    check(network_accepted(net) && rules_accepted(rules), "dtd_network_destroy", "destroying forged pointers frees nothing",
          "a live handle went away");

    /* A destroy that frees, and a NULL destroy, leave an empty message. */
    DCALL("dtd_network_layer_count", AP(NULL), AP(&count)); /* a failure first, so the message is not empty */
    VCALL("dtd_rules_destroy", AP(rules));
    m = message_now();
    check(m[0] == '\0', "dtd_rules_destroy", "a successful destroy leaves an empty message", "\"%s\"", m);
    DCALL("dtd_network_layer_count", AP(NULL), AP(&count));
    VCALL("dtd_network_destroy", AP(NULL));
    m = message_now();
    check(m[0] == '\0', "dtd_network_destroy", "destroying NULL is a no-op with an empty message", "\"%s\"", m);
    VCALL("dtd_rules_destroy", AP(rules));
    m = message_now();
    check(strstr(m, "already destroyed") != NULL, "dtd_rules_destroy", "a second destroy frees nothing and says the handle was destroyed",
          "\"%s\"", m);
    VCALL("dtd_network_destroy", AP(net));
}

void run_handle_checks(void) {
    isolated("handles", "500 destroyed handles after 500 new creations", reuse_job, NULL);
    isolated("handles", "2,000 random create/destroy rounds", random_rounds_job, NULL);
    isolated("handles", "100,000 create/destroy cycles", cycles_job, NULL);
    isolated("handles", "wrong-type destroys and forged pointers", wrong_type_job, NULL);
}
