"""The measure every array tolerance of this suite uses (support.relative_error) must not let a
wrong result through: each sample is measured against its own scale, not the batch's."""
from __future__ import annotations

import numpy as np
import pytest

from support import relative_error


def test_a_small_sample_cannot_hide_its_error_behind_a_large_one():
    """Issue 16's example: a sample at 0.2 % of the batch maximum that is 5 % wrong would be
    1e-4 off against the batch maximum; per sample it is 5e-2."""
    expected = np.array([[1000.0, -500.0], [2.0, 1.0]])
    actual = np.array([[1000.0, -500.0], [2.1, 1.05]])
    assert relative_error(actual, expected) == pytest.approx(0.05)
    assert relative_error(actual.ravel(), expected.ravel()) < 1.1e-4  # one sample: what a global measure says


def test_per_element_measures_each_entry_against_itself():
    expected = np.array([100.0, 1.0, 1e-9])
    assert relative_error([100.0, 1.01, 1e-9], expected, per_element_above=1e-3) == pytest.approx(0.01)
    assert relative_error([100.0, 1.01, 1e-9], expected) == pytest.approx(1e-4)
    assert relative_error([100.0, 1.0, 1e-3], expected, per_element_above=1e-3) == pytest.approx(1e-2, rel=1e-6)


def test_nan_is_infinitely_far_and_an_all_zero_sample_is_measured_absolutely():
    assert relative_error([1.0, np.nan], [1.0, 2.0]) == np.inf
    assert relative_error([1.0, 2.0], [1.0, np.nan]) == np.inf
    assert relative_error([[0.0], [1e-20]], [[0.0], [0.0]]) == 1e-20
    with pytest.raises(AssertionError):
        relative_error([1.0, 2.0, 3.0], [1.0, 2.0])
