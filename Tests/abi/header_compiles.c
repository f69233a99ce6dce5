/**
 * header_compiles.c : compiled (never linked or run) by Tests/abi/check_abi.py, twice:
 *
 *   gcc -std=c99   -Wall -Wextra -Werror -pedantic -Wstrict-prototypes -I Include -c header_compiles.c
 *   g++ -x c++ -std=c++11 -Wall -Wextra -Werror -pedantic             -I Include -c header_compiles.c
 *
 * It proves that Include/dtd.h is self-contained, idempotent (included twice), warning-free in
 * strict C99 and in C++ (where its declarations get C linkage through its own extern "C" block),
 * and it freezes the parts of the ABI that nm cannot see: the values of the append-only codes and
 * the sizes and field offsets of the public structs. Changing any of them is an ABI break: these
 * assertions fail to compile, naming the value.
 */
#include "dtd.h"
#include "dtd.h" /* the include guard makes a second inclusion harmless */

#include <stddef.h>

/* A compile-time assertion that works in C99 and C++11 alike, without C11's _Static_assert
 * (which -pedantic rejects in C99): an array of negative size is an error naming `name`. */
#define DTD_FREEZE(name, condition) typedef char dtd_frozen_##name[(condition) ? 1 : -1]

/* ---- 1. Version --------------------------------------------------------------------------- */
DTD_FREEZE(abi_version, DTD_ABI_VERSION == 1);
DTD_FREEZE(version_number, DTD_VERSION_NUMBER == DTD_VERSION_MAJOR * 10000 + DTD_VERSION_MINOR * 100 + DTD_VERSION_PATCH);

/* ---- 2. Status codes: append-only, never renumbered --------------------------------------- */
DTD_FREEZE(ok, DTD_OK == 0);
DTD_FREEZE(null_pointer, DTD_ERROR_NULL_POINTER == 1);
DTD_FREEZE(invalid_argument, DTD_ERROR_INVALID_ARGUMENT == 2);
DTD_FREEZE(size, DTD_ERROR_SIZE == 3);
DTD_FREEZE(overflow, DTD_ERROR_OVERFLOW == 4);
DTD_FREEZE(shape_mismatch, DTD_ERROR_SHAPE_MISMATCH == 5);
DTD_FREEZE(buffer_too_small, DTD_ERROR_BUFFER_TOO_SMALL == 6);
DTD_FREEZE(layer_index, DTD_ERROR_LAYER_INDEX == 7);
DTD_FREEZE(dtype, DTD_ERROR_DTYPE == 8);
DTD_FREEZE(empty_network, DTD_ERROR_EMPTY_NETWORK == 9);
DTD_FREEZE(rule, DTD_ERROR_RULE == 10);
DTD_FREEZE(non_finite, DTD_ERROR_NON_FINITE == 11);
DTD_FREEZE(layer_order, DTD_ERROR_LAYER_ORDER == 12);
DTD_FREEZE(network_mismatch, DTD_ERROR_NETWORK_MISMATCH == 13);
DTD_FREEZE(out_of_range, DTD_ERROR_OUT_OF_RANGE == 14);
DTD_FREEZE(out_of_memory, DTD_ERROR_OUT_OF_MEMORY == 15);
DTD_FREEZE(unsupported, DTD_ERROR_UNSUPPORTED == 16);
DTD_FREEZE(internal, DTD_ERROR_INTERNAL == 17);
DTD_FREEZE(status_is_int32, sizeof(dtd_status) == 4);

/* ---- 3. Network enums ------------------------------------------------------------------------ */
DTD_FREEZE(dtype_f32, DTD_DTYPE_FLOAT32 == 1);
DTD_FREEZE(dtype_f64, DTD_DTYPE_FLOAT64 == 2);
DTD_FREEZE(layer_dense, DTD_LAYER_DENSE == 1);
DTD_FREEZE(layer_conv2d, DTD_LAYER_CONV2D == 2);
DTD_FREEZE(layer_relu, DTD_LAYER_RELU == 3);
DTD_FREEZE(layer_maxpool2d, DTD_LAYER_MAXPOOL2D == 4);
DTD_FREEZE(layer_avgpool2d, DTD_LAYER_AVGPOOL2D == 5);
DTD_FREEZE(layer_flatten, DTD_LAYER_FLATTEN == 6);
DTD_FREEZE(layer_batchnorm, DTD_LAYER_BATCHNORM == 7);
DTD_FREEZE(max_rank, DTD_MAX_RANK == 3);

