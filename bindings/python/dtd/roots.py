"""DTD root points and their audit as numpy results: :class:`Roots` and :class:`AuditResult`.

For a dense/conv layer with input ``a``, neuron ``j`` (weights ``w_j``, ``z_j = w_j^T a + b_j``),
the relevance ``R_j`` reaching it and the direction ``v_j`` of the layer's rule, the DTD root is
``a - t_j v_j`` (``Include/dtd.h`` section 6):

- placement ``"hyperplane"``: ``t_j = z_j / (w_j^T v_j)``, so ``w_j^T root + b_j = 0`` (textbook DTD);
- placement ``"relevance"``: ``t_j = R_j / (w_j^T v_j)`` (the "train-free DTD" of the study's code).

Both give the same relevance, the root form ``R_{i<-j} = R_j w_ij v_ij / (w_j^T v_j)``, which
equals the rule's propagation with the bias excluded and no stabiliser. Root rules are LRP-0
(``Epsilon(0)``), ``ZPlus``, ``Gamma``, ``WSquare``, ``ZBox`` and ``AlphaBeta`` (two partial roots
per neuron); ``Epsilon`` with epsilon > 0 and ``Flat`` have no roots (``DTD_ERROR_RULE``).

:meth:`dtd.Network.roots` returns a :class:`Roots`, :meth:`dtd.Network.audit` and
:meth:`dtd.Network.audit_points` an :class:`AuditResult`. Per-root arrays have shape
``(N, roots_per_sample)`` (``(roots_per_sample,)`` for a single sample).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from . import _capi

__all__ = ["Roots", "AuditResult", "ROOT_INFO_DTYPE", "AUDIT_RECORD_DTYPE", "PLACEMENTS",
           "AUDIT_SUMMARY_FIELDS", "AUDIT_COLUMNS"]

#: The structured dtype of ``dtd_root_info``: neuron, partial, flags, relevance, z, wv, t.
ROOT_INFO_DTYPE = np.dtype(_capi.dtd_root_info)
#: The structured dtype of ``dtd_audit_record`` (``root`` nests a ``dtd_root_info``).
AUDIT_RECORD_DTYPE = np.dtype(_capi.dtd_audit_record)

#: Placement name -> ``dtd_placement`` code.
PLACEMENTS: dict[str, int] = {
    "hyperplane": _capi.DTD_PLACEMENT_HYPERPLANE,
    "relevance": _capi.DTD_PLACEMENT_RELEVANCE,
}

#: The fields of ``dtd_audit_summary``, in the header's order.
AUDIT_SUMMARY_FIELDS: tuple[str, ...] = tuple(name for name, _ in _capi.dtd_audit_summary._fields_)

_INFO_FIELDS = ("neuron", "partial", "flags", "relevance", "z", "wv", "t")

#: The explained output: one for the batch, or one per sample (an int64 array of shape (N,)).
Target = Union[int, np.ndarray]


def _flag_view(flags: np.ndarray, bit: int) -> np.ndarray:
    return (flags & bit) != 0


class _RootFields:
    """The per-root fields shared by :class:`Roots` and :class:`AuditResult`."""

    neuron: np.ndarray
    partial: np.ndarray
    flags: np.ndarray
    relevance: np.ndarray
    z: np.ndarray
    wv: np.ndarray
    t: np.ndarray

    @property
    def no_root(self) -> np.ndarray:
        """``|w_j^T v_j| <= tol`` (or gamma at ``z_j = 0``): no root; the point is the input and
        the neuron's relevance is dropped (``DTD_ROOT_NO_ROOT``)."""
        return _flag_view(self.flags, _capi.DTD_ROOT_NO_ROOT)

    @property
    def has_root(self) -> np.ndarray:
        """The complement of :attr:`no_root`: the (sample, root) pairs the audit counts."""
        return ~self.no_root

    @property
    def at_input(self) -> np.ndarray:
        """``R_j = 0``: the root is the input itself (``DTD_ROOT_AT_INPUT``)."""
        return _flag_view(self.flags, _capi.DTD_ROOT_AT_INPUT)

    @property
    def clipped(self) -> np.ndarray:
        """Region-constrained query: ``t`` was clipped to the region (``DTD_ROOT_CLIPPED``)."""
        return _flag_view(self.flags, _capi.DTD_ROOT_CLIPPED)

    @property
    def roots_per_sample(self) -> int:
        return int(self.neuron.shape[-1])


