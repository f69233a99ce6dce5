"""The benchmark models, their inputs and seeds, the rule sets, and the FLOP model.

Pure numpy (no libdtd, no torch): every engine builds its network from the same spec, so all
engines see bit-identical weights, inputs and output seeds.

A spec is a dict in the JSON model format of ``dtd.Network.from_json``: ``input_shape`` and
``layers``, each ``{"type": ..., "weight": ndarray, "bias": ndarray, ...}``. Master weights and
inputs are float32 values held in float64 arrays, so the float32 and float64 networks have
exactly the same parameters.

FLOP model (``flops``): 2 x the multiply-adds of the dense/conv products a method needs, counted
the way libdtd computes it (the algorithmic minimum); elementwise work, pooling, im2col/col2im
are not counted. Per dense/conv layer with M = (batch x out x fan-in) multiply-adds:
  forward pass (every method runs it once):         M
  gradient:                                          + M    (the transposed product)
  LRP epsilon:                                       + M    (denominator = forward z; one transposed product)
  LRP flat:                                          + M    (the all-ones forward is input-independent, precomputed
                                                              by libdtd at rule-set time; one transposed product)
  LRP z+:                                            + 2M   (W+ a+ forward + transposed product; the W- a- branch is
                                                              skipped when the layer input is >= 0, as after a ReLU/pool)
                                                     + 2M more when the input has negative entries.
The same count is used for every engine's row, so GFLOP/s compares throughput on equal work.
``zennit_macs`` counts what Zennit's BasicHook actually executes (every rule re-runs the layer
forward on its modified parameters; z+ runs two forward/backward pairs; flat runs the ones forward
per call), reported in the JSON for reference.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STUDY_JSON = Path(__file__).resolve().parents[1] / "dtd" / "data" / "dtd_study_mlp.json"

#: model name -> (description, batches, dtypes, kind). kind "mlp": composite = flat on the
#: first linear layer, z+ on the others; kind "cnn": Zennit's EpsilonPlusFlat.
MODELS = {
    "mlp": ("MLP 784-1000-1000-10", (1, 64), ("float32", "float64"), "mlp"),
    "lenet": ("LeNet-5 1x28x28", (1, 64), ("float32",), "cnn"),
    "vgg": ("VGG-style CIFAR CNN 3x32x32", (1, 16), ("float32",), "cnn"),
    "study": ("study MLP 10-10-10-2", (1000,), ("float32", "float64"), "mlp"),
    # torchvision's architectures at 224x224 (DESIGN §3b graph layers; batch norms folded into
    # the convs, as libdtd and Zennit's canonizers do before any call; random weights)
    "resnet18": ("ResNet-18 3x224x224", (1, 8), ("float32",), "cnn"),
    "vgg16": ("VGG-16 3x224x224", (1, 8), ("float32",), "cnn"),
}

#: models that need the graph layers (route/add, adaptive average pooling, identity)
GRAPH_MODELS = ("resnet18", "vgg16")

EPSILON = 1e-6
STABILIZER = 1e-6


def _f32(a: np.ndarray) -> np.ndarray:
    """float32 values held in float64."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def _dense(rng, out_f, in_f):
    bound = np.sqrt(6.0 / in_f)  # He-uniform keeps activations O(1) through the ReLUs
    return {"type": "dense", "weight": _f32(rng.uniform(-bound, bound, (out_f, in_f))),
            "bias": _f32(rng.uniform(-1, 1, out_f) / np.sqrt(in_f))}


def _conv(rng, cout, cin, k, pad, stride=1):
    fan = cin * k * k
    bound = np.sqrt(6.0 / fan)
    return {"type": "conv2d", "weight": _f32(rng.uniform(-bound, bound, (cout, cin, k, k))),
            "bias": _f32(rng.uniform(-1, 1, cout) / np.sqrt(fan)), "stride": stride, "padding": pad}


def _uniform32(rng, bound, shape):
    """U(-bound, bound) drawn in float32 (VGG-16 has 138 M weights: float64 draws take ~30 s)."""
    return (rng.random(shape, dtype=np.float32) * np.float32(2 * bound) - np.float32(bound)).astype(np.float64)


def _conv32(rng, cout, cin, k, pad, stride=1):
    fan = cin * k * k
    return {"type": "conv2d", "weight": _uniform32(rng, np.sqrt(6.0 / fan), (cout, cin, k, k)),
            "bias": _uniform32(rng, 1 / np.sqrt(fan), (cout,)), "stride": stride, "padding": pad}