/* ---- 4./5. Rules ------------------------------------------------------------------------------ */
DTD_FREEZE(rule_none, DTD_RULE_NONE == 0);
DTD_FREEZE(rule_epsilon, DTD_RULE_EPSILON == 1);
DTD_FREEZE(rule_zplus, DTD_RULE_ZPLUS == 2);
DTD_FREEZE(rule_alphabeta, DTD_RULE_ALPHABETA == 3);
DTD_FREEZE(rule_gamma, DTD_RULE_GAMMA == 4);
DTD_FREEZE(rule_wsquare, DTD_RULE_WSQUARE == 5);
DTD_FREEZE(rule_flat, DTD_RULE_FLAT == 6);
DTD_FREEZE(rule_zbox, DTD_RULE_ZBOX == 7);
DTD_FREEZE(bias_include, DTD_BIAS_INCLUDE == 0);
DTD_FREEZE(bias_exclude, DTD_BIAS_EXCLUDE == 1);
DTD_FREEZE(composite_epsilon_plus, DTD_COMPOSITE_EPSILON_PLUS == 1);
DTD_FREEZE(composite_epsilon_plus_flat, DTD_COMPOSITE_EPSILON_PLUS_FLAT == 2);
DTD_FREEZE(composite_epsilon_gamma_box, DTD_COMPOSITE_EPSILON_GAMMA_BOX == 3);
DTD_FREEZE(composite_epsilon_alpha2_beta1, DTD_COMPOSITE_EPSILON_ALPHA2_BETA1 == 4);
DTD_FREEZE(composite_epsilon_alpha2_beta1_flat, DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT == 5);

/* ---- 6. Roots ---------------------------------------------------------------------------------- */
DTD_FREEZE(placement_hyperplane, DTD_PLACEMENT_HYPERPLANE == 1);
DTD_FREEZE(placement_relevance, DTD_PLACEMENT_RELEVANCE == 2);
DTD_FREEZE(root_no_root, DTD_ROOT_NO_ROOT == 1);
DTD_FREEZE(root_at_input, DTD_ROOT_AT_INPUT == 2);
DTD_FREEZE(root_clipped, DTD_ROOT_CLIPPED == 4);
DTD_FREEZE(query_constrain, DTD_QUERY_CONSTRAIN_TO_REGION == 1);

/* ---- Struct layouts (x86-64 / AArch64 LP64 and every ABI with 8-byte aligned int64/double) --- */
DTD_FREEZE(ledger_size, sizeof(dtd_ledger_entry) == 48);
DTD_FREEZE(ledger_layer, offsetof(dtd_ledger_entry, layer) == 0);
DTD_FREEZE(ledger_out, offsetof(dtd_ledger_entry, relevance_out) == 8);
DTD_FREEZE(ledger_in, offsetof(dtd_ledger_entry, relevance_in) == 16);
DTD_FREEZE(ledger_bias, offsetof(dtd_ledger_entry, absorbed_bias) == 24);
DTD_FREEZE(ledger_stabilizer, offsetof(dtd_ledger_entry, absorbed_stabilizer) == 32);
DTD_FREEZE(ledger_dropped, offsetof(dtd_ledger_entry, dropped) == 40);

DTD_FREEZE(query_size, sizeof(dtd_root_query) == 48);
DTD_FREEZE(query_layer, offsetof(dtd_root_query, layer) == 0);
DTD_FREEZE(query_target, offsetof(dtd_root_query, target) == 8);
DTD_FREEZE(query_placement, offsetof(dtd_root_query, placement) == 16);
DTD_FREEZE(query_flags, offsetof(dtd_root_query, flags) == 20);
DTD_FREEZE(query_tol, offsetof(dtd_root_query, tol) == 24);
DTD_FREEZE(query_begin, offsetof(dtd_root_query, neuron_begin) == 32);
DTD_FREEZE(query_end, offsetof(dtd_root_query, neuron_end) == 40);

