"""The comparison's outputs: per-variant mean and spread over seeds as markdown and JSON, and the
trade-off scatter plot (training-task accuracy against transfer accuracy)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def _stats(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def summarise(runs: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Groups run records (``variant``, ``seed``, ``seen_top1``, ``transfer``) by variant.

    Returns:
        One row per variant, in first-seen order: seen-task top-1, mean log-odds transfer top-1
        and per-dataset transfer top-1, each as {mean, std, n} over seeds.
    """
    rows = []
    for name in dict.fromkeys(r["variant"] for r in runs):
        mine = [r for r in runs if r["variant"] == name]
        datasets = [d["name"] for d in mine[0]["transfer"]["datasets"]]
        row = {"variant": name, "label": labels.get(name, name), "seeds": [r["seed"] for r in mine],
               "seen_top1": _stats([r["seen_top1"] for r in mine]),
               "transfer_top1": _stats([r["transfer"]["mean"]["linear_top1"] for r in mine]),
               "transfer_log_odds": _stats([r["transfer"]["mean"]["linear_log_odds"] for r in mine]),
               "datasets": {d: _stats([next(x["linear_top1"] for x in r["transfer"]["datasets"] if x["name"] == d)
                                       for r in mine]) for d in datasets}}
        if "knn_top1" in mine[0]["transfer"]["mean"]:
            row["transfer_knn_top1"] = _stats([r["transfer"]["mean"]["knn_top1"] for r in mine])
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], header: str = "") -> str:
    """A markdown table: mean ± standard deviation over seeds."""
    pm = lambda s: f"{s['mean']:.2f} ± {s['std']:.2f}"  # noqa: E731
    datasets = list(rows[0]["datasets"]) if rows else []
    head = ["recipe", "seeds", "seen-task top-1 (%)", "transfer top-1 (%, mean log-odds)"] + \
        [f"{d} (%)" for d in datasets]
    lines = [header, ""] if header else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["variant"], str(len(r["seeds"])), pm(r["seen_top1"]), pm(r["transfer_top1"])] + \
            [pm(r["datasets"][d]) for d in datasets]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(runs: list[dict[str, Any]], rows: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> dict:
    """Writes ``compare.md``, ``compare.json`` and ``compare.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    header = (f"Built-in Fashion-MNIST run ({meta.get('budget')}); transfer = linear probe on "
              f"{', '.join(meta.get('datasets', []))}, averaged by mean log-odds. Mean ± std over seeds.")
    (out / "compare.md").write_text(markdown(rows, header))
    (out / "compare.json").write_text(json.dumps({"meta": meta, "summary": rows, "runs": runs}, indent=2) + "\n")
    scatter(runs, rows, out / "compare.png")
    return {"markdown": str(out / "compare.md"), "json": str(out / "compare.json"), "plot": str(out / "compare.png")}


def scatter(runs: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path) -> Path:
    """Training-task top-1 (x) against transfer top-1 (y): one faint dot per run, one marker with
    error bars (standard deviation over seeds) per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for i, row in enumerate(rows):
        colour = f"C{i}"
        mine = [r for r in runs if r["variant"] == row["variant"]]
        ax.scatter([r["seen_top1"] for r in mine], [r["transfer"]["mean"]["linear_top1"] for r in mine],
                   color=colour, alpha=0.35, s=18)
        ax.errorbar(row["seen_top1"]["mean"], row["transfer_top1"]["mean"], xerr=row["seen_top1"]["std"],
                    yerr=row["transfer_top1"]["std"], fmt="o", color=colour, capsize=3, ms=8, label=row["variant"])
    ax.set_xlabel("training task: val top-1 (%)")
    ax.set_ylabel("transfer: linear probe top-1 (%, mean log-odds)")
    ax.set_title("trade-off: training task vs transfer", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["markdown", "scatter", "summarise", "write_outputs"]