def _dense32(rng, out_f, in_f):
    return {"type": "dense", "weight": _uniform32(rng, np.sqrt(6.0 / in_f), (out_f, in_f)),
            "bias": _uniform32(rng, 1 / np.sqrt(in_f), (out_f,))}


def _resnet18(rng) -> list[dict]:
    """torchvision's resnet18 as one layer list (§3b): a BasicBlock is conv, relu, conv,
    add(from: [block input]), relu; with downsample: conv/2, relu, conv (m), route(from: [block
    input]), conv 1x1/2, add(from: [m]), relu."""
    layers = [_conv32(rng, 64, 3, 7, 3, 2), RELU, {"type": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1}]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            source = len(layers) - 1  # the block input
            layers += [_conv32(rng, cout, cin, 3, 1, s), RELU, _conv32(rng, cout, cout, 3, 1)]
            if s != 1 or cin != cout:
                main = len(layers) - 1
                layers += [{"type": "route", "from": [source]}, _conv32(rng, cout, cin, 1, 0, s),
                           {"type": "add", "from": [main]}]
            else:
                layers.append({"type": "add", "from": [source]})
            layers.append(RELU)
            cin = cout
    return layers + [{"type": "adaptive_avgpool2d", "output_size": [1, 1]}, FLATTEN, _dense32(rng, 1000, 512)]


def _vgg16(rng) -> list[dict]:
    """torchvision's vgg16 (configuration D): 13 convs, 5 max-pools, adaptive_avgpool2d(7, 7),
    the classifier with its two dropouts as identity layers (so indices match the Sequential)."""
    layers, cin = [], 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(POOL)
        else:
            layers += [_conv32(rng, v, cin, 3, 1), RELU]
            cin = v
    identity = {"type": "identity"}
    return layers + [{"type": "adaptive_avgpool2d", "output_size": [7, 7]}, FLATTEN,
                     _dense32(rng, 4096, 512 * 7 * 7), RELU, identity, _dense32(rng, 4096, 4096), RELU, identity,
                     _dense32(rng, 1000, 4096)]


RELU = {"type": "relu"}
POOL = {"type": "maxpool2d", "kernel": 2, "stride": 2, "padding": 0}
FLATTEN = {"type": "flatten"}


def build_spec(name: str, seed: int = 0) -> dict:
    """The model's layers with fixed random weights (numpy RNG seeded with ``seed``)."""
    rng = np.random.default_rng(seed)
    if name == "mlp":
        layers = [_dense(rng, 1000, 784), RELU, _dense(rng, 1000, 1000), RELU, _dense(rng, 10, 1000)]
        return {"name": name, "input_shape": [784], "layers": layers}
    if name == "lenet":
        layers = [_conv(rng, 6, 1, 5, 2), RELU, POOL, _conv(rng, 16, 6, 5, 0), RELU, POOL, FLATTEN,
                  _dense(rng, 120, 400), RELU, _dense(rng, 84, 120), RELU, _dense(rng, 10, 84)]
        return {"name": name, "input_shape": [1, 28, 28], "layers": layers}
    if name == "vgg":
        layers, cin = [], 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, "M"):
            if v == "M":
                layers.append(POOL)
            else:
                layers += [_conv(rng, v, cin, 3, 1), RELU]
                cin = v
        layers += [FLATTEN, _dense(rng, 512, 256 * 4 * 4), RELU, _dense(rng, 10, 512)]
        return {"name": name, "input_shape": [3, 32, 32], "layers": layers}
    if name == "resnet18":
        return {"name": name, "input_shape": [3, 224, 224], "layers": _resnet18(rng)}
    if name == "vgg16":
        return {"name": name, "input_shape": [3, 224, 224], "layers": _vgg16(rng)}
    if name == "study":
        raw = json.loads(STUDY_JSON.read_text())
        layers = []
        for layer in raw["layers"]:
            item = dict(layer)
            for key in ("weight", "bias"):
                t = layer.get(key)
                if isinstance(t, dict):
                    item[key] = np.asarray(t["data"], dtype=np.float64).reshape(t["shape"])
                elif t is not None:
                    item[key] = np.asarray(t, dtype=np.float64)
            layers.append(item)
        inputs = np.concatenate([np.asarray(b["inputs"], dtype=np.float64) for b in raw["input_blocks"]])
        return {"name": name, "input_shape": list(raw["input_shape"]), "layers": layers,
                "inputs": _f32(inputs), "target": int(raw["explained_output"])}
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def inputs_for(spec: dict, batch: int, seed: int = 1) -> np.ndarray:
    """Seeded inputs: pixel-like U[0, 1) for the 28x28 models, N(0, 1) (normalised images) for
    the CIFAR CNN, the study's own |N(0, I)| inputs (first ``batch`` of its 4000) for the study net."""
    if "inputs" in spec:
        return spec["inputs"][:batch].copy()
    rng = np.random.default_rng(seed + batch)
    shape = (batch, *spec["input_shape"])
    if spec["name"] in ("vgg", "resnet18", "vgg16"):
        return _f32(rng.standard_normal(shape))
    return _f32(rng.uniform(0.0, 1.0, shape))


