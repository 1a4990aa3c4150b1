"""`trex train` end to end on a tiny ImageFolder cut from Fashion-MNIST (real images): every
recipe, resume equivalence, a 2-process gloo run, and the one-line errors for bad input."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trex
from trex.cli.main import main
from trex.data.fashion_mnist import load_fashion_mnist
from trex.data.fashion_mnist_folder import class_folder_name, prepare_fashion_mnist_folder
from trex.train import TrainConfig, TrainConfigError, add_arguments, config_from_args, load_backbone
from trex.train import checkpoint as ckpt
from trex.train.backbones import create_backbone
from trex.train.data import create_train_loader, load_splits
from trex.train.distributed import Dist
from trex.train.optim import lr_schedule, param_groups

PER_CLASS = 12  # images per class in each split of the tiny tree (5 classes)
BATCH = 10
# Small everything: 32/16 px crops, a narrow projector, one torch thread (the machine is shared).
SMALL = [
    "--arch",
    "resnet-tiny",
    "--global-size",
    "32",
    "--local-size",
    "16",
    "--batch-size",
    str(BATCH),
    "--hidden-dim",
    "32",
    "--out-dim",
    "16",
    "--memory-size",
    "40",
    "--ema-momentum",
    "0.9",
    "--warmup-epochs",
    "0.5",
    "--threads",
    "1",
    "--workers",
    "1",
    "--log-every",
    "1000",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in conversion, 32 px, 12 images per class and folder."""
    return prepare_fashion_mnist_folder(tmp_path_factory.mktemp("fm") / "fm32", size=32, per_class=PER_CLASS)


def train(*args: str) -> int:
    return main(["train", *args])


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def config_of(*args: str) -> TrainConfig:
    """The TrainConfig `trex train ARGS` would run."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(list(args)))


def model_kwargs(cfg: dict) -> dict:
    return dict(
        hidden_dim=cfg["hidden_dim"],
        out_dim=cfg["out_dim"],
        memory_size=cfg["memory_size"],
        temperature=cfg["temperature"],
        ema_momentum=cfg["ema_momentum"],
    )


@pytest.fixture(scope="module")
def runs(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One epoch of each recipe."""
    out = {}
    for recipe in ("trex", "trex-star", "baseline"):
        out[recipe] = tmp_path_factory.mktemp(recipe)
        assert (
            train("--data", str(tiny / "seen"), "--recipe", recipe, "--epochs", "1", *SMALL, "--out", str(out[recipe]))
            == 0
        )
    return out


# ------------------------------------------------------------------------------- data conversion


def test_conversion_matches_pillow_reference(tiny: Path) -> None:
    images, labels = load_fashion_mnist("test")
    for part, classes in (("seen/val", range(5)), ("unseen/test", range(5, 10))):
        folders = sorted(p.name for p in (tiny / part).iterdir())
        assert folders == [class_folder_name(c) for c in classes]
        for c in classes:
            files = sorted((tiny / part / class_folder_name(c)).glob("*.jpg"))
            assert len(files) == PER_CLASS
            # The first file is the first test image of that class, upscaled to 32 px.
            index = int(np.flatnonzero(labels.numpy() == c)[0])
            assert files[0].name == f"test-{index:05d}.jpg"
            ref = np.asarray(
                Image.fromarray(images[index].numpy()).resize((32, 32), Image.Resampling.BICUBIC), dtype=np.float64
            )
            got = trex.ops.decode_file(files[0]).numpy().astype(np.float64)
            assert got.shape == (32, 32, 3)
            assert np.abs(got - ref[..., None]).mean() < 4.0  # JPEG q90 error only
    assert {p.name for p in (tiny / "seen").iterdir()} == {"train", "val"}
    assert {p.name for p in (tiny / "unseen").iterdir()} == {"train", "test"}
    # A second call finds the finished tree and returns at once, writing nothing.
    stamp = (tiny / "COMPLETE").stat().st_mtime_ns
    assert prepare_fashion_mnist_folder(tiny, size=32, per_class=PER_CLASS) == tiny
    assert (tiny / "COMPLETE").stat().st_mtime_ns == stamp


