"""Full-backward DTD (the study's second experiment) as numpy results: :class:`FullBackwardResult`.

For a chain of dense layers each followed by a ReLU, :meth:`dtd.Network.full_backward`
decomposes every unit of every dense layer, top-down, at a root inside the input's linear
region (``Include/dtd.h`` section 8; DESIGN.md 6b):

- ``method="exact"``: the smallest relevance the region allows is an LP (``lp_min``; -inf when
  unbounded), what stays above 0 is *unresolved*, and the root is the nearest point of the region
  where the relevance is that small (a QP); COIN-OR CLP solves both (``available()`` says whether
  it is installed: Debian/Ubuntu ``coinor-libclp1``);
- ``method="sampled"``: the study's own procedure (50 random directions per search, a 10-point
  grid, roots cached per region, the candidate with the smallest relevance as the root);
- ``method="bisect"``: the same with the 10-step refinement the study's code intended.

Per-unit arrays are keyed by the dense layer's index in the network's layer list (``res.layers``)
and have shape ``(N, units)``: every unit of a hidden dense layer, the explained output alone for
the last one. For a single sample the batch axis is dropped, as everywhere in ``dtd``.

    res = net.full_backward(X, target=0, method="exact", roots=True)
    res.input_relevance          # (N, D): R0
    res.unresolved[2]            # (N, 10): relevance left at the roots of layer 2's units
    print(res.table())
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _capi

__all__ = ["FullBackwardResult", "METHODS", "UNIT_DTYPE", "SAMPLE_DTYPE", "REGION_DTYPE", "available"]

#: Method name -> ``dtd_full_backward_method`` code.
METHODS: dict[str, int] = {
    "exact": _capi.DTD_FULL_BACKWARD_EXACT,
    "sampled": _capi.DTD_FULL_BACKWARD_SAMPLED,
    "bisect": _capi.DTD_FULL_BACKWARD_BISECT,
}

#: Structured dtypes of ``dtd_full_backward_unit``, ``_sample`` and ``_region``.
UNIT_DTYPE = np.dtype(_capi.dtd_full_backward_unit)
SAMPLE_DTYPE = np.dtype(_capi.dtd_full_backward_sample)
REGION_DTYPE = np.dtype(_capi.dtd_full_backward_region)

#: Relevance below this share of f(x) counts as zero (the header's 1e-9 f threshold).
THRESHOLD = 1e-9


def available() -> bool:
    """Whether the exact method's solver (COIN-OR CLP, ``libClp.so.1``) can be loaded."""
    return bool(_capi.dtd_full_backward_available())


