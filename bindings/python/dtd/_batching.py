"""Per-sample targets, chunks and progress for the batched calls of :class:`dtd.Network` (private).

libdtd's root queries explain one output per call (``dtd_root_query.target``). A batch whose
samples explain different outputs is split into one group per output, each group is cut into
chunks, and the results are put back in the samples' order. Chunks keep a call short: progress
is reported after each one, and Ctrl-C (a KeyboardInterrupt, which Python raises once the
running C call returns) stops the work within one chunk. Chunk sizes adapt to take about
:data:`CHUNK_SECONDS` each, starting from :data:`FIRST_CHUNK_PAIRS` (sample, root) pairs.
"""
from __future__ import annotations

import contextlib
import operator
import time
from collections.abc import Callable, Iterator
from typing import Any, Union

import numpy as np

from . import _capi
from .errors import DTDError

#: Wall time one chunk aims at: the longest wait for Ctrl-C or the next progress report.
CHUNK_SECONDS = 0.25
#: (sample, root) pairs in the first chunk (libdtd spreads a batch over all cores from 4096 on).
FIRST_CHUNK_PAIRS = 1 << 16

Index = Union[slice, np.ndarray]
Progress = Union[None, bool, Callable[[int, int], Any]]


class _Required:
    """The default of an argument that must be given (so the error can say what to give)."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


def resolve_targets(network: Any, xs: np.ndarray, target: Any, *, call: str) -> int | np.ndarray:
    """The explained output(s) of a batch: an int for all samples, or int64 ``(N,)``.

    ``target`` is an int, one int per sample, or ``"predicted"`` (each sample's largest output).
    """
    if target is REQUIRED:
        raise TypeError(f"{call}() needs target=: the explained output (an int), one per sample "
                        f"(an array of N ints) or \"predicted\"; there is no default")
    batch = xs.shape[0]
    if isinstance(target, str):
        if target != "predicted":
            raise ValueError(f'target must be an int, an array of ints or "predicted", got {target!r}')
        if batch == 0:
            return np.zeros(0, dtype=np.int64)
        return network.forward(xs).reshape(batch, -1).argmax(axis=1).astype(np.int64)
    raw = np.asarray(target)
    if raw.dtype.kind not in "iu":
        raise TypeError(f'target must be an int, an array of ints or "predicted", got {target!r}')
    if raw.ndim == 0:
        return operator.index(raw.item())
    if raw.shape != (batch,):
        raise DTDError(_capi.DTD_ERROR_SHAPE_MISMATCH,
                       f"target has shape {raw.shape}; expected an int or ({batch},), one per sample")
    size = int(np.prod(network.output_shape))
    outside = (raw < 0) | (raw >= size)
    if outside.any():
        raise DTDError(_capi.DTD_ERROR_OUT_OF_RANGE,
                       f"target[{int(np.flatnonzero(outside)[0])}] = {raw[outside][0]} is outside "
                       f"[0, {size}) for output {network.output_shape}")
    return raw.astype(np.int64)


def single_target(targets: int | np.ndarray, single: bool) -> int | np.ndarray:
    """What a result reports: the int of a single sample, else ``targets`` as resolved."""
    if single and isinstance(targets, np.ndarray):
        return int(targets[0])
    return targets


def groups(targets: int | np.ndarray, batch: int) -> list[tuple[int, Index]]:
    """(target, samples) per explained output; a slice when one output covers the batch."""
    if not isinstance(targets, np.ndarray):
        return [(targets, slice(0, batch))]
    values = np.unique(targets)
    if values.size <= 1:
        return [(int(values[0]) if values.size else 0, slice(0, batch))]
    return [(int(value), np.flatnonzero(targets == value)) for value in values]


def _reporter(progress: Progress, total: int, description: str) -> tuple[Callable[[int], None],
                                                                           Callable[[], None]]:
    """(report(done), close()) for a progress argument: None/False, True (tqdm) or a callable
    ``progress(done, total)``."""
    if progress is None or progress is False:
        return (lambda done: None), (lambda: None)
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            raise ImportError("progress=True shows a tqdm bar, but tqdm is not installed "
                              "(pip install tqdm); pass a callable progress(done, total) instead") from None
        bar = tqdm(total=total, unit="sample", desc=description)
        state = {"done": 0}

        def report(done: int) -> None:
            bar.update(done - state["done"])
            state["done"] = done

        return report, bar.close
    if callable(progress):
        return (lambda done: progress(done, total)), (lambda: None)
    raise TypeError(f"progress must be None, True (a tqdm bar) or a callable(done, total), got {progress!r}")


def _part(index: Index, start: int, stop: int) -> Index:
    if isinstance(index, slice):
        return slice(index.start + start, index.start + stop)
    return index[start:stop]


def _length(index: Index) -> int:
    return index.stop - index.start if isinstance(index, slice) else int(index.size)


def chunks(work: list[tuple[int, Index]], *, per_sample: int, chunk_size: int | None,
           progress: Progress, description: str) -> Iterator[tuple[int, Index]]:
    """Yields (target, samples) chunks of ``work``; times each chunk while the caller runs it,
    reports progress after it, and sizes the next one to take about CHUNK_SECONDS."""
    if chunk_size is not None:
        chunk_size = operator.index(chunk_size)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of samples, got {chunk_size}")
    total = sum(_length(index) for _, index in work)
    report, close = _reporter(progress, total, description)
    size = chunk_size or max(1, FIRST_CHUNK_PAIRS // max(per_sample, 1))
    done = 0
    try:
        for target, index in work:
            count, start = _length(index), 0
            while start < count or (count == 0 and start == 0):
                stop = min(count, start + size)
                began = time.perf_counter()
                yield target, _part(index, start, stop)
                elapsed = time.perf_counter() - began
                done += stop - start
                report(done)
                if chunk_size is None and stop > start:
                    rate = (stop - start) / max(elapsed, 1e-6)
                    size = int(min(max(1, rate * CHUNK_SECONDS), 8 * size))
                if count == 0:
                    break
                start = stop
    finally:
        close()


@contextlib.contextmanager
def chunked(work: list[tuple[int, Index]], **options: Any) -> Iterator[Iterator[tuple[int, Index]]]:
    """:func:`chunks`, closed (progress bar included) however the caller's loop ends."""
    generator = chunks(work, **options)
    try:
        yield generator
    finally:
        generator.close()
