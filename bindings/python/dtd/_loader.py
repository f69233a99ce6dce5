"""Finding and loading ``libdtd.so`` (private).

The library is loaded lazily, on the first call into it, so that ``import dtd`` never fails:
a missing or mismatched library is reported when it is first needed, with every path tried.

Search order (the first candidate that loads is used):

1. ``$DTD_LIBRARY`` (an explicit path to the shared object). When it is set, it is the only
   candidate: a file that is missing or cannot be loaded is a :class:`DTDLoadError`, never a
   silent fall-back to another build (a test run pointed at one build must not test another);
2. the copy vendored into the package, ``dtd/_vendor/libdtd.so`` (the wheel ships it with its
   BLAS next to it);
3. the system linker's ``libdtd.so.1`` (installed with ``make install`` and ``ldconfig``, or on
   ``LD_LIBRARY_PATH``);
4. the repository's own builds, ``.build/release/libdtd.so`` then ``.build/debug/libdtd.so``,
   with the repository root found relative to this file (``bindings/python/dtd/``).

The loaded library must report ``dtd_abi_version() == EXPECTED_ABI_VERSION``; any other ABI is
refused, since every ctypes prototype in ``_capi`` was written for that ABI.
"""
from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from pathlib import Path

#: The ABI generation this package's ctypes table describes (``DTD_ABI_VERSION`` in dtd.h).
EXPECTED_ABI_VERSION = 1

#: Environment variable naming an explicit ``libdtd.so``.
ENV_VAR = "DTD_LIBRARY"

_LIBRARY_NAME = "libdtd.so"
#: The soname the system linker resolves (``dlopen`` searches LD_LIBRARY_PATH, ld.so.cache, /usr/lib).
SYSTEM_SONAME = "libdtd.so.1"
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


def candidates() -> list[tuple[str, Path | str]]:
    """Every place searched, in order, as (origin, path) pairs; a bare soname (a ``str``, not a
    ``Path``) is left to the system linker's search."""
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return [(f"${ENV_VAR}", Path(explicit))]
    return [
        ("vendored", _PACKAGE_DIR / "_vendor" / _LIBRARY_NAME),
        ("system linker", SYSTEM_SONAME),
        ("repo release build", _REPO_ROOT / ".build" / "release" / _LIBRARY_NAME),
        ("repo debug build", _REPO_ROOT / ".build" / "debug" / _LIBRARY_NAME),
    ]


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _file_of(cdll: ctypes.CDLL, fallback: str) -> str:
    """The file the dynamic linker mapped for ``cdll`` (``dladdr`` of one of its symbols), so that
    a library found by soname reports where it lives; ``fallback`` where that is unavailable."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError):
        return fallback
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
    dladdr.restype = ctypes.c_int
    info = _DlInfo()
    address = ctypes.cast(cdll.dtd_abi_version, ctypes.c_void_p)
    if dladdr(address, ctypes.byref(info)) == 0 or not info.dli_fname:
        return fallback
    return os.fsdecode(info.dli_fname)


def _read_abi_version(cdll: ctypes.CDLL) -> int:
    """Asks the library for its ABI generation (``dtd_abi_version()``)."""
    function = cdll.dtd_abi_version
    function.argtypes = []
    function.restype = ctypes.c_int32
    return int(function())


def _load() -> LoadedLibrary:
    tried: list[tuple[str, str]] = []
    searched = candidates()
    for origin, path in searched:
        if isinstance(path, Path) and not path.is_file():
            tried.append((str(path), f"{origin}: no such file"))
            continue
        try:
            cdll = ctypes.CDLL(str(path))
        except OSError as error:  # missing, or exists but cannot be loaded (dependency, arch)
            tried.append((str(path), f"{origin}: {error}"))
            continue
        try:
            abi = _read_abi_version(cdll)
        except AttributeError:
            raise DTDABIError(f"{path} does not export dtd_abi_version(); it is not libdtd "
                              f"(this package needs ABI {EXPECTED_ABI_VERSION})", tuple(tried)) from None
        location = str(path) if isinstance(path, Path) else _file_of(cdll, str(path))
        if abi != EXPECTED_ABI_VERSION:
            raise DTDABIError(f"{location} implements libdtd ABI {abi}, but this package needs ABI "
                              f"{EXPECTED_ABI_VERSION}; install a matching library or set "
                              f"${ENV_VAR}", tuple(tried))
        return LoadedLibrary(cdll, location, abi)
    listing = "\n".join(f"  {path}  ({reason})" for path, reason in tried)
    if any(origin == f"${ENV_VAR}" for origin, _ in searched):
        hint = f"${ENV_VAR} names the only library to use; fix the path or unset it."
    else:
        hint = (f"Install the wheel (pip install libdtd), build it with `swift build -c release` "
                f"at the repository root, or set ${ENV_VAR} to its path.")
    raise DTDLoadError(f"could not load {_LIBRARY_NAME}; tried:\n{listing}\n{hint}", tuple(tried))


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
