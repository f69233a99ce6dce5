"""The wheel works anywhere: `pip wheel bindings/python` builds a manylinux wheel that carries
libdtd.so and its BLAS; installed into a fresh venv, it explains a network from a directory
outside the repository with a clean environment (no DTD_LIBRARY, no LD_LIBRARY_PATH)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

import dtd
from support import REPO_ROOT

pytest.importorskip("auditwheel", reason="auditwheel is not installed (Tests/setup-extras.sh)")

PACKAGE_DIR = REPO_ROOT / "bindings" / "python"
STATIC_BUILD = REPO_ROOT / ".build-static" / "release" / "libdtd.so"

# The explanation the installed wheel computes, and this process computes for comparison.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import dtd
    rng = np.random.default_rng(7)
    net = dtd.Network((2, 6, 6))
    net.add_conv2d(rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4), padding=1).add_relu()
    net.add_maxpool2d(2).add_flatten().add_dense(rng.normal(size=(3, 36)), rng.normal(size=3))
    x = rng.normal(size=(5, 2, 6, 6))
    relevance = net.lrp(x, target="predicted", rules={0: dtd.rules.ZPlus(), 4: dtd.rules.Epsilon(0.01)})
    json.dump({"library": dtd.library_path(), "dtd": dtd.__file__,
               "relevance": relevance.tolist()}, sys.stdout)
""")


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from bindings/python (an isolated build, as a user's pip does)."""
    wheelhouse = tmp_path_factory.mktemp("wheelhouse")
    env = dict(os.environ)
    if STATIC_BUILD.is_file() and "DTD_WHEEL_LIBRARY" not in env:
        env["DTD_WHEEL_LIBRARY"] = str(STATIC_BUILD)  # skip a second Swift build
    env.pop("DTD_WHEEL_REPAIR", None)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheelhouse),
         str(PACKAGE_DIR)], env=env)
    wheels = list(wheelhouse.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_is_manylinux_and_carries_libdtd_and_its_blas(wheel):
    assert wheel.name.startswith("libdtd-1.0.0-py3-none-manylinux_2_34_x86_64"), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    assert "dtd/_vendor/libdtd.so" in names
    assert any(name.startswith("libdtd.libs/libblis") for name in names), names
    shown = run([sys.executable, "-m", "auditwheel", "show", str(wheel)],
                env=dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"))
    assert 'consistent with the\nfollowing platform tag: "manylinux_2_34_x86_64"' in shown.stdout, shown.stdout
    with zipfile.ZipFile(wheel) as archive:
        library = archive.read("dtd/_vendor/libdtd.so")
    assert b"libswiftCore.so" not in library  # the Swift runtime is linked in, not needed


def test_wheel_explains_from_a_fresh_venv_with_a_clean_environment(wheel, tmp_path):
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", str(wheel)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean = {"PATH": f"{environment / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    answer = json.loads(run([str(python), "-c", SCRIPT], cwd=elsewhere, env=clean).stdout)
    site = environment / "lib"
    assert Path(answer["library"]).is_relative_to(site) and answer["library"].endswith("dtd/_vendor/libdtd.so")
    assert Path(answer["dtd"]).is_relative_to(site)
    # The same script on this checkout's package and build: the same relevance.
    reference = json.loads(run([sys.executable, "-c", SCRIPT], cwd=elsewhere,
                               env=dict(os.environ, PYTHONPATH=str(PACKAGE_DIR))).stdout)
    assert reference["library"] == dtd.library_path()
    np.testing.assert_allclose(np.array(answer["relevance"]), np.array(reference["relevance"]),
                               rtol=1e-12, atol=1e-14)
