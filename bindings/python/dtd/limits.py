"""The scratch cap: the most memory one compute call may allocate for itself.

A call that would need more (activations, im2col columns, relevance and root buffers) raises
``DTDError`` with ``DTD_ERROR_OUT_OF_MEMORY`` before it allocates past the cap, so a batch too
large for the machine is an exception instead of an out-of-memory kill::

    previous = dtd.set_max_scratch_bytes(2 << 30)   # 2 GiB per call; 0 removes the cap

The cap is process-wide and applies to calls that start afterwards; ``DTD_MAX_SCRATCH_MB`` in
the environment sets the initial one. ``Include/dtd.h``, ``dtd_set_max_scratch_bytes()``.
"""
from __future__ import annotations

import ctypes
from typing import Any

from . import _capi, _model_format
from .errors import _check

__all__ = ["set_max_scratch_bytes"]


def set_max_scratch_bytes(max_bytes: Any) -> int:
    """Caps the memory one compute call may allocate at ``max_bytes`` (an int >= 0; 0 = no cap).

    Returns:
        The previous cap in bytes (0 when there was none).
    """
    value = _model_format.integer(max_bytes, "max_bytes")
    if value > 2**63 - 1:
        value = 2**63 - 1  # any cap beyond int64 means no practical limit
    previous = ctypes.c_int64()
    _check(_capi.dtd_set_max_scratch_bytes(value, ctypes.byref(previous)))
    return previous.value
