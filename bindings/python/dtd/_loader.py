"""Finding and loading ``libdtd.so`` (private).

The library is loaded lazily, on the first call into it, so that ``import dtd`` never fails:
a missing or mismatched library is reported when it is first needed, with every path tried.

Search order (the first file that exists and loads is used):

1. ``$DTD_LIBRARY`` (an explicit path to the shared object);
2. a copy vendored into the package, ``dtd/_vendor/libdtd.so`` (wheels);
3. the repository's own builds, ``.build/release/libdtd.so`` then ``.build/debug/libdtd.so``,
   with the repository root found relative to this file (``bindings/python/dtd/``).

The loaded library must report ``dtd_abi_version() == EXPECTED_ABI_VERSION``; any other ABI is
refused, since every ctypes prototype in ``_capi`` was written for that ABI.
"""
from __future__ import annotations

import ctypes
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

#: The ABI generation this package's ctypes table describes (``DTD_ABI_VERSION`` in dtd.h).
EXPECTED_ABI_VERSION = 1

#: Environment variable naming an explicit ``libdtd.so``.
ENV_VAR = "DTD_LIBRARY"

_LIBRARY_NAME = "libdtd.so"
_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE_DIR.parents[2]  # <repo>/bindings/python/dtd -> <repo>


class DTDLoadError(OSError):
    """``libdtd.so`` could not be found or loaded; ``tried`` lists (path, reason) pairs."""

    def __init__(self, message: str, tried: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.tried = tried


class DTDABIError(DTDLoadError):
    """The library was loaded but implements another ABI than this package expects."""


@dataclass(frozen=True)
class LoadedLibrary:
    """The loaded shared object and where it came from."""

    cdll: ctypes.CDLL
    path: str
    abi_version: int


_lock = threading.Lock()
_loaded: LoadedLibrary | None = None


def candidates() -> list[tuple[str, Path]]:
    """Every place searched, in order, as (origin, path) pairs."""
    found: list[tuple[str, Path]] = []
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        found.append((f"${ENV_VAR}", Path(explicit)))
    found.append(("vendored", _PACKAGE_DIR / "_vendor" / _LIBRARY_NAME))
    found.append(("repo release build", _REPO_ROOT / ".build" / "release" / _LIBRARY_NAME))
    found.append(("repo debug build", _REPO_ROOT / ".build" / "debug" / _LIBRARY_NAME))
    return found


def _read_abi_version(cdll: ctypes.CDLL) -> int:
    """Asks the library for its ABI generation (``dtd_abi_version()``)."""
    function = cdll.dtd_abi_version
    function.argtypes = []
    function.restype = ctypes.c_int32
    return int(function())


def _load() -> LoadedLibrary:
    tried: list[tuple[str, str]] = []
    for origin, path in candidates():
        if not path.is_file():
            tried.append((str(path), f"{origin}: no such file"))
            continue
        try:
            cdll = ctypes.CDLL(str(path))
        except OSError as error:  # exists but cannot be loaded (missing dependency, wrong arch)
            tried.append((str(path), f"{origin}: {error}"))
            continue
        if os.environ.get(ENV_VAR) and origin != f"${ENV_VAR}":
            # An explicit choice that failed deserves a word before falling back.
            warnings.warn(f"${ENV_VAR} could not be used ({tried[0][1]}); using {path} instead",
                          RuntimeWarning, stacklevel=3)
        try:
            abi = _read_abi_version(cdll)
        except AttributeError:
            raise DTDABIError(f"{path} does not export dtd_abi_version(); it is not libdtd "
                              f"(this package needs ABI {EXPECTED_ABI_VERSION})", tuple(tried)) from None
        if abi != EXPECTED_ABI_VERSION:
            raise DTDABIError(f"{path} implements libdtd ABI {abi}, but this package needs ABI "
                              f"{EXPECTED_ABI_VERSION}; install a matching library or set "
                              f"${ENV_VAR}", tuple(tried))
        return LoadedLibrary(cdll, str(path), abi)
    listing = "\n".join(f"  {path}  ({reason})" for path, reason in tried)
    raise DTDLoadError(f"could not load {_LIBRARY_NAME}; tried:\n{listing}\n"
                       f"Build it with `swift build -c release` at the repository root, or set "
                       f"${ENV_VAR} to its path.", tuple(tried))


def library() -> LoadedLibrary:
    """The loaded library, loading it on first use (thread-safe; failures are not cached)."""
    global _loaded
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded = _load()
    return _loaded


def is_loaded() -> bool:
    """Whether the library has been loaded yet (``import dtd`` alone does not load it)."""
    return _loaded is not None


def _reset() -> None:
    """Forgets the loaded library so that the next use searches again (tests only).

    Functions already bound by ``_capi`` keep working: ``dlopen`` of the same file returns the
    same, still mapped, library.
    """
    global _loaded
    with _lock:
        _loaded = None
