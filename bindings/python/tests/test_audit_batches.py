"""An audit that fits real data: per-sample targets, no default target, chunks with progress and
Ctrl-C, results that merge, and the per-root rates in the table."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import dtd
from dtd.roots import AUDIT_COLUMNS, AuditResult, _aggregates
from dtd.rules import AlphaBeta, Gamma, ZPlus
from dtd_oracle import random_model

SIZES = [6, 9, 8, 4]  # dense layers 0, 2, 4; four outputs
FLOAT_COLUMNS = ("relevance", "z", "wv", "t", "output_change", "taylor_residual", "segment_inside",
                 "admissible_t", "unexplained")


def assert_same_records(actual: AuditResult, expected: AuditResult, *, exact: bool) -> None:
    """Identical records, or (``exact=False``, different batch sizes, so different rounding in
    the BLAS products) equal within 1e-12 where a root exists, and the same checks."""
    np.testing.assert_array_equal(actual.has_root, expected.has_root)
    pairs = expected.has_root
    for name in AUDIT_COLUMNS:
        a, e = getattr(actual, name), getattr(expected, name)
        if exact or name not in FLOAT_COLUMNS:
            np.testing.assert_array_equal(a, e, err_msg=name)
        else:  # a direction-less neuron's admissible step is inf or ~1e15 by rounding
            np.testing.assert_allclose(a[pairs], e[pairs], rtol=1e-12, atol=1e-14, err_msg=name)


def assert_same_summary(actual: AuditResult, expected: AuditResult) -> None:
    for name, value in expected.summary().items():
        if isinstance(value, int):
            assert getattr(actual, name) == value, name
        else:
            np.testing.assert_allclose(getattr(actual, name), value, rtol=1e-12, atol=1e-15, err_msg=name)


def numpy_summary(res: AuditResult) -> dict:
    """The study's aggregates recounted from the records, as Include/dtd.h section 6 defines them."""
    has = res.has_root
    pairs = has.sum()
    return dict(samples=has.shape[0], pairs=pairs,
                outside_by_gradient=np.mean([(h & ~g).any() for h, g in zip(has, res.same_gradient)]),
                outside_by_pattern=np.mean([(h & ~p).any() for h, p in zip(has, res.same_pattern)]),
                unchanged_output=np.sum(has & (np.abs(res.output_change) < 1e-6)) / pairs,
                mean_segment_inside=res.segment_inside[has].mean(),
                pairs_outside_by_gradient=np.sum(has & ~res.same_gradient) / pairs,
                pairs_outside_by_pattern=np.sum(has & ~res.same_pattern) / pairs)


@pytest.fixture
def model(rng):
    net, layers = random_model(rng, SIZES)
    X = rng.normal(scale=2.0, size=(40, SIZES[0]))
    with net:
        yield net, layers, X


# MARK: - Targets

def test_audit_without_target_is_an_error_that_says_what_to_give(model):
    net, _, X = model
    for call in (lambda: net.audit(X, rule=ZPlus()), lambda: net.roots(X, layer=0, rule=ZPlus()),
                 lambda: net.audit_points(X, X[:, None], layer=0)):
        with pytest.raises(TypeError, match=r'needs target=.*one per sample.*"predicted"; there is no default'):
            call()


@pytest.mark.parametrize("rule", [ZPlus(), AlphaBeta()], ids=["zplus", "alphabeta"])
def test_audit_per_sample_targets_equal_one_call_per_target(model, rng, rule):
    net, _, X = model
    targets = rng.integers(0, SIZES[-1], size=len(X))
    res = net.audit(X, target=targets, layer=2, rule=rule, placement="hyperplane")
    assert isinstance(res.target, np.ndarray) and (res.target == targets).all()
    parts = []
    for k in np.unique(targets):
        part = net.audit(X[targets == k], target=int(k), layer=2, rule=rule, placement="hyperplane")
        for name in AUDIT_COLUMNS:  # the same libdtd call on the same samples: identical
            np.testing.assert_array_equal(getattr(res, name)[targets == k], getattr(part, name), err_msg=name)
        parts.append(part)
    for name, value in numpy_summary(res).items():
        assert getattr(res, name) == pytest.approx(value, rel=1e-12), name
    assert res.max_conservation_error == max(p.max_conservation_error for p in parts)
    # a per-sample target that differs from output 0 changes the roots: the targets were used
    assert not np.array_equal(res.relevance, net.audit(X, target=0, layer=2, rule=rule,
                                                       placement="hyperplane").relevance)