@dataclass(frozen=True, eq=False)
class FullBackwardResult:
    """The full-backward decomposition of a batch (``Include/dtd.h`` section 8).

    Attributes (dicts are keyed by the dense layer's network index, see ``layers``):
        method, target: the query. layers: the dense layers' indices, first to last.
        units: layer -> the unit indices of its records (the last layer: ``[target]``).
        output: ``(N,)`` f_k(x).
        input_relevance: ``(N, D)`` R0. input_slope: ``(N, D)`` its slope gamma in x
            (R0 = gamma x - kappa; the gradient of f_k when no active unit was skipped).
        relevance: layer -> ``(N, units)`` R_j(a), the unit's relevance at the input.
        skipped: layer -> bool, R_j(a) <= 1e-9 f (sampled: <= 0): dropped.
        unresolved_flag: layer -> bool, relevance left at the root (exact: u_j > 0).
        unbounded: layer -> bool, the LP minimum is -inf (exact). inactive: layer -> bool.
        lp_min: layer -> the LP minimum m_j (NaN when skipped or sampled).
        unresolved: layer -> R_j(root), the relevance the decomposition leaves at the root
            (0 when skipped; may be negative for the sampled methods).
        root_distance: layer -> ``||root - a||`` (NaN when skipped).
        roots: layer -> ``(N, units, layer inputs)`` when asked for (NaN rows for skipped units),
            else None.
        input_sum, unresolved_sum, skipped_sum, ledger_error: ``(N,)`` the ledger,
            f = input_sum + unresolved_sum + skipped_sum + ledger_error.
        solver_calls, root_searches: ``(N,)`` the work done.
        hinge_distance: layer -> ``(N,)`` distance from a to its nearest hinge; box_low,
            box_high, box_low_clipped, box_high_clipped: layer -> ``(N, layer inputs)`` the
            per-coordinate box of the region (exact: by LP, +-inf when unbounded; sampled: the
            box of the root candidates), also within ``|a' - a|_inf <= 1``; None without regions.
    """

    method: str
    target: int
    layers: tuple[int, ...]
    units: dict[int, np.ndarray]
    output: np.ndarray
    input_relevance: np.ndarray
    input_slope: np.ndarray
    relevance: dict[int, np.ndarray]
    skipped: dict[int, np.ndarray]
    unresolved_flag: dict[int, np.ndarray]
    unbounded: dict[int, np.ndarray]
    inactive: dict[int, np.ndarray]
    lp_min: dict[int, np.ndarray]
    unresolved: dict[int, np.ndarray]
    root_distance: dict[int, np.ndarray]
    roots: dict[int, np.ndarray] | None
    input_sum: np.ndarray
    unresolved_sum: np.ndarray
    skipped_sum: np.ndarray
    ledger_error: np.ndarray
    solver_calls: np.ndarray
    root_searches: np.ndarray
    hinge_distance: dict[int, np.ndarray] | None = None
    box_low: dict[int, np.ndarray] | None = None
    box_high: dict[int, np.ndarray] | None = None
    box_low_clipped: dict[int, np.ndarray] | None = None
    box_high_clipped: dict[int, np.ndarray] | None = None
    constraints: dict[int, np.ndarray] | None = None
    single: bool = False
    _batch: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def _from_buffers(cls, *, method: str, target: int, units: np.ndarray, input_relevance: np.ndarray,
                      input_slope: np.ndarray, roots: np.ndarray | None, samples: np.ndarray,
                      regions: np.ndarray | None, boxes: np.ndarray | None, single: bool) -> FullBackwardResult:
        dense = units["dense_index"][0]
        layer_of = units["layer"][0]
        layer_count = int(dense.max()) + 1
        layers = tuple(int(layer_of[dense == p][0]) for p in range(layer_count))
        flags = units["flags"]

        def pick(array: np.ndarray) -> np.ndarray:
            return array[0] if single else array

        def by_layer(values: np.ndarray) -> dict[int, np.ndarray]:
            return {layer: pick(np.ascontiguousarray(values[:, dense == p])) for p, layer in enumerate(layers)}

        def bit(mask: int) -> dict[int, np.ndarray]:
            return by_layer((flags & mask) != 0)

        root_map = None
        if roots is not None:
            root_map, offset = {}, 0
            for p, layer in enumerate(layers):
                count = int(np.count_nonzero(dense == p))
                width = input_relevance.shape[1] if p == 0 else int(np.count_nonzero(dense == p - 1))
                run = roots[:, offset:offset + count * width].reshape(len(roots), count, width)
                root_map[layer] = pick(np.ascontiguousarray(run))
                offset += count * width

        region_fields: dict[str, Any] = {}
        if regions is not None:
            widths = [input_relevance.shape[1]] + [int(np.count_nonzero(dense == p)) for p in range(layer_count - 1)]
            region_fields["hinge_distance"] = {layer: pick(np.ascontiguousarray(regions["hinge_distance"][:, p]))
                                               for p, layer in enumerate(layers)}
            region_fields["constraints"] = {layer: pick(np.ascontiguousarray(regions["constraints"][:, p]))
                                            for p, layer in enumerate(layers)}
            if boxes is not None:
                runs: dict[str, dict[int, np.ndarray]] = {k: {} for k in
                                                          ("box_low", "box_high", "box_low_clipped", "box_high_clipped")}
                offset = 0
                for p, layer in enumerate(layers):
                    n = widths[p]
                    for k, name in enumerate(runs):
                        runs[name][layer] = pick(np.ascontiguousarray(boxes[:, offset + k * n:offset + (k + 1) * n]))
                    offset += 4 * n
                region_fields.update(runs)

        return cls(
            method=method, target=target, layers=layers,
            units={layer: units["unit"][0][dense == p].copy() for p, layer in enumerate(layers)},
            output=pick(samples["output"].copy()), input_relevance=pick(input_relevance),
            input_slope=pick(input_slope), relevance=by_layer(units["relevance"]),
            skipped=bit(_capi.DTD_UNIT_SKIPPED), unresolved_flag=bit(_capi.DTD_UNIT_UNRESOLVED),
            unbounded=bit(_capi.DTD_UNIT_UNBOUNDED), inactive=bit(_capi.DTD_UNIT_INACTIVE),
            lp_min=by_layer(units["lp_min"]), unresolved=by_layer(units["unresolved"]),
            root_distance=by_layer(units["root_distance"]), roots=root_map,
            input_sum=pick(samples["input_sum"].copy()), unresolved_sum=pick(samples["unresolved_sum"].copy()),
            skipped_sum=pick(samples["skipped_sum"].copy()), ledger_error=pick(samples["ledger_error"].copy()),
            solver_calls=pick(samples["solver_calls"].copy()), root_searches=pick(samples["root_searches"].copy()),
            single=single, _batch={"units": units, "samples": samples, "regions": regions, "boxes": boxes,
                                   "dense": dense},
            **region_fields)

    # MARK: - Aggregates

    def summary(self) -> list[dict[str, Any]]:
        """Per dense layer (first to last), the aggregates over the batch:

        ``layer``, ``units`` (records over the batch), the shares of units ``unresolved``
        (relevance left at the root), ``negative`` (unresolved < -1e-9 f: the root overshoots),
        ``skipped`` and ``unbounded``; ``mean_unresolved_over_f`` and ``mean_skipped_over_f``
        (mean over inputs of the layer's sum / f); ``mean_root_distance`` (over decomposed
        units); with regions, ``mean_hinge_distance``, ``unbounded_box_share`` (coordinates
        whose box is unbounded), ``mean_box_width`` (finite boxes only; NaN if none) and
        ``mean_box_width_clipped`` (the box within distance 1).
        """
        units, samples, dense = self._batch["units"], self._batch["samples"], self._batch["dense"]
        f = samples["output"]
        regions, boxes = self._batch["regions"], self._batch["boxes"]
        rows = []
        offset = 0
        for p, layer in enumerate(self.layers):
            mask = dense == p
            flags = units["flags"][:, mask]
            unresolved = units["unresolved"][:, mask]
            skipped = (flags & _capi.DTD_UNIT_SKIPPED) != 0
            total = flags.size
            row: dict[str, Any] = {
                "layer": layer,
                "units": int(total),
                "unresolved": float(np.count_nonzero(flags & _capi.DTD_UNIT_UNRESOLVED) / total),
                "negative": float(np.count_nonzero((unresolved < -THRESHOLD * f[:, None]) & ~skipped) / total),
                "skipped": float(np.count_nonzero(skipped) / total),
                "unbounded": float(np.count_nonzero(flags & _capi.DTD_UNIT_UNBOUNDED) / total),
                "mean_unresolved_over_f": float(np.mean(np.where(skipped, 0.0, unresolved).sum(axis=1) / f)),
                "mean_skipped_over_f": float(np.mean(np.where(skipped, units["relevance"][:, mask], 0.0).sum(axis=1) / f)),
                "mean_passed_down_over_f": float(np.mean(
                    (samples["input_sum"] if p == 0 else units["relevance"][:, dense == p - 1].sum(axis=1)) / f)),
                "mean_root_distance": float(np.mean(units["root_distance"][:, mask][~skipped])) if np.any(~skipped) else float("nan"),
            }
            if regions is not None:
                row["mean_hinge_distance"] = float(np.mean(regions["hinge_distance"][:, p]))
                if boxes is not None:
                    n = self.input_relevance.shape[-1] if p == 0 else int(np.count_nonzero(dense == p - 1))
                    low, high = boxes[:, offset:offset + n], boxes[:, offset + n:offset + 2 * n]
                    low1, high1 = boxes[:, offset + 2 * n:offset + 3 * n], boxes[:, offset + 3 * n:offset + 4 * n]
                    width = high - low
                    finite = np.isfinite(width)
                    row["unbounded_box_share"] = float(1 - np.count_nonzero(finite) / width.size)
                    row["mean_box_width"] = float(np.mean(width[finite])) if np.any(finite) else float("nan")
                    row["mean_box_width_clipped"] = float(np.mean(high1 - low1))
                    offset += 4 * n
            rows.append(row)
        return rows

    def input_summary(self) -> dict[str, float]:
        """Over the batch: mean sum R0 / f, mean unresolved and skipped shares of f (all layers),
        and the largest |ledger error| / f."""
        samples = self._batch["samples"]
        f = samples["output"]
        return {
            "inputs": int(len(f)),
            "mean_input_sum_over_f": float(np.mean(samples["input_sum"] / f)),
            "mean_unresolved_over_f": float(np.mean(samples["unresolved_sum"] / f)),
            "mean_skipped_over_f": float(np.mean(samples["skipped_sum"] / f)),
            "max_ledger_error_over_f": float(np.max(np.abs(samples["ledger_error"]) / f)),
            "solver_calls": int(np.sum(samples["solver_calls"])),
            "root_searches": int(np.sum(samples["root_searches"])),
        }

    def table(self) -> str:
        """The aggregates as readable text: one line per dense layer, then the input's ledger."""
        def percent(v: float) -> str:
            return f"{100 * v:.1f} %"

        def number(v: Any) -> str:
            return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3g}"

        header = ["layer", "units", "unresolved", "negative", "skipped", "unresolved/f", "skipped/f",
                  "root dist", "hinge dist", "box width", "unbounded", "box width (<=1)"]
        lines = []
        for row in self.summary():
            lines.append([str(row["layer"]), str(row["units"]), percent(row["unresolved"]), percent(row["negative"]),
                          percent(row["skipped"]), f"{row['mean_unresolved_over_f']:.4f}",
                          f"{row['mean_skipped_over_f']:.4f}", number(row["mean_root_distance"]),
                          number(row.get("mean_hinge_distance")), number(row.get("mean_box_width")),
                          percent(row["unbounded_box_share"]) if "unbounded_box_share" in row else "-",
                          number(row.get("mean_box_width_clipped"))])
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        summary = self.input_summary()
        out = [f"Full-backward DTD ({self.method}), output {self.target}, {summary['inputs']} input(s)",
               "  ".join(h.rjust(w) for h, w in zip(header, widths)),
               "  ".join("-" * w for w in widths)]
        out += ["  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in lines]
        out.append(f"input: mean sum R0 / f = {summary['mean_input_sum_over_f']:.4f}; unresolved / f = "
                   f"{summary['mean_unresolved_over_f']:.4f}; skipped / f = {summary['mean_skipped_over_f']:.4f}; "
                   f"max |ledger error| / f = {summary['max_ledger_error_over_f']:.1e}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        n = 1 if self.single else len(self.output)
        return f"<dtd.FullBackwardResult {self.method}, output {self.target}: {n} input(s), dense layers {list(self.layers)}>"