def _info_columns(info: np.ndarray) -> dict[str, np.ndarray]:
    """The fields of a ``ROOT_INFO_DTYPE`` array as separate contiguous arrays."""
    return {name: np.ascontiguousarray(info[name]) for name in _INFO_FIELDS}


@dataclass(frozen=True, eq=False)
class Roots(_RootFields):
    """Root points of one layer for a batch, and what libdtd reports about each.

    Attributes:
        points: ``(N, roots_per_sample, *layer_input_shape)``, the points ``a - t v``.
        neuron: the neuron ``j`` of each root (a flat index into the layer output).
        partial: 0; for alpha-beta 0 is the alpha root, 1 the beta root.
        flags: ``DTD_ROOT_*`` bits (see :attr:`no_root`, :attr:`at_input`, :attr:`clipped`).
        relevance: the relevance the root carries (``R_j``, ``alpha R_j`` or ``-beta R_j``).
        z: ``z_j`` at the input. wv: ``w_j^T v_j``. t: the step along ``-v_j``.
        layer: the query's layer. target: the explained output, an int, or an int64 array
            ``(N,)`` when the samples explain different outputs. placement: ``"hyperplane"``,
            ``"relevance"``, or None for
            constructed roots (:meth:`dtd.Network.construct_roots`, where ``t = 1 / c_j`` and
            ``wv`` is NaN).
    """

    points: np.ndarray
    neuron: np.ndarray
    partial: np.ndarray
    flags: np.ndarray
    relevance: np.ndarray
    z: np.ndarray
    wv: np.ndarray
    t: np.ndarray
    layer: int
    target: Target
    placement: str | None

    @classmethod
    def _from_records(cls, points: np.ndarray, info: np.ndarray, *, layer: int, target: Target,
                      placement: str | None) -> Roots:
        return cls(points=points, **_info_columns(info), layer=layer, target=target,
                   placement=placement)

    def __repr__(self) -> str:
        return (f"<dtd.Roots layer {self.layer}, {_describe_target(self.target)}, "
                f"placement {self.placement}: points {self.points.shape}>")


def _describe_target(target: Target) -> str:
    """"output 3", or "per-sample outputs (10 distinct)"."""
    if isinstance(target, np.ndarray):
        return f"per-sample outputs ({np.unique(target).size} distinct)"
    return f"output {target}"


def _aggregates(columns: Mapping[str, np.ndarray], constrained: bool) -> dict[str, Any]:
    """The study's aggregates from (N, P) per-root columns, exactly as libdtd tallies them
    (``dtd_audit_summary``), except ``max_conservation_error``, which needs f_k(x)."""
    has_root = (columns["flags"] & _capi.DTD_ROOT_NO_ROOT) == 0
    samples = has_root.shape[0]
    pairs = int(has_root.sum())
    relevance = columns["relevance"] + columns["unexplained"] if constrained else columns["relevance"]
    relevance_sum = float(np.abs(relevance[has_root]).sum())
    return dict(
        samples=samples, pairs=pairs,
        outside_by_gradient=float((has_root & ~columns["same_gradient"]).any(axis=1).sum()) / max(samples, 1),
        outside_by_pattern=float((has_root & ~columns["same_pattern"]).any(axis=1).sum()) / max(samples, 1),
        unchanged_output=(float((has_root & (np.abs(columns["output_change"]) < 1e-6)).sum()) / pairs
                          if pairs else 0.0),
        mean_segment_inside=float(columns["segment_inside"][has_root].sum()) / pairs if pairs else 1.0,
        unexplained_fraction=(float(np.abs(columns["unexplained"][has_root]).sum()) / relevance_sum
                              if relevance_sum > 0 else 0.0))


def _max_with_nan(values: Sequence[float]) -> float:
    """The largest value, NaN if any is NaN (libdtd's rule for the conservation error)."""
    array = np.asarray(values, dtype=np.float64)
    return float("nan") if np.isnan(array).any() else float(array.max(initial=0.0))


