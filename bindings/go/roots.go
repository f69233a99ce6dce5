package dtd

// #include <dtd.h>
import "C"

import (
	"fmt"
	"math"
	"runtime"
)

// Placement says where a DTD root sits along its rule's direction v_j (dtd_placement):
// root_j = a - t_j v_j.
type Placement int32

const (
	// PlacementHyperplane is t_j = z_j / (w_j^T v_j): the root lies on neuron j's hyperplane
	// (the textbook DTD root).
	PlacementHyperplane Placement = C.DTD_PLACEMENT_HYPERPLANE
	// PlacementRelevance is t_j = R_j / (w_j^T v_j): the "train-free DTD" of the study's code.
	PlacementRelevance Placement = C.DTD_PLACEMENT_RELEVANCE
)

// DefaultRootTolerance is the |w_j^T v_j| at or below which a neuron has no root, used when a
// RootQuery leaves Tol zero (the header's default).
const DefaultRootTolerance = 1e-5

// RootQuery selects the roots to compute (dtd_root_query): one dense/conv layer, one explained
// output, a range of the layer's neurons. Roots need a root rule on Layer and on every dense/conv
// layer above it: epsilon with epsilon = 0 (LRP-0), z+, gamma, w^2, zbox or alpha-beta.
type RootQuery struct {
	Layer     int       // a dense or conv layer
	Target    int       // the explained output k, in [0, output size)
	Placement Placement // PlacementHyperplane or PlacementRelevance; required
	// ConstrainToRegion clips each root to the input's linear region (region-constrained DTD).
	ConstrainToRegion bool
	Tol               float64 // > 0; zero means DefaultRootTolerance
	// NeuronBegin and NeuronEnd select neurons [NeuronBegin, NeuronEnd) of the layer's output
	// (flat indices); NeuronEnd zero means the layer's last neuron.
	NeuronBegin, NeuronEnd int
}

// RootFlags are the bits of [RootInfo.Flags].
type RootFlags int32

// The root flags of Include/dtd.h.
const (
	RootNoRoot  RootFlags = C.DTD_ROOT_NO_ROOT  // |w_j^T v_j| <= tol (or gamma at z_j = 0): no root; the point is a
	RootAtInput RootFlags = C.DTD_ROOT_AT_INPUT // R_j = 0: the root is the input a itself
	RootClipped RootFlags = C.DTD_ROOT_CLIPPED  // region-constrained query: the root was clipped to the region
)

// RootInfo describes one root (or alpha-beta partial root) of one neuron for one sample
// (dtd_root_info).
type RootInfo struct {
	Neuron    int       // j, a flat index into the layer's output
	Partial   int       // 0; for alpha-beta 0 is the alpha root and 1 the beta root
	Flags     RootFlags // RootNoRoot, RootAtInput, RootClipped bits
	Relevance float64   // the relevance the root carries: R_j, alpha R_j or -beta R_j
	Z         float64   // z_j at the input a
	WV        float64   // w_j^T v_j; NaN where the rule defines no direction (gamma at z_j = 0)
	T         float64   // the step along -v_j
}

// AuditRecord is the audit of one root (dtd_audit_record): the study's checks against g, the
// network from the layer's input to the explained output, and the exact region checks.
type AuditRecord struct {
	Root           RootInfo // the root audited
	SameGradient   bool     // max_i |grad g(root) - grad g(a)|_i <= 1e-5 (the study's test)
	SamePattern    bool     // every ReLU and max-pool winner of g matches at the root (hinge units match either state)
	OutputChange   float64  // g(root) - g(a)
	TaylorResidual float64  // g(a) - g(root) - grad g(root)^T (a - root)
	SegmentInside  float64  // largest s in [0, 1] with the segment a -> a + s (root - a) inside a's region
	AdmissibleT    float64  // largest step along -v_j inside the region (+Inf if unbounded)
	Unexplained    float64  // the relevance region-constrained DTD leaves unexplained
}

