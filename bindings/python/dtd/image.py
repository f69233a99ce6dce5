"""Heatmaps of relevance as images: :func:`imgify` and :func:`save` (numpy only; Pillow optional).

:func:`imgify` follows Zennit's ``zennit.image.imgify`` and gives the same pixels for the same
relevance, colour map, ``level`` and ``symmetric``: the relevance is normalised per image, scaled
to 256 palette indices, and looked up in a 256-colour palette of one of Zennit's colour maps.
Unlike Zennit, it sums the channels of ``(C, H, W)`` relevance first (a heatmap per pixel, the
usual way to show image relevance) and returns an ``(H, W, 3)`` uint8 RGB array.

    import dtd.image
    relevance = net.lrp(x, target=k, rules=...)            # (N, C, H, W)
    dtd.image.save("heat.png", dtd.image.imgify(relevance, grid=True))
"""
from __future__ import annotations

import struct
import zlib
from os import PathLike
from typing import Any, Union

import numpy as np

__all__ = ["CMAPS", "imgify", "palette", "save"]

# Zennit 0.5.1's named colour maps (zennit.image.CMAPS) as colour stops on the 0..255 palette
# index scale; colours are interpolated linearly between stops.
_STOPS: dict[str, tuple[tuple[int, str], ...]] = {
    "gray": ((0, "000000"), (255, "ffffff")),
    "wred": ((0, "ffffff"), (255, "ff0000")),
    "wblue": ((0, "ffffff"), (255, "0000ff")),
    "hot": ((0, "000000"), (85, "ff0000"), (170, "ffff00"), (255, "ffffff")),
    "cold": ((0, "000000"), (127, "0000ff"), (255, "00ffff")),
    "coldnhot": ((0, "00ffff"), (64, "0000ff"), (128, "000000"), (170, "ff0000"), (212, "ffff00"),
                 (255, "ffffff")),
    "bwr": ((0, "0000ff"), (128, "ffffff"), (255, "ff0000")),
    "france": ((0, "0055a4"), (128, "ffffff"), (255, "ef4135")),
    "seismic": ((0, "0000d0"), (128, "d0d0d0"), (255, "d00000")),
    "coolio": ((0, "00d0d0"), (128, "d0d0d0"), (255, "d000d0")),
    "coleus": ((0, "00d000"), (128, "d0d0d0"), (255, "d000d0")),
}

#: The colour map names :func:`imgify` and :func:`palette` accept (Zennit's built-in maps).
CMAPS: tuple[str, ...] = tuple(_STOPS)

Cmap = Union[str, np.ndarray]


def _colours(name: str, x: np.ndarray) -> np.ndarray:
    """The colour map at ``x`` in [0, 1] as RGB in [0, 1], shape ``(*x.shape, 3)``."""
    stops = _STOPS[name]
    index = np.array([i for i, _ in stops], dtype=np.float64)
    rgb = np.array([[int(c[k:k + 2], 16) for k in (0, 2, 4)] for _, c in stops], dtype=np.float64)
    position = (x * 255).clip(0, 255)
    # Segment k spans [index[k-1], index[k]]; the last stop holds up to 255 inclusive.
    upper = np.minimum(np.searchsorted(index, position, side="right"), len(index) - 1)
    lower = upper - 1
    alpha = ((position - index[lower]) / (index[upper] - index[lower]))[..., None]
    return (rgb[lower] * (1 - alpha) + rgb[upper] * alpha) / 255.0


def palette(cmap: str = "bwr", level: float = 1.0) -> np.ndarray:
    """The 256-entry palette of a named colour map, as Zennit's ``palette(cmap, level)``.

    Parameters
    ----------
    cmap : str
        One of :data:`CMAPS`.
    level : float
        1.0 spans the whole map. Below 1 the colours stay nearer the map's centre; above 1 they
        saturate earlier (the ends are reached before the extreme relevance).

    Returns
    -------
    numpy.ndarray
        ``(256, 3)`` uint8 RGB, entry ``i`` the colour of palette index ``i``.
    """
    if not isinstance(cmap, str) or cmap not in _STOPS:
        raise ValueError(f"cmap must be one of {', '.join(CMAPS)}; got {cmap!r}")
    level = float(level)
    if not np.isfinite(level):
        raise ValueError(f"level must be finite, got {level}")
    x = ((np.linspace(-1.0, 1.0, 256, dtype=np.float64) * level + 1.0) / 2.0).clip(0.0, 1.0)
    return (_colours(cmap, x) * 255.0).round(12).clip(0.0, 255.0).astype(np.uint8)


def _lookup_table(cmap: Cmap, level: float) -> np.ndarray:
    if isinstance(cmap, np.ndarray):
        if cmap.shape != (256, 3) or cmap.dtype != np.uint8:
            raise ValueError(f"a palette given as cmap must be (256, 3) uint8, got {cmap.shape} "
                             f"{cmap.dtype}")
        return cmap
    return palette(cmap, level)


def _heatmaps(relevance: np.ndarray, batched: bool) -> np.ndarray:
    """(H, W) or (N, H, W): channels summed."""
    rank = relevance.ndim - (1 if batched else 0)
    if rank == 2:
        return relevance
    if rank == 3:
        return relevance.sum(axis=1 if batched else 0)
    expected = "(N, H, W) or (N, C, H, W)" if batched else "(H, W) or (C, H, W)"
    raise ValueError(f"relevance has shape {relevance.shape}; expected {expected}"
                     f"{'' if batched else ' (pass grid=True for a batch)'}")


