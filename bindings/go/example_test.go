package dtd_test

import (
	"errors"
	"fmt"

	"libdtd/dtd"
)

// The header's example: a 3-3-1 network with all weights 2 and 3, explained with LRP-0.
// f(x) = 3 * 3 * 2 * (1 + 2 + 3) = 108, and LRP-0 shares it in proportion to x: 18, 36, 54.
func Example() {
	net, err := dtd.NewNetwork[float64](3)
	if err != nil {
		panic(err)
	}
	defer net.Close()
	_ = net.AddDense([]float64{2, 2, 2, 2, 2, 2, 2, 2, 2}, 3, 3, nil)
	_ = net.AddReLU()
	_ = net.AddDense([]float64{3, 3, 3}, 1, 3, nil)

	rules, err := dtd.NewRules(net)
	if err != nil {
		panic(err)
	}
	defer rules.Close()
	_ = rules.SetEpsilon(0, 0, dtd.BiasInclude)
	_ = rules.SetEpsilon(2, 0, dtd.BiasInclude)

	x := []float64{1, 2, 3}
	seed, _ := net.TargetSeed(x, []int{0}) // f_0(x) e_0
	relevance, err := net.LRP(x, seed, rules)
	if err != nil {
		panic(err)
	}
	fmt.Println("f(x) =", seed[0])
	fmt.Println("relevance:", relevance)
	// Output:
	// f(x) = 108
	// relevance: [18 36 54]
}

// The textbook DTD root of the same network's first layer: with LRP-0 every neuron's direction
// is v = a = x, and the hyperplane placement t = z_j / (w_j . x) = 12 / 12 = 1 puts every root at
// the origin. There each hidden unit sits on its hinge, so the ReLU pattern still matches (hinge
// units match either state), but ReLU'(0) = 0 makes the gradient differ: the study's gradient
// test calls the root outside the region.
func ExampleNetwork_AuditRoots() {
	net, _ := dtd.NewNetwork[float64](3)
	defer net.Close()
	_ = net.AddDense([]float64{2, 2, 2, 2, 2, 2, 2, 2, 2}, 3, 3, nil)
	_ = net.AddReLU()
	_ = net.AddDense([]float64{3, 3, 3}, 1, 3, nil)
	rules, _ := dtd.NewRules(net)
	defer rules.Close()
	_ = rules.SetEpsilon(0, 0, dtd.BiasInclude)
	_ = rules.SetEpsilon(2, 0, dtd.BiasInclude)

	x := []float64{1, 2, 3}
	query := dtd.RootQuery{Layer: 0, Target: 0, Placement: dtd.PlacementHyperplane}
	points, info, err := net.Roots(rules, query, x)
	if err != nil {
		panic(err)
	}
	records, summary, err := net.AuditRoots(rules, query, x)
	if err != nil {
		panic(err)
	}
	fmt.Println("root of neuron 0:", points[:3], "t =", info[0].T, "relevance =", info[0].Relevance)
	fmt.Println("same pattern:", records[0].SamePattern, "same gradient:", records[0].SameGradient)
	fmt.Println("output change:", records[0].OutputChange)
	fmt.Println("samples outside by gradient:", summary.OutsideByGradient)
	// Output:
	// root of neuron 0: [0 0 0] t = 1 relevance = 36
	// same pattern: true same gradient: false
	// output change: -108
	// samples outside by gradient: 1
}

// Errors carry libdtd's status and message; each status is a sentinel for errors.Is.
func ExampleError() {
	net, _ := dtd.NewNetwork[float32](4)
	defer net.Close()
	err := net.AddDense(make([]float32, 6), 2, 3, nil) // in_features 3, but the input has 4

	var e *dtd.Error
	fmt.Println(errors.Is(err, dtd.ErrShapeMismatch), errors.As(err, &e))
	fmt.Println(e.Op, "->", e.Status)
	// Output:
	// true true
	// dtd_network_add_dense_f32 -> shapes or counts do not fit
}
