package dtd_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"libdtd/dtd"
)

// smallMLP is dense(4 -> 3) -> relu -> dense(3 -> 2), weights fixed by hand.
func smallMLP[T dtd.Float](t *testing.T) *dtd.Network[T] {
	t.Helper()
	net, err := dtd.NewNetwork[T](4)
	if err != nil {
		t.Fatal(err)
	}
	must(t, net.AddDense([]T{0.5, -0.2, 0.3, 0.1, -0.3, 0.6, 0.2, -0.4, 0.2, 0.1, -0.5, 0.4}, 3, 4, []T{0.05, -0.05, 0.1}))
	must(t, net.AddReLU())
	must(t, net.AddDense([]T{0.7, -0.4, 0.3, -0.2, 0.8, 0.4}, 2, 3, []T{0.1, 0}))
	return net
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantStatus fails unless err is an *Error of status, whose message contains every fragment.
func wantStatus(t *testing.T, err error, status dtd.Status, fragments ...string) {
	t.Helper()
	var e *dtd.Error
	if !errors.As(err, &e) || !errors.Is(err, status) {
		t.Fatalf("got %v, want an *Error with status %q", err, status)
	}
	if e.Status != status || e.Message == "" || !strings.Contains(err.Error(), status.String()) {
		t.Fatalf("error %+v does not carry status %q and a message", e, status)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Message, f) {
			t.Errorf("message %q does not mention %q", e.Message, f)
		}
	}
	for _, other := range []dtd.Status{dtd.ErrNullPointer, dtd.ErrShapeMismatch, dtd.ErrRule, dtd.ErrLayerIndex} {
		if other != status && errors.Is(err, other) {
			t.Errorf("%v also matches %q", err, other)
		}
	}
}

func TestVersion(t *testing.T) {
	if dtd.ABIVersion() != dtd.HeaderABIVersion {
		t.Fatalf("loaded ABI %d, header ABI %d", dtd.ABIVersion(), dtd.HeaderABIVersion)
	}
	if v := dtd.Version(); !strings.HasPrefix(v, strconv.Itoa(dtd.HeaderABIVersion)+".") {
		t.Errorf("version %q", v)
	}
}

func TestErrorsCarryStatusAndMessage(t *testing.T) {
	net := smallMLP[float64](t)
	defer net.Close()
	count := net.LayerCount()

	wantStatus(t, net.AddDense(make([]float64, 15), 3, 5, nil), dtd.ErrShapeMismatch, "in_features = 5")
	if net.LayerCount() != count {
		t.Error("a failed add changed the network")
	}
	wantStatus(t, net.AddBatchNorm([]float64{1, 1}, []float64{0}, []float64{0, 0}, []float64{1, 1}, 1e-5),
		dtd.ErrShapeMismatch, "gamma, beta")
	_, err := net.Forward(make([]float64, 5))
	wantStatus(t, err, dtd.ErrShapeMismatch, "5 elements", "input size 4")

	rules, err := dtd.NewRules(net)
	must(t, err)
	defer rules.Close()
	wantStatus(t, rules.SetEpsilon(1, 0, dtd.BiasInclude), dtd.ErrRule, "relu")
	wantStatus(t, rules.SetEpsilon(7, 0, dtd.BiasInclude), dtd.ErrLayerIndex, "7")
	wantStatus(t, rules.SetAlphaBeta(0, 2, 2, dtd.DefaultStabilizer, dtd.BiasInclude), dtd.ErrInvalidArgument)
	wantStatus(t, rules.SetEpsilon(0, math.NaN(), dtd.BiasInclude), dtd.ErrNonFinite)
	x := []float64{0.2, 0.4, 0.6, 0.8}
	seed, err := net.TargetSeed(x, []int{1})
	must(t, err)
	_, err = net.LRP(x, seed, rules)
	wantStatus(t, err, dtd.ErrRule, "layer 0")
	_, err = net.TargetSeed(x, []int{2})
	wantStatus(t, err, dtd.ErrOutOfRange, "targets[0] = 2")
	_, err = net.Gradient(x, seed[:1])
	wantStatus(t, err, dtd.ErrBufferTooSmall)

	// A rule set is bound to the network (and the layer list) it was made for.
	other := smallMLP[float64](t)
	defer other.Close()
	must(t, rules.SetEpsilon(0, 0, dtd.BiasInclude))
	must(t, rules.SetEpsilon(2, 0, dtd.BiasInclude))
	_, err = other.LRP(x, seed, rules)
	wantStatus(t, err, dtd.ErrNetworkMismatch)
}

