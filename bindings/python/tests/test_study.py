"""dtd.study (the study's protocol as a module, Include/dtd.h section 6) and the flagship demo
examples/dtd_study.py."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dtd
import dtd.study as study
from dtd.rules import Epsilon, Gamma, WSquare, ZPlus
from dtd_oracle import activations, same_pattern
from support import REPO_ROOT

DEMO = Path(__file__).resolve().parents[1] / "examples" / "dtd_study.py"
FRACTIONS = ["outside_by_gradient", "outside_by_pattern", "unchanged_output", "mean_segment_inside",
             "unexplained_fraction"]


@pytest.fixture(scope="module")
def rows():
    return study.run()


def spec_layers():
    spec = json.loads(study.DATA_FILE.read_text())
    layers = []
    for layer in spec["layers"]:
        if layer["type"] == "dense":
            w, b = layer["weight"], layer["bias"]
            layers.append(("dense", np.reshape(w["data"], w["shape"]), np.reshape(b["data"], b["shape"])))
        else:
            layers.append(("relu",))
    return layers


def test_study_run_returns_the_documented_rows(rows):
    assert len(rows) == 16
    assert all(list(row) == list(study.ROW_FIELDS) for row in rows)
    keys = [(r["protocol"], r["placement"], r["column"]) for r in rows]
    assert keys == [(p, q, c) for p in study.PROTOCOLS for q in study.PLACEMENTS for c in study.COLUMNS]
    for row in rows:
        assert row["samples"] == 1000 and row["pairs"] == 10000  # every first-layer neuron has a root
        for field in FRACTIONS:
            assert 0 <= row[field] <= 1, (row, field)
        assert row["max_conservation_error"] < 1e-9, row
        assert row["seconds"] >= 0


def test_study_per_rule_rows_use_the_columns_rule_and_as_published_rows_use_zplus(rows):
    """Each row equals an audit run here with the rule the protocol names."""
    blocks = study.input_blocks()
    with study.load_network() as net:
        for row in rows:
            rule = study.COLUMN_RULES[row["column"]] if row["protocol"] == "per-rule" else ZPlus()
            expected = net.audit(blocks[row["column"]], target=0, layer=0, rule=rule,
                                 placement=row["placement"]).summary()
            assert {k: row[k] for k in expected} == expected, row
    by_key = {(r["protocol"], r["placement"], r["column"]): r for r in rows}
    for placement in study.PLACEMENTS:  # z+ is z+ under either protocol
        same = [by_key[(p, placement, "zplus")] for p in study.PROTOCOLS]
        assert {k: v for k, v in same[0].items() if k not in ("protocol", "seconds")} == \
               {k: v for k, v in same[1].items() if k not in ("protocol", "seconds")}
    # The loop bug matters: per rule, LRP-0's roots leave the region far more often than z+'s.
    assert by_key[("per-rule", "relevance", "lrp0")]["outside_by_pattern"] > \
           by_key[("as-published", "relevance", "lrp0")]["outside_by_pattern"] + 0.2


@pytest.mark.parametrize("placement", study.PLACEMENTS)
def test_study_roots_outside_the_region_by_numpy(placement):
    """The demo's headline numbers rest on same_pattern: recheck it in numpy from the JSON
    weights for the first 60 inputs of every block, per rule."""
    layers = spec_layers()
    blocks = study.input_blocks()
    with study.load_network() as net:
        for column, inputs in blocks.items():
            x = inputs[:60]
            res = net.audit(x, target=0, rule=study.COLUMN_RULES[column], placement=placement)
            roots = net.roots(x, layer=0, target=0, rule=study.COLUMN_RULES[column], placement=placement)
            expected = np.array([[same_pattern(layers, 0, x[n], roots.points[n, j]) for j in range(10)]
                                 for n in range(60)])
            np.testing.assert_array_equal(res.same_pattern, expected, err_msg=column)
            assert res.outside_by_pattern == np.mean(~expected.all(axis=1))


def test_study_column_rules():
    assert study.COLUMNS == ("lrp0", "zplus", "gamma_1", "wsquare")
    assert study.COLUMN_RULES == {"lrp0": Epsilon(0.0), "zplus": ZPlus(), "gamma_1": Gamma(1.0),
                                  "wsquare": WSquare()}


def test_study_network_and_input_blocks_are_the_studys():
    """10-10-10-2 with a ReLU after every dense layer; four blocks of 1000 inputs from |N(0, I)|
    with f_0(x) > 0.1 (checked with a numpy forward pass of the JSON weights)."""
    layers = spec_layers()
    assert [spec[0] for spec in layers] == ["dense", "relu"] * 3
    assert [spec[1].shape for spec in layers if spec[0] == "dense"] == [(10, 10), (10, 10), (2, 10)]
    blocks = study.input_blocks()
    assert list(blocks) == list(study.COLUMNS)
    with study.load_network() as net, study.load_network("float32") as net32:
        assert net.dtype == np.float64 and net32.dtype == np.float32
        assert net.layer_kinds == ("dense", "relu") * 3
        for inputs in blocks.values():
            assert inputs.shape == (1000, 10) and inputs.dtype == np.float64 and np.all(inputs >= 0)
            f0 = np.array([activations(layers, x)[-1][0] for x in inputs])
            assert np.all(f0 > 0.1)
            np.testing.assert_allclose(net.forward(inputs)[:, 0], f0, rtol=1e-12)


def test_study_gxi_check_is_at_rounding_level():
    """T2 on the study's data: LRP-0 with the bias included is gradient x input."""
    distances = study.gxi_check()
    assert list(distances) == list(study.COLUMNS)
    assert max(distances.values()) <= 1e-12
    assert max(study.gxi_check("float32").values()) <= 1e-5


