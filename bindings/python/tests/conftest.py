"""pytest configuration: a seeded RNG per test."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name, so every test draws its own fixed numbers."""
    seed = sum(request.node.name.encode()) * 7919 % (2**32)
    return np.random.default_rng(seed)


def pytest_report_header(config: pytest.Config) -> str:
    """Names the libdtd build under test at the top of every run."""
    import dtd
    try:
        return f"libdtd: {dtd.library_path()} (ABI {dtd.abi_version()})"
    except dtd.DTDLoadError as error:
        return f"libdtd: not loaded ({str(error).splitlines()[0]})"
