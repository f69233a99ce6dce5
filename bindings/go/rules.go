package dtd

// #include <dtd.h>
import "C"

import (
	"fmt"
	"runtime"
)

// Rules assigns one LRP rule to each dense/conv layer of one network, by layer index
// (dtd_rules). It precomputes the rule-modified weights once, so LRP calls do no weight work.
// libdtd never guesses a rule: LRP fails with ErrRule naming any dense/conv layer left without
// one. The formulas are Zennit's; Include/dtd.h section 5 lists them.
//
// A rule set belongs to the network's layer list when it was made: adding layers afterwards
// makes it fail with ErrNetworkMismatch. Set the rules, then share it freely. Close frees it
// (a finalizer does so otherwise).
type Rules[T Float] struct {
	handle *C.dtd_rules
}

// RuleKind is the rule assigned to a layer (dtd_rule_kind).
type RuleKind int32

// The rule kinds of Include/dtd.h.
const (
	RuleNone      RuleKind = C.DTD_RULE_NONE // no rule set, or the layer has no weights
	RuleEpsilon   RuleKind = C.DTD_RULE_EPSILON
	RuleZPlus     RuleKind = C.DTD_RULE_ZPLUS
	RuleAlphaBeta RuleKind = C.DTD_RULE_ALPHABETA
	RuleGamma     RuleKind = C.DTD_RULE_GAMMA
	RuleWSquare   RuleKind = C.DTD_RULE_WSQUARE
	RuleFlat      RuleKind = C.DTD_RULE_FLAT
	RuleZBox      RuleKind = C.DTD_RULE_ZBOX
)

// String names the rule as Zennit and the JSON format do ("epsilon", "zplus", ...).
func (k RuleKind) String() string {
	switch k {
	case RuleNone:
		return "none"
	case RuleEpsilon:
		return "epsilon"
	case RuleZPlus:
		return "zplus"
	case RuleAlphaBeta:
		return "alphabeta"
	case RuleGamma:
		return "gamma"
	case RuleWSquare:
		return "wsquare"
	case RuleFlat:
		return "flat"
	case RuleZBox:
		return "zbox"
	}
	return fmt.Sprintf("RuleKind(%d)", int32(k))
}

// BiasMode says whether a rule's denominators include the layer bias (dtd_bias_mode).
type BiasMode int32

const (
	// BiasInclude lets the bias take part (Zennit's default); the zero value.
	BiasInclude BiasMode = C.DTD_BIAS_INCLUDE
	// BiasExclude sets the bias to zero in the rule (Zennit's zero_params=['bias']), the
	// conservative DTD form.
	BiasExclude BiasMode = C.DTD_BIAS_EXCLUDE
)

// DefaultStabilizer is the stabiliser of the z+, alpha-beta, gamma, w^2, flat and zbox rules
// unless one is given (Zennit's 1e-6).
const DefaultStabilizer = C.DTD_DEFAULT_STABILIZER

// Composite is a named rule preset for [Rules.SetComposite] (dtd_composite).
type Composite int32

// The composites of Include/dtd.h; dtd_rules_set_composite documents their layer mapping.
const (
	EpsilonPlus            Composite = C.DTD_COMPOSITE_EPSILON_PLUS              // z+ on feature layers, epsilon on classifier layers
	EpsilonPlusFlat        Composite = C.DTD_COMPOSITE_EPSILON_PLUS_FLAT         // as EpsilonPlus, flat on the first layer
	EpsilonGammaBox        Composite = C.DTD_COMPOSITE_EPSILON_GAMMA_BOX         // zbox first, gamma on feature layers, epsilon
	EpsilonAlpha2Beta1     Composite = C.DTD_COMPOSITE_EPSILON_ALPHA2_BETA1      // alpha2-beta1 on feature layers, epsilon
	EpsilonAlpha2Beta1Flat Composite = C.DTD_COMPOSITE_EPSILON_ALPHA2_BETA1_FLAT // as EpsilonAlpha2Beta1, flat first
)

// NewRules is an empty rule set for network: no layer has a rule yet (dtd_rules_create).
func NewRules[T Float](network *Network[T]) (*Rules[T], error) {
	defer runtime.KeepAlive(network)
	var handle *C.dtd_rules
	err := call("dtd_rules_create", func() C.dtd_status { return C.dtd_rules_create(network.h(), &handle) })
	if err != nil {
		return nil, err
	}
	r := &Rules[T]{handle: handle}
	runtime.SetFinalizer(r, (*Rules[T]).Close)
	return r, nil
}

// Close frees the rule set (dtd_rules_destroy). It always returns nil; closing twice is
// harmless. Close must not overlap any other use of the rule set.
func (r *Rules[T]) Close() error {
	if r == nil {
		return nil
	}
	if r.handle != nil {
		C.dtd_rules_destroy(r.handle)
		r.handle = nil
	}
	runtime.SetFinalizer(r, nil)
	return nil
}

// h is the C handle, nil for a nil or closed rule set (libdtd then reports a NULL rule set).
func (r *Rules[T]) h() *C.dtd_rules {
	if r == nil {
		return nil
	}
	return r.handle
}