#: The per-root columns of an :class:`AuditResult`, in the order of ``dtd_audit_record``.
AUDIT_COLUMNS: tuple[str, ...] = _INFO_FIELDS + (
    "same_gradient", "same_pattern", "output_change", "taylor_residual", "segment_inside",
    "admissible_t", "unexplained")


def _record_columns(records: np.ndarray) -> dict[str, np.ndarray]:
    """``AUDIT_RECORD_DTYPE`` records as per-root columns."""
    return dict(
        **_info_columns(records["root"]),
        same_gradient=records["same_gradient"] != 0,
        same_pattern=records["same_pattern"] != 0,
        **{name: np.ascontiguousarray(records[name]) for name in
           ("output_change", "taylor_residual", "segment_inside", "admissible_t", "unexplained")})


@dataclass(frozen=True, eq=False)
class AuditResult(_RootFields):
    """The root audit (``Include/dtd.h`` section 6): per-root checks and the study's aggregates.

    Per-root arrays (shape ``(N, roots_per_sample)``, or ``(roots_per_sample,)`` for one sample):
    the root fields of :class:`Roots` (``neuron``, ``partial``, ``flags``, ``relevance``, ``z``,
    ``wv``, ``t``) and

    - ``same_gradient`` (bool): ``max_i |grad g(root) - grad g(a)|_i <= 1e-5`` (the study's test),
      where ``g`` is the network from the layer's input to the explained output;
    - ``same_pattern`` (bool): every ReLU (and max-pool winner) of ``g`` is in the same state at
      the root as at ``a`` (units on their hinge match either state);
    - ``output_change``: ``g(root) - g(a)``;
    - ``taylor_residual``: ``g(a) - g(root) - grad g(root)^T (a - root)`` (0 for a valid root);
    - ``segment_inside``: the largest ``s`` in [0, 1] with the segment ``a -> a + s (root - a)``
      inside ``a``'s linear region (exact, from the ReLU breakpoints along the line);
    - ``admissible_t``: the largest step along ``-v_j`` inside the region, signed like ``t``
      (infinity if the line never leaves it; NaN for :meth:`dtd.Network.audit_points`);
    - ``unexplained``: the relevance region-constrained DTD leaves unexplained,
      ``relevance * (1 - segment_inside)``.

    Aggregates (attributes; :meth:`summary` returns them as a dict, :meth:`table` as text):
    ``samples``, ``pairs`` (the (sample, root) pairs that have a root), ``outside_by_gradient``
    and ``outside_by_pattern`` (fraction of *samples* with at least one root failing that
    check), ``unchanged_output`` (fraction of pairs with ``|output_change| < 1e-6``),
    ``mean_segment_inside`` (over pairs), ``max_conservation_error`` (max over samples of
    ``|sum_i R_i - f_k(x)|`` with ``R_i`` the root-form relevance at the layer input; NaN unless
    every neuron of the layer was audited), ``unexplained_fraction`` (``sum |unexplained| /
    sum |relevance|`` over pairs). The per-root rates :attr:`pairs_outside_by_gradient` and
    :attr:`pairs_outside_by_pattern` (fraction of *pairs*) stay informative where nearly every
    sample has some root outside.

    Other attributes: ``layer``; ``target`` (an int, or an int64 array ``(N,)`` of per-sample
    outputs); ``placement``; ``rule`` (the audited layer's rule); ``layer_rules`` (the rule of
    every dense/conv layer, ``{layer: name}``; layers above ``layer`` carry the relevance down
    in root form); ``constrained`` (a region-constrained query).

    Results of the same query on different samples merge: :meth:`concatenate`, :meth:`merge`.
    """

    neuron: np.ndarray
    partial: np.ndarray
    flags: np.ndarray
    relevance: np.ndarray
    z: np.ndarray
    wv: np.ndarray
    t: np.ndarray
    same_gradient: np.ndarray
    same_pattern: np.ndarray
    output_change: np.ndarray
    taylor_residual: np.ndarray
    segment_inside: np.ndarray
    admissible_t: np.ndarray
    unexplained: np.ndarray
    samples: int
    pairs: int
    outside_by_gradient: float
    outside_by_pattern: float
    unchanged_output: float
    mean_segment_inside: float
    max_conservation_error: float
    unexplained_fraction: float
    layer: int
    target: Target
    placement: str | None
    rule: str
    layer_rules: Mapping[int, str] = field(default_factory=dict)
    constrained: bool = False

    @classmethod
    def _from_records(cls, records: np.ndarray, summary: _capi.dtd_audit_summary, *, layer: int,
                      target: Target, placement: str | None, rule: str,
                      layer_rules: Mapping[int, str] | None = None,
                      constrained: bool = False) -> AuditResult:
        """From one libdtd call: its records and its summary as libdtd computed it."""
        return cls(
            **_record_columns(records),
            samples=int(summary.samples), pairs=int(summary.pairs),
            **{name: float(getattr(summary, name)) for name in AUDIT_SUMMARY_FIELDS[2:]},
            layer=layer, target=target, placement=placement, rule=rule,
            layer_rules=dict(layer_rules or {}), constrained=constrained)

    @classmethod
    def _from_parts(cls, records: np.ndarray, conservation_errors: Sequence[float], *,
                    single: bool, **query: Any) -> AuditResult:
        """From the (N, P) records of several libdtd calls, with each call's
        ``max_conservation_error``: the aggregates are tallied again over all records."""
        columns = _record_columns(records)
        aggregates = _aggregates(columns, query.get("constrained", False))
        if single:
            columns = {name: column[0] for name, column in columns.items()}
        return cls(**columns, **aggregates, max_conservation_error=_max_with_nan(conservation_errors),
                   **query)

    # MARK: - Merging

    def _batched(self) -> dict[str, np.ndarray]:
        """The per-root columns with a batch axis (a single sample's get one)."""
        columns = {name: getattr(self, name) for name in AUDIT_COLUMNS}
        if columns["neuron"].ndim == 1:
            columns = {name: column[None] for name, column in columns.items()}
        return columns

    def _per_sample_targets(self) -> np.ndarray:
        count = self._batched()["neuron"].shape[0]
        if isinstance(self.target, np.ndarray):
            return self.target.reshape(count)
        return np.full(count, self.target, dtype=np.int64)

    @classmethod
    def concatenate(cls, results: Sequence[AuditResult]) -> AuditResult:
        """One result for the samples of several audits of the same query, in order.

        The aggregates are tallied again over all samples (for the conservation error: the
        largest of the parts'), so auditing a data set in chunks and concatenating gives what
        one call on all of it gives, up to rounding: BLAS products of other batch sizes round
        differently, which can flip ``same_gradient`` of a root that sits exactly on a kink
        (hyperplane placement, region-constrained roots).

        Parameters
        ----------
        results : sequence of AuditResult
            Audits of the same layer, rule(s), placement and neurons; their targets may differ.

        Raises
        ------
        ValueError
            When ``results`` is empty or two results answer different queries (the message
            names the field).
        """
        results = list(results)
        if not results:
            raise ValueError("concatenate needs at least one AuditResult")
        first = results[0]
        for other in results[1:]:
            if not isinstance(other, AuditResult):
                raise TypeError(f"can only concatenate AuditResult objects, got {type(other).__name__}")
            for name in ("layer", "rule", "placement", "constrained", "roots_per_sample"):
                if getattr(other, name) != getattr(first, name):
                    raise ValueError(f"cannot merge audits of different queries: {name} is "
                                     f"{getattr(first, name)!r} in one and {getattr(other, name)!r} "
                                     f"in another")
            if dict(other.layer_rules) != dict(first.layer_rules):
                raise ValueError(f"cannot merge audits of different queries: layer_rules are "
                                 f"{dict(first.layer_rules)} and {dict(other.layer_rules)}")
        parts = [result._batched() for result in results]
        columns = {name: np.concatenate([part[name] for part in parts]) for name in AUDIT_COLUMNS}
        targets = np.concatenate([result._per_sample_targets() for result in results])
        target: Target = (int(targets[0]) if all(not isinstance(r.target, np.ndarray) for r in results)
                          and (targets == targets[0]).all() else targets)
        aggregates = _aggregates(columns, first.constrained)
        return cls(**columns, **aggregates,
                   max_conservation_error=_max_with_nan([r.max_conservation_error for r in results]),
                   layer=first.layer, target=target, placement=first.placement, rule=first.rule,
                   layer_rules=dict(first.layer_rules), constrained=first.constrained)

    def merge(self, other: AuditResult) -> AuditResult:
        """``AuditResult.concatenate([self, other])``."""
        return AuditResult.concatenate([self, other])

    # MARK: - Rates and views

    @property
    def pairs_outside_by_gradient(self) -> float:
        """Fraction of (sample, root) pairs whose root fails ``same_gradient`` (0 without pairs)."""
        return self._pair_rate(self.same_gradient)

    @property
    def pairs_outside_by_pattern(self) -> float:
        """Fraction of (sample, root) pairs whose root leaves the input's ReLU pattern."""
        return self._pair_rate(self.same_pattern)

    def _pair_rate(self, check: np.ndarray) -> float:
        has_root = self.has_root
        pairs = int(has_root.sum())
        return float((has_root & ~check).sum()) / pairs if pairs else 0.0

    def samples_outside(self, by: str = "pattern") -> np.ndarray:
        """Per sample, whether at least one of its roots fails the check (``"pattern"`` or
        ``"gradient"``): bool ``(N,)`` (a bool for a single sample)."""
        checks = {"pattern": self.same_pattern, "gradient": self.same_gradient}
        if by not in checks:
            raise ValueError(f'by must be "pattern" or "gradient", got {by!r}')
        return (self.has_root & ~checks[by]).any(axis=-1)

    def summary(self) -> dict[str, Any]:
        """The aggregates as a dict, in the order of ``dtd_audit_summary``."""
        return {name: getattr(self, name) for name in AUDIT_SUMMARY_FIELDS}

    def table(self) -> str:
        """A readable multi-line summary: the query, the rule at every layer, and the rates."""
        def percent(value: float) -> str:
            return f"{100 * value:.1f} %"

        if self.placement is None:
            title = f"DTD audit of given points: layer {self.layer}, {_describe_target(self.target)}"
        else:
            title = (f"DTD root audit: layer {self.layer}, {_describe_target(self.target)}, "
                     f"rule {self.rule}, placement {self.placement}")
        rows: list[tuple[str, str | None, str | None]] = []
        if self.layer_rules:
            rows.append(("rule per dense/conv layer",
                         ", ".join(f"{layer}: {name}" for layer, name in sorted(self.layer_rules.items())),
                         None))
        rows += [
            ("samples", f"{self.samples:d}", None),
            ("(sample, root) pairs", f"{self.pairs:d}", None),
            ("roots outside the input's linear region", "per root", "per sample"),
            ("  by gradient (the study's test)", percent(self.pairs_outside_by_gradient),
             percent(self.outside_by_gradient)),
            ("  by ReLU pattern (exact)", percent(self.pairs_outside_by_pattern),
             percent(self.outside_by_pattern)),
            ("pairs whose root leaves g unchanged", percent(self.unchanged_output), None),
            ("mean share of the segment a -> root in the region", percent(self.mean_segment_inside), None),
            ("max conservation error |sum R - f(x)|", f"{self.max_conservation_error:.1e}", None),
            ("relevance unexplained by roots kept in the region", percent(self.unexplained_fraction), None),
        ]
        width = max(len(label) for label, _, _ in rows[1 if self.layer_rules else 0:])
        lines = [title]
        for label, value, per_sample in rows:
            if label.startswith("rule per"):
                lines.append(f"  {label}: {value}")
            elif per_sample is None:
                lines.append(f"  {label:<{width}}  {value:>10}")
            else:
                lines.append(f"  {label:<{width}}  {value:>10}  {per_sample:>10}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<dtd.AuditResult layer {self.layer}, {_describe_target(self.target)}, rule {self.rule}, "
                f"placement {self.placement}: {self.samples} samples, {self.pairs} pairs>")
