"""`pip install trex-*.tar.gz` with build isolation, as a new user runs it: scripts/check-sdist
builds the sdist, installs it with uv into a fresh virtualenv (the build gets maturin and torch
from pyproject's build requirements, LIBTORCH_USE_PYTORCH from .cargo/config.toml, nothing from
this process's environment), then imports trex there, decodes a PNG and loads one multi-crop
batch. It compiles the extension from scratch (libjpeg-turbo, torch-sys's C++, the crate: 109
crates), as a fresh machine does: 118 s for the whole test on this 2-core machine when idle
(cargo: "Finished release in 1m 48s"), 22 minutes when it was shared with other builds (load
6-12), which the timeout does not allow. torch comes from uv's cache (the index when the cache
lacks it)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_sdist_installs_with_build_isolation_into_a_fresh_venv() -> None:
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(Path.home() / ".local" / "bin"), os.environ.get("PATH", "")]
    )
    assert shutil.which("uv", path=path), "uv not found (make venv installs it)"
    env = {**os.environ, "PATH": path, "PYTHON": f"python{sys.version_info.major}.{sys.version_info.minor}"}
    proc = subprocess.run(
        [str(ROOT / "scripts" / "check-sdist")], check=False, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "ok   decode_file(PNG)" in out and "ok   MultiCropLoader" in out, out[-4000:]
    assert "check-sdist: the sdist builds with build isolation" in out
