"""`trex bench` / `python -m trex.cli.bench`: multi-crop loader throughput against the torchvision
+ PIL + DataLoader reference on the same real-photo JPEGs, with decode-only as the ceiling.

All figures come from one run on one machine and are reported as ratios; absolute images/s
depend on the machine. The three pipelines are timed in alternating rounds (decode-only, trex,
reference, then again), each round a whole pass over its images at steady state: a first round
of each warms thread pools, DataLoader workers and allocators and is discarded. Each pipeline is
reported as the min / median / max of its rounds, and each ratio per round, from the two
pipelines' timings in that same round, so that a burst of load from elsewhere on a shared
machine hits numerator and denominator alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import trex

# torch, the extension and the recipes are imported where used: `trex --help` imports this module
# for NAME and HELP and must not import torch.


def add_arguments(p: argparse.ArgumentParser) -> None:
    from trex.data.recipes import PRESETS

    p.add_argument(
        "--threads", type=int, default=2, help="threads for trex and DataLoader workers for the reference (default 2)"
    )
    p.add_argument(
        "--recipe", default="trex", choices=sorted(PRESETS), help="multi-crop recipe (default trex: 1x224 + 8x96)"
    )
    p.add_argument("--images", type=int, default=512, help="images timed per pipeline (default 512)")
    p.add_argument(
        "--reference-images", type=int, default=256, help="images timed for the slower reference (default 256)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of JPEGs to use; default: a corpus of ImageNet-sized JPEGs cut from real photos",
    )
    p.add_argument("--corpus-size", type=int, default=256, help="files in the generated corpus (default 256)")
    p.add_argument(
        "--dtype",
        default="uint8",
        choices=["uint8", "float32"],
        help="trex output dtype (default uint8, the loader's default: normalise on the device with "
        "trex.normalize); the reference always produces normalised float32 on the CPU",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed rounds: decode-only, trex and the reference alternate, after one warm-up round of "
        "each that is discarded; min / median / max reported, ratios per round (default 3)",
    )
    p.add_argument("--no-reference", action="store_true", help="skip the torchvision reference")
    p.add_argument("--no-dct-scaling", action="store_true", help="decode at full size always")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    p.add_argument(
        "--device",
        default=None,
        help="also time the device paths, MultiCropLoader(device=DEVICE) (the colour stage there) and with "
        "resize_on_device=True (the resampling too) ('cpu' anywhere, 'cuda' on a GPU machine), against the "
        "CPU path with float32 output (the same normalised values), with the CPU time per image of the "
        "loader's threads and of the consuming thread for each",
    )


def _files(args: argparse.Namespace) -> list[str]:
    if args.data is not None:
        files = sorted(str(p) for p in args.data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        if not files:
            raise SystemExit(f"trex bench: no JPEG files under {args.data}")
        return files
    from trex.data.photos import make_corpus

    cache = Path(os.environ.get("TREX_CACHE", Path(tempfile.gettempdir()) / "trex-cache")) / "bench-corpus"
    return [str(p) for p in make_corpus(cache, n=args.corpus_size, seed=0)]


def _cycle(files: list[str], n: int) -> list[tuple[str, int]]:
    return [(files[i % len(files)], i % 10) for i in range(n)]


Sample = tuple[str, int]
Rounds = Generator[float, None, None]


def trex_rounds(
    samples: list[Sample],
    recipe: Any,
    threads: int,
    batch_size: int,
    dtype: Literal["uint8", "float32"],
    dct_scaling: bool,
) -> Rounds:
    """A generator: each ``next()`` times one epoch of MultiCropLoader, in images/s (the images/s
    of :func:`colour_path_rounds` on the CPU path with ``dtype``)."""
    rounds = colour_path_rounds(samples, recipe, threads, batch_size, dct_scaling, dtype=dtype)
    for r in rounds:
        yield r["images_per_s"]


def loader_cpu_seconds() -> float:
    """CPU seconds used so far by this process's loader threads (``trex-loader-*``: the workers
    and the producer), from /proc (Linux); threads that have exited are not counted."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                if not f.read().startswith("trex-loader"):
                    continue
            with open(f"/proc/self/task/{task}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def colour_path_rounds(samples, recipe, threads: int, batch_size: int, dct_scaling: bool, **kw):
    """A generator: each ``next()`` times one epoch of MultiCropLoader(**kw) (the CPU path with a
    dtype, or the device colour path with a device) as a dict: images/s, and CPU seconds per image
    of the loader's threads and of this (consuming) thread, which runs the device stage's calls."""
    import torch

    device = kw.get("device")
    loader = trex.MultiCropLoader(
        samples,
        batch_size,
        recipe,
        num_threads=threads,
        shuffle=False,
        drop_last=True,
        dct_scaling=dct_scaling,
        prefetch=2,
        **kw,
    )
    cuda = device is not None and torch.device(device).type == "cuda"
    epoch = 0
    while True:
        # Timed from the start of an epoch to its end: nothing is prefetched before the clock starts.
        loader.set_epoch(epoch)
        macs0, host0 = loader._inner.device_resample_stats()
        n, cpu0, thread0, t0 = 0, loader_cpu_seconds(), time.thread_time(), time.perf_counter()
        for batch in loader:
            n += batch.labels.numel()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        macs, host = loader._inner.device_resample_stats()
        yield {
            "images_per_s": n / seconds,
            "loader_cpu_s_per_image": (loader_cpu_seconds() - cpu0) / n,
            "consumer_cpu_s_per_image": (time.thread_time() - thread0) / n,
            # resize_on_device: f64 multiply-adds of its matrix products (the device's work), and the
            # consuming thread's host-side preparation of them (part of consumer_cpu_s_per_image).
            "device_resample_macs_per_image": (macs - macs0) / n,
            "device_resample_host_s_per_image": (host - host0) / n,
        }
        epoch += 1


def reference_rounds(samples: list[Sample], recipe: Any, threads: int, batch_size: int) -> Rounds:
    """A generator: each ``next()`` times one epoch of the torchvision + PIL DataLoader, in images/s.
    Its workers persist between epochs (as in a long run) and sit idle while the others are timed."""
    import torch

    from trex.data.reference import ReferenceDataset, ReferenceMultiCrop

    ds = ReferenceDataset(samples, ReferenceMultiCrop(recipe))
    dl = torch.utils.data.DataLoader(
        ds, batch_size=batch_size, num_workers=threads, shuffle=False, drop_last=True, persistent_workers=True
    )
    while True:
        # A whole epoch, timed from its start: the workers get the epoch's indices only then.
        n, t0 = 0, time.perf_counter()
        for _, labels in dl:
            n += labels.numel()
        yield n / (time.perf_counter() - t0)


def decode_rounds(samples: list[Sample], threads: int) -> Rounds:
    """A generator: each ``next()`` times ``trex.ops.decode_file`` over every file, in images/s."""
    paths = [p for p, _ in samples]
    with ThreadPoolExecutor(threads) as pool:
        while True:
            t0 = time.perf_counter()
            for _ in pool.map(trex.ops.decode_file, paths):
                pass
            yield len(paths) / (time.perf_counter() - t0)


LABELS = {
    "decode_only": "decode only (trex.ops.decode_file)",
    "trex": "trex MultiCropLoader",
    "reference": "torchvision + PIL + DataLoader",
}
# (numerator, denominator) of each ratio, both taken from the same round.
RATIOS = {"trex / reference": ("trex", "reference"), "trex / decode_only": ("trex", "decode_only")}


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def measure(pipelines: dict[str, Rounds], rounds: int) -> dict[str, Any]:
    """Times the pipelines in alternating rounds, in the order given: one warm-up round of each,
    discarded, then ``rounds`` timed rounds. Returns the warm-up figures, each pipeline's rounds,
    the timeline (which pipeline was timed when), each ratio per round and the spreads."""
    warmup = {name: next(gen) for name, gen in pipelines.items()}
    timed: dict[str, list[float]] = {name: [] for name in pipelines}
    timeline: list[list[Any]] = []
    for r in range(rounds):
        for name, gen in pipelines.items():
            timed[name].append(next(gen))
            timeline.append([r, name])
    for gen in pipelines.values():
        gen.close()
    per_round = {
        key: [a / b for a, b in zip(timed[num], timed[den], strict=True)]
        for key, (num, den) in RATIOS.items()
        if num in timed and den in timed
    }
    return {
        "warmup": warmup,
        "rounds": timed,
        "timeline": timeline,
        "ratios_per_round": per_round,
        "images_per_s": {name: spread(v) for name, v in timed.items()},
        "ratios": {key: spread(v) for key, v in per_round.items()},
    }


def run(args: argparse.Namespace) -> int:
    import torch

    from trex import _trex
    from trex.data.recipes import create_recipe

    if _trex.build_profile != "release":
        print(
            f"trex bench: refusing to time a {_trex.build_profile!r} build; build with `make build` (release)",
            file=sys.stderr,
        )
        return 2
    if args.rounds < 1 or args.images < 1 or args.reference_images < 1:
        raise SystemExit("trex bench: --rounds, --images and --reference-images must be at least 1")
    torch.set_num_threads(1)
    recipe = create_recipe(args.recipe)
    files = _files(args)
    for f in files:  # page cache warm for every pipeline alike
        Path(f).read_bytes()
    print(
        f"trex {trex.__version__} ({_trex.build_profile}), torch {torch.__version__}, "
        f"python {platform.python_version()}, {os.cpu_count()} cores, {args.threads} threads, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"recipe {recipe.name}: {recipe.num_crops} crops {[o for o in recipe.outputs]}, "
        f"{len(files)} JPEG files, batch {args.batch_size}, trex dtype {args.dtype}"
    )
    samples = _cycle(files, args.images)
    pipelines: dict[str, Rounds] = {
        "decode_only": decode_rounds(samples, args.threads),
        "trex": trex_rounds(samples, recipe, args.threads, args.batch_size, args.dtype, not args.no_dct_scaling),
    }
    if not args.no_reference:
        pipelines["reference"] = reference_rounds(
            _cycle(files, args.reference_images), recipe, args.threads, args.batch_size
        )
    sizes = {"decode_only": args.images, "trex": args.images, "reference": args.reference_images}
    print(
        f"{args.rounds} timed rounds of {', '.join(f'{k} ({sizes[k]} images)' for k in pipelines)}, "
        f"alternating, after one warm-up round of each (discarded)"
    )
    result = measure(pipelines, args.rounds)

    print(f"\n{'pipeline':36s} {'min':>8s} {'median':>8s} {'max':>8s}   images/s per round")
    for key, s in result["images_per_s"].items():
        per = " ".join(f"{v:.1f}" for v in result["rounds"][key])
        print(f"{LABELS[key]:36s} {s['min']:8.1f} {s['median']:8.1f} {s['max']:8.1f}   {per}")
    print(f"\n{'ratio (same round)':36s} {'min':>8s} {'median':>8s} {'max':>8s}   per round")
    for key, s in result["ratios"].items():
        per = " ".join(f"{v:.2f}" for v in result["ratios_per_round"][key])
        print(f"{key:36s} {s['min']:7.2f}x {s['median']:7.2f}x {s['max']:7.2f}x   {per}")
    colour = compare_colour_paths(args, samples, recipe) if args.device else None
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    **result,
                    "images": sizes,
                    "threads": args.threads,
                    "recipe": recipe.name,
                    "dtype": args.dtype,
                    "files": len(files),
                    "colour_paths": colour,
                },
                indent=2,
            )
        )
    return 0


