"""`trex bench`: the pipelines are timed in alternating rounds after a discarded warm-up round,
each reported as min / median / max of its rounds, and every ratio is taken per round from the
two pipelines' timings in that same round. Structure only: no test here depends on a timing."""

import json
import statistics
from collections.abc import Generator
from pathlib import Path

from trex.cli import bench


def test_measure_alternates_rounds_discards_warmup_and_pairs_ratios_by_round() -> None:
    calls: list[str] = []

    def pipeline(name: str, values: list[float]) -> Generator[float, None, None]:
        for v in values:
            calls.append(name)
            yield v

    # First value of each is the warm-up; the others are rounds 0, 1, 2.
    pipelines = {
        "decode_only": pipeline("decode_only", [1.0, 100.0, 120.0, 90.0]),
        "trex": pipeline("trex", [2.0, 50.0, 30.0, 60.0]),
        "reference": pipeline("reference", [3.0, 5.0, 2.0, 10.0]),
    }
    result = bench.measure(pipelines, 3)

    order = ["decode_only", "trex", "reference"]
    assert calls == order * 4  # warm-up round, then three rounds, each pipeline once per round in turn
    assert result["timeline"] == [[r, name] for r in range(3) for name in order]
    assert result["warmup"] == {"decode_only": 1.0, "trex": 2.0, "reference": 3.0}
    assert result["rounds"] == {
        "decode_only": [100.0, 120.0, 90.0],
        "trex": [50.0, 30.0, 60.0],
        "reference": [5.0, 2.0, 10.0],
    }
    assert result["images_per_s"]["trex"] == {"min": 30.0, "median": 50.0, "max": 60.0}
    # Per round: 50/5, 30/2, 60/10 -> 10, 15, 6 (a ratio of medians would be 50/5 = 10, of means 46.7/5.7).
    assert result["ratios_per_round"]["trex / reference"] == [10.0, 15.0, 6.0]
    assert result["ratios"]["trex / reference"] == {"min": 6.0, "median": 10.0, "max": 15.0}
    assert result["ratios_per_round"]["trex / decode_only"] == [0.5, 0.25, 60.0 / 90.0]


def test_measure_without_reference_reports_only_the_ratio_it_can() -> None:
    pipelines = {"decode_only": (v for v in [1.0, 4.0]), "trex": (v for v in [1.0, 2.0])}
    result = bench.measure(pipelines, 1)
    assert set(result["ratios"]) == {"trex / decode_only"}
    assert result["ratios_per_round"]["trex / decode_only"] == [0.5]


def test_bench_end_to_end_on_real_photos(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rc = bench.main(
        [
            "--data",
            str(photo_folder),
            "--images",
            "32",
            "--reference-images",
            "16",
            "--batch-size",
            "8",
            "--rounds",
            "3",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["dtype"] == "uint8" and result["recipe"] == "trex" and result["files"] == 24
    assert result["images"] == {"decode_only": 32, "trex": 32, "reference": 16}
    names = ["decode_only", "trex", "reference"]
    assert set(result["warmup"]) == set(names) and all(v > 0 for v in result["warmup"].values())
    assert result["timeline"] == [[r, name] for r in range(3) for name in names]
    for key in names:
        rounds = result["rounds"][key]
        assert len(rounds) == 3 and all(v > 0 for v in rounds)
        assert result["images_per_s"][key] == {
            "min": min(rounds),
            "median": statistics.median(rounds),
            "max": max(rounds),
        }
    for key, (num, den) in {
        "trex / reference": ("trex", "reference"),
        "trex / decode_only": ("trex", "decode_only"),
    }.items():
        per_round = [a / b for a, b in zip(result["rounds"][num], result["rounds"][den])]
        assert result["ratios_per_round"][key] == per_round
        assert result["ratios"][key]["median"] == statistics.median(per_round)


def test_bench_device_colour_paths_on_real_photos(photo_folder: Path, tmp_path: Path) -> None:
    """`--device cpu`: the CPU colour path (float32, uint8) and the device path, each with one
    warm-up epoch then its rounds; the moved share is computed from the medians of the same runs."""
    out = tmp_path / "bench.json"
    argv = ["--data", str(photo_folder), "--images", "48", "--batch-size", "8", "--rounds", "2"]
    rc = bench.main([*argv, "--no-reference", "--threads", "1", "--device", "cpu", "--json", str(out)])
    assert rc == 0
    paths = json.loads(out.read_text())["colour_paths"]
    keys = ("cpu_path_float32", "cpu_path_uint8", "device_cpu", "device_cpu_resize")
    for key in keys:
        rounds = paths[key]["rounds"]
        assert len(rounds) == 2  # the warm-up epoch is not among them
        for field in (
            "images_per_s",
            "loader_cpu_s_per_image",
            "consumer_cpu_s_per_image",
            "device_resample_macs_per_image",
            "device_resample_host_s_per_image",
        ):
            assert all(r[field] >= 0 for r in rounds)
            assert paths[key]["median"][field] == statistics.median(r[field] for r in rounds)
    # Only the resize path resamples on the device.
    assert all(r["device_resample_macs_per_image"] == 0 for r in paths["device_cpu"]["rounds"])
    assert all(r["device_resample_macs_per_image"] > 0 for r in paths["device_cpu_resize"]["rounds"])
    assert all(r["device_resample_host_s_per_image"] == 0 for r in paths["device_cpu"]["rounds"])
    assert all(r["device_resample_host_s_per_image"] > 0 for r in paths["device_cpu_resize"]["rounds"])
    for key, suffix in (("device_cpu", ""), ("device_cpu_resize", "_resize")):
        device = paths[key]["median"]["loader_cpu_s_per_image"]
        for base in ("float32", "uint8"):
            cpu = paths[f"cpu_path_{base}"]["median"]["loader_cpu_s_per_image"]
            assert paths[f"loader_cpu_share_moved{suffix}_vs_{base}"] == 1 - device / cpu
