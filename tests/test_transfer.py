"""Transfer evaluation: linear probe, C selection, kNN, log-odds, bad input, and `trex transfer`
end to end on a small backbone file and small folders of real photos."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import write_folder

from trex.cli.main import main
from trex.transfer import (
    TransferError,
    holdout_split,
    knn_predict,
    linear_probe,
    load_dataset,
    log_odds,
    mean_log_odds,
    select_c,
)


def planted(n_per_class: int, classes: int, informative: int, noise_dims: int, flip: float, seed: int):
    """Features whose label is the argmax of a fixed linear map of `informative` dimensions, plus
    `noise_dims` irrelevant ones, every dimension on its own scale, a fraction `flip` of the labels
    replaced at random. Rows are shuffled."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(informative, classes))
    x = rng.normal(size=(40 * n_per_class * classes, informative))
    y = (x @ w).argmax(1)
    keep = np.concatenate([np.flatnonzero(y == k)[:n_per_class] for k in range(classes)])
    assert len(keep) == n_per_class * classes
    keep = rng.permutation(keep)
    x, y = x[keep], y[keep].copy()
    x = np.concatenate([x, rng.normal(size=(len(x), noise_dims))], 1)
    x = x * rng.uniform(0.1, 10, size=informative + noise_dims)
    flipped = rng.random(len(y)) < flip
    y[flipped] = rng.integers(0, classes, flipped.sum())
    return x, y


def test_probe_recovers_a_planted_linear_rule() -> None:
    # Noise-free labels from a linear rule on dimensions of very different scales: the probe must
    # reach near-perfect test accuracy (a nearest-class-mean rule, the reference, does worse).
    x, y = planted(250, 4, 8, 0, 0.0, seed=1)
    result = linear_probe(x[:800], y[:800], x[800:], y[800:])
    assert result.top1 > 0.95, result
    assert result.converged
    means = np.stack([x[:800][y[:800] == k].mean(0) for k in range(4)])
    ncm = (np.linalg.norm(x[800:, None] - means[None], axis=2).argmin(1) == y[800:]).mean()
    assert result.top1 > ncm + 0.1, (result.top1, ncm)
    # Shuffled training labels carry no rule: near chance (25%).
    shuffled = linear_probe(x[:800], np.random.default_rng(0).permutation(y[:800]), x[800:], y[800:])
    assert shuffled.top1 < 0.45


def test_c_selection_picks_a_value_that_generalises() -> None:
    # 30% random labels and 60 irrelevant dimensions on 160 images per class: a weak C underfits,
    # a huge C fits the noise. The held-out choice must lie inside the grid, and its test accuracy
    # must be close to that of the best C picked with hindsight on the test set.
    x, y = planted(160, 3, 4, 60, 0.3, seed=3)
    train, test = np.arange(360), np.arange(360, 480)
    grid = [float(c) for c in np.logspace(-4, 4, 9)]
    c, curve = select_c(x[train], y[train], grid)
    assert len(curve) == len(grid)
    assert curve[grid.index(c)] == max(curve)
    assert grid[0] < c < grid[-1], (c, curve)
    tests = {g: linear_probe(x[train], y[train], x[test], y[test], [g]).top1 for g in grid}
    chosen = linear_probe(x[train], y[train], x[test], y[test], grid)
    assert chosen.c == c
    assert chosen.top1 >= max(tests.values()) - 0.05, (chosen, tests)
    assert chosen.top1 > min(tests.values()) + 0.05, tests  # the choice mattered


def test_holdout_split_takes_twenty_percent_of_each_class() -> None:
    y = np.array([0] * 10 + [1] * 7 + [2] * 1 + [3] * 20)
    fit, held = holdout_split(y)
    assert len(np.intersect1d(fit, held)) == 0 and len(fit) + len(held) == len(y)
    counts = {k: int((y[held] == k).sum()) for k in range(4)}
    assert counts == {0: 2, 1: 2, 2: 0, 3: 4}  # ceil(0.2 n), none of a single-image class


def test_mean_log_odds_matches_a_hand_computation() -> None:
    # log(0.9/0.1) = log 9, log(0.6/0.4) = log 1.5, log(0.75/0.25) = log 3
    lo, acc = mean_log_odds([0.9, 0.6, 0.75])
    by_hand = (math.log(9) + math.log(1.5) + math.log(3)) / 3  # = log(40.5) / 3 = 1.2337...
    assert lo == pytest.approx(by_hand, rel=1e-12)
    assert lo == pytest.approx(math.log(40.5) / 3, rel=1e-12)
    assert acc == pytest.approx(40.5 ** (1 / 3) / (1 + 40.5 ** (1 / 3)), rel=1e-12)  # sigmoid(log(x)) = x/(1+x)
    assert acc != pytest.approx((0.9 + 0.6 + 0.75) / 3)  # not the plain mean (0.75)
    assert mean_log_odds([0.3, 0.7]) == pytest.approx((0.0, 0.5))
    assert math.isfinite(log_odds(1.0)) and math.isfinite(log_odds(0.0))
    with pytest.raises(ValueError, match="accuracy"):
        log_odds(1.5)
    with pytest.raises(ValueError, match="at least one"):
        mean_log_odds([])


