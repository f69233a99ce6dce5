"""Explaining and auditing data sets larger than one machine with Dask (optional: ``dask``).

Both functions split a ``dask.array`` by rows: each block of samples is explained by libdtd on
whichever worker holds it, and the network travels to each worker process once.

    import dask.array as da, dtd.dask
    X = da.from_zarr("inputs.zarr")                                  # (N, ...) chunked by rows
    relevance = dtd.dask.lrp(net, X, rules=composite, target="predicted")   # lazy dask array
    result = dtd.dask.audit(net, X, target="predicted", rule=dtd.rules.ZPlus()).compute()
    print(result.table())

``net`` is a :class:`dtd.Network` that pickles, or its JSON model spec (what
:meth:`dtd.Network.from_json` reads: a dict or a path), which is rebuilt on each worker.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - exercised only without dask
    raise ImportError("dtd.dask needs Dask: pip install 'dask[array,distributed]'") from error

from .network import Network
from .roots import AuditResult

__all__ = ["lrp", "audit"]


class _ShippedNetwork:
    """A network on its way to worker processes, rebuilt there once per process.

    TEMPORARY (issue 11 part A adds pickling to dtd.Network): a Network that cannot pickle
    itself yet is shipped as its JSON model spec instead; once Network pickles, a Network
    travels as itself and the spec form stays for models kept as JSON.
    """

    def __init__(self, network: Network | None, spec: Any, dtype: Any):
        self._network = network
        self.spec = spec
        self.dtype = np.dtype(dtype)

    def __getstate__(self) -> dict[str, Any]:
        if self.spec is not None:
            return {"network": None, "spec": self.spec, "dtype": self.dtype}
        return {"network": self._network, "spec": None, "dtype": self.dtype}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._network, self.spec, self.dtype = state["network"], state["spec"], state["dtype"]

    def network(self) -> Network:
        if self._network is None:
            self._network = Network.from_json(self.spec, dtype=self.dtype)
        return self._network


def _pickles(network: Network) -> bool:
    """Whether Network defines its own pickling (a ctypes handle alone cannot travel)."""
    return any(name in vars(type(network)) for name in ("__reduce__", "__reduce_ex__", "__getstate__"))


def _ship(net: Any, dtype: Any) -> _ShippedNetwork:
    if isinstance(net, Network):
        if dtype is not None and np.dtype(dtype) != net.dtype:
            raise ValueError(f"dtype={dtype!r} differs from the network's {net.dtype}")
        if not _pickles(net):
            raise TypeError("this dtd.Network cannot be pickled to Dask workers yet; pass its JSON "
                            "model spec instead (the dict or path Network.from_json reads)")
        return _ShippedNetwork(net, None, net.dtype)
    if isinstance(net, (str, os.PathLike)):
        with open(net, encoding="utf-8") as handle:
            net = json.load(handle)
    if isinstance(net, dict) and "layers" in net and "input_shape" in net:
        shipped = _ShippedNetwork(None, net, "float64" if dtype is None else dtype)
        shipped.network()  # fails here, on the client, for a spec that does not build
        return shipped
    raise TypeError(f"net must be a dtd.Network or its JSON model spec (a dict or a path), "
                    f"got {type(net).__name__}")


def _by_rows(array: Any, name: str) -> Any:
    """``array`` as a dask array chunked by rows only."""
    if not isinstance(array, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array (wrap numpy data with "
                        f"dask.array.from_array(x, chunks=(rows, ...))), got {type(array).__name__}")
    if array.ndim < 2:
        raise ValueError(f"{name} must be a batch (N, *input_shape), got {array.ndim} dimension(s)")
    return array.rechunk({axis: -1 for axis in range(1, array.ndim)})


def _aligned(values: Any, rows: tuple[int, ...], name: str) -> Any:
    """A per-sample array (numpy or dask) chunked like the samples' rows."""
    if isinstance(values, da.Array):
        if values.shape[0] != sum(rows):
            raise ValueError(f"{name} has {values.shape[0]} rows; x has {sum(rows)}")
        return values.rechunk({0: rows, **{axis: -1 for axis in range(1, values.ndim)}})
    array = np.asarray(values)
    if array.ndim == 0:
        return None
    if array.shape[0] != sum(rows):
        raise ValueError(f"{name} has {array.shape[0]} rows; x has {sum(rows)}")
    return da.from_array(array, chunks=(rows, *array.shape[1:]))


def _lrp_block(block: np.ndarray, shipped: _ShippedNetwork, per_sample: np.ndarray | None,
               seeds: np.ndarray | None, rules: Any, target: Any) -> np.ndarray:
    network = shipped.network()
    if seeds is not None:
        return network.lrp(block, seeds, rules=rules)
    return network.lrp(block, rules=rules, target=per_sample if per_sample is not None else target)


