"""`trex compare`: the trade-off table. Trains baseline, t-ReX and t-ReX* (and the ablations) on a
benchmark with several seeds, evaluates each backbone's transfer next to two reference rows (raw
pixels, a randomly initialised backbone), and writes a markdown/JSON table and a scatter plot of
training-task accuracy against transfer accuracy."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAME = "compare"
HELP = (
    "train baseline, t-ReX, t-ReX* (and ablations) with several seeds on a benchmark (glyphs, coarse-fine, "
    "fashion), evaluate transfer next to raw pixels and a random init, and write the trade-off table and plot "
    "(reuses finished runs in --out)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trex.compare import ABLATIONS, BENCHMARKS, RECIPE_VARIANTS
    from trex.compare.benchmarks import PRESET_NAMES

    g = p.add_argument_group("what to compare")
    g.add_argument(
        "--benchmark",
        choices=tuple(BENCHMARKS),
        default="fashion",
        help="glyphs (500 seen CJK ideographs; near transfer to 500 unseen ones in held-out font faces, "
        "far transfer to Fashion-MNIST and digits), coarse-fine (Fashion-MNIST in 4 super-classes; "
        "probe of the 10 classes) or fashion (the built-in 5/5 run, a smoke test; default)",
    )
    g.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        default="cpu",
        help="the benchmark's sized budget: cpu (this kind of 2-core machine) or gpu (one GPU with 16 "
        "cores, several runs at once); default cpu",
    )
    g.add_argument(
        "--variants",
        default=None,
        help="comma-separated recipes: "
        + ", ".join(v.name for v in (*RECIPE_VARIANTS, *ABLATIONS))
        + " (default: the preset's); none = only the reference rows",
    )
    g.add_argument(
        "--ablations", action="store_true", help="also train the ablations: " + ", ".join(v.name for v in ABLATIONS)
    )
    g.add_argument("--seeds", type=int, default=None, metavar="N", help="seeds per variant (default: the preset's)")
    g.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="runs at once, each in its own process with cores/N threads (default: the preset's)",
    )
    g.add_argument(
        "--dataset",
        action="append",
        default=None,
        metavar="NAME=ROOT",
        help="transfer sets, as for `trex transfer` (default: the benchmark's)",
    )
    g = p.add_argument_group("budget (trex train flags; default: the preset's)")
    g.add_argument("--epochs", type=int, default=None, metavar="N", help="epochs per run")
    g.add_argument("--train-per-class", type=int, default=None, metavar="N", help="training images per class")
    g.add_argument(
        "--val-per-class", type=int, default=None, metavar="N", help="validation images per class (default: all)"
    )
    g.add_argument("--batch-size", type=int, default=None, metavar="N", help="batch size")
    g.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch and loader threads per run (default: the cores available / --jobs)",
    )
    g.add_argument(
        "--transfer-train-per-class",
        type=int,
        default=None,
        metavar="N",
        help="probe training images per class of every transfer set (default: the benchmark's)",
    )
    g.add_argument(
        "--transfer-test-per-class",
        type=int,
        default=None,
        metavar="N",
        help="test images per class of every transfer set (default: the benchmark's)",
    )
    g.add_argument("--knn", action="store_true", help="also kNN transfer accuracy")
    g = p.add_argument_group("output")
    g.add_argument(
        "--out", default=None, metavar="DIR", help="folder of the runs and the table (default runs/compare-<benchmark>)"
    )
    g.add_argument("--table-out", default=None, metavar="DIR", help="where compare.md/json/png go (default --out)")


def _error(message: str) -> int:
    print(f"trex compare: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    import trex
    from trex.compare import ABLATIONS, BENCHMARKS, VARIANTS, Budget, summarise, write_outputs
    from trex.compare.benchmarks import load_transfer_sets
    from trex.compare.references import LABELS, PIXELS, RANDOM_INIT, reference_backbone
    from trex.compare.runner import evaluate_run, run_jobs, train_and_evaluate
    from trex.data.cache_tree import ForeignFolderError
    from trex.defaults import BUILTIN
    from trex.train import NonFiniteLossError, TrainConfigError
    from trex.train.config import default_threads
    from trex.transfer import TransferError, TransferOptions, default_cache_dir, load_dataset, resolve_dataset_specs

    bench = BENCHMARKS[args.benchmark]
    preset = bench.preset(args.preset)
    if args.variants is None:
        names = list(preset.variants)
    else:
        names = [n.strip() for n in args.variants.split(",") if n.strip() and n.strip() != "none"]
    if args.ablations:
        names += [v.name for v in ABLATIONS if v.name not in names]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        return _error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    seeds = preset.seeds if args.seeds is None else args.seeds
    jobs = preset.jobs if args.jobs is None else args.jobs
    if seeds < 1 or jobs < 1:
        return _error("--seeds and --jobs must be at least 1")
    threads = args.threads or default_threads(jobs)  # the cores shared among the runs at once
    root = Path(args.out or f"runs/compare-{bench.name}")
    t0 = time.perf_counter()
    try:
        settings = dict(preset.settings)
        if bench.data is not None:
            settings["data"] = str(bench.data())  # prepared once here, before runs start in parallel
        if args.val_per_class:
            settings["val_per_class"] = args.val_per_class
        settings["workers"] = threads
        # the preset's budget, each value overridden by its flag
        epochs, per_class, batch = (settings.pop(k, None) for k in ("epochs", "train_per_class", "batch_size"))
        budget = Budget(
            epochs=args.epochs or epochs,
            train_per_class=args.train_per_class or per_class,
            batch_size=args.batch_size or batch,
            threads=threads,
            extra=tuple(settings.items()),
        )
        # the built-in run's defaults where a preset leaves them (the fashion benchmark)
        image_size = int(settings.get("global_size") or BUILTIN["global_size"])
        arch = settings.get("arch") or BUILTIN["arch"]
        if args.dataset:
            datasets = resolve_dataset_specs(
                args.dataset,
                image_size=image_size,
                train_per_class=args.transfer_train_per_class,
                test_per_class=args.transfer_test_per_class,
            )
            kinds: dict[str, str] = {}
        else:
            datasets = load_transfer_sets(bench, image_size)
            if args.transfer_train_per_class or args.transfer_test_per_class:
                datasets = [
                    load_dataset(
                        d.name,
                        d.root,
                        train_per_class=args.transfer_train_per_class,
                        test_per_class=args.transfer_test_per_class,
                    )
                    for d in datasets
                ]
            kinds = {t.name: t.kind for t in bench.transfer}
            if len(set(kinds.values())) < 2:  # one kind: its column would repeat the mean
                kinds = {}
        device = "cuda" if settings.get("device") == "cuda" else "cpu"
        options = TransferOptions(knn=args.knn, threads=threads, cache_dir=default_cache_dir(), device=device)
        calls: list[tuple] = [
            (train_and_evaluate, VARIANTS[name], seed, root, budget, datasets, options)
            for name in names
            for seed in range(seeds)
        ]
        references = [(PIXELS, 0)] + [(RANDOM_INIT, seed) for seed in range(seeds)]
        for kind, seed in references:
            path = reference_backbone(kind, arch, image_size, seed, root)
            calls.append((evaluate_run, kind, seed, {"backbone": str(path), "epoch": 0}, datasets, options))
        print(
            f"trex compare: {bench.name}, preset {args.preset}: {len(names)} variants x {seeds} seeds and "
            f"{len(references)} reference evaluations, {jobs} at a time with {threads} threads each, into {root}",
            flush=True,
        )
        runs = run_jobs(calls, jobs)
    except (
        TrainConfigError,
        TransferError,
        trex.DecodeError,
        NonFiniteLossError,
        FileNotFoundError,
        ForeignFolderError,
    ) as err:
        return _error(str(err))
    from trex.transfer import format_table

    for r in runs:
        seen = "-" if r["seen_top1"] is None else f"{r['seen_top1']:.2f}%"
        print(
            f"{r['variant']} seed {r['seed']}: seen-task top-1 {seen}, transfer top-1 "
            f"{r['transfer']['mean']['linear_top1']:.2f}%"
        )
        print(format_table(r["transfer"]), flush=True)
    labels = {**{n: VARIANTS[n].label for n in names}, **LABELS}
    rows = summarise(runs, labels, kinds)
    trained = [r for r in runs if r["seen_top1"] is not None]
    budget_text = f"{trained[0]['epochs']} epochs" if trained else "reference rows only"
    if args.train_per_class:
        budget_text += f", {args.train_per_class} images/class"
    meta = {
        "benchmark": bench.name,
        "title": bench.title,
        "preset": args.preset,
        "budget": budget_text,
        "settings": {
            **dict(budget.extra),
            "epochs": budget.epochs,
            "batch_size": budget.batch_size,
            "train_per_class": budget.train_per_class,
        },
        "datasets": [d["name"] for d in runs[0]["transfer"]["datasets"]],
        "kinds": kinds,
        "seeds": seeds,
        "jobs": jobs,
        "threads": threads,
        "transfer_sets": [
            {"name": d.name, "classes": len(d.classes), "train": len(d.train), "test": len(d.test)} for d in datasets
        ],
        "seconds": round(time.perf_counter() - t0),
        "argv": sys.argv[1:],
    }
    paths = write_outputs(runs, rows, Path(args.table_out or root), meta)
    print(Path(paths["markdown"]).read_text())
    print(f"  table: {paths['markdown']}\n  json:  {paths['json']}\n  plot:  {paths['plot']}")
    return 0
