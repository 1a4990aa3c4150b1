"""The GPU check's entry runs here on the CPU at tiny sizes (the same code the GPU machine runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_gpucheck_dry_run_writes_a_complete_report(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [
            sys.executable,
            str(repo / "scripts" / "gpucheck.py"),
            "--dry-run",
            "--out",
            str(tmp_path),
            "--repo",
            str(repo),
        ],
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpucheck.json").read_text())
    assert report["dry_run"] is True
    assert report["cuda_tests"]["returncode"] in (0, 5)  # dry run: collection only
    step = report["step"]
    assert step["images_per_s"] > 0 and 0 < step["bank_share"] < 1
    assert step["crops"] == [[[64, 64], 1], [[28, 28], 8]]
    loader = report["loader"]
    assert loader["images_per_s"] > 0 and 0 <= loader["data_wait_share"] <= 1 and loader["fed_steps"] == 2
    assert report["pinned_uint8_equals_cpu_float32"] is True
    colour = report["device_colour"]
    assert colour["agreement"]["within_1_level"] >= 0.999 and colour["agreement"]["params_equal"] is True
    assert colour["resize_on_device_equal"] is True
    for path in ("uint8", "device", "device_resize"):
        fig = colour["paths"][path]
        assert fig["images_per_s"] > 0 and 0 <= fig["data_wait_share_step"] <= 1
        assert "cores_per_gpu_step" in fig and "cores_per_gpu_resnet18" in fig
        assert fig["cores_per_gpu_step_with_consumer"] >= fig["cores_per_gpu_step"]