def test_audit_predicted_target_is_the_largest_output(model):
    net, _, X = model
    predicted = net.forward(X).argmax(axis=1)
    assert len(np.unique(predicted)) > 1, "the test needs samples predicting different outputs"
    res = net.audit(X, target="predicted", rule=ZPlus())
    assert (res.target == predicted).all()
    assert_same_records(res, net.audit(X, target=predicted, rule=ZPlus()), exact=True)
    single = net.audit(X[3], target="predicted", rule=ZPlus())
    assert single.target == predicted[3] and single.neuron.shape == (SIZES[1],)


def test_roots_and_audit_points_take_per_sample_targets(model, rng):
    net, _, X = model
    targets = rng.integers(0, SIZES[-1], size=len(X))
    roots = net.roots(X, layer=0, target=targets, rule=Gamma(0.5))
    points = net.audit_points(X, roots.points, layer=0, target=targets)
    assert (roots.target == targets).all() and (points.target == targets).all()
    for k in np.unique(targets):
        mine = targets == k
        alone = net.roots(X[mine], layer=0, target=int(k), rule=Gamma(0.5))
        np.testing.assert_array_equal(roots.points[mine], alone.points)
        np.testing.assert_array_equal(roots.relevance[mine], alone.relevance)
        checked = net.audit_points(X[mine], alone.points, layer=0, target=int(k))
        np.testing.assert_array_equal(points.same_pattern[mine], checked.same_pattern)
        np.testing.assert_array_equal(points.output_change[mine], checked.output_change)
    assert np.isnan(points.max_conservation_error)


def test_lrp_predicted_target(model):
    net, _, X = model
    np.testing.assert_array_equal(net.lrp(X, target="predicted", rules=ZPlus()),
                                  net.lrp(X, target=net.forward(X).argmax(axis=1), rules=ZPlus()))


@pytest.mark.parametrize("target, error, match", [
    (np.array([0, 1]), dtd.DTDError, r"target has shape \(2,\); expected an int or \(40,\)"),
    (np.full(40, 4), dtd.DTDError, r"target\[0\] = 4 is outside \[0, 4\)"),
    (np.zeros(40), TypeError, "array of ints"),
    ("largest", ValueError, '"predicted"'),
])
def test_audit_rejects_bad_per_sample_targets(model, target, error, match):
    net, _, X = model
    with pytest.raises(error, match=match):
        net.audit(X, target=target, rule=ZPlus())


# MARK: - Chunks, progress, Ctrl-C

def test_audit_in_chunks_equals_one_call(model):
    """Chunks are separate libdtd calls; records and aggregates equal one call's."""
    net, _, X = model
    whole = net.audit(X, target=1, rule=Gamma(1.0))
    chunked = net.audit(X, target=1, rule=Gamma(1.0), chunk_size=7)
    assert_same_records(chunked, whole, exact=False)
    assert_same_summary(chunked, whole)
    assert chunked.target == 1 and not chunked.constrained


@pytest.mark.parametrize("query", [
    dict(rule=ZPlus()), dict(rule=Gamma(1.0), placement="hyperplane", layer=2),
    dict(rule=AlphaBeta(), constrain=True), dict(rule=ZPlus(), constrain=True, neurons=(2, 7)),
], ids=["zplus", "gamma-hyperplane", "alphabeta-constrained", "zplus-constrained-part"])
def test_audit_tally_in_python_equals_libdtds_summary(model, query):
    """What merged results report is tallied in Python (dtd.roots._aggregates); on the records
    of one call it gives libdtd's summary of that call."""
    net, _, X = model
    res = net.audit(X, target=2, **query)
    columns = {name: getattr(res, name) for name in AUDIT_COLUMNS}
    tally = _aggregates(columns, res.constrained)
    for name, value in tally.items():
        assert value == pytest.approx(getattr(res, name), rel=1e-12, abs=1e-15), name
    assert res.constrained == query.get("constrain", False)
    if res.constrained:
        assert res.unexplained_fraction > 0 and res.clipped.any(), "the test needs clipped roots"


def test_audit_reports_progress_after_each_chunk(model, rng):
    net, _, X = model
    calls = []
    net.audit(X, target=0, rule=ZPlus(), chunk_size=6, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(min(6 * i, 40), 40) for i in range(1, 8)]
    calls.clear()
    targets = np.repeat([0, 3], [25, 15])
    net.audit(X, target=targets, rule=ZPlus(), chunk_size=10, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(10, 40), (20, 40), (25, 40), (35, 40), (40, 40)]  # chunks within each target


def test_audit_progress_true_shows_a_tqdm_bar(model, capsys):
    pytest.importorskip("tqdm", reason="tqdm is not installed (Tests/setup-extras.sh)")
    net, _, X = model
    net.audit(X, target=0, rule=ZPlus(), chunk_size=8, progress=True)
    err = capsys.readouterr().err
    assert "audit layer 0" in err and "40/40" in err


