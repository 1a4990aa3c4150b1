"""The colour stage on a device (issue 16): ``MultiCropLoader(..., device=...)``.

Run here with ``device="cpu"`` (tch on CPU tensors, as CI checks it): for every recipe preset, on
real photos, the device path must give the CPU path's values (at least 99.9% within one level of
the uint8 image, every value within ``BOUND_LEVELS``; measured: all equal, bit for bit), the same
batches at 1 and 2 threads, and the same parameters. Cases that could hang run in a child
interpreter with a timeout.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import trex
from trex.constants import IMAGENET_STD
from trex.data.recipes import PRESETS, ColorJitter, MultiCropRecipe, create_recipe

# Largest difference allowed anywhere, in levels of the uint8 image (blurred crops included).
# Measured on these photos for every preset: 0 (the device stage follows the CPU arithmetic op
# for op, blur taps summed in the same order).
BOUND_LEVELS = 1.0
SMALL = dict(global_size=96, local_size=48)


def levels(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b| of normalised [N, 3, H, W] batches in levels of the uint8 image (x std x 255)."""
    std = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    return (a.double() - b.double()).abs() * std * 255


def compare(cpu: trex.MultiCropLoader, dev: trex.MultiCropLoader, batches: int = 2) -> dict[str, float]:
    """Both loaders' first ``batches`` batches: fraction within one level, fraction equal, max
    difference over all values and over blurred crops only."""
    n = within = equal = 0
    worst = worst_blur = 0.0
    for i, (a, b) in enumerate(zip(cpu, dev)):
        if i == batches:
            break
        assert torch.equal(a.labels, b.labels) and torch.equal(a.indices, b.indices)
        assert a.params is not None and b.params is not None
        assert a.params.keys() == b.params.keys()
        for k in a.params:
            assert torch.equal(a.params[k], b.params[k]), k
        start = 0
        for ga, gb in zip(a.groups, b.groups):
            assert ga.shape == gb.shape and gb.dtype == torch.float32 and gb.device == torch.device("cpu")
            d = levels(ga, gb)
            n += d.numel()
            within += int((d <= 1 + 1e-6).sum())
            equal += int((ga == gb).sum())
            worst = max(worst, float(d.max()))
            crops = ga.shape[0]
            sigma = b.params["blur_sigma"].reshape(-1)[start : start + crops]
            if (sigma > 0).any():
                worst_blur = max(worst_blur, float(d[sigma > 0].max()))
            start += crops
    return {"within": within / n, "equal": equal / n, "max": worst, "max_blur": worst_blur}


def same_crops(a: trex.MultiCropLoader, b: trex.MultiCropLoader, batches: int = 2) -> None:
    """Both loaders give the same batches, bit for bit (groups, labels, indices, params)."""
    n = 0
    for i, (x, y) in enumerate(zip(a, b)):
        if i == batches:
            break
        assert len(x.groups) == len(y.groups)
        for g, h in zip(x.groups, y.groups):
            assert g.shape == h.shape and torch.equal(g, h), (i, g.shape, int((g != h).sum()))
        assert torch.equal(x.labels, y.labels) and torch.equal(x.indices, y.indices)
        assert (x.params is None) == (y.params is None)
        if x.params is not None and y.params is not None:
            assert all(torch.equal(x.params[k], y.params[k]) for k in x.params)
        n += 1
    assert n == batches


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_device_cpu_matches_the_cpu_path(photo_folder: Path, preset: str) -> None:
    kw = dict(batch_size=6, recipe=preset, seed=11, num_threads=2, return_params=True, **SMALL)
    cpu = trex.MultiCropLoader(photo_folder, dtype="float32", **kw)
    dev = trex.MultiCropLoader(photo_folder, device="cpu", **kw)
    stats = compare(cpu, dev)
    assert stats["within"] >= 0.999, stats
    assert stats["max"] <= BOUND_LEVELS and stats["max_blur"] <= BOUND_LEVELS, stats
    print(preset, stats)
    # Resampling on the device too: the crops are the CPU resampler's bytes (exact integer
    # arithmetic), so the batches equal the colour-only device path's bit for bit.
    resized = trex.MultiCropLoader(photo_folder, device="cpu", resize_on_device=True, **kw)
    dev.set_epoch(0)  # compare() ran its epoch 0
    same_crops(dev, resized)


@pytest.mark.parametrize("resize_on_device", [False, True])
def test_full_size_crops_match(photo_folder: Path, resize_on_device: bool) -> None:
    """The presets' own sizes (224 and 96, upsampled from these small photos), DCT scaling off."""
    kw = dict(batch_size=4, recipe="dino", seed=5, num_threads=2, return_params=True, dct_scaling=False)
    stats = compare(
        trex.MultiCropLoader(photo_folder, dtype="float32", **kw),
        trex.MultiCropLoader(photo_folder, device="cpu", resize_on_device=resize_on_device, **kw),
        batches=1,
    )
    assert stats["within"] >= 0.999 and stats["max"] <= BOUND_LEVELS, stats