def linear_layers(spec: dict) -> list[int]:
    return [i for i, l in enumerate(spec["layers"]) if l["type"] in ("dense", "conv2d")]


def composite_map(spec: dict) -> dict[int, str]:
    """The Zennit-equivalent composite as {layer index: rule name}.

    MLPs: flat on the first linear layer, z+ on the others. CNNs (Zennit's EpsilonPlusFlat):
    flat on the first conv, z+ on the other convs, epsilon on the dense layers.
    """
    kind = MODELS[spec["name"]][3]
    lin = linear_layers(spec)
    rules = {}
    for n, i in enumerate(lin):
        t = spec["layers"][i]["type"]
        if n == 0:
            rules[i] = "flat"
        elif kind == "mlp" or t == "conv2d":
            rules[i] = "zplus"
        else:
            rules[i] = "epsilon"
    return rules


def epsilon_map(spec: dict) -> dict[int, str]:
    return {i: "epsilon" for i in linear_layers(spec)}


def rule_map(spec: dict, method: str) -> dict[int, str]:
    if method == "lrp-eps":
        return epsilon_map(spec)
    if method == "lrp-comp":
        return composite_map(spec)
    raise ValueError(method)


def layer_shapes(spec: dict) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(input shape, output shape) of every layer, per sample."""
    shape = tuple(spec["input_shape"])
    out, outputs = [], []
    for l in spec["layers"]:
        t = l["type"]
        if t == "route":
            src = [tuple(spec["input_shape"]) if i == -1 else outputs[i] for i in l["from"]]
            shape = (sum(s[0] for s in src), *src[0][1:])  # the sources, concatenated by channel
            new = shape
        elif t == "dense":
            new = (l["weight"].shape[0],)
        elif t == "conv2d":
            cout, _, kh, kw = l["weight"].shape
            p, s = l.get("padding", 0), l.get("stride", 1)
            new = (cout, (shape[1] + 2 * p - kh) // s + 1, (shape[2] + 2 * p - kw) // s + 1)
        elif t == "maxpool2d":
            k, s, p = l["kernel"], l.get("stride") or l["kernel"], l.get("padding", 0)
            new = (shape[0], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif t == "adaptive_avgpool2d":
            new = (shape[0], *l["output_size"])
        elif t == "flatten":
            new = (int(np.prod(shape)),)
        else:
            new = shape
        out.append((shape, new))
        outputs.append(new)
        shape = new
    return out


def layer_macs(spec: dict) -> dict[int, int]:
    """Multiply-adds of one forward product per sample, per dense/conv layer."""
    macs = {}
    for i, (ishape, oshape) in enumerate(layer_shapes(spec)):
        l = spec["layers"][i]
        if l["type"] in ("dense", "conv2d"):
            fan = int(np.prod(l["weight"].shape[1:]))
            macs[i] = int(np.prod(oshape)) * fan
    return macs


def _output_nonnegative(spec: dict, j: int) -> bool:
    """Whether layer j's output (-1: the network input) has no negative entries."""
    if j < 0:
        return spec["name"] not in ("vgg", "resnet18", "vgg16")  # N(0, 1) inputs
    layer = spec["layers"][j]
    t = layer["type"]
    if t == "route":
        return all(_output_nonnegative(spec, i) for i in layer["from"])
    if t in ("flatten", "identity", "maxpool2d", "adaptive_avgpool2d"):
        return _output_nonnegative(spec, j - 1)
    return t == "relu"


