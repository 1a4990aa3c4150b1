"""`trex --help`, `trex train --help` and flag errors import no torch (they answer at once), and the
lazy `import trex` still reaches every public name and submodule, torch loaded before the extension.

Each check runs in a fresh interpreter (a subprocess with a timeout): what this test process has
imported already says nothing about what a fresh `trex` command imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import trex

PYTHONPATH = str(Path(trex.__file__).resolve().parent.parent)


def python(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return python_env({}, *args, timeout=timeout)


def python_env(extra_env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **extra_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [PYTHONPATH, os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from ``python -X importtime`` lines: ``import time: self | cumulative | name``."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name)
    return names


# Runs the command as `python -m trex.cli.main ARGS` does, then lists every module loaded (also
# those imported through importlib, which -X importtime does not report) on stderr.
RUN_CLI = """
import json, runpy, sys
sys.argv = ["trex", *json.loads(sys.argv[1])]
try:
    runpy.run_module("trex.cli.main", run_name="__main__")
finally:
    print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv, rc, expected",
    [
        (["--help"], 0, "{train,transfer,compare,bench,grid,demo}"),
        (["train", "--help"], 0, "--threads N"),
        (["transfer", "--help"], 0, "--backbone PATH"),
        (["compare", "--help"], 0, "--benchmark"),
        (["train", "--epochs", "x"], 2, "argument --epochs: invalid int value: 'x'"),
        (["train", "--recipe"], 2, "argument --recipe: expected one argument"),
        (["nope"], 2, "invalid choice: 'nope'"),
    ],
)
def test_help_and_flag_errors_import_no_torch(argv: list[str], rc: int, expected: str) -> None:
    proc = python("-X", "importtime", "-c", RUN_CLI, json.dumps(argv))
    assert proc.returncode == rc, proc.stderr[-2000:]
    assert expected in proc.stdout + proc.stderr
    timed = imported_modules(proc.stderr)
    assert {"trex.cli.train", "trex.cli.bench", "argparse"} <= timed  # the importtime lines were read
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("MODULES ")]
    loaded = set(json.loads(line.removeprefix("MODULES ")))
    assert {"trex.cli.train", "trex.cli.bench"} <= loaded
    heavy = sorted(
        m for m in timed | loaded if m.split(".")[0] in ("torch", "numpy", "matplotlib") or m == "trex._trex"
    )
    assert not heavy, heavy


def test_lazy_import_reaches_every_public_name_and_submodule() -> None:
    code = """
import sys
import trex
assert "torch" not in sys.modules and "trex._trex" not in sys.modules, "import trex alone is light"
assert set(trex.__all__) <= set(dir(trex))
from trex import normalize, MultiCropLoader
assert "torch" in sys.modules and "trex._trex" in sys.modules
# torch was imported before the extension (which links libtorch without an rpath)
order = list(sys.modules)
assert order.index("torch") < order.index("trex._trex")
import trex.models, trex.train
for module in (trex, trex.models, trex.train):
    for name in module.__all__:
        assert getattr(module, name) is not None, (module.__name__, name)
    assert set(module.__all__) <= set(dir(module))
assert trex.TReX.__module__ == "trex.models.model" and trex.normalize is normalize
assert isinstance(trex.__version__, str) and trex.__version__ == trex._trex.__version__
assert trex.ops.decode_file and trex.data.MultiCropLoader is MultiCropLoader and trex.models.PrototypeHead
assert trex.train.make_config is not None and trex.transfer is not None
# submodules of the lazy packages, as when they imported them eagerly
assert trex.models.memory.PrototypeMemory is trex.PrototypeMemory and trex.train.config.ARCH_NAMES
try:
    trex.models.nope
except AttributeError as err:
    assert "trex.models" in str(err) and "nope" in str(err)
else:
    raise AssertionError("trex.models.nope")
try:
    trex.nope
except AttributeError as err:
    assert "nope" in str(err)
else:
    raise AssertionError("trex.nope")
# `run` in trex.train is the function, even once the submodule of that name is imported
import trex.train.run
from trex.train import run
assert callable(run) and run.__module__ == "trex.train.run" and trex.train.run is run
print("ok")
"""
    proc = python("-c", code)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


def test_the_extension_imported_first_still_gets_torch_first() -> None:
    # `import trex._trex` (stubtest, a user) loads torch and checks its version before the extension.
    proc = python(
        "-c",
        "import sys, trex._trex as t; order = list(sys.modules); "
        "assert order.index('torch') < order.index('trex._trex'); print(t.__version__)",
    )
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]


def test_matplotlib_font_cache_is_built_quietly(tmp_path: Path) -> None:
    # A fresh matplotlib config folder makes matplotlib build its font cache, which it announces
    # at INFO: shown under the CLI's INFO logging with a plain import (the reference), not when
    # trex's plots import it.
    code = "import logging; logging.basicConfig(level=logging.INFO); {}"
    plain = python_env({"MPLCONFIGDIR": str(tmp_path / "plain")}, "-c", code.format("import matplotlib.pyplot"))
    assert plain.returncode == 0 and "fontManager" in plain.stderr, plain.stderr[-2000:]
    trex_plot = python_env(
        {"MPLCONFIGDIR": str(tmp_path / "trex")}, "-c", code.format("from trex._plot import pyplot; pyplot().figure()")
    )
    assert trex_plot.returncode == 0 and "fontManager" not in trex_plot.stderr, trex_plot.stderr[-2000:]
    assert list((tmp_path / "trex").glob("fontlist*.json"))  # the cache was built all the same


def test_train_run_is_the_function_even_when_its_module_is_imported_first() -> None:
    proc = python(
        "-c",
        "import trex.train.run, trex.train as t; from trex.train import run; "
        "assert callable(t.run) and t.run is run and run.__module__ == 'trex.train.run'; "
        "import sys; assert callable(sys.modules['trex.train.run'].run); print('ok')",
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
