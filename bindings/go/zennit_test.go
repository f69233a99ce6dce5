package dtd_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"libdtd/dtd"
)

// Zennit 0.5.1's reference results (Tests/Fixtures/zennit, float64): five small networks with
// 28 cases each, LRP with every rule in both bias modes and per-layer mixes, gradient and
// gradient x input. Nobody on the project wrote these values. The C example api_tour.c runs
// LRP with z^B on the input layer, gamma on the hidden layer and epsilon on the output of a
// conv / relu / max-pool / flatten / dense network: that is cnn_max's case
// "zbox_first_gamma_rest", which the float32 test below also checks.
const fixtureDir = "../../Tests/Fixtures/zennit"

type tensorJSON struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type layerJSON struct {
	Type            string      `json:"type"`
	Weight          *tensorJSON `json:"weight"`
	Bias            *tensorJSON `json:"bias"`
	Kernel          []int       `json:"kernel"`
	Stride          []int       `json:"stride"`
	Padding         []int       `json:"padding"`
	Dilation        []int       `json:"dilation"`
	CountIncludePad *bool       `json:"count_include_pad"`
}

type ruleJSON struct {
	Rule       string   `json:"rule"`
	Epsilon    float64  `json:"epsilon"`
	Gamma      float64  `json:"gamma"`
	Alpha      float64  `json:"alpha"`
	Beta       float64  `json:"beta"`
	Low        float64  `json:"low"`
	High       float64  `json:"high"`
	Stabilizer *float64 `json:"stabilizer"`
	Bias       string   `json:"bias"`
}

type caseJSON struct {
	Method            string              `json:"method"`
	Name              string              `json:"name"`
	Rules             map[string]ruleJSON `json:"rules"`
	Input             tensorJSON          `json:"input"`
	OutputRelevance   tensorJSON          `json:"output_relevance"`
	ExpectedOutput    tensorJSON          `json:"expected_output"`
	ExpectedRelevance tensorJSON          `json:"expected_relevance"`
}

type fixture struct {
	InputShape []int       `json:"input_shape"`
	Layers     []layerJSON `json:"layers"`
	Cases      []caseJSON  `json:"cases"`
}

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

func convert[T dtd.Float](values []float64) []T {
	out := make([]T, len(values))
	for i, v := range values {
		out[i] = T(v)
	}
	return out
}

func pair(v []int, fallback int) [2]int {
	if len(v) == 0 {
		return [2]int{fallback, fallback}
	}
	return [2]int{v[0], v[1]}
}

// buildNetwork builds a fixture's network through the binding's Add* methods.
func buildNetwork[T dtd.Float](f fixture) (*dtd.Network[T], error) {
	net, err := dtd.NewNetwork[T](f.InputShape...)
	if err != nil {
		return nil, err
	}
	for i, l := range f.Layers {
		var bias []T
		if l.Bias != nil {
			bias = convert[T](l.Bias.Data)
		}
		switch l.Type {
		case "dense":
			s := l.Weight.Shape
			err = net.AddDense(convert[T](l.Weight.Data), s[0], s[1], bias)
		case "conv2d":
			s := l.Weight.Shape
			err = net.AddConv2D(convert[T](l.Weight.Data), s[0], s[1], s[2], s[3], bias, dtd.Conv2DOptions{
				Stride: pair(l.Stride, 1), Padding: pair(l.Padding, 0), Dilation: pair(l.Dilation, 1)})
		case "relu":
			err = net.AddReLU()
		case "flatten":
			err = net.AddFlatten()
		case "maxpool2d", "avgpool2d":
			k := pair(l.Kernel, 0)
			options := dtd.PoolOptions{Stride: pair(l.Stride, 0), Padding: pair(l.Padding, 0)}
			if l.Type == "maxpool2d" {
				err = net.AddMaxPool2D(k[0], k[1], options)
			} else {
				options.ExcludePadding = l.CountIncludePad != nil && !*l.CountIncludePad
				err = net.AddAvgPool2D(k[0], k[1], options)
			}
		default:
			err = fmt.Errorf("layer %d: unknown type %q", i, l.Type)
		}
		if err != nil {
			net.Close()
			return nil, err
		}
	}
	return net, nil
}