def test_resampling_on_the_device_equals_the_cpu_resampler(photo_folder: Path) -> None:
    """Crops alone (t-ReX's crop groups with every colour op off), at the photos' DCT scales and
    without, against the CPU path's uint8 crops normalised by torch."""
    base = create_recipe("trex", **SMALL)
    off = ColorJitter(p=0.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    groups = tuple(dataclasses.replace(g, jitter=off, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0) for g in base.groups)
    recipe = MultiCropRecipe(groups=groups, name="trex-geometry")
    for dct_scaling in (True, False):
        kw = dict(batch_size=5, recipe=recipe, seed=3, num_threads=2, dct_scaling=dct_scaling)
        cpu = trex.MultiCropLoader(photo_folder, **kw)
        dev = trex.MultiCropLoader(photo_folder, device="cpu", resize_on_device=True, **kw)
        for i, (a, b) in enumerate(zip(cpu, dev)):
            for g, h in zip(a.groups, b.groups):
                assert g.dtype == torch.uint8 and h.dtype == torch.float32
                assert torch.equal(trex.normalize(g), h), (dct_scaling, i, g.shape)
            if i == 2:
                break


def test_same_batches_at_any_thread_count(photo_folder: Path) -> None:
    kw = dict(batch_size=5, recipe="trex", seed=2, device="cpu", return_params=True, **SMALL)
    same_crops(
        trex.MultiCropLoader(photo_folder, num_threads=1, resize_on_device=True, **kw),
        trex.MultiCropLoader(photo_folder, num_threads=2, resize_on_device=True, **kw),
    )
    one = list(trex.MultiCropLoader(photo_folder, num_threads=1, **kw))
    two = list(trex.MultiCropLoader(photo_folder, num_threads=2, **kw))
    assert len(one) == len(two) > 1
    for a, b in zip(one, two):
        assert all(torch.equal(x, y) for x, y in zip(a.groups, b.groups))
        assert torch.equal(a.indices, b.indices)
        assert all(torch.equal(a.params[k], b.params[k]) for k in a.params)


def test_device_batches_and_options(photo_folder: Path) -> None:
    kw = dict(batch_size=4, recipe="dino", seed=1, num_threads=2, **SMALL)
    ld = trex.MultiCropLoader(photo_folder, device="cpu", **kw)
    assert ld.device == torch.device("cpu") and ld.dtype == "float32" and "device='cpu'" in repr(ld)
    b = next(iter(ld))
    assert b.params is None  # the device stage reads them, the user asked for none
    assert [g.dtype for g in b.groups] == [torch.float32] * 2 and b.labels.dtype == torch.int64
    assert len(b.crops) == ld.recipe.num_crops and b.crops[0].shape == (4, 3, 96, 96)
    # channels_last: the same values in channels_last memory format.
    cl = next(iter(trex.MultiCropLoader(photo_folder, device="cpu", channels_last=True, **kw)))
    for g, h in zip(b.groups, cl.groups):
        assert h.is_contiguous(memory_format=torch.channels_last) and not h.is_contiguous()
        assert torch.equal(g, h)
    # A device loader pickles (DataLoader workers) and rebuilds with its device.
    again = pickle.loads(pickle.dumps(ld))
    assert again.device == torch.device("cpu") and again.epoch == 1
    again.set_epoch(0)
    assert all(torch.equal(x, y) for x, y in zip(next(iter(again)).groups, b.groups))
    resized = pickle.loads(pickle.dumps(trex.MultiCropLoader(photo_folder, device="cpu", resize_on_device=True, **kw)))
    assert resized.spec.resize_on_device is True
    assert all(torch.equal(x, y) for x, y in zip(next(iter(resized)).groups, b.groups))


def test_the_cpu_path_is_unchanged(photo_folder: Path) -> None:
    """device=None: host tensors as before (uint8 by default), no device attribute surprises."""
    ld = trex.MultiCropLoader(photo_folder, batch_size=4, num_threads=2, **SMALL)
    assert ld.device is None and ld.dtype == "uint8"
    b = next(iter(ld))
    assert b.groups[0].dtype == torch.uint8 and b.params is None


def run_case(tmp_path: Path, body: str, timeout: float = 120) -> str:
    """Runs ``body`` in a child Python (with the photo folder at FOLDER); fails on a timeout."""
    code = (
        textwrap.dedent("""
        import os, sys, threading, torch, trex
        def loader_threads():
            names = []
            for t in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{t}/comm") as f:
                    names.append(f.read().strip())
            return [n for n in names if n.startswith("trex-loader")]
    """)
        + "\nFOLDER = "
        + repr(str(tmp_path))
        + "\n"
        + textwrap.dedent(body)
        + "\nprint('CASE-OK')\n"
    )
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: no result after {timeout} s")
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    assert proc.returncode == 0 and "CASE-OK" in proc.stdout, detail
    return proc.stdout


def test_bad_devices_are_refused_before_anything_starts(photo_folder: Path) -> None:
    run_case(
        photo_folder,
        """
        kw = dict(batch_size=4, num_threads=2, global_size=32, local_size=16)
        cases = [
            (dict(device="nonsense"), ValueError, "device must be"),
            (dict(device="mps"), ValueError, "device must be"),
            (dict(device="cuda:x"), ValueError, "device must be"),
            (dict(device=3), TypeError, "device must be"),
            (dict(channels_last=True), ValueError, "channels_last"),
            (dict(resize_on_device=True), ValueError, "resize_on_device"),
            (dict(device="cpu", resize_on_device=1), TypeError, "resize_on_device"),
            (dict(device="cpu", channels_last="yes"), TypeError, "channels_last"),
            (dict(device="cpu", dtype="float16"), ValueError, "dtype"),
        ]
        if not torch.cuda.is_available():
            cases += [(dict(device="cuda"), ValueError, "CUDA is not available"),
                      (dict(device="cuda:1"), ValueError, "CUDA is not available"),
                      (dict(device=torch.device("cuda", 0)), ValueError, "CUDA is not available")]
        for extra, exc, words in cases:
            try:
                trex.MultiCropLoader(FOLDER, **kw, **extra)
            except exc as e:
                assert words in str(e), (extra, e)
            else:
                raise AssertionError(f"{extra} was accepted")
        assert loader_threads() == [], loader_threads()
        # The extension refuses a bad device itself too (ValueError), before any thread starts.
        import dataclasses
        from trex import _trex
        ld = trex.MultiCropLoader(FOLDER, **kw)
        resolved = dataclasses.replace(ld.spec, recipe=ld.recipe, global_size=None, local_size=None,
                                       num_threads=2, rank=0, world_size=1)
        paths = [p for p, _ in ld.samples]
        for bad in ["nonsense", "cuda:x", "mps"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"]):
            try:
                _trex.Loader(paths, [0] * len(paths), dataclasses.replace(resolved, device=bad), pin_device=None)
            except ValueError as e:
                assert "device" in str(e), e
            else:
                raise AssertionError(bad)
        # Options that need a device, without one.
        for option, words in (("channels_last", "channels_last"), ("resize_on_device", "resampling")):
            try:
                _trex.Loader(paths, [0] * len(paths), dataclasses.replace(resolved, **{option: True}), pin_device=None)
            except ValueError as e:
                assert words in str(e), (option, e)
            else:
                raise AssertionError(f"{option} without device")
        assert loader_threads() == [], loader_threads()
    """,
    )


def test_early_exits_and_errors_do_not_hang(photo_folder: Path, tmp_path: Path) -> None:
    """Breaking out, dropping iterators, and an unreadable file (raise and skip) with the device
    stage: no hang, the usual errors."""
    broken = tmp_path / "broken"
    (broken / "a").mkdir(parents=True)
    for i, p in enumerate(sorted(photo_folder.rglob("*.jpg"))[:8]):
        (broken / "a" / f"{i}.jpg").write_bytes(p.read_bytes())
    (broken / "a" / "3.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    run_case(
        broken,
        """
        import warnings
        from trex.exceptions import DecodeError
        kw = dict(batch_size=2, num_threads=2, global_size=32, local_size=16, device="cpu", shuffle=False,
                  drop_last=False)
        ld = trex.MultiCropLoader(FOLDER, **kw)
        for _ in range(5):
            it = iter(ld)
            next(it)
            del it
            for b in ld:
                break
        try:
            for b in ld:
                pass
        except DecodeError as e:
            assert "3.jpg" in str(e), e
        else:
            raise AssertionError("the broken file was not reported")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            skip = trex.MultiCropLoader(FOLDER, on_error="skip", return_params=True, **kw)
            n = sum(b.labels.numel() for b in skip)
        assert n == 8 and skip.skip_count == 1, (n, skip.skip_count)
        # The same with the resampling on the device: the error names the file; skipping
        # replaces it, and the replacement's crops are those of the CPU path.
        kw["resize_on_device"] = True
        try:
            for b in trex.MultiCropLoader(FOLDER, **kw):
                pass
        except DecodeError as e:
            assert "3.jpg" in str(e), e
        else:
            raise AssertionError("the broken file was not reported")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resized = trex.MultiCropLoader(FOLDER, on_error="skip", return_params=True, **kw)
            pairs = list(zip(trex.MultiCropLoader(FOLDER, on_error="skip", return_params=True,
                                                  **{**kw, "resize_on_device": False}), resized))
        assert len(pairs) == 4 and resized.skip_count == 1
        for a, b in pairs:
            assert torch.equal(a.indices, b.indices)
            assert all(torch.equal(g, h) for g, h in zip(a.groups, b.groups))
        it = iter(resized)
        next(it)
        del it
        assert True
    """,
    )


@pytest.mark.cuda
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_device_cuda_matches_the_cpu_path(photo_folder: Path, preset: str) -> None:
    """On a GPU (scripts/gpu-check): the same bounds, batches on the GPU, channels_last honoured."""
    if not torch.cuda.is_available():
        pytest.fail("needs a CUDA device (run by scripts/gpu-check)")
    kw = dict(batch_size=6, recipe=preset, seed=11, num_threads=2, return_params=True, **SMALL)
    cpu = trex.MultiCropLoader(photo_folder, dtype="float32", **kw)
    dev = trex.MultiCropLoader(photo_folder, device="cuda", channels_last=True, **kw)
    b = next(iter(dev))
    assert all(g.is_cuda and g.is_contiguous(memory_format=torch.channels_last) for g in b.groups)
    assert b.labels.is_cuda and b.indices.is_cuda

    class OnCpu:  # the device batches brought back, for compare()
        def __iter__(self):
            for x in dev:
                torch.cuda.synchronize()
                x.groups = [g.cpu() for g in x.groups]
                x.labels, x.indices = x.labels.cpu(), x.indices.cpu()
                yield x

    stats = compare(cpu, OnCpu())  # type: ignore[arg-type]
    assert stats["within"] >= 0.999, stats
    assert stats["max"] <= BOUND_LEVELS and stats["max_blur"] <= BOUND_LEVELS, stats
    # Resampled on the GPU too: the same crops as resampled on the CPU and coloured on the GPU.
    resized = trex.MultiCropLoader(photo_folder, device="cuda", resize_on_device=True, **kw)
    dev.set_epoch(0)
    for i, (a, b) in enumerate(zip(dev, resized)):
        torch.cuda.synchronize()
        assert all(torch.equal(g, h) for g, h in zip(a.groups, b.groups)), (preset, i)
        if i == 1:
            break


@pytest.mark.cuda
def test_device_cuda_in_a_forked_worker_is_a_clear_error(photo_folder: Path, tmp_path: Path) -> None:
    """A CUDA loader iterated in a child forked after CUDA was used (what a DataLoader worker is)
    raises a RuntimeError that says so, instead of failing in the driver."""
    if not torch.cuda.is_available():
        pytest.fail("needs a CUDA device (run by scripts/gpu-check)")
    run_case(
        photo_folder,
        """
        import multiprocessing as mp
        ld = trex.MultiCropLoader(FOLDER, batch_size=4, num_threads=2, global_size=32, local_size=16, device="cuda")
        next(iter(ld))  # CUDA is in use in this process
        def child(q):
            try:
                next(iter(ld))
                q.put("no error")
            except RuntimeError as e:
                q.put(str(e))
        q = mp.get_context("fork").Queue()
        p = mp.get_context("fork").Process(target=child, args=(q,))
        p.start()
        msg = q.get(timeout=60)
        p.join(30)
        assert "forked process" in msg, msg
        """,
    )


def test_odd_images_resampled_on_the_device(tmp_path: Path) -> None:
    """CMYK, gray, a PNG under a .jpg name, a 16 x 16 image (every crop upsampled), a 6000 x 4500
    photo (decoded at a reduced DCT scale) and an EXIF-rotated JPEG: resampled on the device, the
    crops are those resampled on the CPU; a pixel bomb is refused with the same error."""
    from PIL import Image

    from conftest import real_photos, write_odd_images, write_pixel_bomb

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown
    real_photos()[1].save(tmp_path / "rotated.jpg", exif=exif)
    paths = [*write_odd_images(tmp_path), str(tmp_path / "rotated.jpg")]
    samples = [(p, i) for i, p in enumerate(paths)]
    kw = dict(batch_size=6, recipe="trex", shuffle=False, num_threads=2, device="cpu", return_params=True)
    same_crops(
        trex.MultiCropLoader(samples, **kw), trex.MultiCropLoader(samples, resize_on_device=True, **kw), batches=1
    )
    write_pixel_bomb(tmp_path / "tiny.jpg", tmp_path / "bomb.jpg")
    with pytest.raises(trex.DecodeError, match=r"bomb\.jpg.*exceeds the limit"):
        next(
            iter(
                trex.MultiCropLoader([(str(tmp_path / "bomb.jpg"), 0)], 1, "trex", device="cpu", resize_on_device=True)
            )
        )
