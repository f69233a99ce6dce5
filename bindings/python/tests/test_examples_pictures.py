"""The scripts that make the README's pictures run end to end and write PNG images."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dtd

EXAMPLES = Path(dtd.__file__).resolve().parents[1] / "examples"


def run_example(name: str, out: Path, *options: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / name), "--out", str(out), *options],
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, MPLBACKEND="Agg"))
    assert result.returncode == 0, result.stderr
    return result.stdout


def decoded(path: Path) -> np.ndarray:
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (Tests/setup-extras.sh)")
    with image.open(path) as picture:
        return np.asarray(picture.convert("RGB"))


def test_examples_digits_heatmaps(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (Tests/setup-extras.sh)")
    out = run_example("digits_heatmaps.py", tmp_path)
    assert "test accuracy 0.9" in out
    pixels = decoded(tmp_path / "digits_heatmaps.png")
    assert pixels.shape == (720, 996, 3)  # 7 rows of 10 digits, 12 pixels per digit pixel
    assert (pixels[..., 0] > pixels[..., 2] + 100).any() and (pixels[..., 2] > pixels[..., 0] + 100).any()


def test_examples_moons_regions(tmp_path):
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (Tests/setup-extras.sh)")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (Tests/setup-extras.sh)")
    out = run_example("moons_regions.py", tmp_path, "--resolution", "120")
    assert "z+:" in out and "w^2:" in out
    assert decoded(tmp_path / "moons_regions.png").shape[1] > 800
