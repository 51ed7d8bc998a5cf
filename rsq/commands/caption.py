"""`rsq caption`: the batch job that writes structured captions for tiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rsq.commands.common import DataOption, progress_bar, skipped_line, warn
from rsq.errors import RsqError

_OutOption = Annotated[Path, typer.Option("--out", help="Caption store folder (created or resumed).")]
_SourcesOption = Annotated[
    list[str] | None,
    typer.Argument(
        help=(
            "Tiles: files, folders, globs, manifests, STAC, data:NAME (none with annotations: captions every "
            "record of the file, without tile files)."
        )
    ),
]
_ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Model spec: hf:, vllm:, openai:, annotations: (see `rsq models list`)."),
]
_PromptOption = Annotated[
    str | None,
    typer.Option("--prompt", help="Template name or .j2 path (default: structured; human-captions for annotations)."),
]
_VariantsOption = Annotated[int, typer.Option(help="Caption variants per tile.")]
_BatchSizeOption = Annotated[int, typer.Option(help="Tiles per backend call.")]
_LimitOption = Annotated[
    int | None, typer.Option(help="Only the first N tiles of the sources (a rerun resumes the same N).")
]
_WorkersOption = Annotated[int, typer.Option(help="Threads reading and rendering tiles ahead of the model.")]
_TemperatureOption = Annotated[float | None, typer.Option(help="Override the template's temperature.")]
_MaxNewTokensOption = Annotated[int | None, typer.Option(help="Override the template's token budget.")]
_BackendOptOption = Annotated[
    list[str] | None,
    typer.Option(
        "--backend-opt",
        help="KEY=VALUE passed to the backend (e.g. device=cuda, tensor_parallel_size=2, concurrency=8).",
    ),
]
_EngineOption = Annotated[str, typer.Option(help="local, or ray to map batches over a Ray cluster.")]
_AddressOption = Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray).")]
_RayWorkersOption = Annotated[
    int | None,
    typer.Option(
        help=(
            "Ray actors, each holding one backend (default: one per GPU the actors ask for, else half the "
            "cluster's CPUs)."
        )
    ),
]
_RayGpusPerActorOption = Annotated[
    float | None,
    typer.Option(
        help="GPUs each Ray actor asks for (default 1 for vllm:, and for hf: on a cluster with GPUs; else 0)."
    ),
]
_ChipOption = Annotated[
    int | None,
    typer.Option(help="Cut scenes (GeoTIFF/COG) into windows of SIZE px, read in place: ids SCENE@r<row>c<col>."),
]
_OverlapOption = Annotated[int, typer.Option(help="Pixels neighbouring --chip windows share.")]
_DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print one rendered prompt and stop.")]


def caption(
    out: _OutOption,
    sources: _SourcesOption = None,
    model: _ModelOption = None,
    prompt: _PromptOption = None,
    variants: _VariantsOption = 5,
    batch_size: _BatchSizeOption = 8,
    limit: _LimitOption = None,
    workers: _WorkersOption = 2,
    temperature: _TemperatureOption = None,
    max_new_tokens: _MaxNewTokensOption = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    backend_opt: _BackendOptOption = None,
    engine: _EngineOption = "local",
    address: _AddressOption = None,
    ray_workers: _RayWorkersOption = None,
    ray_gpus_per_actor: _RayGpusPerActorOption = None,
    chip: _ChipOption = None,
    overlap: _OverlapOption = 0,
    dry_run: _DryRunOption = False,
    data: DataOption = None,
) -> None:
    """Caption tiles with a VLM (or import annotations) into DIR/captions.sqlite; resumable."""
    from rsq.captioner.backends import DEFAULT_MODEL
    from rsq.captioner.runner import CaptionRun, count_tiles, dry_run_prompt, prepare, run

    params = {"temperature": temperature, "max_new_tokens": max_new_tokens, "seed": seed}
    run_options = {
        "variants": variants,
        "batch_size": batch_size,
        "limit": limit,
        "workers": workers,
        "engine": engine,
        "address": address,
        "ray_workers": ray_workers,
        "ray_gpus_per_actor": ray_gpus_per_actor,
    }
    prepared = prepare(
        CaptionRun(
            sources=sources or [],
            spec=model or DEFAULT_MODEL,
            prompt=prompt,
            data=data,
            params={k: v for k, v in params.items() if v is not None},
            chip=(chip, overlap) if chip else None,
            backend_options=_parse_backend_options(backend_opt or []),
            **run_options,
        )
    )
    if dry_run:
        typer.echo(dry_run_prompt(prepared))
        return
    listed = count_tiles(prepared)
    with progress_bar("captioning", "tiles") as bar:
        bar.set_total(listed)
        outcome = run(prepared, out, on_todo=lambda chunk, todo: bar.add_total(todo - chunk), on_progress=bar.advance)
    _report(outcome)


def _report(outcome) -> None:
    """Each skipped and failed tile on a line of its own, then the summary; exit 1 when any failed."""
    summary = outcome.summary
    for skip in outcome.skipped:
        warn(skipped_line(skip))
    for tile_id, reason in summary.failures:
        warn(f"failed {tile_id}: {reason}")
    if summary.failed > len(summary.failures):
        warn(f"... and {summary.failed - len(summary.failures)} more failed (each is in the store with its reason)")
    empty = f", {summary.no_data} all-no-data chips skipped" if summary.no_data else ""
    warn(
        f"run {summary.run_id}: {summary.ok} ok, {outcome.failed} failed, {summary.already_done} already done{empty} "
        f"-> {outcome.store}"
    )
    if outcome.failed:
        raise typer.Exit(1)


def _parse_backend_options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RsqError(f"--backend-opt wants KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options
