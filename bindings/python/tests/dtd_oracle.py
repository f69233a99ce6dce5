"""A naive numpy re-implementation of Include/dtd.h section 6 for dense ReLU MLPs: the test oracle
for roots, the top-down pass, the root form and the linear region.

Written straight from the definitions, loop by loop, and never from libdtd's output. A model is
a list of layers, each ``("dense", W, b)`` or ``("relu",)``, built together with the
``dtd.Network`` it describes by :func:`random_model`.
"""
from __future__ import annotations

import numpy as np

import dtd
from dtd.rules import AlphaBeta, Epsilon, Gamma, Rule, WSquare, ZBox, ZPlus

#: The root rules (Include/dtd.h section 6), for parametrised tests.
ROOT_RULES: list[Rule] = [Epsilon(0.0), ZPlus(), Gamma(0.25), Gamma(1.0), WSquare(), ZBox(-2.0, 3.0),
                          AlphaBeta(2.0, 1.0), AlphaBeta(1.0, 0.0)]
ROOT_RULE_IDS = ["lrp0", "zplus", "gamma0.25", "gamma1", "wsquare", "zbox", "alpha2beta1", "alpha1beta0"]


def random_model(rng: np.random.Generator, sizes: list[int], *, relu_last: bool = False,
                 bias_scale: float = 0.3, dtype: str = "float64") -> tuple[dtd.Network, list[tuple]]:
    """dense -> relu -> ... -> dense with N(0, 1/sqrt(fan_in)) weights and biases of both signs.
    Returns the network and its layer list."""
    layers: list[tuple] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(("dense", rng.normal(scale=fan_in ** -0.5, size=(fan_out, fan_in)),
                       rng.normal(scale=bias_scale, size=fan_out)))
        if i < len(sizes) - 2 or relu_last:
            layers.append(("relu",))
    return build(layers, sizes[0], dtype=dtype), layers


def build(layers: list[tuple], input_size: int, *, dtype: str = "float64") -> dtd.Network:
    net = dtd.Network((input_size,), dtype=dtype)
    for layer in layers:
        if layer[0] == "dense":
            net.add_dense(layer[1], layer[2])
        else:
            net.add_relu()
    return net


def activations(layers: list[tuple], x: np.ndarray) -> list[np.ndarray]:
    """The input of every layer and, last, the output: ``len(layers) + 1`` arrays of one sample."""
    values = [np.asarray(x, dtype=np.float64)]
    for layer in layers:
        a = values[-1]
        values.append(layer[1] @ a + layer[2] if layer[0] == "dense" else np.maximum(a, 0.0))
    return values


def forward_from(layers: list[tuple], layer: int, a: np.ndarray) -> np.ndarray:
    """g: the network from layer ``layer``'s input to the output, for one point."""
    for spec in layers[layer:]:
        a = spec[1] @ a + spec[2] if spec[0] == "dense" else np.maximum(a, 0.0)
    return a


def pattern_from(layers: list[tuple], layer: int, a: np.ndarray) -> np.ndarray:
    """The on/off state (pre-activation > 0) of every ReLU of g at point ``a``, concatenated."""
    states = []
    for spec in layers[layer:]:
        if spec[0] == "relu":
            states.append(a > 0)
        a = spec[1] @ a + spec[2] if spec[0] == "dense" else np.maximum(a, 0.0)
    return np.concatenate(states) if states else np.zeros(0, dtype=bool)


def gradient_from(layers: list[tuple], layer: int, a: np.ndarray, target: int) -> np.ndarray:
    """grad of g_target at ``a`` (ReLU'(0) = 0), by the chain rule on the local linear model."""
    jacobian = np.eye(a.size)
    for spec in layers[layer:]:
        if spec[0] == "dense":
            jacobian = spec[1] @ jacobian
            a = spec[1] @ a + spec[2]
        else:
            jacobian = (a > 0)[:, None] * jacobian
            a = np.maximum(a, 0.0)
    return jacobian[target]


# MARK: - Directions and the root form (Include/dtd.h section 6)

