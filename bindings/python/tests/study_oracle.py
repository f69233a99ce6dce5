"""The study's root audit (DESIGN.md sections 5-6) in plain numpy: the oracle that pins the table
the flagship demo prints and README shows.

Written from the definitions alone; it imports nothing from the ``dtd`` package (the network and
the input blocks are read from the JSON file directly). For a dense ReLU network, explained output
k, and the roots of the first layer's neurons:

- top-down pass: the seed f_k(x) e_k at the output, passed down through every dense layer above
  the first in its rule's root form R_{i<-j} = R_j w_ij v_ij / (w_j . v_j) (bias excluded, no
  stabiliser), neurons with |w_j . v_j| <= tol (or gamma's z_j = 0) dropped; ReLUs pass relevance;
- directions v_j: LRP-0 a; z+ a [a w_j > 0]; gamma a (1 + gamma [a w_j > 0]) if z_j > 0,
  a (1 + gamma [a w_j < 0]) if z_j < 0, none if z_j = 0; w^2 w_j;
- roots a - t_j v_j, t_j = R_j / (w_j . v_j) (relevance placement) or z_j / (w_j . v_j)
  (hyperplane); t_j = 0 when R_j = 0;
- the audit against g (the whole network to output k): same_gradient (max |grad g(root) -
  grad g(a)| <= 1e-5, ReLU'(0) = 0), same_pattern (every ReLU unit's on/off state; a unit within
  1e-9 of its layer's largest |pre-activation| at the root or at a matches either), output change
  |g(root) - g(a)| < 1e-6, segment_inside (the exact exit of a -> root from the closure of a's
  region: with a's ReLU states frozen every pre-activation is affine along the segment),
  unexplained R_j (1 - segment_inside);
- the row: fraction of inputs with a root outside (by gradient, by pattern), fraction of roots
  with an unchanged output, mean segment_inside, max |sum_j R_j - f_k(x)|, and
  sum |unexplained| / sum |R_j| over the roots.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TOL = 1e-5          # |w_j . v_j| <= TOL: no root (DESIGN.md section 5's default)
HINGE = 1e-9        # same_pattern's hinge tolerance, relative to the layer's largest |pre-activation|
GRADIENT = 1e-5     # the study's same_gradient tolerance
UNCHANGED = 1e-6    # |g(root) - g(a)| below this counts as unchanged

#: The study's rule columns (DESIGN.md section 6): the key of each input block and its rule.
COLUMN_RULES = {"lrp0": ("lrp0",), "zplus": ("zplus",), "gamma_1": ("gamma", 1.0), "wsquare": ("wsquare",)}


class StudyNetwork:
    """The study's network and input blocks, from the JSON file (float32 values as decimals)."""

    def __init__(self, path: Path):
        spec = json.loads(Path(path).read_text())
        self.layers = []
        for layer in spec["layers"]:
            if layer["type"] == "dense":
                w, b = layer["weight"], layer["bias"]
                self.layers.append(("dense", np.reshape(np.asarray(w["data"], np.float64), w["shape"]),
                                    np.reshape(np.asarray(b["data"], np.float64), b["shape"])))
            elif layer["type"] == "relu":
                self.layers.append(("relu",))
            else:
                raise ValueError(f"the oracle handles dense/relu networks, not {layer['type']}")
        self.target = spec["explained_output"]
        self.blocks = {block["column"]: np.asarray(block["inputs"], np.float64) for block in spec["input_blocks"]}

    def forward(self, x: np.ndarray, masks: dict | None = None) -> list[np.ndarray]:
        """The input of every layer and, last, the output (rows are points). With ``masks`` (layer
        index -> boolean array per ReLU layer, rows matching x) the ReLU states are frozen."""
        values = [x]
        for index, layer in enumerate(self.layers):
            a = values[-1]
            if layer[0] == "dense":
                values.append(a @ layer[1].T + layer[2])
            else:
                on = a > 0 if masks is None else masks[index]
                values.append(np.where(on, a, 0.0))
        return values

    def gradient(self, values: list[np.ndarray]) -> np.ndarray:
        """grad of output ``target`` with respect to the input, per row (ReLU'(0) = 0)."""
        g = np.zeros_like(values[-1])
        g[:, self.target] = 1.0
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            g = g @ layer[1] if layer[0] == "dense" else np.where(values[index] > 0, g, 0.0)
        return g


