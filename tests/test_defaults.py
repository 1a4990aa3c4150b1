"""The one registry of defaults (trex.defaults): everything that states a default reads it, and the
layers import one way (nothing in trex.train imports trex.cli)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import trex
from trex.defaults import BUILTIN, BUILTIN_OVERRIDES, PAPER, PRESETS, RECIPE_HIDDEN_LAYERS, RECIPES, preset
from trex.train.config import DUAL_DEFAULTS, TrainConfig, add_arguments, make_config

PACKAGE = Path(trex.__file__).resolve().parent


def test_train_config_defaults_are_the_paper_preset() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert set(PAPER) <= set(fields)
    assert {name: fields[name] for name in PAPER} == dict(PAPER)
    # the settings the presets leave out are None: resolved when the run starts
    assert all(fields[name] is None for name in set(fields) - set(PAPER))


def test_flags_not_given_take_their_presets_values() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert all(getattr(args, name) is None for name in PAPER)  # argparse defaults: None, resolved later
    builtin, paper = make_config().to_json(), make_config(data="/data").to_json()
    assert {k: builtin[k] for k in BUILTIN} == dict(BUILTIN)
    assert {k: paper[k] for k in PAPER} == dict(PAPER)
    assert set(DUAL_DEFAULTS) == set(BUILTIN_OVERRIDES)
    assert make_config(temperature=0.2, data="/data").temperature == 0.2  # a given value wins


def test_help_shows_the_registrys_defaults() -> None:
    parser = argparse.ArgumentParser(prog="trex train")
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert f"logit temperature tau (default {PAPER['temperature']})" in text
    assert f"default: {PAPER['epochs']} with --data, {BUILTIN['epochs']} for the built-in run" in text
    assert f"default: {PAPER['memory_size']} with --data, {BUILTIN['memory_size']} for the built-in run" in text
    assert "(default 1e-6)" in text and "(default 1e-4)" in text and "(default 30)" in text


def test_model_defaults_are_the_paper_preset() -> None:
    for cls in (trex.TReX, trex.PrototypeHead):
        params = inspect.signature(cls).parameters
        for name in ("hidden_dim", "out_dim", "memory_size", "temperature", "ema_momentum"):
            if name in params:
                assert params[name].default == PAPER[name], (cls.__name__, name)
    assert inspect.signature(trex.TReX).parameters["recipe"].default == PAPER["recipe"]


def test_one_list_of_recipes() -> None:
    from trex.compare import BENCHMARKS, RECIPE_VARIANTS, VARIANTS

    assert tuple(RECIPE_HIDDEN_LAYERS) == RECIPES == ("trex", "trex-star", "baseline")
    assert [v.name for v in RECIPE_VARIANTS] == ["baseline", "trex", "trex-star"]  # the reference row first
    assert all(v.settings == {"recipe": v.name} for v in RECIPE_VARIANTS)
    for bench in BENCHMARKS.values():
        for p in bench.presets.values():
            assert set(p.variants) <= set(VARIANTS)
    with pytest.raises(ValueError, match="unknown preset 'imagenet'; expected one of 'paper', 'builtin'"):
        preset("imagenet")
    assert preset("paper") is PRESETS["paper"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_in_train_imports_cli() -> None:
    for path in sorted((PACKAGE / "train").glob("*.py")):
        up = sorted(m for m in _imports(path) if m == "trex.cli" or m.startswith("trex.cli."))
        assert not up, (path.name, up)


def test_development_tools_are_not_in_the_package() -> None:
    assert not (PACKAGE / "gpucheck.py").exists()  # scripts/gpucheck.py: it runs the repository's tests
    assert not (PACKAGE / "viz.py").exists()  # trex grid is trex.cli.grid