def partials(rule: Rule) -> list[float]:
    """The relevance factor of each partial root: [alpha, -beta] for alpha-beta, else [1]."""
    return [rule.alpha, -rule.beta] if isinstance(rule, AlphaBeta) else [1.0]


def direction(rule: Rule, partial: int, a: np.ndarray, w: np.ndarray, z: float) -> np.ndarray | None:
    """v_j for weight row ``w`` at input ``a`` (None: the rule has no root here)."""
    if isinstance(rule, Epsilon):
        assert rule.epsilon == 0
        return a.copy()
    if isinstance(rule, ZPlus):
        return np.where(a * w > 0, a, 0.0)
    if isinstance(rule, AlphaBeta):
        return np.where(a * w > 0, a, 0.0) if partial == 0 else np.where(a * w < 0, a, 0.0)
    if isinstance(rule, Gamma):
        if z > 0:
            return a * (1 + rule.gamma * (a * w > 0))
        if z < 0:
            return a * (1 + rule.gamma * (a * w < 0))
        return None
    if isinstance(rule, WSquare):
        return w.copy()
    if isinstance(rule, ZBox):
        return a - rule.low * (w > 0) - rule.high * (w < 0)
    raise AssertionError(f"not a root rule: {rule}")


def root_form(rule: Rule, W: np.ndarray, b: np.ndarray, a: np.ndarray, R: np.ndarray) -> np.ndarray:
    """sum_j R_{i<-j} with R_{i<-j} = factor R_j w_ij v_ij / (w_j^T v_j) (0 for w^T v = 0)."""
    z = W @ a + b
    out = np.zeros_like(a)
    for j in range(W.shape[0]):
        for p, factor in enumerate(partials(rule)):
            v = direction(rule, p, a, W[j], z[j])
            if v is None:
                continue
            wv = W[j] @ v
            if wv != 0:
                out += factor * R[j] * W[j] * v / wv
    return out


def top_down(layers: list[tuple], rules: dict[int, Rule], x: np.ndarray, layer: int,
             target: int) -> np.ndarray:
    """R at the output of ``layer``: the seed f_k(x) e_k passed down in root form."""
    acts = activations(layers, x)
    R = np.zeros_like(acts[-1])
    R[target] = acts[-1][target]
    for index in range(len(layers) - 1, layer, -1):
        if layers[index][0] == "dense":
            R = root_form(rules[index], layers[index][1], layers[index][2], acts[index], R)
    return R


def expected_roots(layers: list[tuple], rules: dict[int, Rule], x: np.ndarray, layer: int,
                   target: int, placement: str, tol: float = 1e-5) -> dict[str, np.ndarray]:
    """Every field of ``Network.roots`` for one sample, from the definitions."""
    acts = activations(layers, x)
    a, (_, W, b), rule = acts[layer], layers[layer], rules[layer]
    R = top_down(layers, rules, x, layer, target)
    z = W @ a + b
    fields: dict[str, list] = {k: [] for k in
                               ("neuron", "partial", "flags", "relevance", "z", "wv", "t", "points")}
    for j in range(W.shape[0]):
        for p, factor in enumerate(partials(rule)):
            v = direction(rule, p, a, W[j], z[j])
            relevance = factor * R[j]
            wv = 0.0 if v is None else float(W[j] @ v)
            flags, t = 0, 0.0
            if v is None or abs(wv) <= tol:
                flags = 1
            elif relevance == 0:
                flags = 2
            else:
                t = (z[j] if placement == "hyperplane" else relevance) / wv
            for key, value in (("neuron", j), ("partial", p), ("flags", flags), ("relevance", relevance),
                               ("z", z[j]), ("wv", wv), ("t", t)):
                fields[key].append(value)
            fields["points"].append(a - t * (v if v is not None else 0.0))
    return {k: np.array(v) for k, v in fields.items()}


