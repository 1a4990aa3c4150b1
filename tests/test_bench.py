"""`trex bench` end to end on a small folder of real photos: the figures it prints and writes are
the medians of its rounds, and the ratios are computed from them."""

import json
import statistics
from pathlib import Path

from trex import bench


def test_bench_reports_medians_of_alternating_rounds(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    rc = bench.main(["--data", str(photo_folder), "--images", "32", "--reference-images", "16", "--batch-size", "8",
                     "--rounds", "3", "--json", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["dtype"] == "uint8" and result["recipe"] == "trex" and result["files"] == 24
    for key in ("decode_only", "trex"):
        assert len(result["rounds"][key]) == 3 and all(v > 0 for v in result["rounds"][key])
        assert result["images_per_s"][key] == statistics.median(result["rounds"][key])
    ips = result["images_per_s"]
    assert result["ratios"]["trex / decode_only"] == ips["trex"] / ips["decode_only"]
    assert result["ratios"]["trex / reference"] == ips["trex"] / ips["reference"] > 0
