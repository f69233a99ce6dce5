package dtd

// #include <dtd.h>
import "C"

import "runtime"

// Forward computes the outputs f(x) of a batch (dtd_network_forward_f32/_f64): input is
// (batch, input shape), the result (batch, output size).
func (n *Network[T]) Forward(input []T) ([]T, error) {
	defer runtime.KeepAlive(n)
	batch, err := n.batch("Network.Forward", input)
	if err != nil {
		return nil, err
	}
	output := make([]T, batch*n.OutputSize())
	in, out := ptr(input), ptr(output)
	if is32[T]() {
		err = call("dtd_network_forward_f32", func() C.dtd_status {
			return C.dtd_network_forward_f32(n.handle, i64(batch), f32(in), i64(len(input)), f32(out), i64(len(output)))
		})
	} else {
		err = call("dtd_network_forward_f64", func() C.dtd_status {
			return C.dtd_network_forward_f64(n.handle, i64(batch), f64(in), i64(len(input)), f64(out), i64(len(output)))
		})
	}
	if err != nil {
		return nil, err
	}
	return output, nil
}

// TargetSeed builds the LRP seed r = f_k(x) e_k, "explain output k", for each sample
// (dtd_relevance_target_seed_f32/_f64): targets holds one output index per sample; the result
// is (batch, output size).
func (n *Network[T]) TargetSeed(input []T, targets []int) ([]T, error) {
	defer runtime.KeepAlive(n)
	batch, err := n.batch("Network.TargetSeed", input)
	if err != nil {
		return nil, err
	}
	ks := make([]C.int64_t, len(targets))
	for i, k := range targets {
		ks[i] = i64(k)
	}
	seed := make([]T, batch*n.OutputSize())
	in, out, kp := ptr(input), ptr(seed), (*C.int64_t)(ptr(ks))
	if is32[T]() {
		err = call("dtd_relevance_target_seed_f32", func() C.dtd_status {
			return C.dtd_relevance_target_seed_f32(n.handle, i64(batch), f32(in), i64(len(input)), kp, i64(len(ks)),
				f32(out), i64(len(seed)))
		})
	} else {
		err = call("dtd_relevance_target_seed_f64", func() C.dtd_status {
			return C.dtd_relevance_target_seed_f64(n.handle, i64(batch), f64(in), i64(len(input)), kp, i64(len(ks)),
				f64(out), i64(len(seed)))
		})
	}
	if err != nil {
		return nil, err
	}
	return seed, nil
}

// Gradient computes J(x)^T r, the gradient of r . f(x) with respect to x, with ReLU'(0) = 0 and
// max-pool routing to the first maximum (dtd_relevance_gradient_f32/_f64). outputRelevance r is
// (batch, output size); the result has the input's shape.
func (n *Network[T]) Gradient(input, outputRelevance []T) ([]T, error) {
	return n.backward("Network.Gradient", input, outputRelevance, false)
}

// GradientXInput computes x (.) J(x)^T r (dtd_relevance_gradient_x_input_f32/_f64), with the
// arguments of [Network.Gradient].
func (n *Network[T]) GradientXInput(input, outputRelevance []T) ([]T, error) {
	return n.backward("Network.GradientXInput", input, outputRelevance, true)
}

func (n *Network[T]) backward(op string, input, seed []T, timesInput bool) ([]T, error) {
	defer runtime.KeepAlive(n)
	batch, err := n.batch(op, input)
	if err != nil {
		return nil, err
	}
	relevance := make([]T, len(input))
	in, s, out := ptr(input), ptr(seed), ptr(relevance)
	b, ni, ns, no := i64(batch), i64(len(input)), i64(len(seed)), i64(len(relevance))
	switch {
	case is32[T]() && timesInput:
		err = call("dtd_relevance_gradient_x_input_f32", func() C.dtd_status {
			return C.dtd_relevance_gradient_x_input_f32(n.handle, b, f32(in), ni, f32(s), ns, f32(out), no)
		})
	case is32[T]():
		err = call("dtd_relevance_gradient_f32", func() C.dtd_status {
			return C.dtd_relevance_gradient_f32(n.handle, b, f32(in), ni, f32(s), ns, f32(out), no)
		})
	case timesInput:
		err = call("dtd_relevance_gradient_x_input_f64", func() C.dtd_status {
			return C.dtd_relevance_gradient_x_input_f64(n.handle, b, f64(in), ni, f64(s), ns, f64(out), no)
		})
	default:
		err = call("dtd_relevance_gradient_f64", func() C.dtd_status {
			return C.dtd_relevance_gradient_f64(n.handle, b, f64(in), ni, f64(s), ns, f64(out), no)
		})
	}
	if err != nil {
		return nil, err
	}
	return relevance, nil
}