def direction(rule: tuple, a: np.ndarray, w: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """v (points, neurons, inputs) for inputs a (points, inputs), weights w (neurons, inputs) and
    pre-activations z (points, neurons); and where the rule defines a direction at all."""
    a3, w3 = a[:, None, :], w[None, :, :]
    defined = np.ones(z.shape, dtype=bool)
    if rule[0] == "lrp0":
        v = np.broadcast_to(a3, (a.shape[0],) + w.shape)
    elif rule[0] == "zplus":
        v = np.where(a3 * w3 > 0, a3, 0.0)
    elif rule[0] == "gamma":
        up = a3 * (1 + rule[1] * (a3 * w3 > 0))
        down = a3 * (1 + rule[1] * (a3 * w3 < 0))
        v = np.where((z > 0)[..., None], up, down)
        defined = z != 0
    elif rule[0] == "wsquare":
        v = np.broadcast_to(w3, (a.shape[0],) + w.shape)
    else:
        raise ValueError(rule)
    return v, defined


def root_form(rule: tuple, w: np.ndarray, b: np.ndarray, a: np.ndarray, R: np.ndarray) -> np.ndarray:
    """sum_j R_j w_ij v_ij / (w_j . v_j) over the neurons that have a root."""
    v, defined = direction(rule, a, w, a @ w.T + b)
    wv = np.einsum("nji,ji->nj", v, w)
    keep = defined & (np.abs(wv) > TOL)
    scale = np.where(keep, R / np.where(keep, wv, 1.0), 0.0)
    return np.einsum("nj,ji,nji->ni", scale, w, v)


def audit_row(net: StudyNetwork, x: np.ndarray, rules: list[tuple], placement: str) -> dict:
    """The study's table row for inputs x, ``rules[k]`` on the k-th dense layer, first-layer roots."""
    values = net.forward(x)
    dense = [index for index, layer in enumerate(net.layers) if layer[0] == "dense"]
    rule_of = dict(zip(dense, rules))
    f = values[-1][:, net.target]

    # Top-down to the first layer's output.
    R = np.zeros_like(values[-1])
    R[:, net.target] = f
    for index in range(len(net.layers) - 1, 0, -1):
        layer = net.layers[index]
        if layer[0] == "dense":
            R = root_form(rule_of[index], layer[1], layer[2], values[index], R)

    # Roots of layer 0.
    _, w, b = net.layers[0]
    a, z = values[0], values[1]
    v, defined = direction(rule_of[0], a, w, z)
    wv = np.einsum("nji,ji->nj", v, w)
    has_root = defined & (np.abs(wv) > TOL)
    numerator = R if placement == "relevance" else z
    t = np.where(has_root & (R != 0), numerator / np.where(has_root, wv, 1.0), 0.0)
    n, J, I = v.shape
    roots = (a[:, None, :] - t[..., None] * v).reshape(n * J, I)
    base = np.repeat(a, J, axis=0)

    # The audit of every root against g.
    at_a = [np.repeat(value, J, axis=0) for value in values]
    at_root = net.forward(roots)
    relus = [index for index, layer in enumerate(net.layers) if layer[0] == "relu"]
    frozen = net.forward(roots, masks={index: at_a[index] > 0 for index in relus})
    same_gradient = np.max(np.abs(net.gradient(at_root) - net.gradient(at_a)), axis=1) <= GRADIENT
    same_pattern = np.ones(n * J, dtype=bool)
    exit_ = np.full(n * J, np.inf)
    for index in relus:
        z0, z1 = at_a[index], at_root[index]
        largest = np.maximum(np.max(np.abs(z0), axis=1), np.max(np.abs(z1), axis=1))[:, None]
        same_pattern &= ~np.any(((z0 > 0) != (z1 > 0)) & (np.abs(z1) > HINGE * largest), axis=1)
        slope = frozen[index] - z0
        with np.errstate(divide="ignore", invalid="ignore"):
            mu = np.where((z0 > 0) & (slope < 0), z0 / -slope, np.where((z0 <= 0) & (slope > 0), -z0 / slope, np.inf))
        exit_ = np.minimum(exit_, np.min(mu, axis=1))
    change = at_root[-1][:, net.target] - at_a[-1][:, net.target]
    segment = np.minimum(exit_, 1.0)
    shape = (n, J)
    same_gradient, same_pattern = same_gradient.reshape(shape), same_pattern.reshape(shape)
    change, segment = change.reshape(shape), segment.reshape(shape)
    unexplained = np.where(has_root, R * (1 - segment), 0.0)
    pairs = int(has_root.sum())
    return {
        "samples": n,
        "pairs": pairs,
        "outside_by_gradient": float(np.mean(np.any(has_root & ~same_gradient, axis=1))),
        "outside_by_pattern": float(np.mean(np.any(has_root & ~same_pattern, axis=1))),
        "unchanged_output": float(np.sum(has_root & (np.abs(change) < UNCHANGED)) / pairs),
        "mean_segment_inside": float(np.mean(segment[has_root])),
        "max_conservation_error": float(np.max(np.abs(np.sum(np.where(has_root, R, 0.0), axis=1) - f))),
        "unexplained_fraction": float(np.sum(np.abs(unexplained[has_root])) / np.sum(np.abs(R[has_root]))),
    }


def study_rows(path: Path) -> dict[tuple[str, str, str], dict]:
    """(protocol, placement, column) -> row, for both protocols and placements: "per-rule" runs
    each column's rule at every dense layer, "as-published" z+ (what the study's code ran)."""
    net = StudyNetwork(path)
    dense_count = sum(layer[0] == "dense" for layer in net.layers)
    rows = {}
    for column, x in net.blocks.items():
        for protocol, rule in (("per-rule", COLUMN_RULES[column]), ("as-published", ("zplus",))):
            for placement in ("relevance", "hyperplane"):
                rows[(protocol, placement, column)] = audit_row(net, x, [rule] * dense_count, placement)
    return rows
