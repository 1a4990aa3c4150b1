#!/usr/bin/env python3
"""`scripts/gpucheck.py`: the CUDA paths proven on a real GPU, as one prepared run.

A development tool, not part of the installed package: it runs the repository's tests. Run by
``scripts/gpu-check`` on a GPU machine (and with ``--dry-run`` on CPU in CI, at tiny sizes, so the
same code path is exercised everywhere) with trex installed (the wheel there, the develop install here).
Writes a JSON report with:

1. the CUDA-marked tests (``pytest -m cuda``): bank, logits, gradients vs CPU, autocast, devices;
2. one ResNet-50 t-ReX training step (batch 256, 1 x 224 + 8 x 96 crops, bf16, channels_last):
   images/s, and the memory bank's share of the step (push + prototypes + logits, CUDA events);
3. the loader alone with all cores (images/s), the data-wait share when it feeds the step, and
   how many cores keep one GPU busy;
4. the uint8 pinned-memory path normalised on the GPU equals the CPU float32 output;
5. the device colour path (``MultiCropLoader(device=...)``, issue 16) against the uint8 path:
   its output against the CPU path's (fraction within one level, largest difference), loader
   images/s and the loader threads' CPU time per image, the data-wait share feeding the step, and
   cores per GPU for ResNet-50 and ResNet-18 t-ReX steps (step images/s x loader CPU s/image).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import trex
from trex.defaults import PAPER, TEMPERATURE


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls (after one warm-up)."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def run_cuda_tests(repo: Path, out: Path, dry_run: bool) -> dict[str, Any]:
    marker = "cuda" if not dry_run else "cuda and not cuda"  # dry run: collection only
    junit = out / "cuda-tests.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        marker,
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
        str(repo / "tests"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    result: dict[str, Any] = {"returncode": proc.returncode, "summary": tail[0] if tail else proc.stderr[-500:]}
    if junit.exists():
        import xml.etree.ElementTree as ET

        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        if suite is not None:
            result.update({k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")})
    return result


def build_model(arch: str, num_classes: int, device: torch.device, channels_last: bool) -> trex.TReX:
    import torchvision

    backbone = getattr(torchvision.models, arch)()
    model = trex.TReX(backbone, num_classes, recipe="trex").to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def make_step(model: trex.TReX, device: torch.device, amp_dtype: torch.dtype | None):
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=PAPER["lr"], momentum=PAPER["momentum"], weight_decay=PAPER["weight_decay"])

    def step(groups: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss, _ = model(groups, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.update_ema()
        return loss

    return step


def synthetic_groups(recipe: trex.MultiCropRecipe, batch: int, device: torch.device, channels_last: bool):
    groups = []
    for (h, w), n in recipe.outputs:
        g = torch.randint(0, 256, (n * batch, 3, h, w), dtype=torch.uint8, device=device)
        g = trex.normalize(g)
        groups.append(g.contiguous(memory_format=torch.channels_last) if channels_last else g)
    return groups


def bank_share(model: trex.TReX, batch: int, crops: int, device: torch.device, repeats: int) -> float:
    """Seconds of memory push + prototypes + logits (forward and backward) at the step's sizes."""
    head = model.head
    dim = head.memory.dim if hasattr(head.memory, "dim") else head.memory.features.shape[1]
    z = torch.randn(crops * batch, dim, device=device, requires_grad=True)
    feats = torch.randn(batch, dim, device=device)
    labels = torch.randint(0, model.num_classes, (batch,), device=device)

    def bank_ops() -> None:
        protos = head.memory.prototypes()
        logits = trex.prototype_logits(z, protos, getattr(head, "temperature", TEMPERATURE))
        logits.sum().backward()
        head.memory.push(feats, labels)

    return _timed(bank_ops, device, repeats)


