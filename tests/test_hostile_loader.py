"""Hostile input: no hang, no crash, no silent corruption (issue 13).

Every case runs in a fresh interpreter (``subprocess.run(..., timeout=...)``): a deadlock, an
abort or a process killed for memory fails the test instead of stalling or killing the run. A
refused call must leave the state it was given unchanged (compared bit for bit).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Shared by every child: imports, and small real images written with Pillow (an independent
# encoder) from a seeded generator.
PRELUDE = textwrap.dedent("""
    import io, os, resource, signal, sys, time
    import numpy as np
    import torch
    import trex
    from PIL import Image
    from trex.exceptions import DecodeError, MemoryBankError

    def image_bytes(w, h, fmt="JPEG", seed=0):
        rng = np.random.default_rng(seed)
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format=fmt)
        return buf.getvalue()

    def write_images(root, n, size=48):
        os.makedirs(root, exist_ok=True)
        paths = []
        for i in range(n):
            p = os.path.join(root, f"img{i:03d}.jpg" if i % 3 else f"img{i:03d}.png")
            with open(p, "wb") as f:
                f.write(image_bytes(size + i % 5, size, "JPEG" if i % 3 else "PNG", seed=i))
            paths.append(p)
        return paths

    def max_rss_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    SMALL = dict(global_size=32, local_size=16, num_threads=2)