def knn_reference(train_x, train_y, test_x, k, t, classes):
    """DINO's formula written out with loops in numpy."""
    a = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    out = []
    for q in test_x:
        q = q / np.linalg.norm(q)
        sim = a @ q
        idx = np.argsort(-sim, kind="stable")[:k]
        votes = np.zeros(classes)
        for i in idx:
            votes[train_y[i]] += math.exp(sim[i] / t)
        out.append(int(np.argmax(votes)))
    return np.array(out)


def test_knn_on_planted_clusters() -> None:
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(5, 32)) * 3
    train_y = np.repeat(np.arange(5), 40)
    train_x = centres[train_y] + rng.normal(size=(200, 32))
    test_y = np.repeat(np.arange(5), 10)
    # Far from the origin along the centre direction: the cosine neighbours are that cluster's.
    test_x = 2.0 * centres[test_y] + 0.5 * rng.normal(size=(50, 32))
    pred = knn_predict(torch.tensor(train_x), torch.tensor(train_y), torch.tensor(test_x))
    assert pred.dtype == torch.int64
    assert (pred.numpy() == test_y).all()
    # Overlapping clusters: the prediction must match the loop reference point by point.
    mixed = rng.normal(size=(60, 32)) + centres[rng.integers(0, 5, 60)] * 0.3
    got = knn_predict(
        torch.tensor(train_x), torch.tensor(train_y), torch.tensor(mixed), k=20, temperature=0.07, chunk=7
    ).numpy()
    assert (got == knn_reference(train_x, train_y, mixed, 20, 0.07, 5)).all()


# ------------------------------------------------------------------ folders, checkpoints, CLI