// LedgerEntry is one layer's relevance balance for one sample (dtd_ledger_entry):
// RelevanceOut = RelevanceIn + AbsorbedBias + AbsorbedStabilizer + Dropped, up to rounding.
type LedgerEntry struct {
	Layer              int     // layer index
	RelevanceOut       float64 // total relevance arriving at the layer's output
	RelevanceIn        float64 // total relevance passed to the layer's input
	AbsorbedBias       float64 // part taken by the bias terms of the denominators
	AbsorbedStabilizer float64 // part taken by the stabiliser (epsilon, or avg-pool's 1e-6)
	Dropped            float64 // relevance at zero denominators and at gamma's z = 0 gate
}

// LRP propagates outputRelevance (batch, output size) down to the input with the rule that
// rules assigns to each dense/conv layer (dtd_relevance_lrp_f32/_f64); the result has the
// input's shape. Seed with [Network.TargetSeed] to explain one output per sample.
func (n *Network[T]) LRP(input, outputRelevance []T, rules *Rules[T]) ([]T, error) {
	relevance, _, err := n.lrp(input, outputRelevance, rules, false)
	return relevance, err
}

// LRPWithLedger is [Network.LRP] that also returns the conservation ledger:
// ledger[sample][layer].
func (n *Network[T]) LRPWithLedger(input, outputRelevance []T, rules *Rules[T]) ([]T, [][]LedgerEntry, error) {
	return n.lrp(input, outputRelevance, rules, true)
}

func (n *Network[T]) lrp(input, seed []T, rules *Rules[T], withLedger bool) ([]T, [][]LedgerEntry, error) {
	defer runtime.KeepAlive(n)
	defer runtime.KeepAlive(rules)
	batch, err := n.batch("Network.LRP", input)
	if err != nil {
		return nil, nil, err
	}
	var entries []C.dtd_ledger_entry
	if withLedger {
		entries = make([]C.dtd_ledger_entry, batch*n.LayerCount())
	}
	relevance, rh := make([]T, len(input)), rules.h()
	in, s, out, led := ptr(input), ptr(seed), ptr(relevance), (*C.dtd_ledger_entry)(ptr(entries))
	b, ni, ns, no, nl := i64(batch), i64(len(input)), i64(len(seed)), i64(len(relevance)), i64(len(entries))
	if is32[T]() {
		err = call("dtd_relevance_lrp_f32", func() C.dtd_status {
			return C.dtd_relevance_lrp_f32(n.handle, rh, b, f32(in), ni, f32(s), ns, f32(out), no, led, nl)
		})
	} else {
		err = call("dtd_relevance_lrp_f64", func() C.dtd_status {
			return C.dtd_relevance_lrp_f64(n.handle, rh, b, f64(in), ni, f64(s), ns, f64(out), no, led, nl)
		})
	}
	if err != nil {
		return nil, nil, err
	}
	if !withLedger {
		return relevance, nil, nil
	}
	layers := len(entries) / batch
	ledger := make([][]LedgerEntry, batch)
	for i := range ledger {
		ledger[i] = make([]LedgerEntry, layers)
		for l := range ledger[i] {
			e := entries[i*layers+l]
			ledger[i][l] = LedgerEntry{
				Layer: int(e.layer), RelevanceOut: float64(e.relevance_out), RelevanceIn: float64(e.relevance_in),
				AbsorbedBias: float64(e.absorbed_bias), AbsorbedStabilizer: float64(e.absorbed_stabilizer),
				Dropped: float64(e.dropped),
			}
		}
	}
	return relevance, ledger, nil
}