def compare_colour_paths(args: argparse.Namespace, samples, recipe) -> dict:
    """The CPU path (float32, uint8) against the device paths (the colour stage there, and with
    ``resize_on_device`` the resampling too), in alternating rounds after one discarded warm-up
    round of each (median of each figure): images/s, per loader thread, the CPU time per image of
    the loader's threads (what a GPU machine has to supply per image) and of the consuming thread,
    and the device resampling's multiply-adds and host-side preparation per image."""
    import torch

    dct = not args.no_dct_scaling
    common = (samples, recipe, args.threads, args.batch_size, dct)
    dev_key = f"device_{args.device}"
    torch_threads = torch.get_num_threads()
    if torch.device(args.device).type == "cpu":
        # The device stages' torch ops then run on this machine's other cores, not on the
        # loader threads' (their CPU time per image is what is compared).
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - args.threads))
    try:
        return _colour_rounds(args, common, dev_key)
    finally:
        torch.set_num_threads(torch_threads)


def _colour_rounds(args: argparse.Namespace, common: tuple, dev_key: str) -> dict:
    paths = {
        "cpu_path_float32": colour_path_rounds(*common, dtype="float32"),
        "cpu_path_uint8": colour_path_rounds(*common, dtype="uint8"),
        dev_key: colour_path_rounds(*common, device=args.device),
        f"{dev_key}_resize": colour_path_rounds(*common, device=args.device, resize_on_device=True),
    }
    rounds: dict[str, list[dict]] = {k: [] for k in paths}
    for gen in paths.values():  # one warm-up round of each, discarded, as for the other pipelines
        next(gen)
    for _ in range(max(1, args.rounds)):
        for k, gen in paths.items():
            rounds[k].append(next(gen))
    for gen in paths.values():
        gen.close()
    out: dict = {}
    print(
        f"\ncolour stage: CPU path (float32; uint8 = all but normalising) vs device={args.device!r}, "
        f"{args.threads} threads"
    )
    print(f"{'path':24s} {'images/s':>10s} {'per thread':>11s} {'loader CPU ms/img':>18s} {'consumer CPU ms/img':>20s}")
    for k, rs in rounds.items():
        med = {f: statistics.median(r[f] for r in rs) for f in rs[0]}
        med["images_per_s_per_thread"] = med["images_per_s"] / args.threads
        out[k] = {"median": med, "rounds": rs}
        print(
            f"{k:24s} {med['images_per_s']:10.1f} {med['images_per_s_per_thread']:11.1f} "
            f"{1e3 * med['loader_cpu_s_per_image']:18.2f} {1e3 * med['consumer_cpu_s_per_image']:20.2f}"
        )
    macs = out[f"{dev_key}_resize"]["median"]["device_resample_macs_per_image"]
    host = out[f"{dev_key}_resize"]["median"]["device_resample_host_s_per_image"]
    print(
        f"device resampling: {macs / 1e9:.3f} G f64 multiply-adds per image on the device, "
        f"{1e6 * host:.1f} us per image of host-side preparation on the consuming thread"
    )
    for key, what in ((dev_key, "colour stage"), (f"{dev_key}_resize", "colour stage and resampling")):
        dev = out[key]["median"]["loader_cpu_s_per_image"]
        suffix = "" if key == dev_key else "_resize"
        for base in ("float32", "uint8"):
            cpu = out[f"cpu_path_{base}"]["median"]["loader_cpu_s_per_image"]
            out[f"loader_cpu_share_moved{suffix}_vs_{base}"] = 1 - dev / cpu
            print(
                f"loader-thread CPU time per image moved to the device ({what}), vs the {base} CPU path: "
                f"{100 * (1 - dev / cpu):.1f}%"
            )
    return out


NAME = "bench"
HELP = "loader throughput vs the torchvision + PIL reference, and decode-only"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trex.cli.bench", description=HELP)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
