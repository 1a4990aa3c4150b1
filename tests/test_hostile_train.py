"""Hostile input and bad luck for `trex train`, its checkpoints, the data caches and `trex transfer`:
no hang, no crash, no silent corruption, no lost run.

Every case runs the command in a subprocess with a timeout, so a hang fails the test instead of
stalling the suite. A traceback where the CLI promises one line (``trex <cmd>: error: ...``, exit
2) fails, and so does a refused call that changed anything on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
TIMEOUT = 240
# Small everything: 32/16 px crops, a narrow projector, one torch thread (the machine is shared).
SMALL = [
    "--arch",
    "resnet-tiny",
    "--global-size",
    "32",
    "--local-size",
    "16",
    "--batch-size",
    "4",
    "--hidden-dim",
    "32",
    "--out-dim",
    "16",
    "--memory-size",
    "16",
    "--threads",
    "1",
    "--workers",
    "1",
    "--log-every",
    "1000",
]


# ----------------------------------------------------------------------------------------- helpers


def _env(cache: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PYTHON_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "TREX_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def trex(
    cache: Path, *args: str, driver: str | None = None, timeout: float = TIMEOUT, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m trex.cli.main ARGS`` in a subprocess; with ``driver``, that Python code runs first
    in the same process (patches), then the CLI with ``sys.argv[1:]``."""
    if driver is None:
        cmd = [sys.executable, "-m", "trex.cli.main", *args]
    else:
        code = driver + "\nfrom trex.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"
        cmd = [sys.executable, "-c", "import sys\n" + code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(cache), cwd=cwd)


def one_line_error(proc: subprocess.CompletedProcess[str], command: str, *expected: str, code: int = 2) -> str:
    """The CLI's promise: exit ``code``, no traceback, the last stderr line ``trex CMD: error: ...``."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f"trex {command}: error: "), line
    for text in expected:
        assert text in line, line
    return line


def snapshot(*roots: Path) -> dict[str, str]:
    """Every path under ``roots`` (symlinks as links) with a hash of its bytes: what a refusal must
    leave as it was."""
    out: dict[str, str] = {}
    for root in roots:
        if not (root.exists() or root.is_symlink()):
            out[str(root)] = "absent"
            continue
        for p in [root, *sorted(root.rglob("*"))] if root.is_dir() and not root.is_symlink() else [root]:
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = "dir"
    return out


def write_jpegs(folder: Path, n: int, seed: int, flip: bool) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, 40)
    base = (ramp[None, :, None] if flip else ramp[:, None, None]) * np.ones((40, 40, 3))
    for i in range(n):
        img = np.clip(base + rng.integers(-40, 40, (40, 40, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:02d}.jpg", quality=85)


def image_folder(root: Path, splits: dict[str, int], classes: int = 2) -> Path:
    for s, (split, n) in enumerate(splits.items()):
        for c in range(classes):
            write_jpegs(root / split / f"class{c}", n, seed=10 * s + c, flip=bool(c % 2))
    return root


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]


def epoch_of(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trex-cache")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 classes x (8 train, 4 val) JPEGs of 40 px."""
    return image_folder(tmp_path_factory.mktemp("data") / "tiny", {"train": 8, "val": 4})


@pytest.fixture(scope="module")
def run2(data: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run keeping checkpoint-epoch0001.pt and checkpoint-epoch0002.pt (copy it
    before changing it)."""
    out = tmp_path_factory.mktemp("run2") / "run"
    proc = trex(cache, "train", "--data", str(data), "--epochs", "2", "--save-every", "1", *SMALL, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def transfer_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transfer set: 2 classes x (4 train, 2 test)."""
    return image_folder(tmp_path_factory.mktemp("tdata") / "tset", {"train": 4, "test": 2})


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest, symlinks=True)
    return dest


# ----------------------------------------------------------------------------------------- 1. run files


