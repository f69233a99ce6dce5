"""Graph layers in Python (``Include/dtd.h`` section 3; DESIGN.md 3b): route, add, identity,
adaptive average pooling, four-sided padding, and LRP with relevance recorded and masked at layers.

Zennit's values for whole graph networks are in ``test_zennit_fixtures.py``; here every check
compares two routes to one quantity that share no graph code: a padded input against padding, a
sub-network against a recorded or masked layer, numpy against the engine.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import dtd
from dtd import _capi
from dtd.errors import DTDError

RNG = np.random.default_rng(7)


def residual_net(dtype: str = "float64") -> dtd.Network:
    """conv -> relu -> conv -> add(from 1) -> relu -> route(3, 1) concat -> adaptive pool -> dense."""
    net = dtd.Network((2, 6, 7), dtype=dtype)
    net.add_conv2d(RNG.normal(size=(4, 2, 3, 3)), RNG.normal(size=4) * 0.1, padding=1)   # 0
    net.add_relu()                                                                        # 1
    net.add_conv2d(RNG.normal(size=(4, 4, 3, 3)) * 0.5, None, padding=(1, 1, 2, 0), name="c2")  # 2: 4x6x7
    net.add_add([1])                                                                      # 3
    net.add_relu()                                                                        # 4
    net.add_route([4, 1])                                                                 # 5: 8x6x7
    net.add_identity()                                                                    # 6
    net.add_adaptive_avgpool2d((4, 3))                                                    # 7: overlapping bins
    net.add_flatten()                                                                     # 8
    net.add_dense(RNG.normal(size=(3, 8 * 4 * 3)) * 0.3, RNG.normal(size=3) * 0.1)        # 9
    return net


RULES = {0: dtd.rules.Epsilon(0.1), 2: dtd.rules.Epsilon(0.1), 9: dtd.rules.Epsilon(0.1)}


def test_building_reports_kinds_sources_and_shapes():
    with residual_net() as net:
        assert net.layer_kinds == ("conv2d", "relu", "conv2d", "add", "relu", "route", "identity",
                                   "adaptive_avgpool2d", "flatten", "dense")
        assert net.layer_sources(3) == (2, 1)
        assert net.layer_sources(5) == (4, 1)
        assert net.layer_sources(0) == (-1,)
        assert net._shape_at(5) == (8, 6, 7)
        assert net._shape_at(7) == (8, 4, 3)
        assert net.layer_names[2] == "c2"


def test_forward_matches_numpy():
    with residual_net() as net:
        x = RNG.normal(size=(3, 2, 6, 7))
        specs = net.to_json()["layers"]

        def conv(a, spec, pads):
            w = np.asarray(spec["weight"]["data"]).reshape(spec["weight"]["shape"])
            top, bottom, left, right = pads
            p = np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)))
            out = np.zeros((a.shape[0], w.shape[0], p.shape[2] - 2, p.shape[3] - 2))
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    out[:, :, i, j] = np.einsum("nchw,ochw->no", p[:, :, i:i + 3, j:j + 3], w)
            if spec["bias"] is not None:
                out += np.asarray(spec["bias"]["data"])[None, :, None, None]
            return out

        a0 = conv(x, specs[0], (1, 1, 1, 1))
        a1 = np.maximum(a0, 0)
        a2 = conv(a1, specs[2], (1, 1, 2, 0))
        a4 = np.maximum(a2 + a1, 0)
        a5 = np.concatenate([a4, a1], axis=1)
        pooled = np.zeros((3, 8, 4, 3))
        for i in range(4):
            for j in range(3):
                r0, r1 = (i * 6) // 4, -(-((i + 1) * 6) // 4)
                c0, c1 = (j * 7) // 3, -(-((j + 1) * 7) // 3)
                pooled[:, :, i, j] = a5[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
        w = np.asarray(specs[9]["weight"]["data"]).reshape(specs[9]["weight"]["shape"])
        expected = pooled.reshape(3, -1) @ w.T + np.asarray(specs[9]["bias"]["data"])
        np.testing.assert_allclose(net.forward(x), expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("make", ["conv", "maxpool", "avgpool"])
def test_four_sided_padding_equals_a_padded_input(make):
    """Zero padding (top, bottom, left, right) = the same layer unpadded on np.pad's input; for
    max-pooling the pad is -inf, for avg-pooling (count_include_pad) zeros."""
    pads = (2, 0, 1, 2)
    x = RNG.normal(size=(2, 3, 5, 6))
    fill = -np.inf if make == "maxpool" else 0.0
    padded = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])), constant_values=fill)
    weight = RNG.normal(size=(2, 3, 3, 3))

    def build(shape, padding):
        net = dtd.Network(shape)
        if make == "conv":
            net.add_conv2d(weight, None, padding=padding)
        elif make == "maxpool":
            net.add_maxpool2d(3, stride=1, padding=padding)
        else:
            net.add_avgpool2d(3, stride=1, padding=padding)
        return net

    with build((3, 5, 6), pads) as a, build(padded.shape[1:], 0) as b:
        assert a.to_json()["layers"][0]["padding"] == list(pads)
        assert a.output_shape == b.output_shape
        np.testing.assert_allclose(a.forward(x), b.forward(padded), rtol=1e-12, atol=1e-12)


def test_json_and_pickle_round_trips_keep_every_graph_layer():
    with residual_net() as net:
        x = RNG.normal(size=(2, 2, 6, 7))
        expected = net.lrp(x, target=0, rules=RULES)
        with dtd.Network.from_json(net.to_json()) as again:
            assert again.layer_kinds == net.layer_kinds
            np.testing.assert_array_equal(again.lrp(x, target=0, rules=RULES), expected)
        with pickle.loads(pickle.dumps(net)) as copy:
            np.testing.assert_array_equal(copy.lrp(x, target=0, rules=RULES), expected)


def chain(dtype: str = "float64"):
    """A dense chain and its weights, for sub-network comparisons."""
    ws = [RNG.normal(size=(6, 5)), RNG.normal(size=(4, 6)), RNG.normal(size=(3, 4))]
    bs = [RNG.normal(size=6) * 0.1, RNG.normal(size=4) * 0.1, RNG.normal(size=3) * 0.1]
    net = dtd.Network(5, dtype=dtype)
    for i, (w, b) in enumerate(zip(ws, bs)):
        net.add_dense(w, b)
        if i < 2:
            net.add_relu()
    return net, ws, bs


def test_recorded_relevance_is_the_relevance_of_the_network_above():
    """Recorded at relu 1 = LRP of the network above layer 1 on its activation."""
    net, ws, bs = chain()
    x = RNG.normal(size=(4, 5))
    rules = {0: dtd.rules.Epsilon(0.01), 2: dtd.rules.ZPlus(), 4: dtd.rules.Epsilon(0.01)}
    with net:
        relevance, records = net.lrp(x, target=1, rules=rules, record=[1, 3])
        assert set(records) == {1, 3} and records[1].shape == (4, 6) and records[3].shape == (4, 4)
        np.testing.assert_array_equal(relevance, net.lrp(x, target=1, rules=rules))
        a1 = np.maximum(x @ ws[0].T + bs[0], 0)
        with dtd.Network(6) as upper:
            upper.add_dense(ws[1], bs[1]).add_relu().add_dense(ws[2], bs[2])
            expected = upper.lrp(a1, target=1, rules={0: dtd.rules.ZPlus(), 2: dtd.rules.Epsilon(0.01)})
        np.testing.assert_allclose(records[1], expected, rtol=1e-12, atol=1e-14)


def test_a_mask_zeroes_what_it_does_not_keep_and_propagates_the_rest():
    """Masked at relu 1 = LRP of the network below, seeded with the recorded relevance there
    with the dropped neurons zeroed; a mask that keeps everything changes nothing."""
    net, ws, bs = chain()
    x = RNG.normal(size=(3, 5))
    rules = {0: dtd.rules.Epsilon(0.01), 2: dtd.rules.Epsilon(0.01), 4: dtd.rules.Epsilon(0.01)}
    with net:
        plain, records = net.lrp(x, target=0, rules=rules, record=1)
        np.testing.assert_array_equal(net.lrp(x, target=0, rules=rules, mask={1: range(6)}), plain)
        np.testing.assert_array_equal(net.lrp(x, target=0, rules=rules, mask={1: np.ones(6, bool)}), plain)
        masked = net.lrp(x, target=0, rules=rules, mask={1: [0, 4]})
        seed = np.zeros_like(records[1])
        seed[:, [0, 4]] = records[1][:, [0, 4]]
        with dtd.Network(5) as lower:
            lower.add_dense(ws[0], bs[0]).add_relu()
            expected = lower.lrp(x, seed, rules={0: dtd.rules.Epsilon(0.01)})
        np.testing.assert_allclose(masked, expected, rtol=1e-12, atol=1e-14)
        assert not np.allclose(masked, plain)


def test_channel_masks_on_a_graph_network():
    with residual_net() as net:
        x = RNG.normal(size=(2, 2, 6, 7))
        relevance, records = net.lrp(x, target=2, rules=RULES, record=[5])
        kept = net.lrp(x, target=2, rules=RULES, mask={5: list(range(8))})
        np.testing.assert_array_equal(kept, relevance)
        # Channels 0-3 of the concatenation come from layer 4 (the residual branch), 4-7 from layer 1.
        left = net.lrp(x, target=2, rules=RULES, mask={5: [0, 1, 2, 3]})
        right = net.lrp(x, target=2, rules=RULES, mask={5: [4, 5, 6, 7]})
        np.testing.assert_allclose(left + right, relevance, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("call, status", [
    (lambda net: net.add_add([7]), _capi.DTD_ERROR_LAYER_INDEX),       # forward reference
    (lambda net: net.add_route([-2]), _capi.DTD_ERROR_LAYER_INDEX),    # below the input
    (lambda net: net.add_route([]), _capi.DTD_ERROR_SIZE),
    (lambda net: net.add_add([-1]), _capi.DTD_ERROR_SHAPE_MISMATCH),  # (2, 6, 7) + (4, 6, 7)
])
def test_bad_graph_layers_raise_and_leave_the_network_unchanged(call, status):
    with dtd.Network((2, 6, 7)) as net:
        net.add_conv2d(RNG.normal(size=(4, 2, 3, 3)), None, padding=1).add_relu()
        with pytest.raises(DTDError) as info:
            call(net)
        assert info.value.status == status
        assert net.layer_count == 2
        assert net.forward(RNG.normal(size=(2, 6, 7))).shape == (4, 6, 7)


def test_bad_records_and_masks_name_what_is_wrong():
    with residual_net() as net:
        x = RNG.normal(size=(1, 2, 6, 7))
        with pytest.raises(DTDError) as info:
            net.lrp(x, target=0, rules=RULES, record=[10])
        assert info.value.status == _capi.DTD_ERROR_LAYER_INDEX
        with pytest.raises(DTDError) as info:
            net.lrp(x, target=0, rules=RULES, mask={5: [8]})
        assert info.value.status == _capi.DTD_ERROR_OUT_OF_RANGE and "[0, 8)" in info.value.message
        with pytest.raises(DTDError) as info:
            net.lrp(x, target=0, rules=RULES, mask={5: np.ones(5, bool)})
        assert info.value.status == _capi.DTD_ERROR_SHAPE_MISMATCH
        with pytest.raises(TypeError):
            net.lrp(x, target=0, rules=RULES, mask={5: [0.5]})


def test_the_pool_rule_is_a_choice_norm_or_flat():
    """avg-pool 2x2 on (1, 4, 4) then a dense layer: the norm rule gives each cell of a window
    x_i R / sum(x) of the window's relevance R, flat gives R / 4 (up to the 1e-6 stabiliser)."""
    x = RNG.uniform(0.5, 2.0, size=(1, 1, 4, 4))
    w = RNG.normal(size=(1, 4))
    with dtd.Network((1, 4, 4)) as net:
        net.add_avgpool2d(2).add_flatten().add_dense(w)
        dense = {2: dtd.rules.Epsilon(0)}
        pooled = x.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4).mean(axis=1)  # windows in row-major order
        r_windows = (w[0] * pooled)                                                       # LRP-0 at the dense layer
        windows = x.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
        norm = windows * (r_windows / windows.sum(axis=1))[:, None]
        flat = np.repeat(r_windows[:, None] / 4, 4, axis=1)

        def as_image(per_window):
            return per_window.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(1, 1, 4, 4)

        seed = np.array([[float(w[0] @ pooled)]])
        got_norm = net.lrp(x, seed, rules=dense)
        got_flat = net.lrp(x, seed, rules={**dense, 0: dtd.rules.Flat()})
        np.testing.assert_allclose(got_norm, as_image(norm), rtol=1e-5)
        np.testing.assert_allclose(got_flat, as_image(flat), rtol=1e-5)
        assert net.rule_kinds({**dense, 0: dtd.rules.Flat()})[0] == "flat"