def test_audit_rejects_bad_chunking_arguments(model):
    net, _, X = model
    with pytest.raises(ValueError, match="chunk_size must be a positive"):
        net.audit(X, target=0, rule=ZPlus(), chunk_size=0)
    with pytest.raises(TypeError, match="progress must be"):
        net.audit(X, target=0, rule=ZPlus(), progress="yes")


def test_audit_ctrl_c_stops_within_a_chunk(tmp_path):
    """SIGINT during a long chunked audit: a KeyboardInterrupt after the running chunk, no
    further chunk started."""
    script = tmp_path / "long_audit.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        import numpy as np
        import dtd
        rng = np.random.default_rng(0)
        net = dtd.Network((64,))
        for fan_in, fan_out in ((64, 256), (256, 256), (256, 10)):
            net.add_dense(rng.normal(scale=fan_in ** -0.5, size=(fan_out, fan_in))).add_relu()
        X = np.abs(rng.normal(size=(40000, 64)))
        def progress(done, total):
            print(f"{time.monotonic():.6f} {done} {total}", flush=True)
        try:
            net.audit(X, target=0, rule=dtd.rules.ZPlus(), chunk_size=40, progress=progress)
            print("finished", flush=True)
        except KeyboardInterrupt:
            print(f"interrupted {time.monotonic():.6f}", flush=True)
    """))
    package = Path(dtd.__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(package))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = child.stdout.readline().split()
        assert len(first) == 3, first
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        rest = child.stdout.read().splitlines()
        child.wait(timeout=60)
    finally:
        child.kill()
    assert rest and rest[-1].startswith("interrupted"), rest[-3:]
    reports = [line.split() for line in rest[:-1]]
    after = [r for r in reports if float(r[0]) > sent]
    assert len(after) <= 1, f"{len(after)} chunks were reported after Ctrl-C"
    done = int(reports[-1][1]) if reports else int(first[1])
    assert done < int(first[2])
    assert float(rest[-1].split()[1]) - sent < 10  # one chunk is well under a second


# MARK: - Merging results

def test_audit_results_concatenate_to_the_whole(model, rng):
    net, _, X = model
    targets = rng.integers(0, SIZES[-1], size=len(X))
    whole = net.audit(X, target=targets, rule=ZPlus())
    parts = [net.audit(X[i:i + 13], target=targets[i:i + 13], rule=ZPlus()) for i in range(0, 40, 13)]
    merged = AuditResult.concatenate(parts)
    assert_same_records(merged, whole, exact=False)
    assert_same_summary(merged, whole)
    assert (merged.target == targets).all()
    single = net.audit(X[0], target=int(targets[0]), rule=ZPlus()).merge(parts[0])
    assert single.samples == 14 and single.neuron.shape == (14, SIZES[1])
    one_target = net.audit(X[:5], target=2, rule=ZPlus()).merge(net.audit(X[5:9], target=2, rule=ZPlus()))
    assert one_target.target == 2


@pytest.mark.parametrize("other, field", [
    (dict(layer=2), "layer"), (dict(rule=Gamma(1.0)), "rule"), (dict(placement="hyperplane"), "placement"),
    (dict(constrain=True), "constrained"), (dict(neurons=(0, 3)), "roots_per_sample"),
    (dict(rules={0: ZPlus(), 2: ZPlus(), 4: Gamma(1.0)}), "layer_rules"),
])
def test_audit_results_of_different_queries_do_not_merge(model, other, field):
    net, _, X = model
    base = dict(target=0, layer=0, rule=ZPlus())
    if "rules" in other:
        base.pop("rule")
    with pytest.raises(ValueError, match=f"different queries: {field}"):
        net.audit(X, target=0, layer=0, rule=ZPlus()).merge(net.audit(X, **{**base, **other}))


def test_audit_per_root_rates_are_in_the_table(model):
    net, _, X = model
    res = net.audit(X, target=0, rule=ZPlus())
    expected = numpy_summary(res)
    assert res.pairs_outside_by_pattern == pytest.approx(expected["pairs_outside_by_pattern"])
    assert res.pairs_outside_by_gradient == pytest.approx(expected["pairs_outside_by_gradient"])
    assert 0 < res.pairs_outside_by_pattern < res.outside_by_pattern, "rates that differ, as on real data"
    np.testing.assert_array_equal(res.samples_outside("pattern"),
                                  (res.has_root & ~res.same_pattern).any(axis=1))
    assert res.samples_outside("gradient").mean() == pytest.approx(res.outside_by_gradient)
    line = next(line for line in res.table().splitlines() if "by ReLU pattern" in line)
    assert line.split()[-4:] == [f"{100 * res.pairs_outside_by_pattern:.1f}", "%",
                                 f"{100 * res.outside_by_pattern:.1f}", "%"]
