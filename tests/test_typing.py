"""Types a checker accepts: `mypy --strict` over the documented usage of the public API (the
README's python snippets, examples/*.py, tests/typing/usage.py), and stubtest of the extension's
stub python/trex/_trex.pyi against the built extension. Each in a subprocess with a timeout, the
mypy cache in a temporary folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import trex

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parent.parent
PYTHONPATH = str(Path(trex.__file__).resolve().parent.parent)
TIMEOUT = 600


def run(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "MYPY_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=ROOT)


def mypy_strict(files: list[Path], cache: Path) -> subprocess.CompletedProcess[str]:
    # follow-imports=silent: the types of trex (and torch) are used, errors inside them are not
    # this check's subject (the user's code is).
    return run(
        [
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            *map(str, files),
        ],
        cache,
    )


def readme_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def test_documented_usage_type_checks_strictly(tmp_path: Path, cache: Path) -> None:
    snippets = readme_snippets()
    assert snippets, "README.md has no ```python snippet"
    files = [ROOT / "tests" / "typing" / "usage.py", *sorted((ROOT / "examples").glob("*.py"))]
    for i, code in enumerate(snippets):
        files.append(tmp_path / f"readme_snippet_{i}.py")
        files[-1].write_text(code)
    proc = mypy_strict(files, cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# The public API's own modules, checked strictly too; grow this list, never shrink it.
STRICT_MODULES = [
    "__init__.py",
    "_lazy.py",
    "_plot.py",
    "defaults.py",
    "models",
    "data/__init__.py",
    "data/loader.py",
    "data/recipes.py",
    "ops.py",
]


def test_public_api_modules_are_strictly_typed(cache: Path) -> None:
    package = ROOT / "python" / "trex"
    proc = mypy_strict([package / m for m in STRICT_MODULES], cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_check_catches_misuse(tmp_path: Path, cache: Path) -> None:
    # The same check on wrong code: it must fail, naming each error (so the test above could fail).
    bad = tmp_path / "misuse.py"
    bad.write_text(
        "import torch\nimport trex\n"
        "model = trex.TReX(torch.nn.Identity(), num_classes='ten')\n"
        "prototypes: int = model.memory.prototypes()\n"
        "loss, logits, extra = model([torch.zeros(1, 3, 8, 8)], torch.zeros(1))\n"
    )
    proc = mypy_strict([bad], cache)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [int(line.split(":")[1]) for line in lines] == [3, 4, 5], proc.stdout


def test_extension_stub_matches_the_extension(tmp_path: Path, cache: Path) -> None:
    config = tmp_path / "mypy.ini"  # stubtest takes its cache folder from a config file only
    config.write_text(f"[mypy]\ncache_dir = {cache}\n")
    proc = run(
        [
            "-m",
            "mypy.stubtest",
            "trex._trex",
            "--concise",
            "--mypy-config-file",
            str(config),
            "--allowlist",
            str(ROOT / "tests" / "typing" / "stubtest-allowlist.txt"),
        ],
        cache,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
