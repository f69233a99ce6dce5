"""libdtd in fork() children (``Include/dtd.h``, conventions: fork()).

The Swift runtime's locks remember the kernel id of each thread; in a child, the thread that
forked keeps its parent's, and a runtime lock it shares with a worker thread can deadlock. A child
therefore computes on its calling thread. Each child here is forked from a process that loaded
libdtd, computes batched calls that would run on the worker pool (LRP, full-backward DTD), and
sends the results back; the parent compares them with its own, so a child that hangs, dies or
computes something else fails the test.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import time
import traceback

import numpy as np
import pytest

import dtd
import dtd.study as study

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is not available on this platform")

CHILDREN = 16
TIME_LIMIT = 60.0


def compute(net: dtd.Network, x: np.ndarray) -> dict[str, np.ndarray]:
    out = {"lrp": net.lrp(x, target=0, rules=dtd.composites.mlp_epsilon_plus())}
    if dtd.full_backward.available():
        out["full_backward"] = net.full_backward(x[:4], regions=False).input_relevance
    else:
        out["sampled"] = net.full_backward(x[:4], method="sampled", regions=False).input_relevance
    return out


def run_child(x: np.ndarray) -> dict[str, np.ndarray]:
    """Forks; the child builds the network, computes and writes its pickled results to a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            os.close(read)
            with study.load_network() as net:
                payload = pickle.dumps(compute(net, x))
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write)
    chunks, deadline = [], time.monotonic() + TIME_LIMIT
    with os.fdopen(read, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([pipe], [], [], max(0.0, left))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"a fork() child computing with libdtd hung for {TIME_LIMIT:.0f} s")
            chunk = os.read(pipe.fileno(), 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the fork() child failed"
    return pickle.loads(b"".join(chunks))


def test_fork_children_compute_what_the_parent_computes():
    x = np.concatenate([block[:8] for block in study.input_blocks().values()])
    # The parent has loaded libdtd but not computed yet (the harness's pattern); each child is the
    # first to compute in its process, so its worker-pool decisions start from nothing.
    results = [run_child(x) for _ in range(CHILDREN)]
    with study.load_network() as net:
        expected = compute(net, x)
    for got in results:
        assert got.keys() == expected.keys()
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-300, err_msg=key)
