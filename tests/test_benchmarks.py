"""The benchmarks of `trex compare`: the coarse-to-fine data and its label mapping, the reference
rows (raw pixels and random init go through the same probe code as trained backbones), the
near/far summary, and the presets resolving to valid `trex train` configurations."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trex
from conftest import run_record
from trex.compare import BENCHMARKS, VARIANTS, Budget, summarise, train_config
from trex.compare.references import PIXELS, RANDOM_INIT, reference_backbone
from trex.data.fashion_coarse_fine import COARSE_CLASSES, coarse_label, prepare_fashion_coarse_folder
from trex.data.fashion_mnist import DEFAULT_ROOT
from trex.transfer import TransferOptions, evaluate_transfer, extract, linear_probe, load_dataset, load_frozen_backbone


def _idx(name: str) -> np.ndarray:
    """An idx file of the Debian package, read here without trex (the independent reference)."""
    with gzip.open(Path(DEFAULT_ROOT) / name) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def test_coarse_label_mapping() -> None:
    # the super-classes, written independently of the module's table
    expected = {0: 0, 2: 0, 4: 0, 6: 0, 1: 1, 3: 1, 5: 2, 7: 2, 9: 2, 8: 3}
    assert {k: coarse_label(k) for k in range(10)} == expected
    assert sorted(c for members in COARSE_CLASSES.values() for c in members) == list(range(10))
    assert list(COARSE_CLASSES) == sorted(COARSE_CLASSES)  # folder order = label order
    for bad in (-1, 10, 2.5):
        with pytest.raises(ValueError, match="classes 0-9"):
            coarse_label(bad)


def test_coarse_tree_holds_each_image_under_its_super_class(tmp_path: Path) -> None:
    root = prepare_fashion_coarse_folder(tmp_path / "coarse", per_class=3, threads=2)
    images, labels = _idx("t10k-images-idx3-ubyte.gz"), _idx("t10k-labels-idx1-ubyte.gz")
    names = list(COARSE_CLASSES)
    for split, count in (("train", 60_000), ("val", 10_000)):
        folders = sorted(p.name for p in (root / split).iterdir())
        assert folders == names
        for index, name in enumerate(names):
            files = sorted((root / split / name).glob("*.jpg"))
            assert len(files) == 3 * len(COARSE_CLASSES[name]), (split, name)
            if split == "val":
                for f in files:
                    i = int(f.stem.split("-")[1])
                    assert (
                        i < count
                        and {0: 0, 2: 0, 4: 0, 6: 0, 1: 1, 3: 1, 5: 2, 7: 2, 9: 2, 8: 3}[int(labels[i])] == index
                    )
                    # the file is that very test image, upscaled (JPEG: within a few levels)
                    want = np.asarray(
                        Image.fromarray(images[i]).resize((32, 32), Image.Resampling.BICUBIC).convert("RGB"),
                        dtype=np.float64,
                    )
                    got = trex.ops.decode_file(f).numpy().astype(np.float64)
                    assert got.shape == (32, 32, 3) and np.abs(got - want).mean() < 4.0
    mtime = (root / "COMPLETE").stat().st_mtime_ns
    assert prepare_fashion_coarse_folder(tmp_path / "coarse", per_class=3) == root
    assert (root / "COMPLETE").stat().st_mtime_ns == mtime  # built once


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes of coloured noise patterns, 12 training and 6 test images each (24 px)."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 6)):
        for k, colour in enumerate(((220, 40, 40), (40, 200, 60), (50, 60, 230))):
            folder = root / split / f"c{k}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = np.clip(np.array(colour) * rng.uniform(0.5, 1.0) + rng.normal(0, 40, (24, 24, 3)), 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(folder / f"{i}.png")
    return root


def test_raw_pixel_row_is_the_same_probe_on_the_pixels(tiny_set: Path, tmp_path: Path) -> None:
    path = reference_backbone(PIXELS, "resnet-tiny", 32, 0, tmp_path)
    backbone, info = load_frozen_backbone(path)
    assert info["arch"] == "pixels" and info["image_size"] == 32 and info["feature_dim"] == 3 * 16 * 16
    ds = load_dataset("tiny", tiny_set)
    result = evaluate_transfer(path, [ds], TransferOptions(cache_dir=None, threads=1))

    # independently: resize to 32 (bicubic, antialiased), ImageNet-normalise, 2x2 means, probe
    from torchvision.transforms.v2 import functional as F

    def pixels(samples: list[tuple[str, int]]) -> np.ndarray:
        out = []
        for p, _ in samples:
            img = torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
            img = F.resize(img, [32], interpolation=F.InterpolationMode.BICUBIC, antialias=True).float() / 255
            img = (img - torch.tensor(trex.constants.IMAGENET_MEAN)[:, None, None]) / torch.tensor(
                trex.constants.IMAGENET_STD
            )[:, None, None]
            out.append(img.reshape(3, 16, 2, 16, 2).mean((2, 4)).flatten().numpy())
        return np.stack(out)

    train_x, test_x = pixels(ds.train), pixels(ds.test)
    feats, _ = extract(backbone, ds.train, 32, threads=1)
    np.testing.assert_allclose(feats.numpy(), train_x, atol=1e-5)
    probe = linear_probe(train_x, np.array([y for _, y in ds.train]), test_x, np.array([y for _, y in ds.test]))
    assert result["datasets"][0]["linear_top1"] == pytest.approx(100 * probe.top1)
    assert result["datasets"][0]["c"] == probe.c


def test_random_init_row_is_seeded_and_of_the_architecture(tiny_set: Path, tmp_path: Path) -> None:
    from trex.train.backbones import create_backbone

    a = reference_backbone(RANDOM_INIT, "resnet-tiny", 32, 0, tmp_path)
    b = reference_backbone(RANDOM_INIT, "resnet-tiny", 32, 1, tmp_path)
    again = reference_backbone(RANDOM_INIT, "resnet-tiny", 32, 0, tmp_path / "other")
    sa, sb, s0 = (torch.load(p, weights_only=True)["state_dict"] for p in (a, b, again))
    fresh, _ = create_backbone("resnet-tiny")
    assert {k: v.shape for k, v in sa.items()} == {k: v.shape for k, v in fresh.state_dict().items()}
    assert all(torch.equal(sa[k], s0[k]) for k in sa)  # same seed, same weights
    assert not torch.equal(sa["stem.0.weight"], sb["stem.0.weight"])
    state = torch.get_rng_state()
    reference_backbone(RANDOM_INIT, "resnet-tiny", 32, 5, tmp_path)
    assert torch.equal(state, torch.get_rng_state())  # the caller's random stream is untouched
    result = evaluate_transfer(a, [load_dataset("tiny", tiny_set)], TransferOptions(cache_dir=None, threads=1))
    assert result["backbone"]["arch"] == "resnet-tiny" and 0 <= result["datasets"][0]["linear_top1"] <= 100


def test_summary_splits_near_and_far_and_keeps_reference_rows(tmp_path: Path) -> None:
    from trex.compare import markdown, write_outputs
    from trex.transfer import mean_log_odds

    kinds = {"near": "near", "f1": "far", "f2": "far"}
    runs = [
        run_record("trex", 0, 50.0, {"near": 40.0, "f1": 80.0, "f2": 90.0}),
        run_record("trex", 1, 52.0, {"near": 44.0, "f1": 82.0, "f2": 88.0}),
        run_record("raw-pixels", 0, None, {"near": 10.0, "f1": 70.0, "f2": 60.0}),
    ]
    rows = summarise(runs, {}, kinds)
    far = [100 * mean_log_odds([0.8, 0.9])[1], 100 * mean_log_odds([0.82, 0.88])[1]]
    assert rows[0]["far_top1"]["mean"] == pytest.approx(np.mean(far))
    assert rows[0]["near_top1"]["mean"] == pytest.approx(42.0)
    assert rows[1]["seen_top1"] is None and rows[1]["near_top1"]["mean"] == pytest.approx(10.0)
    table = markdown(rows)
    assert "| raw-pixels | 1 | — |" in table and "near transfer (%)" in table and "far transfer (%)" in table
    paths = write_outputs(runs, rows, tmp_path, {"budget": "2 epochs", "datasets": list(kinds), "kinds": kinds})
    assert Path(paths["plot"]).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_presets_resolve_to_valid_train_configs(name: str, tmp_path: Path) -> None:
    bench = BENCHMARKS[name]
    assert set(bench.presets) == {"cpu", "gpu"}
    for preset_name, preset in bench.presets.items():
        assert preset.seeds >= 2 and preset.jobs >= 1
        settings = dict(preset.settings)
        if bench.data is not None:
            settings["data"] = str(tmp_path)
        budget = Budget(
            epochs=settings.pop("epochs", None),
            batch_size=settings.pop("batch_size", None),
            extra=tuple(settings.items()),
        )
        for variant in preset.variants:
            cfg = train_config(VARIANTS[variant], 1, tmp_path / variant, budget)  # checked as `trex train` does
            assert cfg.seed == 1 and cfg.crop_recipe in ("trex", "trex-star", "baseline")
            for key, value in preset.settings.items():
                if key not in VARIANTS[variant].settings:  # a variant's own settings win
                    assert getattr(cfg, key) == value, (name, preset_name, key)
    kinds = {t.kind for t in bench.transfer}
    assert kinds <= {"near", "far"} and "near" in kinds


def test_differences_from_the_baseline_against_twice_the_pooled_std() -> None:
    from trex.compare.report import differences, differences_markdown

    runs = [
        run_record("baseline", 0, 60.0, {"near": 40.0, "f1": 80.0}),
        run_record("baseline", 1, 62.0, {"near": 42.0, "f1": 82.0}),
        run_record("trex", 0, 59.0, {"near": 50.0, "f1": 81.0}),
        run_record("trex", 1, 61.0, {"near": 52.0, "f1": 81.0}),
        run_record("raw-pixels", 0, None, {"near": 5.0, "f1": 70.0}),
    ]
    rows = summarise(runs, {}, {"near": "near", "f1": "far"})
    (d,) = differences(rows)  # the reference row has no seen task: not compared
    assert d["variant"] == "trex"
    # near: 51 - 41 = +10; both stds sqrt(2): pooled sqrt(2), 2 std = 2.83 -> beyond
    assert d["near_top1"]["diff"] == pytest.approx(10.0) and d["near_top1"]["std"] == pytest.approx(2**0.5)
    assert d["near_top1"]["beyond_2std"]
    # seen: 60 - 61 = -1 within 2.83; far: 81 - 81 = 0 (std of trex 0, baseline sqrt(2): pooled 1)
    assert d["seen_top1"]["diff"] == pytest.approx(-1.0) and not d["seen_top1"]["beyond_2std"]
    assert d["far_top1"]["std"] == pytest.approx(1.0) and not d["far_top1"]["beyond_2std"]
    table = differences_markdown([d])
    assert "| trex | -1.00 (2 std 2.83) |" in table and "+10.00 (2 std 2.83) *" in table
    assert differences(rows, reference="trex-star") == []