# ------------------------------------------------------------------------------- optimisation parts


def test_lr_schedule_warmup_then_cosine() -> None:
    lr = lr_schedule(0.4, 1e-6, total_iters=100, warmup_iters=10)
    assert len(lr) == 100
    assert lr[:10] == pytest.approx([0.04 * (i + 1) for i in range(10)])
    assert lr[10] == pytest.approx(0.4) and lr[-1] == pytest.approx(1e-6)
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))
    assert lr[55] == pytest.approx(1e-6 + 0.5 * (0.4 - 1e-6) * (1 + math.cos(math.pi * 45 / 89)))


def test_weight_decay_on_weights_only() -> None:
    backbone, dim = create_backbone("resnet-tiny")
    model = trex.TReX(backbone, 5, "trex", feature_dim=dim, hidden_dim=32, out_dim=16, memory_size=8)
    decay, no_decay = param_groups(model, 1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    norms = {
        id(p)
        for m in model.modules()
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
        for p in m.parameters()
    }
    biases = {id(p) for n, p in model.named_parameters() if n.endswith(".bias")}
    assert {id(p) for p in no_decay["params"]} == (norms | biases) - {id(p) for p in model.ema.parameters()}
    convs = {id(m.weight) for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)}
    assert convs <= {id(p) for p in decay["params"]}
    assert not {id(p) for p in model.ema.parameters()} & {id(p) for g in (decay, no_decay) for p in g["params"]}


def test_default_threads_are_the_cores_available_divided_among_local_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from trex.train.config import default_threads

    # Five cores in this process's affinity mask out of many, and a machine load that must not matter.
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5, 7, 9}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "getloadavg", lambda: (63.0, 63.0, 63.0), raising=False)
    assert [default_threads(n) for n in (1, 2, 3, 5, 8)] == [5, 2, 1, 1, 1]


