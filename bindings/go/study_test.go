package dtd_test

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"libdtd/dtd"
)

// One figure of the study's table (Sixt & Landgraf 2022; README "The study's experiment"):
// the z+ column with relevance placement, "outside:ReLUs", the fraction of the 1000 inputs of
// which at least one first-layer root leaves the input's ReLU pattern. The expected value is
// not a number from anywhere: this file recomputes it with a plain loop-based oracle written from
// the header's definitions (the top-down pass, z+ directions, the relevance placement and the
// same_pattern check) and requires libdtd's audit to agree with it root by root.
const studyFile = "../python/dtd/data/dtd_study_mlp.json"

type studySpec struct {
	InputShape []int       `json:"input_shape"`
	Layers     []layerJSON `json:"layers"`
	Blocks     []struct {
		Column string      `json:"column"`
		Inputs [][]float64 `json:"inputs"`
	} `json:"input_blocks"`
}

// denseLayer is one dense layer of the study's 10-10-10-2 network (each followed by a ReLU).
type denseLayer struct {
	out, in int
	w, b    []float64 // w row-major (out, in)
}

func (l denseLayer) apply(a []float64) []float64 {
	z := make([]float64, l.out)
	for j := 0; j < l.out; j++ {
		s := l.b[j]
		for i := 0; i < l.in; i++ {
			s += l.w[j*l.in+i] * a[i]
		}
		z[j] = s
	}
	return z
}

func relu(z []float64) []float64 {
	a := make([]float64, len(z))
	for i, v := range z {
		a[i] = math.Max(v, 0)
	}
	return a
}

// preActivations returns z of every dense layer for input x (each layer's input is the ReLU of
// the previous z).
func preActivations(layers []denseLayer, x []float64) [][]float64 {
	zs := make([][]float64, len(layers))
	a := x
	for l, layer := range layers {
		zs[l] = layer.apply(a)
		a = relu(zs[l])
	}
	return zs
}

// zplusRootForm passes relevance r down one dense layer with input a in z+ root form (bias
// excluded, no stabiliser): R_{i<-j} = R_j w_ij v_ij / (w_j . v_j) with v_ij = a_i [a_i w_ij > 0];
// a neuron with |w_j . v_j| <= tol passes nothing.
func zplusRootForm(l denseLayer, a, r []float64, tol float64) []float64 {
	down := make([]float64, l.in)
	for j := 0; j < l.out; j++ {
		wv := 0.0
		for i := 0; i < l.in; i++ {
			if w := l.w[j*l.in+i]; a[i]*w > 0 {
				wv += w * a[i]
			}
		}
		if math.Abs(wv) <= tol || r[j] == 0 {
			continue
		}
		for i := 0; i < l.in; i++ {
			if w := l.w[j*l.in+i]; a[i]*w > 0 {
				down[i] += r[j] * w * a[i] / wv
			}
		}
	}
	return down
}

// oracleRoot is the oracle's verdict on one first-layer neuron of one sample.
type oracleRoot struct {
	hasRoot     bool
	relevance   float64 // R_j
	samePattern bool
}

// studyOracle audits the first-layer z+ roots of x with relevance placement, explained output 0.
func studyOracle(layers []denseLayer, x []float64, tol float64) []oracleRoot {
	zs := preActivations(layers, x)
	last := len(layers) - 1
	// The seed f_0(x) e_0 at the output (after the last ReLU), passed through every ReLU and down
	// every dense layer above layer 0.
	r := make([]float64, layers[last].out)
	r[0] = math.Max(zs[last][0], 0)
	for l := last; l >= 1; l-- {
		r = zplusRootForm(layers[l], relu(zs[l-1]), r, tol)
	}
	first := layers[0]
	roots := make([]oracleRoot, first.out)
	for j := range roots {
		v := make([]float64, first.in)
		wv := 0.0
		for i := range v {
			if w := first.w[j*first.in+i]; x[i]*w > 0 {
				v[i] = x[i]
				wv += w * x[i]
			}
		}
		roots[j] = oracleRoot{hasRoot: math.Abs(wv) > tol, relevance: r[j], samePattern: true}
		if !roots[j].hasRoot || r[j] == 0 {
			continue // no root, or the root is x itself
		}
		t := r[j] / wv
		root := make([]float64, first.in)
		for i := range root {
			root[i] = x[i] - t*v[i]
		}
		// same_pattern: every ReLU unit keeps its state; a unit within 1e-9 of the layer's
		// largest |pre-activation| at the root is on its hinge and matches either state.
		for l, z := range preActivations(layers, root) {
			largest := 0.0
			for _, v := range z {
				largest = math.Max(largest, math.Abs(v))
			}
			for u, v := range z {
				if (v > 0) != (zs[l][u] > 0) && math.Abs(v) > 1e-9*largest {
					roots[j].samePattern = false
				}
			}
		}
	}
	return roots
}