def test_kill_between_backbone_and_checkpoint_is_repaired_by_resume(
    data: Path, cache: Path, run2: Path, tmp_path: Path
) -> None:
    # A real kill -9 right after the first of the two files of epoch 2 is written (whichever it is).
    out = tmp_path / "killed"
    driver = textwrap.dedent("""
        import os, signal
        from trex.train import checkpoint as ck
        _save, _seen = ck._atomic_save, []
        def save(obj, path):
            _save(obj, path)
            if obj.get("epoch") == 2 and path.name in ("backbone.pt", "checkpoint.pt"):
                os.kill(os.getpid(), signal.SIGKILL)
        ck._atomic_save = save
    """)
    common = ["train", "--data", str(data), "--epochs", "2", *SMALL, "--out", str(out)]
    assert trex(cache, *common, driver=driver).returncode == -9
    proc = trex(cache, *common[:-2], "--resume", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert epoch_of(out / "checkpoint.pt") == epoch_of(out / "backbone.pt") == 2
    assert [r["epoch"] for r in metrics(out)] == [1, 2]

    # What the old order left: checkpoint.pt at epoch 2, backbone.pt still at epoch 1. Resume
    # has nothing to train, and rewrites the backbone from the checkpoint.
    stale = copy_run(run2, tmp_path / "stale")
    backbone1 = torch.load(stale / "backbone.pt", weights_only=True)
    backbone1["epoch"] = 1
    torch.save(backbone1, stale / "backbone.pt")
    proc = trex(cache, *common[:-2], "--resume", str(stale))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nothing to do" in proc.stderr
    assert epoch_of(stale / "backbone.pt") == 2
    state = torch.load(stale / "checkpoint.pt", weights_only=True)
    saved = torch.load(stale / "backbone.pt", weights_only=True)["state_dict"]
    for k, v in saved.items():
        assert torch.equal(v, state["model"][f"backbone.{k}"]), k


def test_resuming_an_older_checkpoint_never_overwrites_the_newer_run(
    data: Path, cache: Path, run2: Path, tmp_path: Path
) -> None:
    run = copy_run(run2, tmp_path / "run")
    before = snapshot(run)
    proc = trex(
        cache, "train", "--data", str(data), "--epochs", "3", *SMALL, "--resume", str(run / "checkpoint-epoch0001.pt")
    )
    one_line_error(proc, "train", "would overwrite", str(run), "--out", "--overwrite")
    assert snapshot(run) == before
    # A fresh run into a folder holding a run: refused as well.
    proc = trex(cache, "train", "--data", str(data), "--epochs", "1", *SMALL, "--out", str(run))
    one_line_error(proc, "train", "holds the results of another run", "--overwrite")
    assert snapshot(run) == before
    # Asked for: a new --out continues the old epoch there, the old run untouched.
    branch = tmp_path / "branch"
    proc = trex(
        cache,
        "train",
        "--data",
        str(data),
        "--epochs",
        "2",
        *SMALL,
        "--resume",
        str(run / "checkpoint-epoch0001.pt"),
        "--out",
        str(branch),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot(run) == before and epoch_of(branch / "checkpoint.pt") == 2


def test_disk_full_leaves_no_temporary_file_and_the_run_resumes(
    data: Path, cache: Path, run2: Path, tmp_path: Path
) -> None:
    run = copy_run(run2, tmp_path / "run")
    for p in run.glob("checkpoint-epoch*.pt"):
        p.unlink()
    checkpoint = (run / "checkpoint.pt").read_bytes()
    # Files may grow to half a checkpoint: the checkpoint write of epoch 3 fails (EFBIG, as ENOSPC).
    limit = len(checkpoint) // 2
    driver = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    """)
    # --save-every 0: the resumed run kept every epoch (its config.json), this one writes checkpoint.pt only.
    args = ["train", "--data", str(data), "--epochs", "3", "--save-every", "0", *SMALL, "--resume", str(run)]
    one_line_error(trex(cache, *args, driver=driver), "train", "cannot write", str(run / "checkpoint.pt"))
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert (run / "checkpoint.pt").read_bytes() == checkpoint  # the last good checkpoint stays
    proc = trex(cache, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert epoch_of(run / "checkpoint.pt") == epoch_of(run / "backbone.pt") == 3
    assert [r["epoch"] for r in metrics(run)] == [1, 2, 3]


def test_temporary_files_of_a_killed_run_are_removed_at_the_next_start(
    data: Path, cache: Path, run2: Path, tmp_path: Path
) -> None:
    run = copy_run(run2, tmp_path / "run")
    stale = [
        ".checkpoint-epoch0002.pt.tmp",
        ".checkpoint.pt.tmp",
        ".backbone.pt.k3j_x9.tmp",
        "metrics.tmp",
        ".checkpoint-epoch0003.pt.a8Zq1c.tmp",
    ]
    for name in stale:
        (run / name).write_bytes(b"")  # what a kill during a write leaves (0 bytes)
    (run / ".notes.tmp").write_text("the user's")  # not a name trex writes: kept
    # A kill during the --save-every copy itself: the next start removes its temporary file.
    driver = textwrap.dedent("""
        import os, signal
        from trex.train import files
        _write = files.atomic_write
        def write(path, fn):
            if path.name.startswith("checkpoint-epoch"):
                def half(f):
                    f.write(b"x" * 1000); f.flush(); os.kill(os.getpid(), signal.SIGKILL)
                return _write(path, half)
            return _write(path, fn)
        files.atomic_write = write
        import trex.train.checkpoint as ck
        ck.atomic_write = write
    """)
    args = ["train", "--data", str(data), "--epochs", "3", "--save-every", "1", *SMALL, "--resume", str(run)]
    assert trex(cache, *args, driver=driver).returncode == -9
    assert [p for p in run.glob(".checkpoint-epoch0003.pt.*.tmp") if p.name not in stale]
    proc = trex(cache, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    left = sorted(p.name for p in run.iterdir() if p.name.startswith("."))
    assert left == [".notes.tmp"], left
    assert epoch_of(run / "checkpoint-epoch0003.pt") == 3


def test_symlinks_planted_in_the_out_folder_are_never_written_through(data: Path, cache: Path, tmp_path: Path) -> None:
    out, victims = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    victims.mkdir()
    names = [
        ".checkpoint.pt.tmp",
        ".backbone.pt.tmp",
        "metrics.tmp",
        "curves.tmp.png",
        "config.json",
        ".checkpoint-epoch0001.pt.tmp",
    ]
    for i, name in enumerate(names):
        (victims / f"victim{i}").write_text("not yours")
        (out / name).symlink_to(victims / f"victim{i}")
    before = snapshot(victims)
    proc = trex(cache, "train", "--data", str(data), "--epochs", "1", "--save-every", "1", *SMALL, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot(victims) == before  # nothing landed outside --out
    assert not (out / "config.json").is_symlink() and json.loads((out / "config.json").read_text())["epochs"] == 1
    assert epoch_of(out / "checkpoint.pt") == epoch_of(out / "backbone.pt") == 1


# ----------------------------------------------------------------------------------------- 2. caches


def test_a_cache_folder_trex_did_not_build_is_never_deleted(
    cache: Path, tmp_path: Path, transfer_data: Path, run2: Path
) -> None:
    own = tmp_path / "cache"
    for name in ("fashion-mnist-64", "digits-32"):  # the built-in run's data; digits at the backbone's 32 px
        (own / name / "photos").mkdir(parents=True)
        (own / name / "photos" / "holiday.jpg").write_bytes(b"the user's")
    mine = tmp_path / "mine"
    (mine / "keep.txt").parent.mkdir()
    (mine / "keep.txt").write_text("the user's")
    before = snapshot(own, mine)
    code = textwrap.dedent(f"""
        from trex.data.cache_tree import ForeignFolderError
        from trex.data.fashion_mnist_folder import prepare_fashion_mnist_folder
        try:
            prepare_fashion_mnist_folder({str(mine)!r}, size=32, per_class=2)
        except ForeignFolderError as err:
            print("refused:", err)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, env=_env(own))
    if "Fashion-MNIST" in proc.stderr and "FileNotFoundError" in proc.stderr:
        pytest.skip("Fashion-MNIST is not installed")
    assert proc.returncode == 0 and f"refused: {mine}: exists and was not built by trex" in proc.stdout, proc.stderr
    if Path("/usr/share/datasets/fashion-mnist").is_dir():  # the built-in run over $TREX_CACHE
        one_line_error(
            trex(own, "train", "--epochs", "1", *SMALL), "train", str(own / "fashion-mnist-64"), "not built by trex"
        )
    one_line_error(
        trex(own, "transfer", "--backbone", str(run2), "--dataset", "digits", "--no-cache"),
        "transfer",
        str(own / "digits-32"),
        "not built by trex",
    )
    assert snapshot(own, mine) == before


# ----------------------------------------------------------------------------------------- 3. wrong training


def test_a_diverging_run_stops_before_saving_a_broken_model(data: Path, cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = trex(cache, "train", "--data", str(data), "--epochs", "2", "--lr", "1e6", *SMALL, "--out", str(out))
    one_line_error(proc, "train", "diverged", "lower --lr", code=1)
    assert not (out / "checkpoint.pt").exists() and not (out / "backbone.pt").exists()
    assert not (out / "metrics.jsonl").exists()


@pytest.mark.parametrize(
    "flag,value", [("--lr", "nan"), ("--lr", "inf"), ("--temperature", "nan"), ("--warmup-epochs", "inf")]
)
def test_non_finite_float_flags_are_refused(data: Path, cache: Path, tmp_path: Path, flag: str, value: str) -> None:
    out = tmp_path / "out"
    proc = trex(cache, "train", "--data", str(data), "--epochs", "1", *SMALL, flag, value, "--out", str(out))
    one_line_error(proc, "train", flag)
    assert not out.exists()


def test_a_huge_epoch_count_is_refused_at_once_and_the_schedule_is_lazy(
    data: Path, cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = trex(cache, "train", "--data", str(data), "--epochs", "1000000000", *SMALL, "--out", str(out), timeout=60)
    one_line_error(proc, "train", "--epochs 1000000000", "at most")
    assert not out.exists()
    code = textwrap.dedent("""
        import math
        from trex.train.optim import lr_schedule
        lr = lr_schedule(0.1, 1e-6, total_iters=10**15, warmup_iters=10**13)
        assert len(lr) == 10**15 and math.isclose(lr[-1], 1e-6) and math.isclose(lr[10**13 - 1], 0.1)
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env(cache))
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_a_corrupt_validation_image_is_skipped_with_on_error_skip(data: Path, cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(data, root)
    good = (root / "val" / "class1" / "00.jpg").read_bytes()
    (root / "val" / "class1" / "zz-truncated.jpg").write_bytes(good[: len(good) // 3])
    out = tmp_path / "out"
    proc = trex(cache, "train", "--data", str(root), "--epochs", "2", "--on-error", "skip", *SMALL, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "zz-truncated.jpg" in proc.stderr  # warned, named
    rec = metrics(out)
    assert [r["epoch"] for r in rec] == [1, 2]
    assert all(r["val_images"] == 8 and r["val_skipped"] == 1 for r in rec), rec
    assert epoch_of(out / "checkpoint.pt") == 2
    # Without skip: one line naming the file (after the training epoch), nothing saved.
    out2 = tmp_path / "out2"
    proc = trex(cache, "train", "--data", str(root), "--epochs", "1", *SMALL, "--out", str(out2))
    one_line_error(proc, "train", "zz-truncated.jpg")
    assert not (out2 / "checkpoint.pt").exists()


# ----------------------------------------------------------------------------------------- 4. inputs


def test_a_symlink_loop_in_a_class_folder_lists_each_file_once(data: Path, cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(data, root)
    (root / "train" / "class0" / "self").symlink_to(".")  # class0/self/self/... for ever
    (root / "train" / "class0" / "sub").mkdir()
    (root / "train" / "class0" / "sub" / "back").symlink_to("..")
    (root / "train" / "class1" / "again").symlink_to("../class1")
    code = textwrap.dedent(f"""
        from collections import Counter
        from trex.data.folder import scan_image_folder
        samples, classes = scan_image_folder({str(root / "train")!r})
        print(sorted(Counter(label for _, label in samples).items()))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env(cache))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[(0, 8), (1, 8)]"  # each real file once (it was 41 copies)


# ----------------------------------------------------------------------------------------- 5. one line


def test_a_dangling_symlink_in_the_training_data_is_one_line(data: Path, cache: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    shutil.copytree(data, root)
    (root / "train" / "class1" / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    out = tmp_path / "out"
    proc = trex(cache, "train", "--data", str(root), "--epochs", "1", *SMALL, "--out", str(out))
    one_line_error(proc, "train", str(root / "train" / "class1" / "gone.jpg"), "broken symbolic link")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "proc", "read-only"])
def test_an_out_that_cannot_be_a_folder_is_one_line(data: Path, cache: Path, tmp_path: Path, kind: str) -> None:
    if kind == "file":
        out = tmp_path / "out.txt"
        out.write_text("the user's")
    elif kind == "proc":
        out = Path("/proc/trex-hostile-test/out")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o555)
        out = tmp_path / "ro" / "out"
    before = snapshot(tmp_path)
    proc = trex(cache, "train", "--data", str(data), "--epochs", "1", *SMALL, "--out", str(out))
    one_line_error(proc, "train", str(out))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("damage", ["no optimizer", "bad loader", "bad rng", "bad epoch"])
def test_a_crafted_checkpoint_is_one_line_and_changes_nothing(
    data: Path, cache: Path, run2: Path, tmp_path: Path, damage: str
) -> None:
    run = copy_run(run2, tmp_path / "run")
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    if damage == "no optimizer":
        del state["optimizer"]
    elif damage == "bad loader":
        state["loader"] = {"seed": 0, "epoch": "two"}
    elif damage == "bad rng":
        state["rng"] = torch.zeros(3)
    else:
        state["epoch"] = -5
    torch.save(state, run / "checkpoint.pt")
    before = snapshot(run)
    proc = trex(cache, "train", "--data", str(data), "--epochs", "3", *SMALL, "--resume", str(run))
    one_line_error(proc, "train", f"--resume {run / 'checkpoint.pt'}", damage.split()[-1])
    assert snapshot(run) == before


def test_transfer_bad_input_is_one_line_before_any_work(
    cache: Path, run2: Path, transfer_data: Path, tmp_path: Path
) -> None:
    one_per_class = tmp_path / "one"
    shutil.copytree(transfer_data, one_per_class)
    for c in ("class0", "class1"):
        for p in sorted((one_per_class / "train" / c).iterdir())[1:]:
            p.unlink()
    nan_backbone = tmp_path / "nan" / "backbone.pt"
    nan_backbone.parent.mkdir()
    blob = torch.load(run2 / "backbone.pt", weights_only=True)
    next(v for v in blob["state_dict"].values() if v.is_floating_point()).fill_(float("nan"))
    torch.save(blob, nan_backbone)
    out_file = tmp_path / "results.txt"
    out_file.write_text("the user's")
    feature_cache = tmp_path / "features"
    ok = ["--backbone", str(run2), "--dataset", f"t={transfer_data}", "--cache", str(feature_cache)]
    cases: list[tuple[list[str], tuple[str, ...]]] = [
        (
            ["--backbone", str(run2), "--dataset", f"one={one_per_class}", "--cache", str(feature_cache)],
            ("dataset one", "class 'class0' has 1 training image", "at least 2"),
        ),
        ([*ok, "--c-grid", "nan"], ("--c-grid",)),
        ([*ok, "--c-grid", "-1:1:3"], ("--c-grid",)),
        ([*ok, "--c-grid", "1:10:100000000"], ("--c-grid",)),
        ([*ok, "--device", "tpu7"], ("--device tpu7",)),
        (
            ["--backbone", str(nan_backbone), "--dataset", f"t={transfer_data}", "--cache", str(feature_cache)],
            (str(nan_backbone), "NaN"),
        ),
        ([*ok, "--out", str(out_file)], (f"--out {out_file}", "not a folder")),
        ([*ok, "--knn", "--knn-temperature", "nan"], ("--knn-temperature",)),
    ]
    if not torch.cuda.is_available():
        cases.append(([*ok, "--device", "cuda"], ("--device cuda", "no CUDA device")))
    before = snapshot(tmp_path, run2)
    for args, expected in cases:
        one_line_error(trex(cache, "transfer", *args, timeout=120), "transfer", *expected)
    assert snapshot(tmp_path, run2) == before  # no feature cache, no results, no transfer/ folder
