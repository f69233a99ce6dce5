"""The root audit of Sixt & Landgraf, "A Rigorous Study of the Deep Taylor Decomposition"
(TMLR 2022), as a library module.

The study takes a small ReLU network (10 -> 10 -> 10 -> 2, a ReLU after every dense layer, the
last one too), explains output 0, and asks of every first-layer DTD root: does it lie in the
input's linear region, as the Taylor expansion behind DTD requires? Its table has one column per
rule (LRP-0, z+, gamma = 1, w^2), each audited on its own block of 1000 inputs drawn from
|N(0, I)| with f_0(x) > 0.1. The network and the four blocks ship with this package
(``dtd/data/dtd_study_mlp.json``).

Two protocols (``Include/dtd.h`` section 6):

- ``"per-rule"``: the column's rule at every dense layer, as the paper describes;
- ``"as-published"``: z+ at every dense layer for every column, which is what the study's
  table code ran (a loop bug); the columns then differ only in their input block.

and two root placements: ``"relevance"`` (``t_j = R_j / w_j^T v_j``, the study's code) and
``"hyperplane"`` (``t_j = z_j / w_j^T v_j``, the textbook root on neuron j's hyperplane).

    import dtd.study
    for row in dtd.study.run():
        print(row["column"], row["protocol"], row["placement"], row["outside_by_pattern"])
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .network import Network
from .rules import Epsilon, Gamma, Rule, WSquare, ZPlus

__all__ = ["DATA_FILE", "COLUMNS", "COLUMN_RULES", "PROTOCOLS", "PLACEMENTS", "ROW_FIELDS",
           "EXPLAINED_OUTPUT", "ROOT_LAYER", "load_network", "input_blocks", "run", "gxi_check",
           "FULL_BACKWARD_METHODS", "FULL_BACKWARD_FIELDS", "full_backward_inputs", "run_full_backward"]

#: The bundled network and input blocks.
DATA_FILE = Path(__file__).resolve().parent / "data" / "dtd_study_mlp.json"

#: The study's rule columns, in its table's order.
COLUMNS: tuple[str, ...] = ("lrp0", "zplus", "gamma_1", "wsquare")

#: The rule of each column: LRP-0 (root direction a), z+, gamma = 1 and w^2.
COLUMN_RULES: dict[str, Rule] = {
    "lrp0": Epsilon(0.0),
    "zplus": ZPlus(),
    "gamma_1": Gamma(1.0),
    "wsquare": WSquare(),
}

#: "per-rule": the column's rule at every dense layer; "as-published": z+ everywhere.
PROTOCOLS: tuple[str, ...] = ("per-rule", "as-published")
#: Root placements (see :meth:`dtd.Network.roots`).
PLACEMENTS: tuple[str, ...] = ("relevance", "hyperplane")

#: The explained output and the audited layer (first-layer roots).
EXPLAINED_OUTPUT = 0
ROOT_LAYER = 0

#: The keys of every row :func:`run` returns, in order.
ROW_FIELDS: tuple[str, ...] = (
    "column", "protocol", "placement", "samples", "pairs", "outside_by_gradient",
    "outside_by_pattern", "unchanged_output", "mean_segment_inside", "max_conservation_error",
    "unexplained_fraction", "seconds")


@lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text())


def load_network(dtype: Any = "float64") -> Network:
    """The study's 10-10-10-2 ReLU network (weights are float32 values), as a new
    :class:`dtd.Network` of ``dtype``. Close it when done (or use ``with``)."""
    return Network.from_json(_spec(), dtype=dtype)


def input_blocks() -> dict[str, np.ndarray]:
    """The four input blocks: column name -> float64 array of shape (1000, 10), in the order of
    :data:`COLUMNS`. Every input is |N(0, I)| with f_0(x) > 0.1."""
    blocks = {block["column"]: np.asarray(block["inputs"], dtype=np.float64)
              for block in _spec()["input_blocks"]}
    return {column: blocks[column] for column in COLUMNS}


def _check_choices(values: Sequence[str], allowed: Sequence[str], name: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    unknown = [value for value in values if value not in allowed]
    if unknown or not values:
        raise ValueError(f"{name} must be a non-empty selection of {', '.join(allowed)}; "
                         f"got {values!r}")
    return values


def run(placements: Sequence[str] = PLACEMENTS, protocols: Sequence[str] = PROTOCOLS, *,
        dtype: Any = "float64", columns: Sequence[str] = COLUMNS) -> list[dict[str, Any]]:
    """Runs the study's root audit and returns one row per (protocol, placement, column).

    Each block of 1000 inputs is audited at layer 0 for output 0 with its column's rule
    (``"per-rule"``) or with z+ (``"as-published"``) at every dense layer.

    Returns:
        A list of dicts with the keys of :data:`ROW_FIELDS`: ``column``, ``protocol``,
        ``placement``, then the audit's aggregates (``samples``, ``pairs``,
        ``outside_by_gradient``, ``outside_by_pattern``, ``unchanged_output``,
        ``mean_segment_inside``, ``max_conservation_error``, ``unexplained_fraction``; see
        :class:`dtd.roots.AuditResult`) and ``seconds``, the audit's wall time. Rows come
        ordered by protocol, then placement, then column.
    """
    placements = _check_choices(placements, PLACEMENTS, "placements")
    protocols = _check_choices(protocols, PROTOCOLS, "protocols")
    columns = _check_choices(columns, COLUMNS, "columns")
    blocks = input_blocks()
    rows = []
    with load_network(dtype) as net:
        for protocol in protocols:
            for placement in placements:
                for column in columns:
                    rule = COLUMN_RULES[column] if protocol == "per-rule" else COLUMN_RULES["zplus"]
                    start = time.perf_counter()
                    result = net.audit(blocks[column], target=EXPLAINED_OUTPUT, layer=ROOT_LAYER,
                                       rule=rule, placement=placement)
                    seconds = time.perf_counter() - start
                    rows.append({"column": column, "protocol": protocol, "placement": placement,
                                 **result.summary(), "seconds": seconds})
    return rows


def gxi_check(dtype: Any = "float64") -> dict[str, float]:
    """T2 on the study's data: for each block, the largest relative distance
    ``||LRP-0(x) - x * grad f_0(x)|| / ||x * grad f_0(x)||`` over its inputs, with LRP-0
    including the bias. It is ~1e-16 in float64: DTD with locally constant roots is gradient
    x input."""
    with load_network(dtype) as net:
        return {column: float(np.max(net.gxi_distance(inputs, rules=Epsilon(0.0, bias=True),
                                                      target=EXPLAINED_OUTPUT)))
                for column, inputs in input_blocks().items()}


# MARK: - The study's second experiment: full-backward DTD

#: ``"exact"`` (roots by LP/QP inside the region), ``"sampled"`` (the study's code) and
#: ``"bisect"`` (the refinement it intended); see :meth:`dtd.Network.full_backward`.
FULL_BACKWARD_METHODS: tuple[str, ...] = ("exact", "sampled", "bisect")

#: The keys of every row :func:`run_full_backward` returns, in order.
FULL_BACKWARD_FIELDS: tuple[str, ...] = (
    "method", "layer", "units", "unresolved", "negative", "skipped", "mean_unresolved_over_f",
    "mean_passed_down_over_f", "mean_hinge_distance", "mean_box_width_clipped", "unbounded_box_share",
    "mean_root_distance", "seconds")


def full_backward_inputs(per_block: int = 100) -> np.ndarray:
    """The first ``per_block`` inputs of each of the four blocks, stacked: ``(4 * per_block, 10)``."""
    if not 1 <= per_block <= 1000:
        raise ValueError(f"per_block must be in [1, 1000], got {per_block}")
    return np.concatenate([block[:per_block] for block in input_blocks().values()])


def run_full_backward(methods: Sequence[str] = ("exact", "sampled"), *, per_block: int = 100, seed: int = 0,
                      dtype: Any = "float64") -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The study's full-backward experiment (output 0, every dense layer) on the first ``per_block``
    inputs of each block, once per method, with the region sizes.

    Returns:
        ``rows``: one dict per (method, dense layer) with the keys of :data:`FULL_BACKWARD_FIELDS`
        (the aggregates of :meth:`dtd.full_backward.FullBackwardResult.summary`, ``seconds`` the
        method's wall time for the whole batch); and per method the input's summary
        (:meth:`~dtd.full_backward.FullBackwardResult.input_summary`: mean sum R0 / f, the
        largest ledger error, solver calls, ...) plus ``seconds``.
    """
    methods = _check_choices(methods, FULL_BACKWARD_METHODS, "methods")
    x = full_backward_inputs(per_block)
    rows, inputs = [], {}
    with load_network(dtype) as net:
        for method in methods:
            start = time.perf_counter()
            result = net.full_backward(x, target=EXPLAINED_OUTPUT, method=method, seed=seed, regions=True)
            seconds = time.perf_counter() - start
            for row in result.summary():
                rows.append({key: row.get(key, float("nan")) for key in FULL_BACKWARD_FIELDS[1:-1]}
                            | {"method": method, "seconds": seconds})
            inputs[method] = result.input_summary() | {"seconds": seconds}
    rows = [{key: row[key] for key in FULL_BACKWARD_FIELDS} for row in rows]
    return rows, inputs