func TestCloseAndNil(t *testing.T) {
	net := smallMLP[float32](t)
	rules, err := dtd.NewRules(net)
	must(t, err)
	must(t, rules.SetComposite(dtd.EpsilonPlus, 1e-6, 0.25, 0, 1))
	x := []float32{0.2, 0.4, 0.6, 0.8}
	seed := []float32{0, 1}
	if _, err := net.LRP(x, seed, rules); err != nil {
		t.Fatal(err)
	}
	_, err = net.LRP(x, seed, nil)
	wantStatus(t, err, dtd.ErrNullPointer, "rules")
	must(t, rules.Close())
	must(t, rules.Close()) // twice is harmless
	_, err = net.LRP(x, seed, rules)
	wantStatus(t, err, dtd.ErrNullPointer, "rules")
	_, err = rules.Kind(0)
	wantStatus(t, err, dtd.ErrNullPointer)

	must(t, net.Close())
	must(t, net.Close())
	wantStatus(t, net.AddReLU(), dtd.ErrNullPointer, "network")
	_, err = net.Forward(x)
	wantStatus(t, err, dtd.ErrNullPointer, "closed")
	if net.InputSize() != 0 || net.LayerCount() != 0 {
		t.Error("a closed network reports sizes")
	}
	var none *dtd.Network[float64]
	must(t, none.Close())
	_, err = none.Forward([]float64{1})
	wantStatus(t, err, dtd.ErrNullPointer)
	_, err = dtd.NewRules(none)
	wantStatus(t, err, dtd.ErrNullPointer)
}

