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

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _capi

__all__ = ["Roots", "AuditResult", "ROOT_INFO_DTYPE", "AUDIT_RECORD_DTYPE", "PLACEMENTS",
           "AUDIT_SUMMARY_FIELDS"]

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
        layer, target: the query. placement: ``"hyperplane"``, ``"relevance"``, or None for
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
    target: int
    placement: str | None

    @classmethod
    def _from_records(cls, points: np.ndarray, info: np.ndarray, *, layer: int, target: int,
                      placement: str | None) -> Roots:
        return cls(points=points, **_info_columns(info), layer=layer, target=target,
                   placement=placement)

    def __repr__(self) -> str:
        return (f"<dtd.Roots layer {self.layer}, output {self.target}, "
                f"placement {self.placement}: points {self.points.shape}>")


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
    and ``outside_by_pattern`` (fraction of samples with at least one root failing that check),
    ``unchanged_output`` (fraction of pairs with ``|output_change| < 1e-6``),
    ``mean_segment_inside`` (over pairs), ``max_conservation_error`` (max over samples of
    ``|sum_i R_i - f_k(x)|`` with ``R_i`` the root-form relevance at the layer input; NaN unless
    every neuron of the layer was audited), ``unexplained_fraction`` (``sum |unexplained| /
    sum |relevance|`` over pairs).
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
    target: int
    placement: str | None
    rule: str

    @classmethod
    def _from_records(cls, records: np.ndarray, summary: _capi.dtd_audit_summary, *, layer: int,
                      target: int, placement: str | None, rule: str) -> AuditResult:
        return cls(
            **_info_columns(records["root"]),
            same_gradient=records["same_gradient"] != 0,
            same_pattern=records["same_pattern"] != 0,
            **{name: np.ascontiguousarray(records[name]) for name in
               ("output_change", "taylor_residual", "segment_inside", "admissible_t",
                "unexplained")},
            samples=int(summary.samples), pairs=int(summary.pairs),
            **{name: float(getattr(summary, name)) for name in AUDIT_SUMMARY_FIELDS[2:]},
            layer=layer, target=target, placement=placement, rule=rule)

    def summary(self) -> dict[str, Any]:
        """The aggregates as a dict, in the order of ``dtd_audit_summary``."""
        return {name: getattr(self, name) for name in AUDIT_SUMMARY_FIELDS}

    def table(self) -> str:
        """A readable multi-line summary of the aggregates."""
        def percent(value: float) -> str:
            return f"{100 * value:.1f} %"

        if self.placement is None:
            title = f"DTD audit of given points: layer {self.layer}, output {self.target}"
        else:
            title = (f"DTD root audit: layer {self.layer}, output {self.target}, rule {self.rule}, "
                     f"placement {self.placement}")
        rows = [
            ("samples", f"{self.samples:d}"),
            ("(sample, root) pairs", f"{self.pairs:d}"),
            ("samples with a root outside the input's linear region", None),
            ("  by gradient (the study's test)", percent(self.outside_by_gradient)),
            ("  by ReLU pattern (exact)", percent(self.outside_by_pattern)),
            ("pairs whose root leaves g unchanged", percent(self.unchanged_output)),
            ("mean share of the segment a -> root in the region", percent(self.mean_segment_inside)),
            ("max conservation error |sum R - f(x)|", f"{self.max_conservation_error:.1e}"),
            ("relevance unexplained by roots kept in the region", percent(self.unexplained_fraction)),
        ]
        width = max(len(label) for label, value in rows if value is not None)
        lines = [title]
        for label, value in rows:
            lines.append(f"  {label}" if value is None else f"  {label:<{width}}  {value:>9}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"<dtd.AuditResult layer {self.layer}, output {self.target}, rule {self.rule}, "
                f"placement {self.placement}: {self.samples} samples, {self.pairs} pairs>")
