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


def test_loader_search_order():
    """$DTD_LIBRARY alone when set; otherwise vendored, the system linker, then the repo builds."""
    saved = os.environ.pop(_loader.ENV_VAR, None)
    try:
        origins = [origin for origin, _ in _loader.candidates()]
        assert origins == ["vendored", "system linker", "repo release build", "repo debug build"]
        assert dict(_loader.candidates())["system linker"] == "libdtd.so.1"
        os.environ[_loader.ENV_VAR] = "/some/where/libdtd.so"
        assert _loader.candidates() == [("$DTD_LIBRARY", Path("/some/where/libdtd.so"))]
    finally:
        os.environ.pop(_loader.ENV_VAR, None)
        if saved is not None:
            os.environ[_loader.ENV_VAR] = saved


# Hides any installed libdtd.so.1 so that a test of the repo fall-back cannot load it instead.
_NO_SYSTEM_LIBRARY = "import dtd._loader as l; l.SYSTEM_SONAME = 'libdtd-absent-for-this-test.so.1'\n"


def test_loader_finds_the_repo_build_without_dtd_library():
    result = run_python(_NO_SYSTEM_LIBRARY + "import dtd; print(dtd.library_path()); print(dtd.abi_version())",
                        DTD_LIBRARY=None)
    assert result.returncode == 0, result.stderr
    path, abi = result.stdout.split()
    build = REPO_ROOT / ".build"
    assert Path(path) in (build / "release" / "libdtd.so", build / "debug" / "libdtd.so")
    assert int(abi) == _loader.EXPECTED_ABI_VERSION


def test_loader_asks_the_system_linker_for_libdtd_so_1(tmp_path):
    """A libdtd.so.1 the dynamic linker finds (here through LD_LIBRARY_PATH) comes before the
    repository's builds, and library_path() names the file the linker mapped."""
    (tmp_path / "libdtd.so.1").symlink_to(Path(dtd.library_path()).resolve())
    result = run_python("import dtd; print(dtd.library_path())", DTD_LIBRARY=None,
                        LD_LIBRARY_PATH=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "libdtd.so.1")


def test_loader_prefers_dtd_library(tmp_path):
    link = tmp_path / "libdtd-custom.so"
    link.symlink_to(Path(dtd.library_path()).resolve())
    result = run_python("import dtd; print(dtd.library_path())", DTD_LIBRARY=str(link))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(link)


@pytest.mark.parametrize("kind", ["missing", "not a library"])
def test_loader_dtd_library_that_cannot_be_loaded_is_an_error(tmp_path, kind):
    """An explicit $DTD_LIBRARY that fails is a DTDLoadError naming it, never a fall-back to
    another build (issue 16: a test run pointed at one build must not test another)."""
    path = tmp_path / "libdtd.so"
    if kind == "not a library":
        path.write_text("not an ELF file")
    result = run_python("import dtd\ntry:\n    print(dtd.library_path())\n"
                        "except dtd.DTDLoadError as e:\n    print('DTDLoadError', e)",
                        DTD_LIBRARY=str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DTDLoadError"), result.stdout
    assert str(path) in result.stdout and "DTD_LIBRARY names the only library" in result.stdout
    assert "release" not in result.stdout  # no other candidate was tried


def test_loader_loaded_the_expected_library():
    """CI names the build each pytest run must test ($DTD_EXPECT_LIBRARY, e.g. the static
    flavour); the library actually loaded must be that file."""
    expected = os.environ.get("DTD_EXPECT_LIBRARY")
    if not expected:
        pytest.skip("DTD_EXPECT_LIBRARY is not set (Tests/run-all.sh sets it for each run)")
    assert os.path.samefile(dtd.library_path(), expected), (dtd.library_path(), expected)


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
