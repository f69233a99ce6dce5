"""dtd.plot.regions: regions that are the network's ReLU patterns (checked against numpy), and the
roots drawn as the audit reports them."""
from __future__ import annotations

import numpy as np
import pytest

import dtd
from dtd.rules import Gamma, ZPlus
from dtd_oracle import pattern_from, random_model

matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is not installed (Tests/setup-extras.sh)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dtd import plot  # noqa: E402


def components(codes: np.ndarray) -> np.ndarray:
    """4-connected components of equal codes (breadth-first search), numbered in scan order."""
    found = np.full(codes.shape, -1)
    count = 0
    for start in zip(*np.nonzero(found < 0)):
        if found[start] >= 0:
            continue
        found[start], queue = count, [start]
        while queue:
            r, c = queue.pop()
            for rr, cc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if (0 <= rr < codes.shape[0] and 0 <= cc < codes.shape[1] and found[rr, cc] < 0
                        and codes[rr, cc] == codes[r, c]):
                    found[rr, cc] = count
                    queue.append((rr, cc))
        count += 1
    return found


@pytest.fixture
def model(rng):
    net, layers = random_model(rng, [2, 8, 8, 2], bias_scale=0.6)
    with net:
        yield net, layers


def test_plot_regions_are_the_relu_patterns(model):
    """The regions drawn are the pixels' ReLU patterns computed in numpy: their 4-connected
    components exactly (a region thinner than a pixel can split into pieces on the raster)."""
    net, layers = model
    extent, resolution = (-3.0, 3.0, -2.5, 2.5), 70
    labels = plot._region_labels(net, extent, resolution, target=0)
    xs, ys = np.linspace(-3, 3, resolution), np.linspace(-2.5, 2.5, resolution)
    patterns = np.array([[pattern_from(layers, 0, np.array([x, y])) for x in xs] for y in ys])
    codes = np.unique(patterns.reshape(resolution * resolution, -1), axis=0, return_inverse=True)[1]
    codes = codes.reshape(resolution, resolution)
    for label in np.unique(labels):
        assert len(np.unique(codes[labels == label])) == 1, f"region {label} mixes ReLU patterns"
    across = labels[:, :-1] != labels[:, 1:]
    assert (codes[:, :-1] != codes[:, 1:])[across].all()
    across = labels[:-1] != labels[1:]
    assert (codes[:-1] != codes[1:])[across].all()
    pieces = components(codes)
    pairs = np.unique(np.stack([labels.ravel(), pieces.ravel()]), axis=1)
    assert pairs.shape[1] == labels.max() + 1 == pieces.max() + 1  # the same partition
    assert len(np.unique(codes)) > 20


@pytest.mark.parametrize("placement", ["relevance", "hyperplane"])
def test_plot_regions_draws_the_roots_the_audit_reports(model, rng, placement):
    net, _ = model
    X = rng.normal(size=(3, 2))
    fig, ax = plt.subplots()
    returned = plot.regions(net, X, target="predicted", rule=Gamma(0.5), placement=placement, ax=ax,
                            resolution=80)
    assert returned is ax
    audit = net.audit(X, target="predicted", layer=0, rule=Gamma(0.5), placement=placement)
    arrows = ax.collections[0]  # the quiver
    assert len(arrows.U) == audit.has_root.sum()
    outside = audit.has_root & ~audit.same_pattern
    crosses = ax.collections[1].get_offsets()
    roots = net.roots(X, layer=0, target="predicted", rule=Gamma(0.5), placement=placement)
    np.testing.assert_allclose(crosses, roots.points[outside])
    np.testing.assert_allclose(ax.collections[2].get_offsets(), X)
    assert f"{outside.sum()} of {audit.has_root.sum()} leave" in ax.get_title()
    if placement == "relevance":
        assert outside.any(), "the test needs a root outside its region"
    plt.close(fig)


def test_plot_regions_saves_a_figure(model, tmp_path):
    net, _ = model
    ax = plot.regions(net, [0.5, -0.3], target=0, rule=ZPlus(), resolution=50)
    ax.figure.savefig(tmp_path / "regions.png", dpi=60)
    assert (tmp_path / "regions.png").stat().st_size > 1000
    plt.close(ax.figure)


def test_plot_regions_needs_two_inputs_and_a_target(rng):
    net, _ = random_model(rng, [3, 4, 2])
    with net, pytest.raises(ValueError, match=r"2 inputs; this one has input shape \(3,\)"):
        plot.regions(net, np.zeros(3), target=0, rule=ZPlus())
    net2, _ = random_model(rng, [2, 4, 2])
    with net2, pytest.raises(TypeError, match="needs target="):
        plot.regions(net2, np.zeros(2), rule=ZPlus())
