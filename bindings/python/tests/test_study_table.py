"""The study's table, pinned: the flagship demo (examples/dtd_study.py, run by
bindings/run-study.sh) prints the figures README shows, and every figure it prints is what a numpy
oracle computes from the definitions of the roots and the audit (study_oracle.py, which shares no
code with libdtd or the dtd package), to 0.001."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from study_oracle import study_rows
from support import REPO_ROOT

DEMO = REPO_ROOT / "bindings" / "python" / "examples" / "dtd_study.py"
DATA = REPO_ROOT / "bindings" / "python" / "dtd" / "data" / "dtd_study_mlp.json"
README = REPO_ROOT / "README.md"

COLUMNS = {"LRP-0": "lrp0", "z+": "zplus", "gamma=1": "gamma_1", "w^2": "wsquare"}
PROTOCOLS = {"Per rule:": "per-rule", "As published:": "as-published"}
FIGURES = ["outside_by_gradient", "outside_by_pattern", "unchanged_output", "mean_segment_inside", "unexplained_fraction"]
ROW = re.compile(r"^(LRP-0|z\+|gamma=1|w\^2)\s+(relevance|hyperplane)\s+(\d+)\s+(\d+)\s+"
                 + r"\s+".join([r"(\d+\.\d) %"] * 5) + r"\s+(\S+)")
T2 = re.compile(r"T2: LRP-0 \(bias included\) equals gradient x input to (\S+?)[: ]")


def table(text: str) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """(protocol, placement, column) -> the row's printed cells (inputs, roots, five percentages,
    sum R - f), for every table row in ``text``."""
    rows, protocol = {}, None
    for line in text.splitlines():
        for title, name in PROTOCOLS.items():
            if line.startswith(title):
                protocol = name
        match = ROW.match(line)
        if match:
            assert protocol is not None, line
            key = (protocol, match.group(2), COLUMNS[match.group(1)])
            assert key not in rows, line
            rows[key] = match.groups()[2:]
    return rows


@pytest.fixture(scope="module")
def oracle():
    return study_rows(DATA)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    result = subprocess.run([sys.executable, str(DEMO), "--out", str(out)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_demo_prints_the_oracles_figures(demo, oracle):
    """All 16 rows (both protocols and placements): counts exactly, every percentage within
    0.001 of the oracle's fraction, and a conservation error at rounding level."""
    printed = table(demo)
    assert set(printed) == set(oracle)
    for key, cells in printed.items():
        row = oracle[key]
        assert int(cells[0]) == row["samples"] == 1000 and int(cells[1]) == row["pairs"], key
        for cell, field in zip(cells[2:7], FIGURES):
            assert abs(float(cell) / 100 - row[field]) <= 0.001, (key, field, cell, row[field])
        assert float(cells[7]) <= 1e-9 and row["max_conservation_error"] <= 1e-9, (key, cells[7])
    match = T2.search(demo)
    assert match and float(match.group(1)) <= 1e-12, "the demo's T2 line"


def test_readme_shows_what_the_demo_prints(demo, oracle):
    """Every row of README's table is printed by the demo, cell for cell; the hyperplane rows
    README leaves out of the "as published" block are all 100 % outside, as it says."""
    text = README.read_text()
    start = text.find("Per rule:")
    assert start >= 0, "README.md no longer shows the study's table: point this test at its new home"
    shown = table(text[start:text.find("```", start)])
    printed = table(demo)
    assert len(shown) == 12
    for key, cells in shown.items():
        assert printed.get(key, ())[:7] == cells[:7], (key, cells, printed.get(key))
        assert float(cells[7]) <= 1e-9
    assert "(hyperplane: 100 % outside for every column)" in text
    for column in COLUMNS.values():
        row = oracle[("as-published", "hyperplane", column)]
        assert row["outside_by_gradient"] == row["outside_by_pattern"] == 1.0, column
    match = T2.search(text)
    assert match and float(match.group(1)) <= 1e-12, "README's T2 line"
