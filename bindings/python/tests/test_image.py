"""dtd.image: pixel-for-pixel equal to Zennit's imgify, and PNG files that decode to the pixels."""
from __future__ import annotations

import struct
import sys
import zlib

import numpy as np
import pytest

from dtd import image

LEVELS = (0.5, 1.0, 1.7)


def zennit_image():
    return pytest.importorskip("zennit.image", reason="zennit is not installed (Tests/setup-extras.sh)")


def zennit_rgb(heat: np.ndarray, **kwargs) -> np.ndarray:
    """Zennit's imgify of ``heat`` as RGB pixels.

    Zennit 0.5.1 hands Pillow its palette as a (256, 3) array, which Pillow >= 12 no longer
    accepts; the same palette is handed over as bytes, and nothing else of Zennit changes.
    """
    zimage = zennit_image()
    original = zimage.palette
    zimage.palette = lambda cmap="bwr", level=1.0: original(cmap, level).tobytes()
    try:
        return np.asarray(zimage.imgify(heat, **kwargs).convert("RGB"))
    finally:
        zimage.palette = original


def test_image_cmaps_are_all_of_zennits():
    assert set(image.CMAPS) == set(zennit_image().CMAPS)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("cmap", image.CMAPS)
def test_image_palette_equals_zennit(cmap, level):
    np.testing.assert_array_equal(image.palette(cmap, level), zennit_image().palette(cmap, level))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("cmap", image.CMAPS)
def test_image_imgify_equals_zennit(rng, cmap, symmetric, dtype):
    heat = (rng.normal(size=(13, 17)) * rng.exponential(size=(13, 17)) ** 2).astype(dtype)
    for level in LEVELS:
        ours = image.imgify(heat, cmap=cmap, symmetric=symmetric, level=level)
        assert ours.shape == (13, 17, 3) and ours.dtype == np.uint8
        np.testing.assert_array_equal(ours, zennit_rgb(heat, cmap=cmap, symmetric=symmetric, level=level))


def test_image_imgify_sums_channels_like_a_heatmap(rng):
    relevance = rng.normal(size=(3, 9, 11)).astype(np.float32)
    np.testing.assert_array_equal(image.imgify(relevance, cmap="coldnhot"),
                                  zennit_rgb(relevance.sum(0), cmap="coldnhot", symmetric=True))


@pytest.mark.parametrize("grid", [True, (2, 4), (1, 3)])
def test_image_imgify_grid_equals_zennit(rng, grid):
    """Each image normalised on its own, laid out as Zennit lays it out, empty cells filled alike."""
    batch = rng.normal(size=(7, 2, 5, 6))
    ours = image.imgify(batch, cmap="bwr", symmetric=True, grid=grid)
    np.testing.assert_array_equal(ours, zennit_rgb(batch.sum(1), cmap="bwr", symmetric=True, grid=grid))
    rows, cols = (4, 2) if grid is True else grid  # 7 images: int(sqrt(7)) = 2 columns
    assert ours.shape == (rows * 5, cols * 6, 3)


def test_image_imgify_fixed_bounds_equal_zennit(rng):
    heat = rng.normal(size=(6, 6))
    np.testing.assert_array_equal(image.imgify(heat, cmap="hot", symmetric=False, vmin=-0.5, vmax=2.0),
                                  zennit_rgb(heat, cmap="hot", vmin=-0.5, vmax=2.0))


def test_image_imgify_known_pixels():
    """Without Zennit: the extremes are blue and red, 0 next to white."""
    heat = np.array([[-2.0, 0.0, 2.0]])
    rgb = image.imgify(heat, cmap="bwr")
    # 0 lands at 127.5, index 127, one step below the centre: 127/128 of the way to white
    np.testing.assert_array_equal(rgb[0], [[0, 0, 255], [253, 253, 255], [255, 0, 0]])
    # min-max: the minimum is the first colour of gray (black), the maximum the last (white)
    np.testing.assert_array_equal(image.imgify(heat, cmap="gray", symmetric=False)[0, :, 0], [0, 127, 255])
    # a constant map is the centre (symmetric) or the bottom (min-max), never NaN garbage
    assert (image.imgify(np.zeros((2, 2)), cmap="gray")[..., 0] == 127).all()
    assert (image.imgify(np.ones((2, 2)), cmap="gray", symmetric=False)[..., 0] == 0).all()


@pytest.mark.parametrize("bad, match", [
    (dict(relevance=np.zeros(5)), r"expected \(H, W\) or \(C, H, W\)"),
    (dict(relevance=np.zeros((2, 3, 4, 5))), r"pass grid=True"),
    (dict(relevance=np.zeros((2, 3)), grid=True), r"expected \(N, H, W\)"),
    (dict(relevance=np.zeros((2, 3)), cmap="viridis"), "cmap must be one of"),
    (dict(relevance=np.zeros((2, 3)), level=float("nan")), "level must be finite"),
    (dict(relevance=np.zeros((2, 2, 3)), grid=(2,)), "grid must be"),
    (dict(relevance=np.array([[np.nan, 1.0]])), "NaN"),
])
def test_image_imgify_rejects_bad_arguments(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        image.imgify(**bad)


def _decode_png(data: bytes) -> tuple[int, int, int, np.ndarray]:
    """An independent reader for the files the built-in writer makes: checks the signature and
    every CRC, and undoes filter type 0 (the only one the writer uses)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, []
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        tag, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks.append((tag, body))
        offset += 12 + length
    assert [tag for tag, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8
    raw = np.frombuffer(zlib.decompress(chunks[1][1]), dtype=np.uint8).reshape(height, -1)
    assert (raw[:, 0] == 0).all()
    return width, height, colour, raw[:, 1:]


@pytest.mark.parametrize("shape, colour", [((5, 7), 0), ((5, 7, 3), 2), ((5, 7, 4), 6)])
def test_image_save_without_pillow_writes_a_valid_png(tmp_path, rng, monkeypatch, shape, colour):
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / "built-in.png"
    image.save(path, pixels)
    width, height, colour_type, rows = _decode_png(path.read_bytes())
    assert (width, height, colour_type) == (7, 5, colour)
    np.testing.assert_array_equal(rows, pixels.reshape(5, -1))


@pytest.mark.parametrize("shape", [(6, 9), (6, 9, 3), (6, 9, 4)])
def test_image_png_without_pillow_decodes_with_pillow(tmp_path, rng, shape):
    pil = pytest.importorskip("PIL.Image", reason="Pillow is not installed (Tests/setup-extras.sh)")
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    image.save(tmp_path / "built-in.png", pixels, use_pillow=False)
    image.save(tmp_path / "pillow.png", pixels, use_pillow=True)
    for name in ("built-in.png", "pillow.png"):
        with pil.open(tmp_path / name) as decoded:
            np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_image_save_rejects_what_is_not_an_8_bit_image(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        image.save(tmp_path / "x.png", np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        image.save(tmp_path / "x.png", np.zeros((2, 2, 2), dtype=np.uint8))
    assert not (tmp_path / "x.png").exists()