// set runs one dtd_rules_set_* call.
func (r *Rules[T]) set(op string, f func(*C.dtd_rules) C.dtd_status) error {
	defer runtime.KeepAlive(r)
	h := r.h()
	return call(op, func() C.dtd_status { return f(h) })
}

// SetEpsilon assigns epsilon(epsilon) to layer: a (.) W^T (R / stab(z)) with epsilon as its own
// stabiliser; epsilon = 0 is LRP-0 (dtd_rules_set_epsilon).
func (r *Rules[T]) SetEpsilon(layer int, epsilon float64, bias BiasMode) error {
	return r.set("dtd_rules_set_epsilon", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_epsilon(h, i64(layer), C.double(epsilon), C.dtd_bias_mode(bias))
	})
}

// SetZPlus assigns z+ to layer (dtd_rules_set_zplus).
func (r *Rules[T]) SetZPlus(layer int, stabilizer float64, bias BiasMode) error {
	return r.set("dtd_rules_set_zplus", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_zplus(h, i64(layer), C.double(stabilizer), C.dtd_bias_mode(bias))
	})
}

// SetAlphaBeta assigns alpha-beta to layer; alpha - beta must be 1, both >= 0
// (dtd_rules_set_alphabeta).
func (r *Rules[T]) SetAlphaBeta(layer int, alpha, beta, stabilizer float64, bias BiasMode) error {
	return r.set("dtd_rules_set_alphabeta", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_alphabeta(h, i64(layer), C.double(alpha), C.double(beta), C.double(stabilizer),
			C.dtd_bias_mode(bias))
	})
}

// SetGamma assigns gamma(gamma) to layer, gamma >= 0 (dtd_rules_set_gamma).
func (r *Rules[T]) SetGamma(layer int, gamma, stabilizer float64, bias BiasMode) error {
	return r.set("dtd_rules_set_gamma", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_gamma(h, i64(layer), C.double(gamma), C.double(stabilizer), C.dtd_bias_mode(bias))
	})
}

// SetWSquare assigns w^2 to layer (dtd_rules_set_wsquare).
func (r *Rules[T]) SetWSquare(layer int, stabilizer float64, bias BiasMode) error {
	return r.set("dtd_rules_set_wsquare", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_wsquare(h, i64(layer), C.double(stabilizer), C.dtd_bias_mode(bias))
	})
}

// SetFlat assigns flat to layer; it always drops the bias (dtd_rules_set_flat).
func (r *Rules[T]) SetFlat(layer int, stabilizer float64) error {
	return r.set("dtd_rules_set_flat", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_flat(h, i64(layer), C.double(stabilizer))
	})
}

// SetZBox assigns z^B with the scalar input bounds low <= high to layer (dtd_rules_set_zbox).
func (r *Rules[T]) SetZBox(layer int, low, high, stabilizer float64, bias BiasMode) error {
	return r.set("dtd_rules_set_zbox", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_zbox(h, i64(layer), C.double(low), C.double(high), C.double(stabilizer),
			C.dtd_bias_mode(bias))
	})
}

// SetZBoxBounds assigns z^B with bounds per channel (conv layers) or per element of the layer
// input (dtd_rules_set_zbox_bounds_f32/_f64); low and high have the same length, one of 1, the
// channel count or the layer input's size.
func (r *Rules[T]) SetZBoxBounds(layer int, low, high []T, stabilizer float64, bias BiasMode) error {
	lo, hi := ptr(low), ptr(high)
	if is32[T]() {
		return r.set("dtd_rules_set_zbox_bounds_f32", func(h *C.dtd_rules) C.dtd_status {
			return C.dtd_rules_set_zbox_bounds_f32(h, i64(layer), f32(lo), i64(len(low)), f32(hi), i64(len(high)),
				C.double(stabilizer), C.dtd_bias_mode(bias))
		})
	}
	return r.set("dtd_rules_set_zbox_bounds_f64", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_zbox_bounds_f64(h, i64(layer), f64(lo), i64(len(low)), f64(hi), i64(len(high)),
			C.double(stabilizer), C.dtd_bias_mode(bias))
	})
}

// SetComposite sets a rule on every dense/conv layer from a named preset, replacing all earlier
// rules (dtd_rules_set_composite). epsilon is the classifier layers' (Zennit's default 1e-6);
// gamma, low and high are read by EpsilonGammaBox only (Zennit's gamma is 0.25). Override
// single layers afterwards with the Set* methods; [Rules.Kind] shows what runs where.
func (r *Rules[T]) SetComposite(composite Composite, epsilon, gamma, low, high float64) error {
	return r.set("dtd_rules_set_composite", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_set_composite(h, C.dtd_composite(composite), C.double(epsilon), C.double(gamma),
			C.double(low), C.double(high))
	})
}

// Kind is the rule assigned to layer: RuleNone when unset or when the layer has no weights
// (dtd_rules_kind).
func (r *Rules[T]) Kind(layer int) (RuleKind, error) {
	var kind C.dtd_rule_kind
	err := r.set("dtd_rules_kind", func(h *C.dtd_rules) C.dtd_status {
		return C.dtd_rules_kind(h, i64(layer), &kind)
	})
	return RuleKind(kind), err
}
