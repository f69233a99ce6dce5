"""Errors: :class:`DTDError` for everything libdtd reports, and :func:`_check`.

Every fallible C call returns a ``dtd_status``; the detail (argument, layer index, shapes) is in a
thread-local message that the *next* libdtd call on the thread overwrites. :func:`_check`
therefore reads it immediately after the failing call, before anything else can run.
"""
from __future__ import annotations

from . import _capi
from ._capi import (  # re-exported: `if error.status == dtd.errors.DTD_ERROR_SIZE: ...`
    DTD_ERROR_BUFFER_TOO_SMALL,
    DTD_ERROR_DTYPE,
    DTD_ERROR_EMPTY_NETWORK,
    DTD_ERROR_INTERNAL,
    DTD_ERROR_INVALID_ARGUMENT,
    DTD_ERROR_LAYER_INDEX,
    DTD_ERROR_LAYER_ORDER,
    DTD_ERROR_NETWORK_MISMATCH,
    DTD_ERROR_NON_FINITE,
    DTD_ERROR_NULL_POINTER,
    DTD_ERROR_OUT_OF_MEMORY,
    DTD_ERROR_OUT_OF_RANGE,
    DTD_ERROR_OVERFLOW,
    DTD_ERROR_RULE,
    DTD_ERROR_SHAPE_MISMATCH,
    DTD_ERROR_SIZE,
    DTD_ERROR_UNSUPPORTED,
    DTD_OK,
)
from ._loader import DTDABIError, DTDLoadError

__all__ = ["DTDError", "DTDLoadError", "DTDABIError", "UnsupportedModelError",
           *_capi.STATUS_NAMES.values()]


class UnsupportedModelError(ValueError):
    """A model an importer (``dtd.from_torch``, ``from_onnx``, ``from_sklearn``) cannot translate:
    the message names the module / node / attribute and why (e.g. ``Tanh at 'features.3'``)."""


class DTDError(Exception):
    """An error reported by libdtd (or detected by the binding before calling it).

    Attributes:
        status: the ``dtd_status`` code, e.g. ``dtd.errors.DTD_ERROR_SIZE`` (3).
        message: libdtd's detailed message, naming the argument, layer and shapes.
        status_name: the code's macro name, e.g. ``"DTD_ERROR_SIZE"``.
    """

    def __init__(self, status: int, message: str):
        super().__init__(status, message)
        self.status = int(status)
        self.message = message

    @property
    def status_name(self) -> str:
        return _capi.STATUS_NAMES.get(self.status, f"DTD_STATUS_{self.status}")

    def __str__(self) -> str:
        return f"{self.status_name}: {self.message}"


def _check(status: int) -> None:
    """Raises :class:`DTDError` for a non-OK status, with the message read at once."""
    if status != _capi.DTD_OK:
        raw = _capi.dtd_last_error_message()
        message = raw.decode("utf-8", "replace") if raw else ""
        if not message:  # never expected; keep the error readable anyway
            message = (_capi.dtd_status_string(status) or b"").decode("utf-8", "replace")
        raise DTDError(status, message)