// Networks and rule sets nobody closes are freed by their finalizers, on the finalizer's
// goroutine, without disturbing the networks still in use.
func TestFinalizers(t *testing.T) {
	keep := smallMLP[float64](t)
	defer keep.Close()
	for i := 0; i < 200; i++ {
		net := smallMLP[float64](t)
		if _, err := dtd.NewRules(net); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
	if _, err := keep.Forward([]float64{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
}

// libdtd's error message is thread-local; goroutines move between threads, so the binding must
// read it on the thread that made the call. Each goroutine makes its own mistake and checks
// that the message names its own layer index.
func TestErrorsFromManyGoroutines(t *testing.T) {
	net := smallMLP[float64](t)
	defer net.Close()
	rules, err := dtd.NewRules(net)
	must(t, err)
	defer rules.Close()
	var wg sync.WaitGroup
	failures := make(chan string, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			layer := 100 + g
			for i := 0; i < 500; i++ {
				_, err := rules.Kind(layer)
				var e *dtd.Error
				if !errors.As(err, &e) || !strings.Contains(e.Message, fmt.Sprintf("layer = %d ", layer)) {
					failures <- fmt.Sprintf("goroutine %d: %v", g, err)
					return
				}
				runtime.Gosched()
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

func TestLayersAndShapes(t *testing.T) {
	net, err := dtd.NewNetwork[float64](1, 6, 6)
	must(t, err)
	defer net.Close()
	must(t, net.AddConv2D(make([]float64, 2*1*3*3), 2, 1, 3, 3, nil, dtd.Conv2DOptions{Padding: [2]int{1, 1}}))
	must(t, net.AddBatchNorm([]float64{1, 2}, []float64{0, 1}, []float64{0, 0}, []float64{1, 1}, 1e-5))
	must(t, net.AddReLU())
	must(t, net.AddMaxPool2D(2, 2, dtd.PoolOptions{}))
	must(t, net.AddAvgPool2D(3, 3, dtd.PoolOptions{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}, ExcludePadding: true}))
	must(t, net.AddFlatten())
	must(t, net.AddDense(make([]float64, 4*18), 4, 18, make([]float64, 4)))
	kinds := []dtd.LayerKind{dtd.LayerConv2D, dtd.LayerBatchNorm, dtd.LayerReLU, dtd.LayerMaxPool2D,
		dtd.LayerAvgPool2D, dtd.LayerFlatten, dtd.LayerDense}
	shapes := [][]int{{2, 6, 6}, {2, 6, 6}, {2, 6, 6}, {2, 3, 3}, {2, 3, 3}, {18}, {4}}
	if net.LayerCount() != len(kinds) || net.InputSize() != 36 || net.OutputSize() != 4 {
		t.Fatalf("%d layers, input %d, output %d", net.LayerCount(), net.InputSize(), net.OutputSize())
	}
	for l := range kinds {
		kind, err := net.LayerKind(l)
		must(t, err)
		shape, err := net.LayerShape(l)
		must(t, err)
		if kind != kinds[l] || fmt.Sprint(shape) != fmt.Sprint(shapes[l]) {
			t.Errorf("layer %d: %v %v, want %v %v", l, kind, shape, kinds[l], shapes[l])
		}
	}
	if shape, _ := net.LayerShape(-1); fmt.Sprint(shape) != "[1 6 6]" || kinds[4].String() != "avgpool2d" {
		t.Errorf("input shape %v", shape)
	}
	_, err = net.LayerKind(7)
	wantStatus(t, err, dtd.ErrLayerIndex)
}

// Batch-norm folds into the dense layer before it: the forward pass equals that of the dense
// layer with W' = s W, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps) (Include/dtd.h section 3).
func TestBatchNormFolds(t *testing.T) {
	w, b := []float64{1, -2, 0.5, 3}, []float64{0.25, -1}
	gamma, beta, mean, variance, eps := []float64{2, 0.5}, []float64{0.1, -0.3}, []float64{0.2, -0.4}, []float64{4, 0.25}, 1e-5
	folded, foldedBias := make([]float64, 4), make([]float64, 2)
	for j := 0; j < 2; j++ {
		s := gamma[j] / math.Sqrt(variance[j]+eps)
		folded[2*j], folded[2*j+1] = s*w[2*j], s*w[2*j+1]
		foldedBias[j] = (b[j]-mean[j])*s + beta[j]
	}
	withBN, err := dtd.NewNetwork[float64](2)
	must(t, err)
	defer withBN.Close()
	must(t, withBN.AddDense(w, 2, 2, b))
	must(t, withBN.AddBatchNorm(gamma, beta, mean, variance, eps))
	plain, err := dtd.NewNetwork[float64](2)
	must(t, err)
	defer plain.Close()
	must(t, plain.AddDense(folded, 2, 2, foldedBias))
	x := []float64{0.3, -1.2, 2, 0.7}
	got, err := withBN.Forward(x)
	must(t, err)
	want, err := plain.Forward(x)
	must(t, err)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
			t.Errorf("output %d: %v, folded by hand %v", i, got[i], want[i])
		}
	}
}

// The ledger balances per layer and sample, and its bottom entry is the relevance returned.
func TestLedger(t *testing.T) {
	net := smallMLP[float64](t)
	defer net.Close()
	rules, err := dtd.NewRules(net)
	must(t, err)
	defer rules.Close()
	must(t, rules.SetGamma(0, 0.25, dtd.DefaultStabilizer, dtd.BiasInclude))
	must(t, rules.SetEpsilon(2, 0.1, dtd.BiasInclude))
	x := []float64{0.2, 0.4, 0.6, 0.8, 1, -0.5, 0.3, 0.1}
	targets := []int{0, 1}
	seed, err := net.TargetSeed(x, targets)
	must(t, err)
	relevance, ledger, err := net.LRPWithLedger(x, seed, rules)
	must(t, err)
	if len(ledger) != 2 || len(ledger[0]) != 3 {
		t.Fatalf("ledger %d x %d", len(ledger), len(ledger[0]))
	}
	for n, layers := range ledger {
		for l, e := range layers {
			balance := e.RelevanceIn + e.AbsorbedBias + e.AbsorbedStabilizer + e.Dropped
			if e.Layer != l || math.Abs(e.RelevanceOut-balance) > 1e-12 {
				t.Errorf("sample %d layer %d: %+v does not balance", n, l, e)
			}
		}
		sum := 0.0
		for _, r := range relevance[4*n : 4*n+4] {
			sum += r
		}
		if math.Abs(sum-layers[0].RelevanceIn) > 1e-12 || math.Abs(layers[2].RelevanceOut-seed[2*n+targets[n]]) > 1e-12 {
			t.Errorf("sample %d: relevance sums to %v, ledger %+v", n, sum, layers[0])
		}
	}
	plain, err := net.LRP(x, seed, rules)
	must(t, err)
	if fmt.Sprint(plain) != fmt.Sprint(relevance) {
		t.Error("LRP and LRPWithLedger differ")
	}
}

// Per-element z^B bounds equal to the scalar ones give the scalar rule's result; composites
// assign rules by index as the header documents.
func TestZBoxBoundsAndComposites(t *testing.T) {
	net := smallMLP[float32](t)
	defer net.Close()
	scalar, err := dtd.NewRules(net)
	must(t, err)
	defer scalar.Close()
	bounds, err := dtd.NewRules(net)
	must(t, err)
	defer bounds.Close()
	must(t, scalar.SetZBox(0, -1, 2, dtd.DefaultStabilizer, dtd.BiasInclude))
	must(t, bounds.SetZBoxBounds(0, []float32{-1, -1, -1, -1}, []float32{2, 2, 2, 2}, dtd.DefaultStabilizer, dtd.BiasInclude))
	wantStatus(t, bounds.SetZBoxBounds(0, []float32{-1, -1, -1}, []float32{2, 2, 2}, dtd.DefaultStabilizer,
		dtd.BiasInclude), dtd.ErrShapeMismatch)
	for _, r := range []*dtd.Rules[float32]{scalar, bounds} {
		must(t, r.SetEpsilon(2, 1e-6, dtd.BiasInclude))
	}
	x, seed := []float32{0.2, 0.4, 0.6, 0.8}, []float32{1, 0}
	a, err := net.LRP(x, seed, scalar)
	must(t, err)
	b, err := net.LRP(x, seed, bounds)
	must(t, err)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("scalar bounds %v, per-element bounds %v", a, b)
	}

	// A pure MLP: every dense layer but the last is a feature layer (dtd_rules_set_composite).
	want := map[dtd.Composite][]dtd.RuleKind{
		dtd.EpsilonPlus:            {dtd.RuleZPlus, dtd.RuleNone, dtd.RuleEpsilon},
		dtd.EpsilonPlusFlat:        {dtd.RuleFlat, dtd.RuleNone, dtd.RuleEpsilon},
		dtd.EpsilonGammaBox:        {dtd.RuleZBox, dtd.RuleNone, dtd.RuleEpsilon},
		dtd.EpsilonAlpha2Beta1:     {dtd.RuleAlphaBeta, dtd.RuleNone, dtd.RuleEpsilon},
		dtd.EpsilonAlpha2Beta1Flat: {dtd.RuleFlat, dtd.RuleNone, dtd.RuleEpsilon},
	}
	for composite, kinds := range want {
		must(t, scalar.SetComposite(composite, 1e-6, 0.25, 0, 1))
		for l, k := range kinds {
			got, err := scalar.Kind(l)
			must(t, err)
			if got != k {
				t.Errorf("composite %d layer %d: %v, want %v", composite, l, got, k)
			}
		}
	}
	wantStatus(t, scalar.SetComposite(dtd.Composite(99), 1e-6, 0.25, 0, 1), dtd.ErrInvalidArgument)
}

// float32 and float64 networks built from the same values agree, roots and audit included.
func TestFloat32MatchesFloat64(t *testing.T) {
	n32, n64 := smallMLP[float32](t), smallMLP[float64](t)
	defer n32.Close()
	defer n64.Close()
	r32, err := dtd.NewRules(n32)
	must(t, err)
	defer r32.Close()
	r64, err := dtd.NewRules(n64)
	must(t, err)
	defer r64.Close()
	must(t, r32.SetZPlus(0, dtd.DefaultStabilizer, dtd.BiasExclude))
	must(t, r32.SetEpsilon(2, 0, dtd.BiasInclude))
	must(t, r64.SetZPlus(0, dtd.DefaultStabilizer, dtd.BiasExclude))
	must(t, r64.SetEpsilon(2, 0, dtd.BiasInclude))
	x32, x64 := []float32{0.5, 1, 0.25, 2}, []float64{0.5, 1, 0.25, 2}
	q := dtd.RootQuery{Layer: 0, Target: 0, Placement: dtd.PlacementRelevance}
	p32, i32, err := n32.Roots(r32, q, x32)
	must(t, err)
	p64, i64, err := n64.Roots(r64, q, x64)
	must(t, err)
	if len(p32) != 3*4 || len(i32) != 3 || len(p64) != len(p32) {
		t.Fatalf("%d points, %d infos", len(p32), len(i32))
	}
	for i := range p64 {
		if math.Abs(float64(p32[i])-p64[i]) > 1e-5*math.Max(1, math.Abs(p64[i])) {
			t.Errorf("root coordinate %d: %v vs %v", i, p32[i], p64[i])
		}
	}
	for j := range i64 {
		if i32[j].Neuron != j || i64[j].Flags != i32[j].Flags {
			t.Errorf("root %d: %+v vs %+v", j, i32[j], i64[j])
		}
	}
	a32, s32, err := n32.AuditRoots(r32, q, x32)
	must(t, err)
	a64, s64, err := n64.AuditRoots(r64, q, x64)
	must(t, err)
	if len(a32) != 3 || s32.Pairs != s64.Pairs || s32.OutsideByPattern != s64.OutsideByPattern {
		t.Errorf("audits differ: %+v vs %+v", s32, s64)
	}
	for j := range a64 {
		if a32[j].SamePattern != a64[j].SamePattern {
			t.Errorf("root %d: same pattern %v vs %v", j, a32[j].SamePattern, a64[j].SamePattern)
		}
	}
	count, err := n64.RootsPerSample(r64, dtd.RootQuery{Layer: 0, Placement: dtd.PlacementHyperplane, NeuronBegin: 1, NeuronEnd: 3})
	must(t, err)
	if count != 2 {
		t.Errorf("roots per sample for neurons [1, 3): %d", count)
	}
	_, err = n64.RootsPerSample(r64, dtd.RootQuery{Layer: 0})
	wantStatus(t, err, dtd.ErrOutOfRange, "placement")
	must(t, r64.SetEpsilon(0, 0.1, dtd.BiasInclude))
	_, _, err = n64.AuditRoots(r64, q, x64)
	wantStatus(t, err, dtd.ErrRule)
}