def run(args: argparse.Namespace) -> dict[str, Any]:
    dry = args.dry_run
    device = torch.device("cpu" if dry else "cuda")
    if not dry and not torch.cuda.is_available():
        raise SystemExit("gpucheck: no CUDA device (use --dry-run on a CPU machine)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repo = Path(args.repo)
    sizes = dict(global_size=64, local_size=28) if dry else {}
    batch = 4 if dry else args.batch_size
    arch = "resnet18" if dry else "resnet50"
    channels_last = not dry
    amp = torch.bfloat16
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "dry_run": dry,
        "torch": torch.__version__,
        "trex": trex.__version__,
        "python": platform.python_version(),
        "cpu_cores": len(os.sched_getaffinity(0)),
    }

    # 1. CUDA-marked tests
    report["cuda_tests"] = run_cuda_tests(repo, out, dry)
    print("cuda tests:", report["cuda_tests"].get("summary"), flush=True)

    # 2. one training step with synthetic inputs, and the bank's share of it
    recipe = trex.create_recipe("trex", **sizes)
    torch.manual_seed(0)
    model = build_model(arch, 1000, device, channels_last)
    step = make_step(model, device, amp)
    groups = synthetic_groups(recipe, batch, device, channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device)
    while True:
        try:
            step_s = _timed(lambda: step(groups, labels), device, 2 if dry else args.steps)
            break
        except torch.OutOfMemoryError:
            if batch <= 32:
                raise
            batch //= 2  # report the batch that fitted
            torch.cuda.empty_cache()
            groups = synthetic_groups(recipe, batch, device, channels_last)
            labels = torch.randint(0, 1000, (batch,), device=device)
    bank_s = bank_share(model, batch, recipe.num_crops, device, 3 if dry else 50)
    report["step"] = {
        "arch": arch,
        "batch": batch,
        "crops": [list(o) for o in recipe.outputs],
        "amp": str(amp),
        "channels_last": channels_last,
        "seconds": step_s,
        "images_per_s": batch / step_s,
        "bank_seconds": bank_s,
        "bank_share": bank_s / step_s,
    }
    print(f"step: {batch / step_s:.1f} images/s, bank {100 * bank_s / step_s:.2f}% of the step", flush=True)

    # 3. the loader alone, then feeding the step
    from trex.data.photos import make_corpus

    corpus = make_corpus(Path(tempfile.gettempdir()) / "trex-gpucheck-corpus", n=16 if dry else args.corpus)
    samples = [(str(p), i % 1000) for i, p in enumerate(corpus)] * (1 if dry else args.corpus_repeat)
    threads = len(os.sched_getaffinity(0))
    pin = device.type == "cuda"
    loader = trex.MultiCropLoader(samples, batch, recipe, num_threads=threads, pin_memory=pin, seed=0, **sizes)
    for _ in zip(range(1), loader):
        pass
    t0, n = time.perf_counter(), 0
    for b in loader:
        n += b.labels.numel()
    loader_ips = n / (time.perf_counter() - t0)
    wait = busy = 0.0
    steps = 0
    t_prev = time.perf_counter()
    for b in loader:
        t_got = time.perf_counter()
        wait += t_got - t_prev
        b = b.to(device, non_blocking=True)
        gs = [trex.normalize(g) for g in b.groups]
        if channels_last:
            gs = [g.contiguous(memory_format=torch.channels_last) for g in gs]
        step(gs, b.labels)
        _sync(device)
        t_prev = time.perf_counter()
        busy += t_prev - t_got
        steps += 1
        if steps >= (2 if dry else args.steps):
            break
    step_ips = batch / step_s
    report["loader"] = {
        "threads": threads,
        "images_per_s": loader_ips,
        "images_per_s_per_core": loader_ips / threads,
        "data_wait_share": wait / (wait + busy),
        "fed_steps": steps,
        "cores_per_gpu": step_ips / (loader_ips / threads),
    }
    print(
        f"loader: {loader_ips:.0f} images/s on {threads} threads; data wait {100 * wait / (wait + busy):.1f}%; "
        f"{step_ips / (loader_ips / threads):.1f} cores keep one GPU busy",
        flush=True,
    )

    # 4. uint8 pinned path normalised on the device == CPU float32 output
    u8 = next(iter(trex.MultiCropLoader(samples, batch, recipe, pin_memory=pin, seed=3, **sizes)))
    f32 = next(iter(trex.MultiCropLoader(samples, batch, recipe, dtype="float32", seed=3, **sizes)))
    equal = all(
        torch.equal(trex.normalize(a.to(device, non_blocking=True)).cpu(), b) for a, b in zip(u8.groups, f32.groups)
    )
    report["pinned_uint8_equals_cpu_float32"] = equal
    report["pinned"] = bool(u8.groups[0].is_pinned()) if pin else False
    print("uint8 pinned path == float32 CPU path:", equal, flush=True)

    # 5. the device colour path against the uint8 path
    report["device_colour"] = device_colour_check(
        args, samples, recipe, batch, device, channels_last, step, step_ips, sizes, amp
    )

    (out / "gpucheck.json").write_text(json.dumps(report, indent=2))
    return report


