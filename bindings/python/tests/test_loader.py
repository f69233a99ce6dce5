"""Finding and loading libdtd.so: lazy, reports every path tried, refuses another ABI."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dtd
from dtd import _loader
from support import REPO_ROOT

PACKAGE_ROOT = Path(dtd.__file__).resolve().parents[1]


def run_python(code: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter with the package importable and env changed."""
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def fresh_loader(monkeypatch):
    """Lets a test search and load again; the real library is restored afterwards."""
    _loader._reset()
    yield
    monkeypatch.undo()
    _loader._reset()
    _loader.library()


def test_loader_import_does_not_load_the_library():
    result = run_python("import dtd, dtd._loader as l; print(l.is_loaded())", DTD_LIBRARY="/nonexistent/libdtd.so")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_loader_finds_the_repo_build_without_dtd_library():
    result = run_python("import dtd; print(dtd.library_path()); print(dtd.abi_version())", DTD_LIBRARY=None)
    assert result.returncode == 0, result.stderr
    path, abi = result.stdout.split()
    build = REPO_ROOT / ".build"
    assert Path(path) in (build / "release" / "libdtd.so", build / "debug" / "libdtd.so")
    assert int(abi) == _loader.EXPECTED_ABI_VERSION


def test_loader_prefers_dtd_library(tmp_path):
    link = tmp_path / "libdtd-custom.so"
    link.symlink_to(Path(dtd.library_path()).resolve())
    result = run_python("import dtd; print(dtd.library_path())", DTD_LIBRARY=str(link))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(link)


def test_loader_warns_and_falls_back_when_dtd_library_is_unusable(tmp_path):
    result = run_python("import warnings, dtd\nwarnings.simplefilter('always')\nprint(dtd.library_path())",
                        DTD_LIBRARY=str(tmp_path / "missing.so"))
    assert result.returncode == 0, result.stderr
    assert "DTD_LIBRARY could not be used" in result.stderr
    assert result.stdout.strip().endswith("libdtd.so")


def test_loader_not_found_lists_every_path_tried(fresh_loader, monkeypatch, tmp_path):
    paths = [tmp_path / "a" / "libdtd.so", tmp_path / "b" / "libdtd.so", tmp_path / "c" / "libdtd.so"]
    monkeypatch.setattr(_loader, "candidates", lambda: [(f"place {i}", p) for i, p in enumerate(paths)])
    with pytest.raises(dtd.DTDLoadError) as info:
        dtd.Network((3,))
    message = str(info.value)
    assert all(str(path) in message for path in paths)
    assert [path for path, _ in info.value.tried] == [str(p) for p in paths]
    assert "swift build" in message and "DTD_LIBRARY" in message


def test_loader_reports_a_file_that_is_not_a_library(fresh_loader, monkeypatch, tmp_path):
    bogus = tmp_path / "libdtd.so"
    bogus.write_text("not an ELF file")
    monkeypatch.setattr(_loader, "candidates", lambda: [("bogus", bogus)])
    with pytest.raises(dtd.DTDLoadError) as info:
        dtd.version()
    assert str(bogus) in str(info.value)


def test_loader_refuses_another_abi(fresh_loader, monkeypatch):
    monkeypatch.setattr(_loader, "_read_abi_version", lambda cdll: 2)
    with pytest.raises(dtd.DTDABIError) as info:
        dtd.Network((3,))
    assert "ABI 2" in str(info.value) and f"needs ABI {_loader.EXPECTED_ABI_VERSION}" in str(info.value)
    assert isinstance(info.value, dtd.DTDLoadError)
    assert not _loader.is_loaded()  # a refusal is not cached as a loaded library


def test_loader_checks_against_the_expected_abi(fresh_loader, monkeypatch):
    """The real library reports ABI 1; a package expecting another generation refuses it."""
    monkeypatch.setattr(_loader, "EXPECTED_ABI_VERSION", 7)
    with pytest.raises(dtd.DTDABIError, match="implements libdtd ABI 1, but this package needs ABI 7"):
        _loader.library()


def test_loader_version_functions():
    assert dtd.abi_version() == 1 == dtd._capi.DTD_ABI_VERSION
    major, minor, patch = (int(part) for part in dtd.version().split("."))
    assert dtd._capi.dtd_version_number() == major * 10000 + minor * 100 + patch