def _indices(heat: np.ndarray, axes: tuple[int, ...], symmetric: bool, vmin: Any,
             vmax: Any) -> np.ndarray:
    """Palette indices: heat normalised per image to [0, 1], times 255, truncated (Zennit)."""
    if heat.dtype == np.uint8:
        return heat  # already palette indices, as Zennit takes them
    if symmetric:
        high = np.abs(heat).max(axis=axes, keepdims=True)
        low = -high
    else:
        high = heat.max(axis=axes, keepdims=True)
        low = heat.min(axis=axes, keepdims=True)
    low = low if vmin is None else np.asarray(vmin)
    high = high if vmax is None else np.asarray(vmax)
    span = high - low
    flat = span == 0  # a constant image: its value sits at the centre (symmetric) or bottom
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = (heat - low) / np.where(flat, 1, span)
    scaled = np.where(flat, 0.5 if symmetric else 0.0, scaled)
    if np.isnan(scaled).any():
        raise ValueError("relevance contains NaN")
    return (scaled * 255).clip(0, 255).astype(np.uint8)


def _grid(images: np.ndarray, shape: Any, fill: Any) -> np.ndarray:
    """(N, H, W) -> (rows*H, cols*W); rows x cols defaults to a near-square grid (Zennit's)."""
    count, height, width = images.shape
    if shape is True:
        cols = int(count ** 0.5)
        rows = (count + cols - 1) // cols
    else:
        rows, cols = (int(n) for n in shape)
        if rows < 1 or cols < 1:
            raise ValueError(f"grid must be True or (rows, cols) with both >= 1, got {shape!r}")
    value = images.min() if fill is None else np.uint8(fill)
    cells = np.full((rows * cols, height, width), value, dtype=np.uint8)
    shown = min(count, rows * cols)
    cells[:shown] = images[:shown]
    return cells.reshape(rows, cols, height, width).transpose(0, 2, 1, 3).reshape(rows * height,
                                                                                  cols * width)


def imgify(relevance: Any, cmap: Cmap = "bwr", symmetric: bool = True, level: float = 1.0,
           grid: Union[bool, tuple[int, int]] = False, *, vmin: Any = None, vmax: Any = None,
           gridfill: Any = None) -> np.ndarray:
    """A relevance map (or a batch of them, as a grid) as an RGB image.

    Parameters
    ----------
    relevance : array_like
        ``(H, W)`` or ``(C, H, W)`` (channels are summed); with ``grid``, a batch
        ``(N, H, W)`` or ``(N, C, H, W)``. A uint8 array is taken as palette indices as is.
    cmap : str or numpy.ndarray
        One of :data:`CMAPS` (Zennit's: ``bwr``, ``coldnhot``, ``hot``, ``cold``, ``gray``,
        ``wred``, ``wblue``, ``france``, ``seismic``, ``coolio``, ``coleus``) or a ``(256, 3)``
        uint8 palette.
    symmetric : bool
        True: divide by the largest ``|relevance|``, so 0 is the centre of the colour map (index
        127). False: map the minimum to the first colour and the maximum to the last.
    level : float
        The palette's level (see :func:`palette`).
    grid : bool or (rows, cols)
        Lay a batch out as a grid, each image normalised on its own; True picks
        ``cols = int(sqrt(N))`` and enough rows. Images beyond ``rows * cols`` are left out.
    vmin, vmax : float, optional
        Fixed bounds instead of the per-image ones.
    gridfill : int, optional
        Palette index of empty grid cells (default: the smallest index in the batch).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` uint8 (``(rows * H, cols * W, 3)`` for a grid).
    """
    array = np.asarray(relevance)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"relevance must be a real array, got dtype {array.dtype}")
    if grid is not False and grid is not True and (
            not isinstance(grid, (tuple, list)) or len(grid) != 2):
        raise ValueError(f"grid must be a bool or a (rows, cols) pair, got {grid!r}")
    batched = grid is not False
    table = _lookup_table(cmap, level)
    heat = _heatmaps(array, batched)
    if heat.dtype.kind == "b":
        heat = heat.astype(np.float64)
    axes = tuple(range(1, heat.ndim)) if batched else tuple(range(heat.ndim))
    indices = _indices(heat, axes, bool(symmetric), vmin, vmax)
    if batched:
        indices = _grid(indices, grid, gridfill)
    return table[indices]


def _png(image: np.ndarray) -> bytes:
    """The PNG file of an 8-bit (H, W), (H, W, 3) or (H, W, 4) image: chunk framing around a
    zlib stream of unfiltered scanlines (PNG specification, sections 5 and 11)."""
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    colour_type = {1: 0, 3: 2, 4: 6}[channels]  # grey, RGB, RGBA
    rows = image.reshape(height, -1)
    scanlines = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1)  # filter 0

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 9)) + chunk(b"IEND", b""))


def save(path: Union[str, PathLike], image: Any, *, use_pillow: Union[bool, None] = None) -> None:
    """Writes an image (e.g. from :func:`imgify`) as a PNG file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    image : array_like
        uint8 ``(H, W)`` (grey), ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA).
    use_pillow : bool, optional
        None (default): Pillow when it is installed, else a minimal PNG writer on the standard
        library's ``zlib``. True or False forces the choice.
    """
    array = np.ascontiguousarray(image)
    if array.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (see dtd.image.imgify), got dtype {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) or 0 in array.shape:
        raise ValueError(f"image has shape {array.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if use_pillow is None:
        try:
            import PIL.Image  # noqa: F401
            use_pillow = True
        except ImportError:
            use_pillow = False
    if use_pillow:
        from PIL import Image
        Image.fromarray(array).save(path, format="PNG")
    else:
        with open(path, "wb") as handle:
            handle.write(_png(array))