@pytest.fixture(scope="module")
def transfer_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ (3 classes x 8 photos) and test/ (3 classes x 4 photos), short side 40-60 px."""
    root = tmp_path_factory.mktemp("transfer")
    write_folder(root / "train", classes=3, per_class=8, short_side=(40, 60), seed=1)
    write_folder(root / "test", classes=3, per_class=4, short_side=(40, 60), seed=2)
    return root


@pytest.fixture(scope="module")
def backbone_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from trex.train.backbones import SmallResNet
    from trex.train.checkpoint import save_backbone

    torch.manual_seed(0)
    net = SmallResNet()
    for m in net.modules():  # non-trivial BN statistics and residual weights, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.1, 0.1)
            m.weight.data.uniform_(0.5, 1.5)
    out = tmp_path_factory.mktemp("run")
    save_backbone(
        net,
        out,
        arch="resnet-small",
        feature_dim=net.feature_dim,
        recipe="trex",
        epoch=1,
        image_size=32,
        classes=["a", "b"],
    )
    return out / "backbone.pt"


def test_dataset_without_test_split(tmp_path: Path, transfer_root: Path) -> None:
    shutil.copytree(transfer_root / "train", tmp_path / "train")
    with pytest.raises(TransferError, match=r"no test/ \(or val/\) sub-folder"):
        load_dataset("x", tmp_path)
    shutil.copytree(transfer_root / "test", tmp_path / "val")
    assert len(load_dataset("x", tmp_path).test) == 12  # val/ accepted instead of test/
    with pytest.raises(TransferError, match="no train/ sub-folder"):
        load_dataset("x", tmp_path / "val")


def test_class_in_test_but_not_train(tmp_path: Path, transfer_root: Path) -> None:
    shutil.copytree(transfer_root, tmp_path / "d")
    shutil.copytree(transfer_root / "test" / "class0", tmp_path / "d" / "test" / "zebra")
    with pytest.raises(TransferError, match="class 'zebra' is in test/ but not in train/"):
        load_dataset("d", tmp_path / "d")


def test_test_labels_follow_train_class_order(tmp_path: Path, transfer_root: Path) -> None:
    shutil.copytree(transfer_root, tmp_path / "d")
    shutil.rmtree(tmp_path / "d" / "test" / "class0")  # test/ has a subset: class1 is still label 1
    ds = load_dataset("d", tmp_path / "d")
    assert ds.classes == ["class0", "class1", "class2"]
    assert sorted({label for _, label in ds.test}) == [1, 2]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", ["bytes", "training-checkpoint", "tensor", "missing"])
def test_checkpoint_that_is_not_a_backbone(
    kind: str, tmp_path: Path, transfer_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.pt"
    if kind == "bytes":
        path.write_bytes(Path(transfer_root / "train" / "class0" / "img000.jpg").read_bytes())
    elif kind == "training-checkpoint":
        torch.save({"format": 1, "epoch": 1, "model": {"w": torch.zeros(2)}}, path)
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    code, out, err = run_cli(["transfer", "--backbone", str(path), "--dataset", f"d={transfer_root}"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("trex transfer: error: --backbone"), err
    expected = {
        "bytes": "not a backbone file",
        "training-checkpoint": "training checkpoint, not a backbone",
        "tensor": "not a backbone file",
        "missing": "no such file",
    }[kind]
    assert expected in err


def test_cli_bad_dataset_is_one_line(tmp_path: Path, backbone_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "only" / "train" / "a").mkdir(parents=True)
    code, _, err = run_cli(
        ["transfer", "--backbone", str(backbone_file), "--dataset", f"only={tmp_path / 'only'}", "--no-cache"], capsys
    )
    assert code == 2 and err.count("\n") == 1 and "dataset only" in err and "test/" in err


def test_transfer_end_to_end(
    tmp_path: Path,
    transfer_root: Path,
    backbone_file: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    cache, out = tmp_path / "cache", tmp_path / "out"
    argv = [
        "transfer",
        "--backbone",
        str(backbone_file),
        "--dataset",
        f"photos={transfer_root}",
        "--dataset",
        f"photos2={transfer_root}",
        "--knn",
        "--knn-k",
        "5",
        "--c-grid",
        "0.01,1,100",
        "--cache",
        str(cache),
        "--out",
        str(out),
        "--threads",
        "1",
        "--batch-size",
        "16",
    ]
    code, text, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "mean (log-odds)" in text and "photos2" in text
    # Each set's log line says which count is which; the end says where the results are.
    assert "photos: linear top-1" in caplog.text and "train 24 / test 12 images" in caplog.text
    assert f"results: {out / 'transfer.json'}" in text and f"chart:   {out / 'transfer.png'}" in text
    assert text.rstrip().splitlines()[-1].startswith("look at the mean (log-odds) row")
    result = json.loads((out / "transfer.json").read_text())
    assert (out / "transfer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = result["datasets"]
    assert [r["name"] for r in rows] == ["photos", "photos2"]
    assert rows[0]["train_images"] == 24 and rows[0]["test_images"] == 12 and rows[0]["classes"] == 3
    assert result["image_size"] == 32 and result["backbone"]["arch"] == "resnet-small"
    for r in rows:
        assert 0.0 <= r["linear_top1"] <= 100.0 and 0.0 <= r["knn_top1"] <= 100.0
        assert r["c"] in (0.01, 1.0, 100.0)
    # The same folder twice: the second read the first's cached features, same answer.
    assert not rows[0]["features_cached"] and rows[1]["features_cached"]
    assert rows[0]["linear_top1"] == rows[1]["linear_top1"] and rows[0]["knn_top1"] == rows[1]["knn_top1"]
    lo, acc = mean_log_odds([r["linear_top1"] / 100 for r in rows])
    assert result["mean"]["linear_log_odds"] == pytest.approx(lo)
    assert result["mean"]["linear_top1"] == pytest.approx(100 * acc)
    assert len(list(cache.glob("*.pt"))) == 1
    # Cached features equal a fresh extraction by an independent pipeline (PIL resize + crop,
    # torchvision normalise, the backbone in eval mode).
    from PIL import Image
    from torchvision.transforms import functional as TF

    from trex.transfer import load_frozen_backbone

    net, _ = load_frozen_backbone(backbone_file)
    cached = torch.load(next(cache.glob("*.pt")), weights_only=True)
    ds = load_dataset("photos", transfer_root)
    imgs = []
    for path, _ in ds.test[:4]:
        img = TF.center_crop(TF.resize(Image.open(path).convert("RGB"), 32, TF.InterpolationMode.BICUBIC), 32)
        imgs.append(TF.normalize(TF.to_tensor(img), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
    with torch.no_grad():
        ref = net(torch.stack(imgs))
    cos = torch.nn.functional.cosine_similarity(ref, cached["test"][:4])
    assert (cos > 0.98).all(), cos
    assert torch.equal(cached["test_labels"], torch.tensor([label for _, label in ds.test]))
    # A different checkpoint file is a different cache entry.
    other = tmp_path / "other.pt"
    blob = torch.load(backbone_file, weights_only=True)
    blob["state_dict"]["stem.0.weight"] = blob["state_dict"]["stem.0.weight"] * 2
    torch.save(blob, other)
    code, _, err = run_cli(
        [
            "transfer",
            "--backbone",
            str(other),
            "--dataset",
            f"p={transfer_root}",
            "--c-grid",
            "1",
            "--cache",
            str(cache),
            "--out",
            str(tmp_path / "o2"),
            "--threads",
            "1",
        ],
        capsys,
    )
    assert code == 0, err
    assert not json.loads((tmp_path / "o2" / "transfer.json").read_text())["datasets"][0]["features_cached"]
    assert len(list(cache.glob("*.pt"))) == 2
