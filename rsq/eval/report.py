"""Write an evaluation run (results.json, results.md, results.png) and compare two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rsq.errors import RsqError

RESULTS = "results.json"
# Reference numbers for context only: cross-modal image retrieval, not comparable to text-only runs.
PUBLISHED = {"TRSLLaVA, training-free (RSITMD mR)": 42.62, "zero-shot CLIP (RSITMD mR)": 23.86}


def write_run(result: dict[str, Any], out: Path) -> list[Path]:
    """results.json (stable shape), a Markdown table and a plot of recall@k / metrics and the alpha sweep."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / RESULTS, out / "results.md", out / "results.png"]
    paths[0].write_text(json.dumps(result, indent=2, default=str) + "\n")
    paths[1].write_text(markdown_table(result))
    _plot(result, paths[2])
    return paths


def load_run(path: Path) -> dict[str, Any]:
    """A results.json written by `rsq eval`, checked for the shape the comparison reads."""
    file = path / RESULTS if path.is_dir() else path
    try:
        result = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RsqError(f"{file}: not an rsq eval results file ({error})") from None
    modes = result.get("modes") if isinstance(result, dict) else None
    if (
        not isinstance(result, dict)
        or not isinstance(result.get("benchmark"), str)
        or not isinstance(modes, dict)
        or not all(
            isinstance(metrics, dict) and all(isinstance(v, int | float) for v in metrics.values())
            for metrics in modes.values()
        )
    ):
        raise RsqError(f"{file}: not an rsq eval results file (needs 'benchmark' and 'modes' of numeric metrics)")
    return result


def metric_names(result: dict[str, Any]) -> list[str]:
    """Every metric any mode reports, in first-seen order (image mode adds image-to-text recall)."""
    names: dict[str, None] = {}
    for values in result["modes"].values():
        names |= dict.fromkeys(values)
    return list(names)


def main_modes(result: dict[str, Any]) -> list[str]:
    """The modes a summary shows: the single modes, hybrid as defaulted, RRF and the best weighted alpha; every mode
    of a benchmark that compares encoders instead (ucm-hier)."""
    modes = [m for m in ("bm25", "dense", "hybrid_text", "hybrid", "hybrid_rrf", "image") if m in result["modes"]]
    headline = _headline(result)
    for sweep in ("hybrid_weighted@", "hybrid_image@"):
        swept = [m for m in result["modes"] if m.startswith(sweep)]
        if swept:
            modes.append(max(swept, key=lambda m: result["modes"][m].get(headline, 0.0)))
    return modes or list(result["modes"])


def _headline(result: dict[str, Any]) -> str:
    metrics = metric_names(result)
    return "mR" if "mR" in metrics else metrics[0]


def markdown_table(result: dict[str, Any]) -> str:
    metrics = metric_names(result)
    lines = [f"# {result['benchmark']}", "", f"Protocol: {result['protocol']}", ""]
    lines += ["| mode | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for mode in main_modes(result):
        values = result["modes"][mode]
        lines.append(f"| {mode} | " + " | ".join(f"{values[m]:.2f}" if m in values else "-" for m in metrics) + " |")
    if result.get("note"):
        lines += ["", result["note"]]
    return "\n".join(lines) + "\n"


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (mode, metric, A, B, B - A) for every mode and metric the two runs share."""
    if a["benchmark"] != b["benchmark"]:
        raise RsqError(f"cannot compare {a['benchmark']} with {b['benchmark']}")
    rows = []
    for mode in (m for m in a["modes"] if m in b["modes"]):
        for metric in (k for k in a["modes"][mode] if k in b["modes"][mode]):
            va, vb = a["modes"][mode][metric], b["modes"][mode][metric]
            rows.append({"mode": mode, "metric": metric, "a": va, "b": vb, "delta": vb - va})
    return rows


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = metric_names(result)
    modes = main_modes(result)
    figure, (bars, sweep) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(modes)
    for n, mode in enumerate(modes):
        positions = [i + n * width for i in range(len(metrics))]
        bars.bar(positions, [result["modes"][mode].get(m, 0.0) for m in metrics], width, label=mode)
    bars.set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))], metrics)
    bars.set_ylabel("%")
    bars.set_title(f"{result['benchmark']}: metrics per mode")
    bars.legend(fontsize=8, loc="lower right")
    headline = _headline(result)
    for prefix, label in (("hybrid_weighted@", "weighted fusion (alpha)"), ("hybrid_image@", "image weight in hybrid")):
        points = sorted(
            (float(m.split("@")[1]), result["modes"][m][headline]) for m in result["modes"] if m.startswith(prefix)
        )
        if points:
            sweep.plot([a for a, _ in points], [v for _, v in points], marker="o", label=label)
    if any("@" in m for m in result["modes"]):
        for mode, style in (("hybrid_rrf", "--"), ("bm25", ":"), ("dense", "-.")):
            if mode in result["modes"]:
                sweep.axhline(result["modes"][mode][headline], linestyle=style, color="grey", label=mode)
        sweep.set_xlabel("alpha (weight of dense) / image weight")
        sweep.set_ylabel(headline)
        sweep.set_title("alpha sweep")
        sweep.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
