"""The comparison's outputs: per-variant mean and spread over seeds as markdown and JSON, and the
trade-off scatter plot (training-task accuracy against transfer accuracy)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def _kind_top1(run: dict[str, Any], names: list[str]) -> float:
    """Mean log-odds top-1 (%) of ``run``'s transfer datasets named ``names``."""
    from trex.transfer.scores import mean_log_odds

    accs = [d["linear_top1"] / 100.0 for d in run["transfer"]["datasets"] if d["name"] in names]
    return 100.0 * mean_log_odds(accs)[1]


def summarise(
    runs: list[dict[str, Any]], labels: dict[str, str], kinds: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Groups run records (``variant``, ``seed``, ``seen_top1``, ``transfer``) by variant.

    Args:
        runs: one record per (variant, seed); ``seen_top1`` is None for reference rows.
        labels: variant -> its description.
        kinds: dataset name -> ``"near"`` or ``"far"``; each kind gets its own mean log-odds.

    Returns:
        One row per variant, in first-seen order: seen-task top-1 (None for references), mean
        log-odds transfer top-1, per kind (``near_top1``, ``far_top1``) and per-dataset transfer
        top-1, each as {mean, std, n} over seeds.
    """
    rows = []
    for name in dict.fromkeys(r["variant"] for r in runs):
        mine = [r for r in runs if r["variant"] == name]
        datasets = [d["name"] for d in mine[0]["transfer"]["datasets"]]
        seen = [r["seen_top1"] for r in mine if r.get("seen_top1") is not None]
        row = {
            "variant": name,
            "label": labels.get(name, name),
            "seeds": [r["seed"] for r in mine],
            "seen_top1": _stats(seen) if seen else None,
            "transfer_top1": _stats([r["transfer"]["mean"]["linear_top1"] for r in mine]),
            "transfer_log_odds": _stats([r["transfer"]["mean"]["linear_log_odds"] for r in mine]),
            "datasets": {
                d: _stats([next(x["linear_top1"] for x in r["transfer"]["datasets"] if x["name"] == d) for r in mine])
                for d in datasets
            },
        }
        for kind in dict.fromkeys((kinds or {}).values()):
            names = [d for d in datasets if (kinds or {}).get(d) == kind]
            row[f"{kind}_top1"] = _stats([_kind_top1(r, names) for r in mine])
        if "knn_top1" in mine[0]["transfer"]["mean"]:
            row["transfer_knn_top1"] = _stats([r["transfer"]["mean"]["knn_top1"] for r in mine])
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], header: str = "") -> str:
    """A markdown table: mean ± standard deviation over seeds."""
    pm = lambda s: "—" if s is None else f"{s['mean']:.2f} ± {s['std']:.2f}"  # noqa: E731
    datasets = list(rows[0]["datasets"]) if rows else []
    kinds = [k for k in ("near", "far") if rows and f"{k}_top1" in rows[0]]
    head = (
        ["recipe", "seeds", "seen-task top-1 (%)", "transfer top-1 (%, mean log-odds)"]
        + [f"{k} transfer (%)" for k in kinds]
        + [f"{d} (%)" for d in datasets]
    )
    lines = [header, ""] if header else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = (
            [r["variant"], str(len(r["seeds"])), pm(r["seen_top1"]), pm(r["transfer_top1"])]
            + [pm(r[f"{k}_top1"]) for k in kinds]
            + [pm(r["datasets"][d]) for d in datasets]
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def differences(rows: list[dict[str, Any]], reference: str = "baseline") -> list[dict[str, Any]]:
    """Each trained variant against ``reference``: the difference of the means of seen-task top-1
    and of each transfer measure, the pooled seed standard deviation of the two rows
    (sqrt((s_a^2 + s_b^2) / 2)), and whether the difference exceeds twice it.

    Returns:
        One dict per variant other than ``reference`` with a seen task, each measure as
        {"diff", "std", "beyond_2std"}; empty when ``reference`` is not among the rows.
    """
    base = next((r for r in rows if r["variant"] == reference), None)
    if base is None:
        return []
    measures = ["seen_top1", "transfer_top1"] + [k for k in ("near_top1", "far_top1") if k in base]
    out = []
    for row in rows:
        if row is base or row["seen_top1"] is None:
            continue
        entry: dict[str, Any] = {"variant": row["variant"], "reference": reference}
        for m in measures:
            diff = row[m]["mean"] - base[m]["mean"]
            std = ((row[m]["std"] ** 2 + base[m]["std"] ** 2) / 2) ** 0.5
            entry[m] = {"diff": diff, "std": std, "beyond_2std": abs(diff) > 2 * std}
        out.append(entry)
    return out


def differences_markdown(diffs: list[dict[str, Any]]) -> str:
    """A markdown table of :func:`differences` (points; * marks a difference beyond 2 std)."""
    if not diffs:
        return ""
    measures = [m for m in ("seen_top1", "transfer_top1", "near_top1", "far_top1") if m in diffs[0]]
    names = {"seen_top1": "seen task", "transfer_top1": "transfer", "near_top1": "near", "far_top1": "far"}
    cell = lambda d: f"{d['diff']:+.2f} (2 std {2 * d['std']:.2f}){' *' if d['beyond_2std'] else ''}"  # noqa: E731
    lines = [
        f"Differences from {diffs[0]['reference']} (points; * = beyond twice the pooled seed std):",
        "",
        "| recipe | " + " | ".join(names[m] for m in measures) + " |",
        "|" + "---|" * (len(measures) + 1),
    ]
    lines += ["| " + d["variant"] + " | " + " | ".join(cell(d[m]) for m in measures) + " |" for d in diffs]
    return "\n".join(lines) + "\n"


def write_outputs(runs: list[dict[str, Any]], rows: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> dict:
    """Writes ``compare.md``, ``compare.json`` and ``compare.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    header = (
        f"{meta.get('title', 'Built-in Fashion-MNIST run')} ({meta.get('budget')}); transfer = linear probe "
        f"on {', '.join(meta.get('datasets', []))}, averaged by mean log-odds. Mean ± std over seeds."
    )
    diffs = differences(rows)
    (out / "compare.md").write_text(markdown(rows, header) + ("\n" + differences_markdown(diffs) if diffs else ""))
    (out / "compare.json").write_text(
        json.dumps({"meta": meta, "summary": rows, "differences": diffs, "runs": runs}, indent=2) + "\n"
    )
    scatter(runs, rows, out / "compare.png", meta.get("kinds"))
    return {"markdown": str(out / "compare.md"), "json": str(out / "compare.json"), "plot": str(out / "compare.png")}


def scatter(
    runs: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path, kinds: dict[str, str] | None = None
) -> Path:
    """Training-task top-1 (x) against transfer top-1 (y): one faint dot per run, one marker with
    error bars (standard deviation over seeds) per variant, a dashed line per reference row. With
    ``kinds`` (dataset -> near/far), one panel per kind after the overall one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = kinds or {}
    panels = [("transfer_top1", None, "transfer: linear probe top-1 (%, mean log-odds)")]
    panels += [(f"{k}_top1", k, f"{k} transfer: top-1 (%, mean log-odds)") for k in dict.fromkeys(kinds.values())]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for ax, (key, kind, ylabel) in zip(axes[0], panels):

        def value(run: dict[str, Any]) -> float:
            if kind is None:
                return run["transfer"]["mean"]["linear_top1"]
            return _kind_top1(run, [d for d, k in kinds.items() if k == kind])

        for i, row in enumerate(r for r in rows if r["seen_top1"] is None):  # references: no seen task
            ax.axhline(row[key]["mean"], color="0.4", ls=(0, (4, 2 + 2 * i)), lw=1, label=f"{row['variant']}")
        for i, row in enumerate(r for r in rows if r["seen_top1"] is not None):
            colour = f"C{i}"
            mine = [r for r in runs if r["variant"] == row["variant"]]
            ax.scatter([r["seen_top1"] for r in mine], [value(r) for r in mine], color=colour, alpha=0.35, s=18)
            ax.errorbar(
                row["seen_top1"]["mean"],
                row[key]["mean"],
                xerr=row["seen_top1"]["std"],
                yerr=row[key]["std"],
                fmt="o",
                color=colour,
                capsize=3,
                ms=8,
                label=row["variant"],
            )
        ax.set_xlabel("training task: val top-1 (%)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("trade-off: training task vs transfer", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["differences", "differences_markdown", "markdown", "scatter", "summarise", "write_outputs"]