// setRules assigns a case's rules (layer index -> rule) through the binding's Set* methods.
func setRules[T dtd.Float](rules *dtd.Rules[T], spec map[string]ruleJSON) error {
	for key, r := range spec {
		layer, err := strconv.Atoi(key)
		if err != nil {
			return err
		}
		bias := dtd.BiasInclude
		if r.Bias == "exclude" {
			bias = dtd.BiasExclude
		}
		stabilizer := dtd.DefaultStabilizer
		if r.Stabilizer != nil {
			stabilizer = *r.Stabilizer
		}
		switch r.Rule {
		case "epsilon":
			err = rules.SetEpsilon(layer, r.Epsilon, bias)
		case "zplus":
			err = rules.SetZPlus(layer, stabilizer, bias)
		case "alphabeta":
			err = rules.SetAlphaBeta(layer, r.Alpha, r.Beta, stabilizer, bias)
		case "gamma":
			err = rules.SetGamma(layer, r.Gamma, stabilizer, bias)
		case "wsquare":
			err = rules.SetWSquare(layer, stabilizer, bias)
		case "flat":
			err = rules.SetFlat(layer, stabilizer)
		case "zbox":
			err = rules.SetZBox(layer, r.Low, r.High, stabilizer, bias)
		default:
			err = fmt.Errorf("unknown rule %q", r.Rule)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// relativeError is max|got - want| / max|want| (the plain difference when want is all zero).
func relativeError[T dtd.Float](got []T, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, scale float64
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-want[i]))
		scale = math.Max(scale, math.Abs(want[i]))
	}
	if scale > 0 {
		return diff / scale
	}
	return diff
}

// runCase computes a case's output and relevance with the binding.
func runCase[T dtd.Float](t *testing.T, f fixture, c caseJSON) (output, relevance []T) {
	t.Helper()
	net, err := buildNetwork[T](f)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	x, seed := convert[T](c.Input.Data), convert[T](c.OutputRelevance.Data)
	if output, err = net.Forward(x); err != nil {
		t.Fatal(err)
	}
	switch c.Method {
	case "lrp":
		rules, err := dtd.NewRules(net)
		if err != nil {
			t.Fatal(err)
		}
		defer rules.Close()
		if err := setRules(rules, c.Rules); err != nil {
			t.Fatal(err)
		}
		relevance, err = net.LRP(x, seed, rules)
		if err != nil {
			t.Fatal(err)
		}
	case "gradient":
		relevance, err = net.Gradient(x, seed)
	case "gradient_x_input":
		relevance, err = net.GradientXInput(x, seed)
	default:
		t.Fatalf("unknown method %q", c.Method)
	}
	if err != nil {
		t.Fatal(err)
	}
	return output, relevance
}

func fixtureFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) != 5 {
		t.Fatalf("expected the 5 Zennit fixture files in %s, found %d", fixtureDir, len(files))
	}
	return files
}

// Every case of every file in float64, to Zennit's values within 1e-9 relative (Tests/Fixtures/README.md).
func TestZennitFixturesFloat64(t *testing.T) {
	for _, path := range fixtureFiles(t) {
		f := loadFixture(t, path)
		if len(f.Cases) != 28 {
			t.Fatalf("%s: %d cases, expected 28", path, len(f.Cases))
		}
		name := filepath.Base(path)
		for _, c := range f.Cases {
			c := c
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				output, relevance := runCase[float64](t, f, c)
				if e := relativeError(output, c.ExpectedOutput.Data); e > 1e-9 {
					t.Errorf("output off by %.3g relative", e)
				}
				if e := relativeError(relevance, c.ExpectedRelevance.Data); e > 1e-9 {
					t.Errorf("relevance off by %.3g relative", e)
				}
			})
		}
	}
}

// The network kind of api_tour.c (conv, relu, max-pool, flatten, dense) in float32: every case
// within 1e-4 of Zennit's float64 values, the zbox / gamma / epsilon mix among them.
func TestZennitFixturesFloat32(t *testing.T) {
	f := loadFixture(t, filepath.Join(fixtureDir, "cnn_max.json"))
	found := false
	for _, c := range f.Cases {
		c := c
		found = found || c.Name == "zbox_first_gamma_rest/target_logit"
		t.Run(c.Name, func(t *testing.T) {
			output, relevance := runCase[float32](t, f, c)
			if e := relativeError(output, c.ExpectedOutput.Data); e > 1e-4 {
				t.Errorf("output off by %.3g relative", e)
			}
			if e := relativeError(relevance, c.ExpectedRelevance.Data); e > 1e-4 {
				t.Errorf("relevance off by %.3g relative", e)
			}
		})
	}
	if !found {
		t.Error("cnn_max.json has no case zbox_first_gamma_rest/target_logit")
	}
}