// AuditSummary is the study's table row for one audit (dtd_audit_summary).
type AuditSummary struct {
	Samples              int     // the batch
	Pairs                int     // (sample, root) pairs that have a root
	OutsideByGradient    float64 // fraction of samples with at least one root failing SameGradient
	OutsideByPattern     float64 // fraction of samples with at least one root failing SamePattern
	UnchangedOutput      float64 // fraction of pairs with |OutputChange| < 1e-6
	MeanSegmentInside    float64 // mean SegmentInside over pairs
	MaxConservationError float64 // max over samples of |sum_i R_i - f_k(x)| (NaN for part of a layer)
	UnexplainedFraction  float64 // sum |Unexplained| / sum of the roots' |relevance| over pairs
}

// query converts q to the C struct, filling in the defaults.
func (n *Network[T]) query(q RootQuery) C.dtd_root_query {
	end, tol := q.NeuronEnd, q.Tol
	if end == 0 {
		if shape, err := n.LayerShape(q.Layer); err == nil {
			end = product(shape)
		} // else libdtd reports the bad layer index itself
	}
	if tol == 0 {
		tol = DefaultRootTolerance
	}
	flags := C.int32_t(0)
	if q.ConstrainToRegion {
		flags = C.DTD_QUERY_CONSTRAIN_TO_REGION
	}
	return C.dtd_root_query{layer: i64(q.Layer), target: i64(q.Target), placement: C.dtd_placement(q.Placement),
		flags: flags, tol: C.double(tol), neuron_begin: i64(q.NeuronBegin), neuron_end: i64(end)}
}

// product3 is a*b*c, and false if it overflows or exceeds what a slice of 8-byte elements
// can hold.
func product3(a, b, c int) (int, bool) {
	const limit = math.MaxInt / 8
	if a < 0 || b < 0 || c < 0 || (b != 0 && a > limit/b) || (c != 0 && a*b > limit/c) {
		return 0, false
	}
	return a * b * c, true
}

func product(shape []int) int {
	p := 1
	for _, d := range shape {
		p *= d
	}
	return p
}

// RootsPerSample is the number of roots each sample has for q: the neuron range's length,
// twice that for an alpha-beta layer (dtd_roots_count).
func (n *Network[T]) RootsPerSample(rules *Rules[T], q RootQuery) (int, error) {
	defer runtime.KeepAlive(n)
	defer runtime.KeepAlive(rules)
	cq := n.query(q)
	var count C.int64_t
	err := call("dtd_roots_count", func() C.dtd_status {
		return C.dtd_roots_count(n.h(), rules.h(), &cq, &count)
	})
	return int(count), err
}

// layout sizes a root call: the batch, the roots per sample and the layer input's size.
func (n *Network[T]) layout(op string, rules *Rules[T], q RootQuery, input []T) (batch, roots, width int, err error) {
	if batch, err = n.batch(op, input); err != nil {
		return
	}
	if roots, err = n.RootsPerSample(rules, q); err != nil {
		return
	}
	shape, err := n.LayerShape(q.Layer - 1)
	return batch, roots, product(shape), err
}