def lrp(net: Any, x: Any, output_relevance: Any = None, *, rules: Any, target: Any = None,
        dtype: Any = None) -> Any:
    """:meth:`dtd.Network.lrp` over a dask array, block of rows by block of rows.

    Parameters
    ----------
    net : dtd.Network or dict or path
        The network, or its JSON model spec (rebuilt on each worker, in ``dtype``).
    x : dask.array.Array
        ``(N, *input_shape)``; chunks along other axes are merged.
    output_relevance : array_like, optional
        The seeds ``(N, *output_shape)`` (numpy or dask). Give it or ``target``.
    rules
        As for :meth:`dtd.Network.lrp`.
    target : int, array_like or "predicted", optional
        An int, one per sample (numpy or dask, ``(N,)``), or ``"predicted"``.
    dtype : optional
        The dtype a spec is built in (default float64); for a Network, its own.

    Returns
    -------
    dask.array.Array
        The input relevance, lazily; ``.compute()`` it or store it (``to_zarr``).
    """
    shipped = _ship(net, dtype)
    if (output_relevance is None) == (target is None):
        raise ValueError("give exactly one of output_relevance and target")
    x = _by_rows(x, "x")
    rows = x.chunks[0]
    per_sample = None if isinstance(target, str) or target is None else _aligned(target, rows, "target")
    seeds = None if output_relevance is None else _aligned(output_relevance, rows, "output_relevance")
    if seeds is not None and seeds.ndim == 1:
        seeds = seeds[:, None]
    network_key = dask.delayed(shipped, pure=True)  # one copy per worker, not one per task
    out_dtype = shipped.dtype
    arrays = [x] + [a for a in (per_sample, seeds) if a is not None]
    index = "abcdefgh"[:x.ndim]
    pairs: list[Any] = [x, index]
    for array in arrays[1:]:  # rows shared with x ("a"); their other axes are their own
        pairs += [array, "a" + "stuvwxyz"[:array.ndim - 1]]
    return da.blockwise(_lrp_blocks, index, *pairs, shipped=network_key, rules=rules,
                        target=None if per_sample is not None else target,
                        has_targets=per_sample is not None, has_seeds=seeds is not None,
                        dtype=out_dtype, concatenate=True,
                        meta=np.empty((0,) * x.ndim, dtype=out_dtype))


def _lrp_blocks(block: np.ndarray, *extra: np.ndarray, shipped: _ShippedNetwork, rules: Any,
                target: Any, has_targets: bool, has_seeds: bool) -> np.ndarray:
    """One block of rows: its samples, then its per-sample targets and/or seeds if given."""
    extras = list(extra)
    block_targets = extras.pop(0) if has_targets else None
    block_seeds = extras.pop(0) if has_seeds else None
    return _lrp_block(block, shipped, block_targets, block_seeds, rules, target)


def _audit_block(shipped: _ShippedNetwork, block: np.ndarray, block_targets: Any,
                 options: dict[str, Any]) -> AuditResult:
    return shipped.network().audit(block, target=block_targets, **options)


def audit(net: Any, x: Any, *, target: Any, dtype: Any = None, **options: Any) -> Any:
    """:meth:`dtd.Network.audit` over a dask array: one audit per block of rows, concatenated
    (:meth:`dtd.roots.AuditResult.concatenate`).

    Parameters
    ----------
    net, x, dtype
        As for :func:`lrp`.
    target : int, array_like or "predicted"
        Required, as for :meth:`dtd.Network.audit` (per-sample targets as numpy or dask ``(N,)``).
    **options
        ``layer``, ``rule``/``rules``, ``placement``, ``tol``, ``neurons``, ``constrain``,
        ``chunk_size`` of :meth:`dtd.Network.audit` (``progress`` is Dask's business:
        ``dask.diagnostics.ProgressBar`` or ``distributed.progress``).

    Returns
    -------
    dask.delayed.Delayed
        ``.compute()`` gives the :class:`dtd.roots.AuditResult` of all samples, in order.
    """
    if "progress" in options:
        raise TypeError("progress is not an option of dtd.dask.audit; use Dask's progress bars")
    shipped = _ship(net, dtype)
    x = _by_rows(x, "x")
    rows = x.chunks[0]
    per_sample = None if isinstance(target, str) else _aligned(target, rows, "target")
    blocks = x.to_delayed().reshape(-1)
    targets = per_sample.to_delayed().reshape(-1) if per_sample is not None else [target] * len(blocks)
    network_key = dask.delayed(shipped, pure=True)
    parts = [dask.delayed(_audit_block, pure=True)(network_key, block, block_target, options)
             for block, block_target in zip(blocks, targets)]
    return dask.delayed(AuditResult.concatenate, pure=True)(parts)

