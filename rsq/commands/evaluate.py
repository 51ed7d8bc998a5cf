"""`rsq eval BENCH` and `rsq eval compare A B`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import DataOption, JsonOption, check_range, print_json_lines, warn

app = typer.Typer(help="Measure retrieval on real benchmarks; compare runs.", no_args_is_help=True)
BENCH_HELP = {
    "ucm-t2i": "UCM test tiles (210) queried with their 1,050 human captions.",
    "rsitmd-t2t": "RSITMD test captions, caption-to-caption leave-one-out.",
    "rsicd-t2t": "RSICD test captions, caption-to-caption leave-one-out.",
    "ucm-class": "Class names and paraphrases over all 2,100 UCM tiles (nDCG@10, mAP, WAP@10).",
    "ucm-archive": (
        "No human captions indexed: the closp tagger of --image-encoder captions the UCM test tiles; human captions "
        "and class queries search them."
    ),
    "ucm-hier": (
        "UCM test tiles' image vectors queried with their human captions, graded by shared CORINE levels (WMAP@5); "
        "a cisen: encoder beside its CLOSP tower."
    ),
}
WITH_IMAGES = ("ucm-t2i", "ucm-archive", "ucm-hier")
NEEDS_IMAGES = ("ucm-archive", "ucm-hier")


_OutOption = Annotated[Path | None, typer.Option("--out", help="Output folder (default runs/eval/BENCH).")]
_CaptionsOption = Annotated[Path | None, typer.Option(help="A caption store to index (default: the human captions).")]
_EmbedderOption = Annotated[str | None, typer.Option(help="Text encoder spec.")]
_LimitOption = Annotated[int | None, typer.Option(help="Only the first N images (quick runs).")]
_AlphasOption = Annotated[
    str, typer.Option(help="Comma-separated alphas for the weighted-fusion (and image-weight) sweep.")
]
_ImageEncoderOption = Annotated[
    str | None,
    typer.Option(
        help=(
            "closp:<checkpoint> or cisen:<folder>: add image mode and hybrid with images (ucm-t2i); the tagger and "
            "towers of ucm-archive; the encoder ucm-hier measures."
        )
    ),
]
_SplitOption = Annotated[
    str | None,
    typer.Option(
        help=(
            "Images to use: UCM train/val/test, RSITMD/RSICD train/test (default test; ucm-class all). Tune on "
            "train or val."
        )
    ),
]
_SampleOption = Annotated[int | None, typer.Option(help="N images spread evenly over the split (quick tuning runs).")]
_ModesOption = Annotated[str | None, typer.Option(help="Report only these modes, comma-separated (e.g. image,hybrid).")]
_QueryEncoderOption = Annotated[
    str | None,
    typer.Option(
        help=(
            "Encode queries with this runtime of the index's model: torch, onnx or onnx-int8 (default: auto, "
            "as rsq search does)."
        )
    ),
]
_ExpansionOption = Annotated[
    bool, typer.Option(help="BM25's nomenclature synonyms (--no-expansion measures without them).")
]
_QueriesOption = Annotated[
    str,
    typer.Option(
        help=(
            "Class queries (ucm-class, ucm-archive): test or tune half of the 63, unseen (written before "
            "measuring, tuned on by nothing), or all."
        )
    ),
]


def _register(name: str) -> None:
    def command(
        out: _OutOption = None,
        captions: _CaptionsOption = None,
        embedder: _EmbedderOption = None,
        limit: _LimitOption = None,
        alphas: _AlphasOption = "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1",
        image_encoder: _ImageEncoderOption = None,
        split: _SplitOption = None,
        sample: _SampleOption = None,
        modes: _ModesOption = None,
        query_encoder: _QueryEncoderOption = None,
        expansion: _ExpansionOption = True,
        queries: _QueriesOption = "test",
        data: DataOption = None,
    ) -> None:
        from rsq.eval.benchmarks import EvalOptions, run_benchmark
        from rsq.eval.report import markdown_table, write_run

        sweep, target, chosen = _checked(name, out, alphas, image_encoder, split, queries, limit, sample, modes)
        options = EvalOptions(
            data=data,
            captions=captions,
            embedder=embedder,
            limit=limit,
            split=split,
            sample=sample,
            alphas=sweep,
            image_encoder=image_encoder,
            modes=chosen,
            query_encoder=query_encoder,
            queries=queries,
            expansion=expansion,
        )
        result = run_benchmark(name, options)
        paths = write_run(result, target)
        typer.echo(markdown_table(result))
        warn("wrote " + ", ".join(str(p) for p in paths))

    command.__doc__ = BENCH_HELP[name]
    app.command(name)(command)


for _name in BENCH_HELP:
    _register(_name)


def _checked(
    name: str,
    out: Path | None,
    alphas: str,
    image_encoder: str | None,
    split: str | None,
    queries: str,
    limit: int | None,
    sample: int | None,
    modes: str | None,
) -> tuple[tuple[float, ...], Path, tuple[str, ...] | None]:
    """Every option of `rsq eval NAME` checked before any work: the alpha sweep, the output folder, the modes."""
    from rsq.errors import RsqError
    from rsq.eval.benchmarks import SPLITS, configurations
    from rsq.eval.queries import QUERY_SETS
    from rsq.sources.datasets import UCM_SPLITS

    try:
        sweep = tuple(float(a) for a in alphas.split(","))
    except ValueError:
        raise RsqError(f"--alphas wants numbers like 0,0.5,1, got {alphas!r}") from None
    if image_encoder and name not in WITH_IMAGES:
        raise RsqError("--image-encoder applies to ucm-t2i, ucm-archive and ucm-hier, the benchmarks with images")
    if name in NEEDS_IMAGES and not image_encoder:
        raise RsqError(f"{name} needs --image-encoder closp:<checkpoint> (rsq train closp) or cisen:<folder>")
    if split is not None and split not in SPLITS.get(name, UCM_SPLITS):
        raise RsqError(f"--split for {name} must be one of {', '.join(SPLITS.get(name, UCM_SPLITS))}, not {split!r}")
    if queries not in QUERY_SETS:
        raise RsqError(f"--queries must be one of {', '.join(QUERY_SETS)}, not {queries!r}")
    check_range("--limit", limit, 1)
    check_range("--sample", sample, 1)
    for alpha in sweep:
        check_range("--alphas", alpha, 0, 1)
    target = out or Path("runs") / "eval" / name
    if target.exists() and not target.is_dir():
        raise RsqError(f"--out {target} is a file; it wants a folder for results.json, results.md and results.png")
    chosen = tuple(m.strip() for m in modes.split(",")) if modes else None
    measured = set(configurations(sweep, with_image=bool(image_encoder)))
    if chosen and (unknown := [m for m in chosen if m not in measured]):
        raise RsqError(f"--modes: {', '.join(unknown)} not measured here; choose from {', '.join(sorted(measured))}")
    return sweep, target, chosen


@app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="An eval output folder or results.json.")],
    run_b: Annotated[Path, typer.Argument(help="Another run of the same benchmark.")],
    json_lines: JsonOption = False,
) -> None:
    """Two runs side by side with their differences (B - A)."""
    from rich.console import Console
    from rich.table import Table

    from rsq.eval.report import compare_runs, load_run

    a, b = load_run(run_a), load_run(run_b)
    rows = compare_runs(a, b)
    if json_lines:
        print_json_lines(rows)
        return
    table = Table("mode", "metric", f"A {run_a}", f"B {run_b}", "B - A", title=a["benchmark"])
    for row in rows:
        colour = "green" if row["delta"] > 0 else "red" if row["delta"] < 0 else ""
        delta = f"{row['delta']:+.2f}"
        table.add_row(
            row["mode"],
            row["metric"],
            f"{row['a']:.2f}",
            f"{row['b']:.2f}",
            f"[{colour}]{delta}[/]" if colour else delta,
        )
    Console(width=160).print(table)
