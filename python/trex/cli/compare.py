"""`trex compare`: the trade-off table. Trains baseline, t-ReX and t-ReX* (and the ablations) on
the built-in Fashion-MNIST data with several seeds, evaluates each backbone's transfer, and writes
a markdown/JSON table and a scatter plot of training-task accuracy against transfer accuracy."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAME = "compare"
HELP = ("train baseline, t-ReX, t-ReX* (and ablations) with several seeds on the built-in data, evaluate transfer, "
        "and write the trade-off table and plot (reuses finished runs in --out)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trex.compare import ABLATIONS, RECIPES

    g = p.add_argument_group("what to compare")
    g.add_argument("--variants", default=",".join(v.name for v in RECIPES),
                   help="comma-separated recipes: " + ", ".join(v.name for v in (*RECIPES, *ABLATIONS)) +
                        " (default: the three recipes)")
    g.add_argument("--ablations", action="store_true",
                   help="also train the ablations: " + ", ".join(v.name for v in ABLATIONS))
    g.add_argument("--seeds", type=int, default=3, help="seeds per variant (default 3)")
    g.add_argument("--dataset", action="append", default=None, metavar="NAME=ROOT",
                   help="transfer sets, as for `trex transfer` (default: fashion-unseen and digits)")
    g = p.add_argument_group("budget (trex train flags; default: the built-in run's)")
    g.add_argument("--epochs", type=int, default=None, help="epochs per run")
    g.add_argument("--train-per-class", type=int, default=None, help="training images per class")
    g.add_argument("--val-per-class", type=int, default=None, help="validation images per class (default: all)")
    g.add_argument("--batch-size", type=int, default=None, help="batch size")
    g.add_argument("--threads", type=int, default=None, help="torch threads")
    g.add_argument("--transfer-train-per-class", type=int, default=1000,
                   help="probe training images per class of each transfer set (default 1000)")
    g.add_argument("--transfer-test-per-class", type=int, default=None,
                   help="test images per class of each transfer set (default: all)")
    g.add_argument("--knn", action="store_true", help="also kNN transfer accuracy")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="runs/compare", help="folder of the runs and the table (default runs/compare)")
    g.add_argument("--table-out", default=None, help="where compare.md/json/png go (default --out)")


def run(args: argparse.Namespace) -> int:
    import trex
    from trex.compare import ABLATIONS, VARIANTS, Budget, summarise, train_or_reuse, write_outputs
    from trex.train import NonFiniteLossError, TrainConfigError
    from trex.transfer import TransferError, TransferOptions, default_cache_dir, evaluate_transfer, format_table
    from trex.transfer import resolve_dataset_specs

    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    if args.ablations:
        names += [v.name for v in ABLATIONS if v.name not in names]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"trex compare: error: unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}",
              file=sys.stderr)
        return 2
    if args.seeds < 1:
        print("trex compare: error: --seeds must be at least 1", file=sys.stderr)
        return 2
    root = Path(args.out)
    budget = Budget(epochs=args.epochs, train_per_class=args.train_per_class, batch_size=args.batch_size,
                    threads=args.threads,
                    extra=(("val_per_class", args.val_per_class),) if args.val_per_class else ())
    t0 = time.perf_counter()
    runs = []
    try:
        for name in names:
            for seed in range(args.seeds):
                result, reused = train_or_reuse(VARIANTS[name], seed, root, budget)
                from trex.transfer import load_frozen_backbone

                _, info = load_frozen_backbone(result["backbone"])
                datasets = resolve_dataset_specs(args.dataset, image_size=int(info["image_size"]),
                                                 train_per_class=args.transfer_train_per_class,
                                                 test_per_class=args.transfer_test_per_class)
                transfer = evaluate_transfer(result["backbone"], datasets, TransferOptions(
                    knn=args.knn, threads=args.threads, cache_dir=default_cache_dir()))
                print(f"{name} seed {seed}: seen-task top-1 {result['val_top1']:.2f}%, transfer top-1 "
                      f"{transfer['mean']['linear_top1']:.2f}% ({'reused' if reused else 'trained'})", flush=True)
                print(format_table(transfer), flush=True)
                runs.append({"variant": name, "seed": seed, "seen_top1": result["val_top1"], "run": result["out"],
                             "epochs": result["epoch"], "transfer": transfer})
    except (TrainConfigError, TransferError, trex.DecodeError, NonFiniteLossError) as err:
        print(f"trex compare: error: {err}", file=sys.stderr)
        return 2
    rows = summarise(runs, {n: VARIANTS[n].label for n in names})
    meta = {"budget": f"{runs[0]['epochs']} epochs" + (f", {args.train_per_class} images/class"
                                                       if args.train_per_class else ""),
            "datasets": [d["name"] for d in runs[0]["transfer"]["datasets"]], "seeds": args.seeds,
            "transfer_train_per_class": args.transfer_train_per_class,
            "transfer_test_per_class": args.transfer_test_per_class,
            "seconds": round(time.perf_counter() - t0), "argv": sys.argv[1:]}
    paths = write_outputs(runs, rows, Path(args.table_out or root), meta)
    print(Path(paths["markdown"]).read_text())
    print(f"  table: {paths['markdown']}\n  json:  {paths['json']}\n  plot:  {paths['plot']}")
    return 0