DTD_FREEZE(info_size, sizeof(dtd_root_info) == 48);
DTD_FREEZE(info_neuron, offsetof(dtd_root_info, neuron) == 0);
DTD_FREEZE(info_partial, offsetof(dtd_root_info, partial) == 8);
DTD_FREEZE(info_flags, offsetof(dtd_root_info, flags) == 12);
DTD_FREEZE(info_relevance, offsetof(dtd_root_info, relevance) == 16);
DTD_FREEZE(info_z, offsetof(dtd_root_info, z) == 24);
DTD_FREEZE(info_wv, offsetof(dtd_root_info, wv) == 32);
DTD_FREEZE(info_t, offsetof(dtd_root_info, t) == 40);

DTD_FREEZE(record_size, sizeof(dtd_audit_record) == 96);
DTD_FREEZE(record_root, offsetof(dtd_audit_record, root) == 0);
DTD_FREEZE(record_same_gradient, offsetof(dtd_audit_record, same_gradient) == 48);
DTD_FREEZE(record_same_pattern, offsetof(dtd_audit_record, same_pattern) == 52);
DTD_FREEZE(record_output_change, offsetof(dtd_audit_record, output_change) == 56);
DTD_FREEZE(record_taylor_residual, offsetof(dtd_audit_record, taylor_residual) == 64);
DTD_FREEZE(record_segment_inside, offsetof(dtd_audit_record, segment_inside) == 72);
DTD_FREEZE(record_admissible_t, offsetof(dtd_audit_record, admissible_t) == 80);
DTD_FREEZE(record_unexplained, offsetof(dtd_audit_record, unexplained) == 88);

DTD_FREEZE(summary_size, sizeof(dtd_audit_summary) == 64);
DTD_FREEZE(summary_samples, offsetof(dtd_audit_summary, samples) == 0);
DTD_FREEZE(summary_pairs, offsetof(dtd_audit_summary, pairs) == 8);
DTD_FREEZE(summary_gradient, offsetof(dtd_audit_summary, outside_by_gradient) == 16);
DTD_FREEZE(summary_pattern, offsetof(dtd_audit_summary, outside_by_pattern) == 24);
DTD_FREEZE(summary_unchanged, offsetof(dtd_audit_summary, unchanged_output) == 32);
DTD_FREEZE(summary_segment, offsetof(dtd_audit_summary, mean_segment_inside) == 40);
DTD_FREEZE(summary_conservation, offsetof(dtd_audit_summary, max_conservation_error) == 48);
DTD_FREEZE(summary_unexplained, offsetof(dtd_audit_summary, unexplained_fraction) == 56);

