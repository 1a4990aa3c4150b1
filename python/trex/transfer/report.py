"""Reports of a transfer evaluation: a table on screen, a JSON file and a bar chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per data set, then the mean log-odds row."""
    knn = "knn_log_odds" in result["mean"]
    head = ["dataset", "classes", "train", "test", "linear top-1", "C"] + (["kNN top-1"] if knn else [])
    rows = []
    for r in result["datasets"]:
        rows.append(
            [
                r["name"],
                str(r["classes"]),
                str(r["train_images"]),
                str(r["test_images"]),
                f"{r['linear_top1']:.2f}%",
                f"{r['c']:.3g}",
            ]
            + ([f"{r['knn_top1']:.2f}%"] if knn else [])
        )
    m = result["mean"]
    rows.append(
        ["mean (log-odds)", "", "", "", f"{m['linear_top1']:.2f}% ({m['linear_log_odds']:+.3f})", ""]
        + ([f"{m['knn_top1']:.2f}% ({m['knn_log_odds']:+.3f})"] if knn else [])
    )
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = "  ".join("-" * w for w in widths)

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(head), line, *(fmt(r) for r in rows[:-1]), line, fmt(rows[-1])])


def write_json(result: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def plot_bars(result: dict[str, Any], path: Path, title: str | None = None) -> Path:
    """Bar chart PNG: top-1 per data set and the mean (log-odds) bar, linear probe and kNN side by side."""
    from trex._plot import pyplot

    plt = pyplot()

    names = [r["name"] for r in result["datasets"]] + ["mean\n(log-odds)"]
    kinds = ["linear"] + (["knn"] if "knn_log_odds" in result["mean"] else [])
    width = 0.8 / len(kinds)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.6))
    for j, kind in enumerate(kinds):
        values = [r[f"{kind}_top1"] for r in result["datasets"]] + [result["mean"][f"{kind}_top1"]]
        xs = [i + (j - (len(kinds) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, values, width, label="linear probe" if kind == "linear" else "weighted kNN")
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("top-1 (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="lower right", fontsize=8)
    b = result["backbone"]
    ax.set_title(title or f"transfer: {b.get('arch')} / {b.get('recipe')} (epoch {b.get('epoch')})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["format_table", "plot_bars", "write_json"]
