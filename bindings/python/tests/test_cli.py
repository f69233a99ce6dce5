"""The command line (dtd.cli, ``python -m dtd``, the ``dtd`` script): explain and audit end to end
on JSON and ONNX models, rule choices, targets, chunks, Ctrl-C, and its errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dtd
from dtd import cli
from dtd.rules import Flat, ZPlus
from support import REPO_ROOT, random_cnn

PACKAGE = Path(__file__).resolve().parents[1]


@pytest.fixture
def files(tmp_path, rng):
    """A named CNN as a JSON model, 30 inputs and the network itself."""
    net = random_cnn(rng)
    model = net.to_json()
    for index, name in ((0, "conv1"), (3, "conv2"), (6, "fc1"), (8, "fc2")):
        model["layers"][index]["name"] = name
    (tmp_path / "model.json").write_text(json.dumps(model))
    x = rng.uniform(0, 1, size=(30, 2, 8, 8))
    np.save(tmp_path / "x.npy", x)
    net.close()
    return tmp_path, dtd.Network.from_json(model), x


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# MARK: - explain


def test_explain_writes_the_relevance_of_the_predicted_class(files, capsys):
    path, net, x = files
    status, out, err = run(["explain", path / "model.json", path / "x.npy", "--out",
                            path / "r.npy"], capsys)
    assert status == 0, err
    expected = net.lrp(x, target=net.forward(x).argmax(1), rules=dtd.composites.EpsilonPlusFlat())
    np.testing.assert_array_equal(np.load(path / "r.npy"), expected)
    assert "explained 30 sample(s)" in out and "(flat, zplus, epsilon, epsilon)" in out


@pytest.mark.parametrize("rules, target, expected_rules", [
    ("zplus", "2", ZPlus()),
    ("lrp0", "1", dtd.rules.Epsilon(0.0)),
    ('{"conv1": {"rule": "flat"}, "composite": "EpsilonPlus"}', "0",
     {"composite": dtd.composites.EpsilonPlus(), 0: Flat()}),
    ("mlp_epsilon_plus", "1", dtd.composites.mlp_epsilon_plus()),
    ("EpsilonGammaBox", "2", dtd.composites.EpsilonGammaBox(0.0, 1.0)),  # --low/--high below
])
def test_explain_rules_and_targets(files, capsys, rules, target, expected_rules):
    path, net, x = files
    argv = ["explain", path / "model.json", path / "x.npy", "--rules", rules, "--target", target,
            "--out", path / "r.npy"]
    if rules == "EpsilonGammaBox":
        argv += ["--low", "0", "--high", "1"]
    assert run(argv, capsys)[0] == 0
    np.testing.assert_array_equal(np.load(path / "r.npy"),
                                  net.lrp(x, target=int(target), rules=expected_rules))


def test_explain_box_bounds_default_to_the_inputs_range(files, capsys):
    path, net, x = files
    assert run(["explain", path / "model.json", path / "x.npy", "--rules", "EpsilonGammaBox",
                "--out", path / "r.npy"], capsys)[0] == 0
    rules = dtd.composites.EpsilonGammaBox(float(x.min()), float(x.max()))
    np.testing.assert_array_equal(np.load(path / "r.npy"),
                                  net.lrp(x, target=net.forward(x).argmax(1), rules=rules))


def test_explain_targets_from_a_file_and_a_single_sample(files, capsys):
    path, net, x = files
    targets = np.arange(30) % 3
    np.save(path / "t.npy", targets)
    assert run(["explain", path / "model.json", path / "x.npy", "--target", path / "t.npy",
                "--out", path / "r.npy"], capsys)[0] == 0
    np.testing.assert_array_equal(np.load(path / "r.npy"),
                                  net.lrp(x, target=targets, rules=dtd.composites.EpsilonPlusFlat()))
    np.save(path / "one.npy", x[4])
    status, out, _ = run(["explain", path / "model.json", path / "one.npy"], capsys)
    assert status == 0 and "explained 1 sample(s)" in out


def test_explain_in_chunks_equals_one_call(files, capsys, monkeypatch):
    path, net, x = files
    monkeypatch.setattr(cli, "_CHUNK_ELEMENTS", 128 * 7)  # 7 samples per chunk
    calls = []
    original = dtd.Network.lrp
    monkeypatch.setattr(dtd.Network, "lrp", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    assert run(["explain", path / "model.json", path / "x.npy", "--out", path / "r.npy",
                "--no-progress"], capsys)[0] == 0
    assert len(calls) == 5  # ceil(30 / 7)
    monkeypatch.undo()
    np.testing.assert_allclose(np.load(path / "r.npy"),
                               net.lrp(x, target=net.forward(x).argmax(1),
                                       rules=dtd.composites.EpsilonPlusFlat()), rtol=0, atol=1e-13)


def test_ctrl_c_stops_between_chunks(files, capsys, monkeypatch):
    path, _, _ = files
    monkeypatch.setattr(cli, "_CHUNK_ELEMENTS", 128 * 7)
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return np.zeros_like(args[0])

    monkeypatch.setattr(dtd.Network, "lrp", interrupted)
    status, _, err = run(["explain", path / "model.json", path / "x.npy", "--out",
                          path / "r.npy"], capsys)
    assert status == 130 and "interrupted" in err
    assert len(calls) == 2 and not (path / "r.npy").exists()


def test_explain_progress_bar(files, capsys, monkeypatch):
    pytest.importorskip("tqdm", reason="needs tqdm (the extras venv)")
    path, _, _ = files
    monkeypatch.setattr(cli, "_CHUNK_ELEMENTS", 128 * 7)
    status, _, err = run(["explain", path / "model.json", path / "x.npy", "--progress"], capsys)
    assert status == 0 and "explain:" in err and "/30 " in err  # tqdm: done/total samples


def test_explain_png(files, capsys):
    pytest.importorskip("dtd.image", reason="needs dtd.image (issue 11 part B)")
    path, _, _ = files
    assert run(["explain", path / "model.json", path / "x.npy", "--out", path / "heat.png"],
               capsys)[0] == 0
    assert (path / "heat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explain_onnx_model(tmp_path, capsys):
    pytest.importorskip("onnx", reason="needs onnx (the extras venv)")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 5)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="fc"),
         helper.make_node("Relu", ["h"], ["y"], name="relu")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")])
    (tmp_path / "m.onnx").write_bytes(helper.make_model(graph).SerializeToString())
    x = rng.uniform(size=(4, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    status, out, err = run(["explain", tmp_path / "m.onnx", tmp_path / "x.npy", "--rules", "lrp0",
                            "--out", tmp_path / "r.npy"], capsys)
    assert status == 0, err
    targets = np.maximum(x @ w.T, 0).argmax(1)
    expected = x * w[targets]  # LRP-0 = gradient x input for one linear layer
    np.testing.assert_allclose(np.load(tmp_path / "r.npy"), expected, rtol=1e-5, atol=1e-6)


# MARK: - audit


def test_audit_prints_the_table(files, capsys):
    path, net, x = files
    status, out, err = run(["audit", path / "model.json", path / "x.npy", "--layer", "3",
                            "--rule", "zplus", "--json", path / "s.json"], capsys)
    assert status == 0, err
    assert "DTD root audit: layer 3" in out and "rule zplus" in out
    summary = json.loads((path / "s.json").read_text())
    targets = net.forward(x).argmax(1)
    summaries = summary if isinstance(summary, list) else [summary]
    assert sum(s["samples"] for s in summaries) == 30
    if len(summaries) == 1:  # one audit with per-sample targets (issue 11 part B)
        expected = net.audit(x, target=targets, layer=3, rule=ZPlus())
        assert summaries[0]["pairs"] == expected.pairs


# MARK: - errors


@pytest.mark.parametrize("make, pattern", [
    (lambda p: p.joinpath("m").write_text("hello world"), "neither a JSON model nor an ONNX"),
    (lambda p: p.joinpath("m").write_text("{not json"), "not valid JSON"),
    (lambda p: p.joinpath("m").write_text('{"layers": []}'), "not a model"),
    (lambda p: None, "cannot read MODEL"),
])
def test_model_that_is_neither_json_nor_onnx(files, capsys, make, pattern):
    if pattern.startswith("neither"):
        pytest.importorskip("onnx", reason="telling ONNX apart needs onnx (the extras venv)")
    path, _, _ = files
    make(path)
    status, _, err = run(["explain", path / "m", path / "x.npy"], capsys)
    assert status == 1 and pattern in err and err.startswith("dtd: error:")


@pytest.mark.parametrize("argv_tail, pattern", [
    (["--rules", "nonsense"], "neither a preset, a rule name nor JSON"),
    (["--rules", '{"conv9": {"rule": "flat"}}'], "no layer is named 'conv9'"),
    (["--rules", '{"0": {"rule": "zplux"}}'], "unknown rule 'zplux'"),
    (["--target", "7"], "--target 7 is outside [0, 3)"),
    (["--out", "r.txt"], ".png heatmap or a .npy"),
])
def test_explain_argument_errors(files, capsys, argv_tail, pattern):
    path, _, _ = files
    status, _, err = run(["explain", path / "model.json", path / "x.npy", *argv_tail], capsys)
    assert status == 1 and pattern in err, err


def test_input_of_the_wrong_shape_names_both_shapes(files, capsys, rng):
    path, _, _ = files
    np.save(path / "bad.npy", rng.normal(size=(5, 8, 8)))
    status, _, err = run(["explain", path / "model.json", path / "bad.npy"], capsys)
    assert status == 1 and "(5, 8, 8)" in err and "(2, 8, 8)" in err
    (path / "text.npy").write_text("not numpy")
    assert "not a .npy array" in run(["audit", path / "model.json", path / "text.npy"], capsys)[2]


def test_audit_needs_a_root_rule(files, capsys):
    path, _, _ = files
    status, _, err = run(["audit", path / "model.json", path / "x.npy", "--rule", "EpsilonPlus"],
                         capsys)
    assert status == 1 and "one root rule" in err
    status, _, err = run(["audit", path / "model.json", path / "x.npy", "--rule", "flat"], capsys)
    assert status == 1 and "DTD_ERROR_RULE" in err


def test_python_dash_m_dtd(files):
    path, _, _ = files
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "dtd", "audit", str(path / "model.json"),
                           str(path / "x.npy"), "--rule", "lrp0"], capture_output=True, text=True,
                          env=env, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "DTD root audit: layer 0" in done.stdout
    done = subprocess.run([sys.executable, "-m", "dtd", "explain"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 2 and "required" in done.stderr  # argparse's usage error
