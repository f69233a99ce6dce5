/**
 * values.h : helpers shared by the value checks (values.c, theory.c, nonfinite.c): element
 * buffers of either dtype, the per-sample comparison, and networks and rule sets built through
 * ffi_call from a reference network (reference.h).
 */
#ifndef DTD_HARNESS_VALUES_H
#define DTD_HARNESS_VALUES_H

#include <stdint.h>

#include "reference.h"

/** Agreement with the naive reference: float32 1e-4, float64 1e-10 (index = dtype 0 / 1). */
extern const double value_tolerance[2];
extern const char *const dtype_text[2];

/** A calloc'ed buffer of `n` elements of dtype `d` (0 float32, 1 float64) holding `values`. */
void *to_elements(int d, const double *values, int64_t n);
/** The first `n` elements of a dtype-`d` buffer as doubles. */
void from_elements(int d, const void *buffer, double *values, int64_t n);
/** A calloc'ed array of `n` zeros (aborts when out of memory). */
double *zeros(int64_t n);

/** Records whether `got` matches `want` (n values, `samples` rows) per sample, to `tol` of each
 *  sample's largest |want| (per element where |want_i| >= per_element_above times it); no NaN. */
int compare_per(const char *fn, const char *what, const double *got, const double *want, int64_t n, int64_t samples,
                double per_element_above, double tol);
/** compare_per() against each sample's scale. */
int compare(const char *fn, const char *what, const double *got, const double *want, int64_t n, int64_t samples, double tol);

/** A libdtd network (dtype `d`) with the reference's layers; NULL (and a failed check) on error. */
void *build_network(const RefNet *ref, int d);
/** A rule set with rules[l] on every linear layer l of `ref`; checks dtd_rules_kind after each set. */
void *build_rules(void *net, const RefNet *ref, const RefRule *rules, int d);

#endif /* DTD_HARNESS_VALUES_H */