func TestStudyZPlusRelevanceOutsideByReLUs(t *testing.T) {
	data, err := os.ReadFile(studyFile)
	if err != nil {
		t.Fatal(err)
	}
	var spec studySpec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	var layers []denseLayer
	for _, l := range spec.Layers {
		if l.Type == "dense" {
			s := l.Weight.Shape
			layers = append(layers, denseLayer{out: s[0], in: s[1], w: l.Weight.Data, b: l.Bias.Data})
		}
	}
	var inputs [][]float64
	for _, b := range spec.Blocks {
		if b.Column == "zplus" {
			inputs = b.Inputs
		}
	}
	if len(layers) != 3 || len(spec.Layers) != 6 || len(inputs) != 1000 {
		t.Fatalf("unexpected study file: %d dense of %d layers, %d z+ inputs", len(layers), len(spec.Layers), len(inputs))
	}

	// libdtd: z+ at every dense layer, first-layer roots, relevance placement, output 0.
	net, err := dtd.NewNetwork[float64](spec.InputShape...)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	for _, l := range layers {
		if err := net.AddDense(l.w, l.out, l.in, l.b); err != nil {
			t.Fatal(err)
		}
		if err := net.AddReLU(); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := dtd.NewRules(net)
	if err != nil {
		t.Fatal(err)
	}
	defer rules.Close()
	for _, layer := range []int{0, 2, 4} {
		if err := rules.SetZPlus(layer, dtd.DefaultStabilizer, dtd.BiasInclude); err != nil {
			t.Fatal(err)
		}
	}
	x := make([]float64, 0, 1000*10)
	for _, in := range inputs {
		x = append(x, in...)
	}
	query := dtd.RootQuery{Layer: 0, Target: 0, Placement: dtd.PlacementRelevance}
	records, summary, err := net.AuditRoots(rules, query, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1000*10 || summary.Samples != 1000 {
		t.Fatalf("%d records for %d samples", len(records), summary.Samples)
	}

	outside, pairs, mismatches := 0, 0, 0
	for n, in := range inputs {
		sampleOutside := false
		for j, want := range studyOracle(layers, in, dtd.DefaultRootTolerance) {
			got := records[n*10+j]
			if got.Root.Neuron != j || (got.Root.Flags&dtd.RootNoRoot == 0) != want.hasRoot {
				t.Fatalf("sample %d neuron %d: record %+v, oracle has root %v", n, j, got.Root, want.hasRoot)
			}
			if !want.hasRoot {
				continue
			}
			pairs++
			if math.Abs(got.Root.Relevance-want.relevance) > 1e-9*math.Max(1, math.Abs(want.relevance)) {
				t.Fatalf("sample %d neuron %d: R_j %v, oracle %v", n, j, got.Root.Relevance, want.relevance)
			}
			if got.SamePattern != want.samePattern {
				mismatches++
			}
			sampleOutside = sampleOutside || !want.samePattern
		}
		if sampleOutside {
			outside++
		}
	}
	if mismatches != 0 {
		t.Errorf("same_pattern differs from the oracle for %d roots", mismatches)
	}
	if summary.Pairs != pairs {
		t.Errorf("pairs: libdtd %d, oracle %d", summary.Pairs, pairs)
	}
	want := float64(outside) / 1000
	if math.Abs(summary.OutsideByPattern-want) > 1e-12 {
		t.Errorf("outside:ReLUs: libdtd %.1f %%, oracle %.1f %%", 100*summary.OutsideByPattern, 100*want)
	}
	t.Logf("z+ relevance placement, outside:ReLUs = %.1f %% (%d of 1000 inputs; oracle and libdtd agree on all %d roots)",
		100*want, outside, pairs)
}