def _feed(loader, step, device: torch.device, steps: int, prepare) -> float:
    """The data-wait share of ``steps`` steps fed by ``loader`` (after one warm-up batch)."""
    wait = busy = 0.0
    n = 0
    it = iter(loader)
    next(it)
    t_prev = time.perf_counter()
    for b in it:
        t_got = time.perf_counter()
        wait += t_got - t_prev
        gs, labels = prepare(b)
        step(gs, labels)
        _sync(device)
        t_prev = time.perf_counter()
        busy += t_prev - t_got
        n += 1
        if n >= steps:
            break
    del it
    return wait / max(wait + busy, 1e-9)


def device_colour_check(args, samples, recipe, batch, device, channels_last, step, step_ips, sizes, amp):
    from trex.cli.bench import loader_cpu_seconds

    dry = args.dry_run
    threads = len(os.sched_getaffinity(0))
    steps = 2 if dry else args.steps
    result: dict[str, Any] = {"threads": threads}

    # Agreement with the CPU path on real photos (every preset's colour ops are in "dino").
    std = torch.tensor(trex.constants.IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    kw = dict(seed=3, return_params=True, **sizes)
    cpu_b = next(iter(trex.MultiCropLoader(samples, batch, "dino", dtype="float32", **kw)))
    dev_b = next(iter(trex.MultiCropLoader(samples, batch, "dino", device=str(device), **kw)))
    diffs = [((a.double() - b.cpu().double()).abs() * std * 255).flatten() for a, b in zip(cpu_b.groups, dev_b.groups)]
    d = torch.cat(diffs)
    result["agreement"] = {
        "values": d.numel(),
        "within_1_level": float((d <= 1 + 1e-6).double().mean()),
        "equal": float((d == 0).double().mean()),
        "max_levels": float(d.max()),
        "params_equal": all(torch.equal(cpu_b.params[k], dev_b.params[k]) for k in cpu_b.params),
    }
    print("device colour path vs CPU path:", result["agreement"], flush=True)
    # Resampled on the device too: the same crops, bit for bit, as resampled on the CPU.
    res_b = next(iter(trex.MultiCropLoader(samples, batch, "dino", device=str(device), resize_on_device=True, **kw)))
    _sync(device)
    result["resize_on_device_equal"] = all(torch.equal(a, b) for a, b in zip(dev_b.groups, res_b.groups))
    print("resize_on_device path equals the device colour path:", result["resize_on_device_equal"], flush=True)

    def loader_alone(**lkw) -> dict[str, float]:
        ld = trex.MultiCropLoader(samples, batch, recipe, num_threads=threads, seed=0, **sizes, **lkw)
        for _ in zip(range(1), ld):
            pass
        c0, th0, t0, n = loader_cpu_seconds(), time.thread_time(), time.perf_counter(), 0
        for b in ld:
            n += b.labels.numel()
        _sync(device)
        secs = time.perf_counter() - t0
        ips = n / secs
        cpu = (loader_cpu_seconds() - c0) / n
        # The consuming thread's CPU: the device stages' host work and kernel launches.
        consumer = (time.thread_time() - th0) / n
        return {
            "images_per_s": ips,
            "images_per_s_per_core": ips / threads,
            "loader_cpu_s_per_image": cpu,
            "consumer_cpu_s_per_image": consumer,
        }

    pin = device.type == "cuda"
    path_options = {
        "uint8": dict(pin_memory=pin),
        "device": dict(device=str(device), channels_last=channels_last),
        "device_resize": dict(device=str(device), channels_last=channels_last, resize_on_device=True),
    }
    paths = {name: loader_alone(**options) for name, options in path_options.items()}

    def prep_uint8(b):
        b = b.to(device, non_blocking=True)
        gs = [trex.normalize(g) for g in b.groups]
        if channels_last:
            gs = [g.contiguous(memory_format=torch.channels_last) for g in gs]
        return gs, b.labels

    def prep_device(b):
        return b.groups, b.labels

    # ResNet-18: its own synthetic step speed.
    torch.manual_seed(0)
    arch18 = "resnet18"
    model18 = build_model(arch18, 1000, device, channels_last)
    step18 = make_step(model18, device, amp)
    synthetic = synthetic_groups(recipe, batch, device, channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device)
    step18_ips = batch / _timed(lambda: step18(synthetic, labels), device, 2 if dry else args.steps)
    synthetic.clear()
    result["step_images_per_s"] = {"step": step_ips, arch18: step18_ips}  # "step": section 2 (ResNet-50 on a GPU)
    for name, fig in paths.items():
        kw2 = path_options[name]
        prep = prep_uint8 if name == "uint8" else prep_device
        for arch, st, ips in (("step", step, step_ips), (arch18, step18, step18_ips)):
            ld = trex.MultiCropLoader(samples, batch, recipe, num_threads=threads, seed=1, **sizes, **kw2)
            fig[f"data_wait_share_{arch}"] = _feed(ld, st, device, steps, prep)
            fig[f"cores_per_gpu_{arch}"] = ips * fig["loader_cpu_s_per_image"]
            fig[f"cores_per_gpu_{arch}_with_consumer"] = ips * (
                fig["loader_cpu_s_per_image"] + fig["consumer_cpu_s_per_image"]
            )
            fig[f"cores_per_gpu_{arch}_from_throughput"] = ips / fig["images_per_s_per_core"]
        print(
            f"{name} path: {fig['images_per_s']:.0f} images/s on {threads} threads, loader CPU "
            f"{1e3 * fig['loader_cpu_s_per_image']:.2f} ms/image; cores per GPU: step "
            f"{fig['cores_per_gpu_step']:.2f}, {arch18} {fig[f'cores_per_gpu_{arch18}']:.2f}; data wait "
            f"{100 * fig['data_wait_share_step']:.1f}% / {100 * fig[f'data_wait_share_{arch18}']:.1f}%",
            flush=True,
        )
    result["paths"] = paths
    base = paths["uint8"]["loader_cpu_s_per_image"]  # 0 in a dry run: too few images for the clock tick
    for name, key in (("device", "loader_cpu_share_moved"), ("device_resize", "loader_cpu_share_moved_resize")):
        result[key] = 1 - paths[name]["loader_cpu_s_per_image"] / base if base else None
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/gpucheck.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT", "gpucheck-out"), help="folder for the JSON report")
    p.add_argument("--repo", default=".", help="repository root (for the tests)")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: exercise the same code without a GPU")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--corpus", type=int, default=256, help="distinct JPEGs for the loader")
    p.add_argument("--corpus-repeat", type=int, default=4, help="passes over the corpus per loader epoch")
    report = run(p.parse_args(argv))
    agreement = report["device_colour"]["agreement"]
    failed = (
        report["cuda_tests"]["returncode"] not in (0, 5)
        or not report["pinned_uint8_equals_cpu_float32"]
        or agreement["within_1_level"] < 0.999
        or not agreement["params_equal"]
        or not report["device_colour"]["resize_on_device_equal"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