def propagation_rule(rule: Rule) -> Rule:
    """The rule's propagation form the equivalence lemma compares with: bias excluded and no
    stabiliser."""
    if isinstance(rule, Epsilon):
        return Epsilon(0.0, bias=False)
    if isinstance(rule, ZBox):
        return ZBox(rule.low, rule.high, stabilizer=0.0, bias=False)
    if isinstance(rule, AlphaBeta):
        return AlphaBeta(rule.alpha, rule.beta, stabilizer=0.0, bias=False)
    if isinstance(rule, Gamma):
        return Gamma(rule.gamma, stabilizer=0.0, bias=False)
    return type(rule)(stabilizer=0.0, bias=False)


# MARK: - The audit's checks (Include/dtd.h section 6), one point at a time

HINGE = 1e-9  # within HINGE * (largest |pre-activation| of the layer at a or the point) of 0: either state


def same_pattern(layers: list[tuple], layer: int, a: np.ndarray, point: np.ndarray) -> bool:
    """Every ReLU of g has the state at ``point`` that it has at ``a`` (closure: units on their
    hinge at ``point`` match either state)."""
    for spec in layers[layer:]:
        if spec[0] == "relu":
            tolerance = HINGE * max(np.max(np.abs(point), initial=0.0), np.max(np.abs(a), initial=0.0))
            differs = ((a > 0) != (point > 0)) & (np.abs(point) > tolerance)
            if differs.any():
                return False
        if spec[0] == "dense":
            a, point = spec[1] @ a + spec[2], spec[1] @ point + spec[2]
        else:
            a, point = np.maximum(a, 0.0), np.maximum(point, 0.0)
    return True


def gradient_variants(layers: list[tuple], layer: int, a: np.ndarray, target: int) -> list[np.ndarray]:
    """grad g_target at ``a`` for every on/off choice of the ReLUs that sit on their hinge
    there (within HINGE): at a kink the gradient depends on the rounding of a pre-activation
    that is 0 in exact arithmetic, so each choice is a legitimate answer."""
    hinge: list[tuple[int, int]] = []  # (layer index, unit)
    probe = a
    for index, spec in enumerate(layers[layer:], start=layer):
        if spec[0] == "relu":
            tolerance = HINGE * np.max(np.abs(probe), initial=0.0)
            hinge += [(index, int(u)) for u in np.nonzero(np.abs(probe) <= tolerance)[0]]
            probe = np.maximum(probe, 0.0)
        else:
            probe = spec[1] @ probe + spec[2]
    assert len(hinge) <= 4, "too many units on their hinge for this oracle"
    variants = []
    for choice in range(2 ** len(hinge)):
        states = {unit: bool(choice >> bit & 1) for bit, unit in enumerate(hinge)}
        jacobian, point = np.eye(a.size), a
        for index, spec in enumerate(layers[layer:], start=layer):
            if spec[0] == "dense":
                jacobian, point = spec[1] @ jacobian, spec[1] @ point + spec[2]
            else:
                on = np.array([states.get((index, u), point[u] > 0) for u in range(point.size)])
                jacobian, point = on[:, None] * jacobian, np.maximum(point, 0.0)
        variants.append(jacobian[target])
    return variants


def audit_point(layers: list[tuple], layer: int, a: np.ndarray, point: np.ndarray,
                target: int) -> dict[str, object]:
    """same_pattern and output_change of one point, and the (same_gradient, taylor_residual)
    pairs allowed by the gradient's choices at any kink the point sits on."""
    g_a, g_p = forward_from(layers, layer, a)[target], forward_from(layers, layer, point)[target]
    grad_a = gradient_from(layers, layer, a, target)
    choices = [(bool(np.max(np.abs(grad_p - grad_a)) <= 1e-5), g_a - g_p - grad_p @ (a - point))
               for grad_p in gradient_variants(layers, layer, point, target)]
    return {
        "same_pattern": same_pattern(layers, layer, a, point),
        "output_change": g_p - g_a,
        "gradient_choices": choices,
    }


def matches_a_choice(choices: list[tuple[bool, float]], same_gradient: bool, taylor: float,
                     tolerance: float) -> bool:
    """Whether libdtd's (same_gradient, taylor_residual) is one of the allowed choices."""
    return any(same_gradient == flag and abs(taylor - value) <= tolerance for flag, value in choices)
