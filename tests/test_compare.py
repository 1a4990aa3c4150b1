"""`trex compare`: aggregation over seeds, the run configuration of each variant and ablation,
reuse checks, and the error for an unknown variant (no training here: that is `trex train`'s
tests' job, and the compare run itself is a benchmark)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from torch import nn

import trex
from conftest import run_record
from trex.cli.main import main
from trex.compare import ABLATIONS, VARIANTS, Budget, finished, markdown, summarise, train_config, write_outputs
from trex.train.backbones import create_backbone
from trex.train.config import BUILTIN, DUAL_DEFAULTS


def record(variant: str, seed: int, seen: float, accs: list[float]) -> dict:
    return run_record(variant, seed, seen, {f"d{i}": a for i, a in enumerate(accs)})


def test_summary_is_mean_and_spread_over_seeds(tmp_path: Path) -> None:
    runs = [
        record("baseline", 0, 80.0, [60.0, 70.0]),
        record("baseline", 1, 84.0, [64.0, 72.0]),
        record("trex", 0, 82.0, [70.0, 75.0]),
    ]
    rows = summarise(runs, {"trex": "t-ReX"})
    assert [r["variant"] for r in rows] == ["baseline", "trex"]
    b = rows[0]
    assert b["seen_top1"]["mean"] == pytest.approx(82.0)
    assert b["seen_top1"]["std"] == pytest.approx(statistics.stdev([80.0, 84.0]))  # 2.828
    assert b["datasets"]["d0"]["mean"] == pytest.approx(62.0) and b["datasets"]["d1"]["std"] == pytest.approx(
        1.41421, rel=1e-4
    )
    assert rows[1]["seen_top1"]["std"] == 0.0 and rows[1]["label"] == "t-ReX"
    table = markdown(rows)
    assert "| baseline | 2 | 82.00 ± 2.83 |" in table
    paths = write_outputs(runs, rows, tmp_path, {"budget": "2 epochs", "datasets": ["d0", "d1"]})
    assert json.loads(Path(paths["json"]).read_text())["summary"][0]["variant"] == "baseline"
    assert Path(paths["plot"]).read_bytes()[:4] == b"\x89PNG"


def test_variant_configs(tmp_path: Path) -> None:
    budget = Budget(epochs=2, train_per_class=50, extra=(("val_per_class", 10),))
    cfg = train_config(VARIANTS["trex-no-memory"], 1, tmp_path / "r", budget)
    assert (cfg.recipe, cfg.memory_size, cfg.seed, cfg.epochs, cfg.train_per_class, cfg.val_per_class) == (
        "trex",
        0,
        1,
        2,
        50,
        10,
    )
    assert cfg.data is None and cfg.arch == DUAL_DEFAULTS["arch"][BUILTIN]  # the built-in run
    base = train_config(VARIANTS["baseline"], 0, tmp_path / "b", Budget())
    assert base.recipe == "baseline" and base.epochs == DUAL_DEFAULTS["epochs"][BUILTIN]  # trex train's default


def test_finished_run_is_reused_only_when_complete_and_identical(tmp_path: Path) -> None:
    budget = Budget(epochs=2)
    out = tmp_path / "trex-seed0"
    cfg = train_config(VARIANTS["trex"], 0, out, budget)
    assert finished(out, cfg) is None
    out.mkdir()
    (out / "config.json").write_text(json.dumps(cfg.to_json()))
    (out / "backbone.pt").write_bytes(b"x")
    (out / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "val_top1": 50.0}) + "\n")
    assert finished(out, cfg) is None  # one epoch of two
    (out / "metrics.jsonl").write_text("\n".join(json.dumps({"epoch": e, "val_top1": 50.0 + e}) for e in (1, 2)))
    assert finished(out, cfg)["val_top1"] == 52.0
    other = train_config(VARIANTS["trex"], 1, out, budget)  # another seed
    assert finished(out, other) is None


def test_ablations_resolve_to_valid_train_configs(tmp_path: Path) -> None:
    memory = DUAL_DEFAULTS["memory_size"][BUILTIN]
    # name: (head recipe, loader crops, projector hidden layers, memory entries, classifier)
    expected = {
        "trex-no-memory": ("trex", "trex", 3, 0, "cosine"),
        "baseline+multi-crop": ("baseline", "trex", 0, memory, "linear"),
        "baseline+projector": ("trex", "baseline", 3, 0, "cosine"),
        "baseline+memory": ("trex", "baseline", 0, memory, "prototypes"),
    }
    assert [v.name for v in ABLATIONS] == list(expected)
    for v in ABLATIONS:
        cfg = train_config(v, 2, tmp_path / f"{v.name}-seed2", Budget(epochs=1))  # checked as `trex train` does
        recipe, crops, layers, entries, kind = expected[v.name]
        assert (cfg.recipe, cfg.crop_recipe, cfg.head_projector_layers, cfg.seed, cfg.epochs) == (
            recipe,
            crops,
            layers,
            2,
            1,
        ), v.name
        assert cfg.data is None and cfg.out == str(tmp_path / f"{v.name}-seed2")
        backbone, dim = create_backbone(cfg.arch)
        model = trex.TReX(
            backbone,
            5,
            cfg.recipe,
            feature_dim=dim,
            projector_layers=cfg.projector_layers,
            hidden_dim=8,
            out_dim=4,
            memory_size=cfg.memory_size,
        )
        head = model.head
        if kind == "linear":
            assert isinstance(head, nn.Linear)
        else:
            assert isinstance(head, trex.PrototypeHead) and (head.memory is None) == (kind == "cosine")
            assert cfg.memory_size == entries
            assert isinstance(head.projector, nn.Identity) == (layers == 0)
    # The three recipes keep their own crops and projector.
    for name, layers in (("baseline", 0), ("trex", 3), ("trex-star", 1)):
        cfg = train_config(VARIANTS[name], 0, tmp_path / name, Budget())
        assert (cfg.crops, cfg.projector_layers, cfg.crop_recipe, cfg.head_projector_layers) == (
            None,
            None,
            name,
            layers,
        )


def test_run_of_an_older_trex_train_is_reused(tmp_path: Path) -> None:
    # config.json written before --crops / --projector-layers existed: neither key.
    out = tmp_path / "trex-seed0"
    out.mkdir()
    cfg = train_config(VARIANTS["trex"], 0, out, Budget(epochs=2))
    old = {k: v for k, v in cfg.to_json().items() if k not in ("crops", "projector_layers")}
    (out / "config.json").write_text(json.dumps({**old, "resolved": {}}))
    (out / "backbone.pt").write_bytes(b"x")
    (out / "metrics.jsonl").write_text("\n".join(json.dumps({"epoch": e, "val_top1": 50.0 + e}) for e in (1, 2)))
    assert finished(out, cfg)["val_top1"] == 52.0
    # ... but not for an ablation that differs from it only in the new settings.
    for name in ("baseline+memory", "baseline+projector"):
        assert finished(out, train_config(VARIANTS[name], 0, out, Budget(epochs=2))) is None, name
    multi_crop = train_config(VARIANTS["baseline+multi-crop"], 0, out, Budget(epochs=2))
    assert finished(out, multi_crop) is None


def test_unknown_variant_is_one_line_listing_the_ablations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--variants", "baseline+memory,simclr"]) == 2  # the ablation name parses
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown variant 'simclr'" in err
    assert all(v.name in err for v in ABLATIONS)