def _input_has_negatives(spec: dict, i: int) -> bool:
    """Whether layer i's input can be negative (N(0,1) or unknown raw inputs, or a linear output)."""
    return not _output_nonnegative(spec, i - 1)


def flops(spec: dict, method: str, batch: int) -> int:
    """2 x multiply-adds of the products `method` needs (libdtd's algorithm; see module doc)."""
    if method == "audit":
        return 0
    macs = layer_macs(spec)
    total = sum(macs.values())  # the forward pass
    if method == "gradient":
        total += sum(macs.values())
    else:
        for i, rule in rule_map(spec, method).items():
            if rule in ("epsilon", "flat"):
                total += macs[i]
            elif rule == "zplus":
                total += (4 if _input_has_negatives(spec, i) else 2) * macs[i]
    return 2 * batch * total


def zennit_macs(spec: dict, method: str, batch: int) -> int:
    """Multiply-adds Zennit executes: the forward, then per rule-hooked layer its BasicHook's
    modified forwards and their backward products (a plain gradient: forward + backward)."""
    macs = layer_macs(spec)
    total = sum(macs.values())
    if method == "gradient":
        return batch * (total + sum(macs.values()))
    for i, rule in rule_map(spec, method).items():
        total += (4 if rule == "zplus" else 2) * macs[i]
    return batch * total


def forward64(spec: dict, x: np.ndarray) -> np.ndarray:
    """A float64 forward pass (numpy reference), for the seeds."""
    if spec["name"] in GRAPH_MODELS:
        return np.concatenate([graph_forward64(spec, x[n:n + 1]) for n in range(x.shape[0])])
    from np_lrp import NumpyNet
    return NumpyNet(spec, np.float64).forward(x)


def graph_forward64(spec: dict, x: np.ndarray) -> np.ndarray:
    """A plain float64 forward pass of a layer list with §3b graph layers (route, add,
    adaptive_avgpool2d, identity), stride and padding included: the seeds of the 224x224 models."""
    from numpy.lib.stride_tricks import sliding_window_view
    outputs, a = [], np.asarray(x, dtype=np.float64)
    for layer in spec["layers"]:
        t = layer["type"]
        if t == "conv2d":
            w = np.asarray(layer["weight"], dtype=np.float64)
            p, s = layer.get("padding", 0), layer.get("stride", 1)
            ap = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)))
            win = sliding_window_view(ap, w.shape[2:], axis=(2, 3))[:, :, ::s, ::s]  # N C Ho Wo kh kw
            a = np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + layer["bias"][None, :, None, None]
        elif t == "dense":
            a = a @ np.asarray(layer["weight"], dtype=np.float64).T + layer["bias"]
        elif t == "relu":
            a = np.maximum(a, 0)
        elif t == "maxpool2d":
            k, s, p = layer["kernel"], layer.get("stride") or layer["kernel"], layer.get("padding", 0)
            ap = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
            a = sliding_window_view(ap, (k, k), axis=(2, 3))[:, :, ::s, ::s].max(axis=(4, 5))
        elif t == "adaptive_avgpool2d":
            (oh, ow), (h, w) = layer["output_size"], a.shape[2:]
            out = np.empty(a.shape[:2] + (oh, ow))
            for i in range(oh):
                for j in range(ow):
                    out[:, :, i, j] = a[:, :, i * h // oh:-(-(i + 1) * h // oh),
                                        j * w // ow:-(-(j + 1) * w // ow)].mean(axis=(2, 3))
            a = out
        elif t == "flatten":
            a = a.reshape(a.shape[0], -1)
        elif t == "route":
            a = np.concatenate([x if i == -1 else outputs[i] for i in layer["from"]], axis=1)
        elif t == "add":
            a = a + sum(x if i == -1 else outputs[i] for i in layer["from"])
        elif t != "identity":
            raise NotImplementedError(t)
        outputs.append(a)
    return a


def seeds_for(spec: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The LRP seed r = f_k(x) e_k: k = the study's explained output for the study net, else
    argmax_k f_k(x), with f from a float64 forward pass. Returns (seed, targets)."""
    out = forward64(spec, x).reshape(x.shape[0], -1)
    if "target" in spec:
        targets = np.full(x.shape[0], spec["target"])
    else:
        targets = out.argmax(axis=1)
    seed = np.zeros_like(out)
    rows = np.arange(x.shape[0])
    seed[rows, targets] = out[rows, targets]
    return _f32(seed), targets