""")


def run_case(tmp_path: Path, body: str, timeout: float = 60) -> str:
    """Runs PRELUDE + body in a child Python; fails on a timeout, a signal or a non-zero exit."""
    code = PRELUDE + "\nTMP = " + repr(str(tmp_path)) + "\n" + textwrap.dedent(body) + "\nprint('CASE-OK')\n"
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr or b"").decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"hung: no result after {timeout} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}")
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    assert proc.returncode == 0, detail
    assert "CASE-OK" in proc.stdout, detail
    return proc.stdout


def test_dropping_an_unstarted_iterator_after_recycling_does_not_deadlock(tmp_path: Path) -> None:
    """An iterator created and dropped without being advanced (the producer is then filling
    buffers that earlier batches gave back) stops and joins its producer: no GIL deadlock. Held
    batches are never written again meanwhile."""
    run_case(
        tmp_path,
        """
        paths = write_images(os.path.join(TMP, "imgs"), 24)
        samples = [(p, i % 3) for i, p in enumerate(paths)]
        ld = trex.MultiCropLoader(samples, 4, shuffle=False, prefetch=8, **SMALL)
        held = next(iter(ld))
        expected = [g.clone() for g in held.groups]
        for epoch in range(3):
            for b in ld:  # every batch dropped: its buffers go back to the pool
                pass
            assert ld._inner.pooled() > 0
            for _ in range(5):
                it = iter(ld)
                del it
                for _ in zip([], ld):
                    pass
                it = iter(ld)
                next(it)
                del it
        assert all(torch.equal(g, e) for g, e in zip(held.groups, expected))
        # A fresh loader gives the same batches as before all this (nothing was corrupted).
        again = next(iter(trex.MultiCropLoader(samples, 4, shuffle=False, **SMALL)))
        assert all(torch.equal(g, e) for g, e in zip(again.groups, expected))
    """,
        timeout=90,
    )


def test_size_like_loader_options_are_bounded(tmp_path: Path) -> None:
    """prefetch=2**40 aborted the process (allocation failure) and 10**7 cost a GB per iter():
    prefetch is bounded by MAX_PREFETCH; so are the other size-like options."""
    run_case(
        tmp_path,
        """
        from trex.constants import MAX_PREFETCH
        from trex import _trex
        assert MAX_PREFETCH == _trex.MAX_PREFETCH == 64
        from trex.constants import MAX_CROPS
        assert MAX_CROPS == _trex.MAX_CROPS
        paths = write_images(os.path.join(TMP, "imgs"), 6)
        samples = [(p, 0) for p in paths]
        bad = [
            dict(prefetch=2**40), dict(prefetch=10**7), dict(prefetch=0), dict(prefetch=-1),
            dict(prefetch=MAX_PREFETCH + 1), dict(batch_size=0), dict(batch_size=2**40),
            dict(num_threads=10**6), dict(num_threads=0), dict(seed=-1), dict(seed=2**64),
            dict(rank=-1, world_size=2), dict(rank=0, world_size=0), dict(rank=0, world_size=2**40),
            dict(max_pixels=0), dict(max_pixels=-5), dict(global_size=0), dict(local_size=-3),
            dict(mean=(0.5, float("nan"), 0.5)), dict(std=(0.2, 0.0, 0.2)), dict(std=(1, 1)),
        ]
        for kw in bad:
            args = {**SMALL, "batch_size": 2, **kw}
            try:
                trex.MultiCropLoader(samples, args.pop("batch_size"), **args)
            except ValueError as e:
                assert str(e), kw
            else:
                raise AssertionError(f"accepted {kw}")
        for kw in (dict(prefetch=2.5), dict(batch_size="4"), dict(num_threads=1.0)):
            args = {**SMALL, "batch_size": 2, **kw}
            try:
                trex.MultiCropLoader(samples, args.pop("batch_size"), **args)
            except TypeError:
                pass
            else:
                raise AssertionError(f"accepted {kw}")
        rss = max_rss_mb()
        ld = trex.MultiCropLoader(samples, 2, prefetch=MAX_PREFETCH, **SMALL)
        for _ in range(3):
            assert len(list(ld)) == 3
        assert max_rss_mb() - rss < 300, max_rss_mb() - rss
    """,
    )


def test_non_regular_and_oversized_files_are_refused_without_reading(tmp_path: Path) -> None:
    """A FIFO named .jpg blocked forever, /dev/zero was read until memory ran out, a 2 GB non-image
    was read whole: now each is refused at once with a DecodeError naming the file, and the
    loader with on_error="skip" skips (and counts) them."""
    run_case(
        tmp_path,
        """
        from trex.constants import MAX_FILE_BYTES
        from trex import _trex
        assert MAX_FILE_BYTES == _trex.MAX_FILE_BYTES
        fifo = os.path.join(TMP, "pipe.jpg")
        os.mkfifo(fifo)
        huge = os.path.join(TMP, "huge.jpg")  # sparse: 2 GB, starts with a JPEG signature
        with open(huge, "wb") as f:
            f.write(b"\\xff\\xd8\\xff\\xe0")
            f.truncate(2 * 2**30)
        big_text = os.path.join(TMP, "big_text.jpg")  # sparse: 512 MB of zeros, not an image
        with open(big_text, "wb") as f:
            f.truncate(512 * 2**20)
        rss = max_rss_mb()
        t0 = time.monotonic()
        for path, words in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                            (huge, "exceeds the limit"), (big_text, "not a JPEG or PNG")):
            try:
                trex.ops.decode_file(path)
            except DecodeError as e:
                assert path in str(e) and words in str(e), str(e)
            else:
                raise AssertionError(f"decoded {path}")
        assert time.monotonic() - t0 < 5
        assert max_rss_mb() - rss < 50, f"read the files: +{max_rss_mb() - rss:.0f} MB"
        try:
            trex.ops.decode_file(TMP)
        except IsADirectoryError as e:
            assert TMP in str(e)

        paths = write_images(os.path.join(TMP, "imgs"), 8)
        samples = [(p, 0) for p in paths[:3]] + [(fifo, 1), (huge, 1), ("/dev/zero", 1)] + [(p, 0) for p in paths[3:]]
        ld = trex.MultiCropLoader(samples, 2, shuffle=False, on_error="skip", drop_last=False, **SMALL)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = list(ld)
        assert sum(b.labels.numel() for b in got) == len(samples)
        assert ld.skip_count >= 3, ld.skip_count
        assert {p for p, _ in ld.skipped} == {fifo, huge, "/dev/zero"}, ld.skipped
        assert all(b.labels.tolist() == [0] * b.labels.numel() for b in got)  # replaced by readable files
        ld = trex.MultiCropLoader(samples, 2, shuffle=False, on_error="raise", **SMALL)
        try:
            list(ld)
        except DecodeError as e:
            assert fifo in str(e), str(e)
        else:
            raise AssertionError("the FIFO was read")
        assert max_rss_mb() - rss < 300
    """,
    )


def test_output_sizes_past_the_limit_are_refused_before_allocating(tmp_path: Path) -> None:
    run_case(
        tmp_path,
        """
        from trex.constants import MAX_OUTPUT_PIXELS
        from trex import _trex
        assert MAX_OUTPUT_PIXELS == _trex.MAX_OUTPUT_PIXELS
        img = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8))
        rss = max_rss_mb()
        for size in (100000, 30000, (1, MAX_OUTPUT_PIXELS + 1), (2**40, 2**40)):
            try:
                trex.ops.resized_crop(img, 0, 0, 64, 96, size)
            except ValueError as e:
                assert "limit" in str(e), str(e)
            else:
                raise AssertionError(f"resized to {size}")
        for out_h, out_w in ((100000, 100000), (30000, 30000), (1, MAX_OUTPUT_PIXELS + 1)):  # the Rust check itself
            for fn, box in ((_trex.resized_crop, (0, 0, 64, 96)), (_trex.resample_region, (0.0, 0.0, 96.0, 64.0))):
                try:
                    fn(img, *box, out_h, out_w, interpolation="bicubic")
                except ValueError as e:
                    assert "limit" in str(e), str(e)
                else:
                    raise AssertionError(f"{fn.__name__} resized to {(out_h, out_w)}")
        assert max_rss_mb() - rss < 50
        out = trex.ops.resized_crop(img, 0, 0, 64, 96, (3, 5))
        assert out.shape == (3, 5, 3)
        paths = write_images(os.path.join(TMP, "imgs"), 4)
        for kw in (dict(global_size=100000), dict(local_size=30000)):
            try:
                trex.MultiCropLoader([(p, 0) for p in paths], 2, num_threads=1, **kw)
            except ValueError as e:
                assert "limit" in str(e), str(e)
            else:
                raise AssertionError(f"accepted {kw}")
        from trex.data.recipes import CropGroup, MultiCropRecipe
        try:
            trex.MultiCropLoader([(p, 0) for p in paths], 2, MultiCropRecipe((CropGroup(10**6, 8),)))
        except ValueError as e:
            assert "256" in str(e), str(e)
        else:
            raise AssertionError("accepted a million crops per image")
        assert max_rss_mb() - rss < 100
    """,
    )


def test_memory_bank_refusals_change_nothing(tmp_path: Path) -> None:
    """Every row of a push and every field of a state dict is checked before anything changes;
    a refused call leaves every buffer bit for bit as it was."""
    run_case(
        tmp_path,
        """
        def snapshot(m):
            return {k: v.clone() for k, v in m.state_dict().items()}

        def same(a, b):  # bit for bit (NaN included)
            return a.keys() == b.keys() and all(
                a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                and a[k].numpy().tobytes() == b[k].numpy().tobytes() for k in a)

        def refused(call, m, exc=MemoryBankError):
            before = snapshot(m)
            try:
                call()
            except exc as e:
                assert str(e)
            else:
                raise AssertionError("accepted")
            assert same(before, snapshot(m)), "a refused call changed the memory"

        g = torch.Generator().manual_seed(0)
        m = trex.PrototypeMemory(size=4, dim=3, num_classes=3, recompute_every=0)
        m.push(torch.randn(3, 3, generator=g), torch.tensor([0, 1, 2]))
        # A batch larger than the memory: the bad row is one the wrap-around would drop.
        feats = torch.randn(6, 3, generator=g)
        refused(lambda: m.push(feats, torch.tensor([7, 0, 1, 2, 0, 1])), m)
        nan = feats.clone(); nan[0, 1] = float("nan")
        refused(lambda: m.push(nan, torch.tensor([0, 0, 1, 2, 0, 1])), m)
        refused(lambda: m.push(feats, torch.tensor([-1, 0, 1, 2, 0, 1])), m)

        good = snapshot(m)
        bad_states = []
        s = snapshot(m); s["labels"][0] = 5; bad_states.append(s)
        s = snapshot(m); s["labels"][1] = -2; bad_states.append(s)
        s = snapshot(m); s["features"][2, 0] = float("nan"); bad_states.append(s)
        s = snapshot(m); s["counts"][0] = -1; bad_states.append(s)
        s = snapshot(m); s["counts"][1] += 1; bad_states.append(s)
        s = snapshot(m); s["sums"][0, 0] = float("inf"); bad_states.append(s)
        s = snapshot(m); s["position"].fill_(9); bad_states.append(s)
        s = snapshot(m); s["pushes"].fill_(-3); bad_states.append(s)
        s = snapshot(m); s["labels"] = s["labels"].double(); s["labels"][0] = 2.7; bad_states.append(s)
        s = snapshot(m); s["features"] = s["features"][:2]; bad_states.append(s)
        for s in bad_states:
            refused(lambda: m.load_state_dict(s), m, (MemoryBankError, RuntimeError))
        # Still a working memory: the next push matches a plain reference computation.
        x, y = torch.randn(2, 3, generator=g), torch.tensor([2, 2])
        m.push(x, y)
        feats_ref = torch.stack([x[1], good["features"][1], good["features"][2], x[0]])  # slots 3, then 0
        labels_ref = torch.tensor([2, 1, 2, 2])
        assert torch.equal(m.features, feats_ref) and torch.equal(m.labels, labels_ref)
        sums_ref = torch.zeros(3, 3, dtype=torch.float64).index_add_(0, labels_ref, feats_ref.double())
        assert torch.allclose(m.sums, sums_ref) and m.counts.tolist() == [0, 1, 3]
        # A consistent state loads.
        m.load_state_dict(good)
        assert same(snapshot(m), good)
        # A buffer corrupted by hand makes the next push refuse, not fail half-way.
        m.labels[3] = 9
        refused(lambda: m.push(x, y), m)
    """,
    )


def test_inputs_taken_silently_are_refused(tmp_path: Path) -> None:
    run_case(
        tmp_path,
        """
        x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
        for kw in (dict(std=(0.2, 0.0, 0.2)), dict(std=0), dict(mean=(float("nan"), 0.0, 0.0)),
                   dict(std=(float("inf"), 1.0, 1.0)), dict(mean=(0.1, 0.2))):
            try:
                trex.ops.normalize(x, **kw)
            except (ValueError, TypeError):
                pass
            else:
                raise AssertionError(f"normalize accepted {kw}")
        assert torch.isfinite(trex.ops.normalize(x)).all()
        for data in (5, "abc", 3.5, None, [1, 2, 3]):
            try:
                trex.ops.decode(data)
            except TypeError:
                pass
            else:
                raise AssertionError(f"decode accepted {data!r}")
        assert trex.ops.decode(bytearray(image_bytes(8, 6))).shape == (6, 8, 3)
        assert trex.ops.decode(memoryview(image_bytes(8, 6, "PNG"))).shape == (6, 8, 3)
        paths = write_images(os.path.join(TMP, "imgs"), 4)
        for bad_label in (-5, 2.7, "1", None, True):
            samples = [(p, 0) for p in paths]
            samples[2] = (paths[2], bad_label)
            try:
                trex.MultiCropLoader(samples, 2, **SMALL)
            except ValueError as e:
                assert "sample 2" in str(e) and paths[2] in str(e), str(e)
            else:
                raise AssertionError(f"accepted label {bad_label!r}")
        samples = [(p, np.int64(i)) for i, p in enumerate(paths)]
        ld = trex.MultiCropLoader(samples, 2, shuffle=False, **SMALL)
        assert sorted(int(v) for b in ld for v in b.labels) == [0, 1, 2, 3]
    """,
    )


def test_fuzzed_loader_options_and_file_trees(tmp_path: Path) -> None:
    """Random option values and random file trees (images, truncated and corrupt files, empty
    files, text, FIFOs, directories named .jpg, missing files): either a clean error naming what
    is wrong, or batches of the right shapes; never a hang or a crash."""
    out = run_case(
        tmp_path,
        """
        import shutil, warnings, random
        from hypothesis import HealthCheck, given, settings, strategies as st

        GOOD = {(w, h, fmt): image_bytes(w, h, fmt) for w in (1, 7, 40) for h in (1, 9, 33) for fmt in ("JPEG", "PNG")}
        KINDS = ["jpeg", "png", "truncated", "garbage", "empty", "text", "fifo", "dir", "missing"]
        counter = [0]

        def make_tree(kinds, seed):
            counter[0] += 1
            root = os.path.join(TMP, f"tree{counter[0]}")
            os.makedirs(root)
            rng = random.Random(seed)
            samples = []
            for i, kind in enumerate(kinds):
                p = os.path.join(root, f"f{i}.jpg")
                w, h = rng.choice((1, 7, 40)), rng.choice((1, 9, 33))
                if kind in ("jpeg", "png"):
                    open(p, "wb").write(GOOD[(w, h, kind.upper() if kind == "png" else "JPEG")])
                elif kind == "truncated":
                    b = GOOD[(w, h, "JPEG")]
                    open(p, "wb").write(b[: rng.randrange(1, len(b))])
                elif kind == "garbage":
                    b = bytearray(GOOD[(w, h, rng.choice(("JPEG", "PNG")))])
                    for _ in range(rng.randrange(1, 20)):
                        b[rng.randrange(len(b))] = rng.randrange(256)
                    open(p, "wb").write(bytes(b))
                elif kind == "empty":
                    open(p, "wb").close()
                elif kind == "text":
                    open(p, "w").write("not an image " * rng.randrange(1, 100))
                elif kind == "fifo":
                    os.mkfifo(p)
                elif kind == "dir":
                    os.makedirs(p)
                samples.append((p, rng.randrange(3)))
            return root, samples

        def mostly(good, bad):
            # A bad value about once in 16 (a middle value of the draw, which hypothesis does not
            # favour as it does the bounds), so that most examples get as far as batches.
            return st.integers(0, 15).flatmap(lambda k: bad if k == 7 else good)

        bad_ints = st.sampled_from([-3, -1, 0, 2**31, 2**40, 10**7, 2**64])
        options = st.fixed_dictionaries({}, optional={
            "prefetch": mostly(st.integers(1, 4), bad_ints),
            "num_threads": mostly(st.integers(1, 3), st.sampled_from([-1, 0, 10**6])),
            "drop_last": st.booleans(), "shuffle": st.booleans(),
            "dtype": mostly(st.sampled_from(["uint8", "float32"]), st.just("float16")),
            "on_error": mostly(st.sampled_from(["skip", "skip", "raise"]), st.just("ignore")),
            "global_size": mostly(st.sampled_from([None, 8, 16, 24]), st.sampled_from([0, 10**6])),
            "local_size": mostly(st.sampled_from([None, 4, 12]), st.sampled_from([-1, 50000])),
            "max_pixels": mostly(st.sampled_from([None, None, 10**6, 2000]), st.sampled_from([0, -1])),
            "world_size": mostly(st.integers(1, 3), st.sampled_from([0, -2])),
            "rank": mostly(st.just(0), st.sampled_from([-1, 1, 5])),
            "return_params": st.booleans(), "dct_scaling": st.booleans(),
            "recipe": mostly(st.sampled_from(["trex", "dino", "baseline"]), st.just("nope")),
        })
        kinds_st = st.sampled_from(["jpeg"] * 4 + ["png"] * 3 + KINDS[2:])
        CLEAN = (ValueError, TypeError, DecodeError, OSError)
        stats = {"refused": 0, "epochs": 0, "failed_epochs": 0, "batches": 0}

        @settings(max_examples=int(os.environ.get("TREX_FUZZ_EXAMPLES", "400")), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), derandomize=True)
        @given(kinds=st.lists(kinds_st, min_size=1, max_size=10), seed=st.integers(0, 2**16),
               batch_size=mostly(st.integers(1, 5), bad_ints), opts=options)
        def fuzz(kinds, seed, batch_size, opts):
            root, samples = make_tree(kinds, seed)
            try:
                try:
                    ld = trex.MultiCropLoader(samples, batch_size, **{"num_threads": 2, **opts})
                except CLEAN as e:
                    assert str(e)
                    stats["refused"] += 1
                    return
                shapes = [((h, w), n) for (h, w), n in ld.recipe.outputs]
                stats["epochs"] += 1
                n = 0
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        for b in ld:
                            B = b.labels.numel()
                            assert 1 <= B <= batch_size and (B == batch_size or not ld.spec.drop_last)
                            assert len(b.groups) == len(shapes)
                            for g, ((h, w), c) in zip(b.groups, shapes):
                                assert tuple(g.shape) == (c * B, 3, h, w), (g.shape, c, B, h, w)
                                assert g.dtype == (torch.uint8 if ld.dtype == "uint8" else torch.float32)
                            if ld.dtype == "float32":
                                assert all(torch.isfinite(g).all() for g in b.groups)
                            assert b.labels.min() >= 0 and b.labels.max() < 3
                            n += 1
                    except CLEAN as e:
                        assert str(e)
                        stats["failed_epochs"] += 1
                        return
                assert n == len(ld), (n, len(ld))
                stats["batches"] += n
            finally:
                shutil.rmtree(root, ignore_errors=True)

        t0 = time.monotonic()
        fuzz()
        print(stats, f"{time.monotonic() - t0:.1f} s")
        assert stats["batches"] > 100 and stats["refused"] > 10, stats
    """,
        timeout=150,
    )
    print(out)