def test_study_run_selects_placements_protocols_and_dtype():
    rows = study.run(placements=["hyperplane"], protocols="as-published", dtype="float32",
                     columns=["wsquare"])
    assert [(r["protocol"], r["placement"], r["column"]) for r in rows] == \
           [("as-published", "hyperplane", "wsquare")]
    assert rows[0]["max_conservation_error"] < 1e-5


@pytest.mark.parametrize("argument", [{"placements": ["sideways"]}, {"protocols": ["per-rule", "x"]},
                                      {"columns": []}])
def test_study_run_rejects_unknown_choices(argument):
    with pytest.raises(ValueError):
        study.run(**argument)


# MARK: - The demo

def run_demo(*args, cwd):
    if "--full-backward-per-block" not in args:  # the second table on 20 inputs keeps these tests quick
        args = (*args, "--full-backward-per-block", "5")
    result = subprocess.run([sys.executable, str(DEMO), *args], cwd=cwd, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_prints_the_table_and_writes_csv_and_json(tmp_path, rows):
    out = tmp_path / "results"
    stdout = run_demo("--out", str(out), cwd=REPO_ROOT)
    for text in ("Per rule:", "As published:", "outside:ReLUs", "Findings:", "T2:",
                 "What the columns mean", f"Wrote {out / 'dtd_study.csv'}"):
        assert text in stdout, text
    # The per-rule LRP-0 row with relevance placement, as the table prints it.
    lrp0 = rows[0]
    assert f"{100 * lrp0['outside_by_pattern']:.1f} %" in stdout
    with (out / "dtd_study.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 16 and list(table[0]) == list(study.ROW_FIELDS)
    assert float(table[0]["outside_by_pattern"]) == lrp0["outside_by_pattern"]
    data = json.loads((out / "dtd_study.json").read_text())
    assert data["dtype"] == "float64" and len(data["rows"]) == 16
    assert data["rows"][5]["mean_segment_inside"] == rows[5]["mean_segment_inside"]
    assert max(data["gxi_max_distance"].values()) <= 1e-12


def test_demo_options_and_default_out_dir_outside_the_repository(tmp_path):
    stdout = run_demo("--dtype", "float32", "--placements", "relevance", cwd=tmp_path)
    assert "float32" in stdout and "hyperplane" not in stdout.split("What the columns mean")[0]
    with (tmp_path / "dtd-study" / "dtd_study.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 8


def test_demo_prints_the_full_backward_table_and_its_findings(tmp_path):
    """The second table: the study's full-backward experiment, exact vs. sampled, per dense layer,
    the three sentences on what changes when the search is exact, and its CSV."""
    methods = ["exact", "sampled"] if dtd.full_backward.available() else ["sampled"]
    stdout = run_demo("--out", str(tmp_path), "--placements", "relevance", "--protocols", "per-rule",
                      "--full-backward-per-block", "5", "--full-backward-methods", *methods, cwd=REPO_ROOT)
    assert "Full-backward DTD (the study's second experiment)" in stdout and "20 inputs" in stdout
    with (tmp_path / "dtd_full_backward.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert [(r["method"], r["layer"]) for r in table] == [(m, str(l)) for m in methods for l in (0, 2, 4)]
    assert list(table[0]) == list(study.FULL_BACKWARD_FIELDS)
    data = json.loads((tmp_path / "dtd_study.json").read_text())["full_backward"]
    assert data["inputs_per_block"] == 5 and set(data["inputs"]) == set(methods)
    if "exact" in methods:
        assert "What changes when the search is exact:" in stdout
        assert data["inputs"]["exact"]["max_ledger_error_over_f"] <= 1e-9
        top = [r for r in table if r["method"] == "exact" and r["layer"] == "4"][0]
        assert float(top["unresolved"]) == 0 and float(top["negative"]) == 0


def test_run_full_backward_rows_per_method_and_layer():
    rows, inputs = study.run_full_backward(["sampled", "bisect"], per_block=2)
    assert [(r["method"], r["layer"]) for r in rows] == [(m, l) for m in ("sampled", "bisect") for l in (0, 2, 4)]
    assert all(list(r) == list(study.FULL_BACKWARD_FIELDS) for r in rows)
    assert inputs["sampled"]["inputs"] == 8 and inputs["sampled"]["solver_calls"] == 0
    with pytest.raises(ValueError):
        study.run_full_backward(["grid"])

