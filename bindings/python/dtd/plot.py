"""The study's picture for a network with two inputs (optional: ``matplotlib``).

:func:`regions` draws the network's linear regions, its inputs, their DTD roots as arrows for a
rule and placement, and marks the roots that leave their input's region: where a reader would
rather look than read the audit's table.

    import dtd.plot
    ax = dtd.plot.regions(net, X[:4], target="predicted", rule=dtd.rules.ZPlus())
    ax.figure.savefig("regions.png")
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._batching import REQUIRED
from .network import Network, RuleArgument, RulesArgument

__all__ = ["regions"]

_INSIDE, _OUTSIDE = "#1f5fbf", "#d62728"


def _grid(extent: tuple[float, float, float, float], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    left, right, bottom, top = extent
    return np.linspace(left, right, resolution), np.linspace(bottom, top, resolution)


def _region_labels(net: Network, extent: tuple[float, float, float, float], resolution: int,
                   target: int) -> np.ndarray:
    """Pixel ``[row, column]`` (rows upward in y) -> its linear region's number.

    libdtd decides, for every pixel and its right and upper neighbour, whether the two share
    the network's ReLU pattern (:meth:`Network.audit_points` at layer 0, ``same_pattern``); the
    regions are the connected components of those links. A region of a ReLU network is convex,
    so each component is one pattern (a sliver thinner than a pixel may split or vanish).
    """
    xs, ys = _grid(extent, resolution)
    px, py = np.meshgrid(xs, ys)
    pixels = np.stack([px.ravel(), py.ravel()], axis=1)
    index = np.arange(pixels.shape[0]).reshape(resolution, resolution)
    right = np.concatenate([index[:, 1:], index[:, -1:]], axis=1).ravel()  # the last column: itself
    up = np.concatenate([index[1:], index[-1:]], axis=0).ravel()
    neighbours = np.stack([pixels[right], pixels[up]], axis=1)
    same = net.audit_points(pixels, neighbours, layer=0, target=target).same_pattern
    a = np.concatenate([index.ravel()[same[:, 0]], index.ravel()[same[:, 1]]])
    b = np.concatenate([right[same[:, 0]], up[same[:, 1]]])
    parent = np.arange(pixels.shape[0])
    while True:  # hook the larger root onto the smaller, then compress paths, until links agree
        lower, upper = np.minimum(parent[a], parent[b]), np.maximum(parent[a], parent[b])
        differ = lower != upper
        if not differ.any():
            break
        np.minimum.at(parent, upper[differ], lower[differ])
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return np.unique(parent, return_inverse=True)[1].reshape(resolution, resolution)


def _extent(points: np.ndarray) -> tuple[float, float, float, float]:
    low, high = points.min(axis=0), points.max(axis=0)
    pad = np.maximum((high - low) * 0.12, 0.25)
    return float(low[0] - pad[0]), float(high[0] + pad[0]), float(low[1] - pad[1]), float(high[1] + pad[1])


def regions(net: Network, x: Any, *, target: Any = REQUIRED, rule: RuleArgument | None = None,
            rules: RulesArgument | None = None, placement: str = "relevance", ax: Any = None,
            extent: tuple[float, float, float, float] | None = None,
            resolution: int = 240) -> Any:
    """Draws the linear regions of a 2-input network, its inputs and their first-layer DTD roots.

    Regions are coloured by ReLU pattern (the regions holding an input stronger), with their
    borders drawn. Each input's roots (:meth:`Network.roots` at layer 0) are arrows from the
    input; an arrow whose root leaves the input's region (:meth:`Network.audit`,
    ``same_pattern``) is red and ends in a cross.

    Parameters
    ----------
    net : dtd.Network
        Input shape ``(2,)``.
    x : array_like
        One input ``(2,)`` or several ``(N, 2)``.
    target : int, array_like or "predicted"
        The explained output(s), as for :meth:`Network.audit`. The regions drawn are those of
        the first sample's output (they differ between outputs only in a final ReLU).
    rule, rules, placement
        The root rule(s) and placement, as for :meth:`Network.roots`.
    ax : matplotlib.axes.Axes, optional
        Where to draw (a new figure otherwise).
    extent : (left, right, bottom, top), optional
        The window; by default the inputs and roots with a margin.
    resolution : int
        Pixels per side of the region raster.

    Returns
    -------
    matplotlib.axes.Axes
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.colors import to_rgba
        from matplotlib.lines import Line2D
    except ImportError:
        raise ImportError("dtd.plot needs matplotlib: pip install matplotlib") from None
    if tuple(net.input_shape) != (2,):
        raise ValueError(f"dtd.plot.regions draws networks with 2 inputs; this one has input shape "
                         f"{tuple(net.input_shape)}")
    if int(resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    xs = np.atleast_2d(np.asarray(x, dtype=np.float64))
    roots = net.roots(xs, layer=0, target=target, rule=rule, rules=rules, placement=placement)
    audit = net.audit(xs, target=roots.target, layer=0, rule=rule, rules=rules, placement=placement)
    has_root = roots.has_root
    outside = has_root & ~audit.same_pattern
    ends = roots.points[has_root]
    if extent is None:
        extent = _extent(np.concatenate([xs, ends]))
    first_target = int(np.ravel(roots.target)[0])
    labels = _region_labels(net, extent, int(resolution), first_target)

    # Colours: pastel (the arrows are saturated red and blue), by region number; stronger where
    # an input lies.
    palette = plt.get_cmap("Set3").colors + plt.get_cmap("Pastel2").colors
    colours = np.array([to_rgba(palette[(7 * k) % len(palette)]) for k in range(labels.max() + 1)])
    colours[:, 3] = 0.4
    xs_grid, ys_grid = _grid(extent, int(resolution))
    columns = np.clip(np.searchsorted(xs_grid, xs[:, 0]), 0, resolution - 1)
    rows = np.clip(np.searchsorted(ys_grid, xs[:, 1]), 0, resolution - 1)
    colours[np.unique(labels[rows, columns]), 3] = 0.95
    picture = colours[labels]
    border = np.zeros(labels.shape, dtype=bool)
    border[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    border[:-1, :] |= labels[:-1, :] != labels[1:, :]
    picture[border] = (0.25, 0.25, 0.25, 0.9)

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(picture, extent=extent, origin="lower", interpolation="nearest", zorder=0)
    starts = np.broadcast_to(xs[:, None, :], roots.points.shape)[has_root]
    arrow_colours = np.where(outside[has_root], _OUTSIDE, _INSIDE)
    steps = ends - starts
    ax.quiver(starts[:, 0], starts[:, 1], steps[:, 0], steps[:, 1], color=arrow_colours, angles="xy",
              scale_units="xy", scale=1, width=0.004, zorder=2)
    far = roots.points[outside]
    ax.scatter(far[:, 0], far[:, 1], marker="x", s=40, color=_OUTSIDE, zorder=3)
    ax.scatter(xs[:, 0], xs[:, 1], s=45, color="black", edgecolor="white", zorder=4)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(f"{audit.rule} roots ({placement} placement): {int(outside.sum())} of "
                 f"{int(has_root.sum())} leave the input's linear region", fontsize=10)
    ax.legend(handles=[
        Line2D([], [], marker="o", color="black", linestyle="", label="input"),
        Line2D([], [], color=_INSIDE, label="root in the input's region"),
        Line2D([], [], color=_OUTSIDE, marker="x", label="root outside it"),
    ], loc="best", fontsize=8, framealpha=0.9)
    return ax
