"""examples/digits.py runs end to end on real data (skipped without scikit-learn)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="needs scikit-learn (the extras venv: Tests/setup-extras.sh)")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits.py"


def test_digits_example(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("digits_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main(["--out", str(tmp_path), "--scale", "2"])
    assert result["accuracy"] > 0.9
    saved = np.load(tmp_path / "digits_relevance.npz")
    assert saved["digits"].shape == (10, 64) and saved["row0"].shape == (10, 64)
    relevances = list(result["relevances"].values())
    assert all(np.isfinite(r).all() for r in relevances)
    # Zennit's EpsilonPlus (epsilon on an MLP) and libdtd's mlp_epsilon_plus (z+ hidden) differ
    assert np.abs(relevances[2] - relevances[4]).max() > 1e-3 * np.abs(relevances[2]).max()
    for layer, rows in result["audit"].items():
        assert [row["rule"] for row in rows] == ["LRP-0", "z+", "gamma=1", "w^2"]
        for row in rows:
            assert 0 < row["roots_outside_by_pattern"] <= row["samples_outside_by_pattern"] <= 1
            assert row["roots"] > 0
    if result["picture"] is not None:  # dtd.image present
        assert Path(result["picture"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "per-root rates" in capsys.readouterr().out