def test_curves_tick_whole_epochs_only() -> None:
    import matplotlib.pyplot as plt

    from trex.train.report import metrics_figure

    records = [{"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.1 / e, "val_top1": 20.0 * e} for e in (1, 2, 3)]
    fig = metrics_figure(records, lr_schedule(0.4, 1e-6, total_iters=30, warmup_iters=5), 10, "t")
    try:
        fig.canvas.draw()
        for ax in fig.axes:  # loss, accuracy, learning rate: matplotlib's default would tick 1.5, 2.5
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert len(ticks) >= 2 and all(t == round(t) for t in ticks), (ax.get_title(), ticks)
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------- recipes end to end


@pytest.mark.parametrize("recipe", ["trex", "trex-star", "baseline"])
def test_recipe_trains_and_validates(recipe: str, runs: dict[str, Path], tiny: Path) -> None:
    out = runs[recipe]
    assert {p.name for p in out.iterdir()} >= {
        "checkpoint.pt",
        "backbone.pt",
        "metrics.jsonl",
        "curves.png",
        "config.json",
    }
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == recipe and cfg["resolved"]["classes"] == [class_folder_name(c) for c in range(5)]
    # The thread counts used are recorded (the flags asked for 1 and 1), next to the flags as given.
    assert (cfg["resolved"]["threads"], cfg["resolved"]["workers"]) == (1, 1) and cfg["threads"] == 1
    (record,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert record["epoch"] == 1 and math.isfinite(record["train_loss"]) and record["val_images"] == 5 * PER_CLASS
    with Image.open(out / "curves.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 500

    # Reference: the checkpoint's model on the validation images preprocessed by torchvision on
    # PIL images (Resize 37 bicubic + CenterCrop 32 + Normalize), independent of trex's decoder.
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    backbone, dim = create_backbone("resnet-tiny")
    model = trex.TReX(backbone, 5, recipe, feature_dim=dim, **model_kwargs(state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    import torchvision.transforms as T

    tf = T.Compose(
        [
            T.Resize(37, interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(32),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    files = sorted((tiny / "seen" / "val").glob("*/*.jpg"))
    x = torch.stack([tf(_rgb(f)) for f in files])
    y = torch.tensor([int(f.parent.name[0]) for f in files])
    with torch.no_grad():
        loss, logits = model([x], y)
    top1 = 100.0 * (logits.argmax(1) == y).float().mean().item()
    assert abs(top1 - record["val_top1"]) <= 100.0 / len(files) + 1e-9  # at most one image differs
    assert record["val_loss"] == pytest.approx(loss.item(), rel=0.02)
    if recipe != "baseline":
        # The memory holds the global crops of every step: 6 steps x 10 images, 40 slots.
        labels = model.head.memory.labels
        assert int((labels >= 0).sum()) == 40
    else:
        assert isinstance(model.head, torch.nn.Linear) and model.ema is None

    # backbone.pt rebuilds the same backbone for transfer.
    loaded, info = load_backbone(out / "backbone.pt")
    assert info["arch"] == "resnet-tiny" and info["feature_dim"] == 128 and info["recipe"] == recipe
    with torch.no_grad():
        torch.testing.assert_close(loaded(x[:4]), model.backbone(x[:4]), rtol=0, atol=0)


# ------------------------------------------------------------------------------- crops and head apart


def test_defaults_leave_crops_and_projector_to_the_recipe(runs: dict[str, Path], tiny: Path, tmp_path: Path) -> None:
    for recipe, layers in (("trex", 3), ("trex-star", 1), ("baseline", 0)):
        saved = json.loads((runs[recipe] / "config.json").read_text())
        assert saved["crops"] is None and saved["projector_layers"] is None
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k != "resolved"})
        assert (cfg.crop_recipe, cfg.head_projector_layers) == (recipe, layers)
    # The same settings given explicitly train the same model, bit for bit.
    out = tmp_path / "explicit"
    assert (
        train(
            "--data",
            str(tiny / "seen"),
            "--recipe",
            "trex",
            "--crops",
            "trex",
            "--projector-layers",
            "3",
            "--epochs",
            "1",
            *SMALL,
            "--out",
            str(out),
        )
        == 0
    )
    a = torch.load(runs["trex"] / "checkpoint.pt", weights_only=True)
    b = torch.load(out / "checkpoint.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["metrics"][0]["train_loss"] == b["metrics"][0]["train_loss"]


def _loader_groups(cfg: TrainConfig) -> list[tuple[int, ...]]:
    splits = load_splits(cfg, Dist(), 1)
    loader = create_train_loader(cfg, splits, Dist(), 1, pin_memory=False)
    batch = next(iter(loader))
    return [tuple(g.shape) for g in batch.groups]


def test_baseline_classifier_on_trex_crops(tiny: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    args = ["--data", str(tiny / "seen"), *SMALL, "--epochs", "1", "--out", str(tmp_path / "run")]
    cfg = config_of(*args, "--recipe", "baseline", "--crops", "trex")
    assert (cfg.recipe, cfg.crop_recipe, cfg.head_projector_layers) == ("baseline", "trex", 0)
    # The loader cuts t-ReX's 1 global + 8 local crops (sizes from --global-size / --local-size) ...
    assert _loader_groups(cfg) == [(BATCH, 3, 32, 32), (8 * BATCH, 3, 16, 16)]
    assert _loader_groups(config_of(*args, "--recipe", "baseline")) == [(BATCH, 3, 32, 32)]  # ... not one crop

    caplog.set_level(logging.INFO, logger="trex.train")
    assert train(*args, "--recipe", "baseline", "--crops", "trex") == 0
    assert "crops 1x32 + 8x16" in caplog.text
    assert "recipe baseline, crops trex, no projector, linear classifier" in caplog.text
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["recipe"], saved["crops"]) == ("baseline", "trex")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert {k for k in state["model"] if k.startswith("head.")} == {"head.weight", "head.bias"}
    assert not any(k.startswith("ema.") for k in state["model"])
    assert math.isfinite(state["metrics"][0]["train_loss"])
    info = torch.load(tmp_path / "run" / "backbone.pt", weights_only=True)
    assert (info["recipe"], info["crops"], info["projector_layers"]) == ("baseline", "trex", 0)


def test_memory_without_projector_on_one_crop(tiny: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # --recipe trex --crops baseline: the t-ReX head on one crop per image; --projector-layers 0:
    # its prototypes act on the backbone features (baseline + memory).
    out = tmp_path / "run"
    args = [
        "--data",
        str(tiny / "seen"),
        "--recipe",
        "trex",
        "--crops",
        "baseline",
        "--projector-layers",
        "0",
        *SMALL,
        "--epochs",
        "1",
        "--out",
        str(out),
    ]
    cfg = config_of(*args)
    assert (cfg.crop_recipe, cfg.head_projector_layers) == ("baseline", 0)
    assert _loader_groups(cfg) == [(BATCH, 3, 32, 32)]
    caplog.set_level(logging.INFO, logger="trex.train")
    assert train(*args) == 0
    assert "steps per epoch, crops 1x32\n" in caplog.text  # one crop per image
    assert "recipe trex, crops baseline, no projector, memory prototypes (40 entries)" in caplog.text
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    model = state["model"]
    assert not any(".projector." in k for k in model)  # no projector parameters, online or EMA
    assert model["head.memory.features"].shape == (40, 128)  # resnet-tiny's 128 backbone features
    assert int((model["head.memory.labels"] >= 0).sum()) == 40  # 6 steps x 10 single crops fill 40 slots
    assert any(k.startswith("ema.backbone.") for k in model)
    backbone, dim = create_backbone("resnet-tiny")
    rebuilt = trex.TReX(backbone, 5, "trex", feature_dim=dim, projector_layers=0, **model_kwargs(state["config"]))
    rebuilt.load_state_dict(model)  # strict: the same structure
    assert math.isfinite(state["metrics"][0]["train_loss"])


def test_projector_head_on_one_crop_trains(tiny: Path, tmp_path: Path) -> None:
    # baseline + projector: one crop, t-ReX's 3-layer projector, learned cosine classifier.
    out = tmp_path / "run"
    assert (
        train(
            "--data",
            str(tiny / "seen"),
            *SMALL,
            "--recipe",
            "trex",
            "--crops",
            "baseline",
            "--memory-size",
            "0",
            "--epochs",
            "1",
            "--out",
            str(out),
        )
        == 0
    )  # after SMALL: its --memory-size is 40
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["model"]["head.weight"].shape == (5, 16)  # cosine classifier on the 16-d projector output
    assert sum(k.startswith("head.projector.layers.") and k.endswith(".weight") for k in state["model"]) == 7
    assert math.isfinite(state["metrics"][0]["train_loss"])


def test_checkpoint_without_the_new_settings_resumes_as_the_recipe(runs: dict[str, Path], tmp_path: Path) -> None:
    # A checkpoint written before --crops / --projector-layers existed has neither key.
    state = torch.load(runs["trex"] / "checkpoint.pt", weights_only=True)
    del state["config"]["crops"], state["config"]["projector_layers"]
    old = tmp_path / "old.pt"
    torch.save(state, old)
    kw = dict(recipe="trex", arch="resnet-tiny", classes=state["classes"])
    assert ckpt.load_checkpoint(old, **kw, crops="trex", projector_layers=3)["epoch"] == 1
    with pytest.raises(TrainConfigError, match="trained with crops 'trex', this run uses 'baseline'"):
        ckpt.load_checkpoint(old, **kw, crops="baseline", projector_layers=3)
    with pytest.raises(TrainConfigError, match="projector has 3 hidden layers, this run's 0"):
        ckpt.load_checkpoint(old, **kw, crops="trex", projector_layers=0)


# ------------------------------------------------------------------------------- resume


def test_resume_takes_the_runs_settings_for_flags_not_given(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    saved = config_of(
        "--data",
        str(tmp_path / "data"),
        "--recipe",
        "baseline",
        "--epochs",
        "3",
        "--lr",
        "0.3",
        "--global-size",
        "40",
        "--out",
        str(run),
        "--threads",
        "1",
    )
    (run / "config.json").write_text(json.dumps({**saved.to_json(), "resolved": {"threads": 1}}))
    resumed = config_of("--resume", str(run / "checkpoint.pt"))
    assert {**resumed.to_json(), "resume": None, "out": str(run)} == saved.to_json()
    longer = config_of("--resume", str(run), "--epochs", "5", "--recipe", "trex")  # flags given win
    assert (longer.epochs, longer.recipe, longer.lr, longer.global_size) == (5, "trex", 0.3, 40)
    # No config.json (a checkpoint copied elsewhere): the presets, as without --resume.
    assert config_of("--resume", str(tmp_path / "ckpt.pt")) == config_of(
        "--resume", str(tmp_path / "ckpt.pt"), "--recipe", "trex"
    )
    assert config_of("--resume", str(tmp_path / "ckpt.pt")).epochs == config_of().epochs
    (run / "config.json").write_text("{not json")
    with pytest.raises(TrainConfigError, match="cannot read the run's settings"):
        config_of("--resume", str(run))


def test_resume_after_epoch_1_matches_uninterrupted_run(tiny: Path, tmp_path: Path) -> None:
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    common = ["--data", str(tiny / "seen"), "--recipe", "trex", "--epochs", "2", *SMALL]
    assert train(*common, "--out", str(full), "--save-every", "1") == 0
    # --resume alone: every other setting is the resumed run's (its config.json)
    assert train("--out", str(resumed), "--resume", str(full / "checkpoint-epoch0001.pt")) == 0
    a = [json.loads(line) for line in (full / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in a] == [r["epoch"] for r in b] == [1, 2]
    keys = ("train_loss", "val_top1", "val_loss", "lr")
    assert {k: b[1][k] for k in keys} == {k: a[1][k] for k in keys}
    sa = torch.load(full / "checkpoint.pt", weights_only=True)
    sb = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert sa["model"].keys() == sb["model"].keys()
    for k in sa["model"]:  # backbone, head, EMA copy and memory: bit for bit
        assert torch.equal(sa["model"][k], sb["model"][k]), k
    assert sa["optimizer"]["state"].keys() == sb["optimizer"]["state"].keys()
    for k, v in sa["optimizer"]["state"].items():
        assert torch.equal(v["momentum_buffer"], sb["optimizer"]["state"][k]["momentum_buffer"])


# ------------------------------------------------------------------------------- distributed


def test_two_process_gloo_run_stays_in_sync(tiny: Path, tmp_path: Path) -> None:
    out, dump = tmp_path / "out", tmp_path / "ranks"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "trex",
        "train",
        "--data",
        str(tiny / "seen"),
        "--recipe",
        "trex",
        "--epochs",
        "2",
        *SMALL,
        "--memory-size",
        "64",
        "--out",
        str(out),
        "--dump-rank-state",
        str(dump),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(dump / "rank0.pt", weights_only=True)
    r1 = torch.load(dump / "rank1.pt", weights_only=True)
    assert r0.keys() == r1.keys()
    for k in r0:  # parameters, BatchNorm statistics, EMA copy and memory are identical
        assert torch.equal(r0[k], r1[k]), k
    # Each rank trains on 30 of the 60 images (3 steps of 10 per epoch) and the memory receives
    # the global crops of both ranks: 6 pushes x 2 ranks x 10 = 120 rows fill the 64 slots, where
    # one rank's own 60 rows could not.
    labels = r0["head.memory.labels"]
    assert int((labels >= 0).sum()) == 64
    assert int(r0["head.memory.pushes"]) == 6
    # Only rank 0 writes and prints: one metrics line per epoch, one summary.
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert proc.stdout.count("done in") == 1
    # ... ending with the next command to run, on this run's backbone.
    assert proc.stdout.rstrip().endswith(f"trex transfer --backbone {out / 'backbone.pt'}"), proc.stdout
    assert proc.stderr.count("epoch 2/2: train loss") == 1
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["resolved"]["world_size"] == 2 and cfg["resolved"]["total_batch"] == 2 * BATCH


# ------------------------------------------------------------------------------- bad input


def _error_line(capsys: pytest.CaptureFixture[str], rc: int, case: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, (case, err[-2000:])
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("trex train: error: ")
    return last


def _folder(root: Path, spec: dict[str, dict[str, list[bytes]]]) -> Path:
    for split, classes in spec.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for name, files in classes.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i, data in enumerate(files):
                (root / split / name / f"{i}.jpg").write_bytes(data)
    return root


def test_bad_input_gives_one_line_errors(
    tiny: Path, runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = (tiny / "seen" / "train" / class_folder_name(0)).glob("*.jpg")
    jpeg = next(good).read_bytes()
    cases = {
        "no such folder": ["--data", str(tmp_path / "missing")],
        "no train/ sub-folder": ["--data", str(_folder(tmp_path / "notrain", {"val": {"a": [jpeg]}}))],
        "no class sub-folders": ["--data", str(_folder(tmp_path / "empty", {"train": {}, "val": {}}))],
        "holds no image file": [
            "--data",
            str(_folder(tmp_path / "emptyclass", {"train": {"a": [jpeg], "b": []}, "val": {"a": [jpeg]}})),
        ],
        "holds no readable image": [
            "--data",
            str(
                _folder(
                    tmp_path / "unreadable",
                    {"train": {"a": [jpeg], "b": [b"not an image", b""]}, "val": {"a": [jpeg], "b": [jpeg]}},
                )
            ),
        ],
        "validation classes differ": [
            "--data",
            str(
                _folder(tmp_path / "valdiff", {"train": {"a": [jpeg], "b": [jpeg]}, "val": {"a": [jpeg], "c": [jpeg]}})
            ),
        ],
        "unknown recipe 'simclr'": ["--data", str(tiny / "seen"), "--recipe", "simclr"],
        "unknown architecture 'vgg11'": ["--data", str(tiny / "seen"), "--arch", "vgg11"],
        "trained with recipe 'baseline'": [
            "--data",
            str(tiny / "seen"),
            "--recipe",
            "trex",
            "--resume",
            str(runs["baseline"]),
        ],
        "no checkpoint there": ["--data", str(tiny / "seen"), "--resume", str(tmp_path / "nothing")],
        "trained with crops 'trex'": [
            "--data",
            str(tiny / "seen"),
            "--recipe",
            "trex",
            "--crops",
            "baseline",
            "--resume",
            str(runs["trex"]),
        ],
        "projector has 3 hidden layers": [
            "--data",
            str(tiny / "seen"),
            "--recipe",
            "trex",
            "--projector-layers",
            "1",
            "--resume",
            str(runs["trex"]),
        ],
        "unknown crops 'dino'": ["--data", str(tiny / "seen"), "--crops", "dino"],
        "--projector-layers must not be negative": ["--data", str(tiny / "seen"), "--projector-layers", "-1"],
        "baseline has a linear classifier and no projector": [
            "--data",
            str(tiny / "seen"),
            "--recipe",
            "baseline",
            "--projector-layers",
            "2",
        ],
        "--amp fp16 needs a CUDA device": ["--data", str(tiny / "seen"), "--amp", "fp16", "--device", "cpu"],
    }
    # A bad file among good ones is found by the loader while training, and named.
    shutil.copytree(tiny / "seen", tmp_path / "onebad")
    (tmp_path / "onebad" / "train" / class_folder_name(2) / "zzz-truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    cases["zzz-truncated.jpg"] = ["--data", str(tmp_path / "onebad"), "--batch-size", str(5 * PER_CLASS + 1)]
    for expected, args in cases.items():
        out = tmp_path / "out" / expected.split()[0]
        line = _error_line(capsys, train(*SMALL, *args, "--epochs", "1", "--out", str(out)), expected)
        assert expected in line, line
    # Nothing was trained: no checkpoint anywhere.
    assert not list((tmp_path / "out").rglob("checkpoint.pt"))
    with pytest.raises(TrainConfigError, match="unknown recipe"):
        config_from_args(argparse.Namespace(recipe="x", data=None))


def test_cli_error_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trex", "train", "--data", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"trex train: error: --data {tmp_path / 'missing'}: no such folder; expected an ImageFolder root "
        "with train/ and val/"
    )