/* ---- 8. Full-backward DTD ---------------------------------------------------------------------- */
DTD_FREEZE(fb_exact, DTD_FULL_BACKWARD_EXACT == 1);
DTD_FREEZE(fb_sampled, DTD_FULL_BACKWARD_SAMPLED == 2);
DTD_FREEZE(fb_bisect, DTD_FULL_BACKWARD_BISECT == 3);
DTD_FREEZE(fb_directions, DTD_FULL_BACKWARD_DIRECTIONS == 50);
DTD_FREEZE(unit_skipped, DTD_UNIT_SKIPPED == 1);
DTD_FREEZE(unit_unresolved, DTD_UNIT_UNRESOLVED == 2);
DTD_FREEZE(unit_unbounded, DTD_UNIT_UNBOUNDED == 4);
DTD_FREEZE(unit_inactive, DTD_UNIT_INACTIVE == 8);
DTD_FREEZE(fb_query_size, sizeof(dtd_full_backward_query) == 32);
DTD_FREEZE(fb_query_target, offsetof(dtd_full_backward_query, target) == 0);
DTD_FREEZE(fb_query_method, offsetof(dtd_full_backward_query, method) == 8);
DTD_FREEZE(fb_query_directions, offsetof(dtd_full_backward_query, directions) == 12);
DTD_FREEZE(fb_query_seed, offsetof(dtd_full_backward_query, seed) == 16);
DTD_FREEZE(fb_query_lower, offsetof(dtd_full_backward_query, input_lower) == 24);
DTD_FREEZE(fb_sizes_size, sizeof(dtd_full_backward_sizes) == 32);
DTD_FREEZE(fb_sizes_layers, offsetof(dtd_full_backward_sizes, layers) == 0);
DTD_FREEZE(fb_sizes_units, offsetof(dtd_full_backward_sizes, units) == 8);
DTD_FREEZE(fb_sizes_roots, offsetof(dtd_full_backward_sizes, root_elements) == 16);
DTD_FREEZE(fb_sizes_boxes, offsetof(dtd_full_backward_sizes, box_elements) == 24);
DTD_FREEZE(fb_unit_size, sizeof(dtd_full_backward_unit) == 56);
DTD_FREEZE(fb_unit_layer, offsetof(dtd_full_backward_unit, layer) == 0);
DTD_FREEZE(fb_unit_unit, offsetof(dtd_full_backward_unit, unit) == 8);
DTD_FREEZE(fb_unit_dense_index, offsetof(dtd_full_backward_unit, dense_index) == 16);
DTD_FREEZE(fb_unit_flags, offsetof(dtd_full_backward_unit, flags) == 20);
DTD_FREEZE(fb_unit_relevance, offsetof(dtd_full_backward_unit, relevance) == 24);
DTD_FREEZE(fb_unit_lp_min, offsetof(dtd_full_backward_unit, lp_min) == 32);
DTD_FREEZE(fb_unit_unresolved, offsetof(dtd_full_backward_unit, unresolved) == 40);
DTD_FREEZE(fb_unit_distance, offsetof(dtd_full_backward_unit, root_distance) == 48);
DTD_FREEZE(fb_sample_size, sizeof(dtd_full_backward_sample) == 56);
DTD_FREEZE(fb_sample_output, offsetof(dtd_full_backward_sample, output) == 0);
DTD_FREEZE(fb_sample_input_sum, offsetof(dtd_full_backward_sample, input_sum) == 8);
DTD_FREEZE(fb_sample_unresolved_sum, offsetof(dtd_full_backward_sample, unresolved_sum) == 16);
DTD_FREEZE(fb_sample_skipped_sum, offsetof(dtd_full_backward_sample, skipped_sum) == 24);
DTD_FREEZE(fb_sample_ledger_error, offsetof(dtd_full_backward_sample, ledger_error) == 32);
DTD_FREEZE(fb_sample_solver_calls, offsetof(dtd_full_backward_sample, solver_calls) == 40);
DTD_FREEZE(fb_sample_root_searches, offsetof(dtd_full_backward_sample, root_searches) == 48);
DTD_FREEZE(fb_region_size, sizeof(dtd_full_backward_region) == 48);
DTD_FREEZE(fb_region_layer, offsetof(dtd_full_backward_region, layer) == 0);
DTD_FREEZE(fb_region_constraints, offsetof(dtd_full_backward_region, constraints) == 8);
DTD_FREEZE(fb_region_unbounded, offsetof(dtd_full_backward_region, unbounded) == 16);
DTD_FREEZE(fb_region_hinge, offsetof(dtd_full_backward_region, hinge_distance) == 24);
DTD_FREEZE(fb_region_width, offsetof(dtd_full_backward_region, mean_width) == 32);
DTD_FREEZE(fb_region_width_clipped, offsetof(dtd_full_backward_region, mean_width_clipped) == 40);

/* ---- The caller-side macros expand to valid code in both languages ------------------------- */
int dtd_probe_uses_macros(void);
int dtd_probe_uses_macros(void) {
    dtd_root_query query = {0, 0, DTD_PLACEMENT_HYPERPLANE, DTD_QUERY_CONSTRAIN_TO_REGION, 1e-5, 0, 1};
    double stabilizer = DTD_DEFAULT_STABILIZER;
    (void)stabilizer;
    return DTD_CHECK_ABI() && query.layer == 0 && DTD_VERSION_NUMBER == dtd_version_number();
}