// Roots computes the DTD root points of layer q.Layer for a batch (dtd_roots_compute_f32/_f64):
// points is (batch, roots per sample, layer input size) and info (batch, roots per sample). For
// a large conv layer that is a lot of memory; narrow the query's neuron range.
func (n *Network[T]) Roots(rules *Rules[T], q RootQuery, input []T) (points []T, info []RootInfo, err error) {
	defer runtime.KeepAlive(n)
	defer runtime.KeepAlive(rules)
	batch, roots, width, err := n.layout("Network.Roots", rules, q, input)
	if err != nil {
		return nil, nil, err
	}
	count, ok := product3(batch, roots, width)
	if !ok {
		return nil, nil, &Error{Op: "Network.Roots", Status: ErrOverflow, Message: fmt.Sprintf(
			"%d samples x %d roots x %d inputs do not fit in memory; audit a neuron range", batch, roots, width)}
	}
	cq, cinfo := n.query(q), make([]C.dtd_root_info, batch*roots)
	points = make([]T, count)
	in, pts, inf := ptr(input), ptr(points), (*C.dtd_root_info)(ptr(cinfo))
	b, ni, np, nf := i64(batch), i64(len(input)), i64(len(points)), i64(len(cinfo))
	if is32[T]() {
		err = call("dtd_roots_compute_f32", func() C.dtd_status {
			return C.dtd_roots_compute_f32(n.handle, rules.h(), &cq, b, f32(in), ni, f32(pts), np, inf, nf)
		})
	} else {
		err = call("dtd_roots_compute_f64", func() C.dtd_status {
			return C.dtd_roots_compute_f64(n.handle, rules.h(), &cq, b, f64(in), ni, f64(pts), np, inf, nf)
		})
	}
	if err != nil {
		return nil, nil, err
	}
	info = make([]RootInfo, len(cinfo))
	for i, c := range cinfo {
		info[i] = rootInfo(c)
	}
	return points, info, nil
}

// AuditRoots computes the roots of layer q.Layer (as [Network.Roots]) and audits each against
// g, the network from that layer's input to output q.Target (dtd_audit_roots_f32/_f64):
// records is (batch, roots per sample), summary the study's aggregates.
func (n *Network[T]) AuditRoots(rules *Rules[T], q RootQuery, input []T) ([]AuditRecord, AuditSummary, error) {
	defer runtime.KeepAlive(n)
	defer runtime.KeepAlive(rules)
	batch, roots, _, err := n.layout("Network.AuditRoots", rules, q, input)
	if err != nil {
		return nil, AuditSummary{}, err
	}
	cq, crecords := n.query(q), make([]C.dtd_audit_record, batch*roots)
	var csummary C.dtd_audit_summary
	in, rec := ptr(input), (*C.dtd_audit_record)(ptr(crecords))
	b, ni, nr := i64(batch), i64(len(input)), i64(len(crecords))
	if is32[T]() {
		err = call("dtd_audit_roots_f32", func() C.dtd_status {
			return C.dtd_audit_roots_f32(n.handle, rules.h(), &cq, b, f32(in), ni, rec, nr, &csummary)
		})
	} else {
		err = call("dtd_audit_roots_f64", func() C.dtd_status {
			return C.dtd_audit_roots_f64(n.handle, rules.h(), &cq, b, f64(in), ni, rec, nr, &csummary)
		})
	}
	if err != nil {
		return nil, AuditSummary{}, err
	}
	records := make([]AuditRecord, len(crecords))
	for i, c := range crecords {
		records[i] = AuditRecord{
			Root: rootInfo(c.root), SameGradient: c.same_gradient != 0, SamePattern: c.same_pattern != 0,
			OutputChange: float64(c.output_change), TaylorResidual: float64(c.taylor_residual),
			SegmentInside: float64(c.segment_inside), AdmissibleT: float64(c.admissible_t),
			Unexplained: float64(c.unexplained),
		}
	}
	summary := AuditSummary{
		Samples: int(csummary.samples), Pairs: int(csummary.pairs),
		OutsideByGradient: float64(csummary.outside_by_gradient), OutsideByPattern: float64(csummary.outside_by_pattern),
		UnchangedOutput: float64(csummary.unchanged_output), MeanSegmentInside: float64(csummary.mean_segment_inside),
		MaxConservationError: float64(csummary.max_conservation_error),
		UnexplainedFraction:  float64(csummary.unexplained_fraction),
	}
	return records, summary, nil
}

func rootInfo(c C.dtd_root_info) RootInfo {
	return RootInfo{
		Neuron: int(c.neuron), Partial: int(c.partial), Flags: RootFlags(c.flags), Relevance: float64(c.relevance),
		Z: float64(c.z), WV: float64(c.wv), T: float64(c.t),
	}
}
