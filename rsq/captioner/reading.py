"""The reader stage of a caption job: refs -> the tiles still to caption, opened a chunk at a time -> rendered
views and prompts (`CaptionRequest`s). CPU work, run ahead of the model on threads or as Ray tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Any

import numpy as np

from rsq.captioner.job import CaptionJob, JobSummary
from rsq.captioner.mapping import unreadable_ref_record
from rsq.captioner.records import (
    CaptionRecord,
    CaptionRequest,
)
from rsq.captioner.store import CaptionStore
from rsq.errors import TileError
from rsq.imagery import Tile, read_pixels, render_rgb
from rsq.imagery.render import resolve_view, view_bands
from rsq.parallel import run_ahead
from rsq.sources import Listing, Skipped, TileRef
from rsq.sources.refs import NO_DATA, open_chunks

CHUNK = 50_000  # opened tiles per chunk (plus at most one scene's windows): bounds a job's memory and a Ray dataset
VIEW_SIDE = (
    1344  # the longest side of the view a VLM gets (Qwen2-VL: 48 patches of 28 px); larger tiles are read decimated
)


def prompt_context(tile: Tile, view: str, variants: int) -> dict[str, Any]:
    """What a template sees of a tile."""
    lon, lat = tile.center or (None, None)
    facts = {
        "id": tile.id,
        "sensor": tile.sensor.value,
        "band_names": list(tile.band_names),
        "width": tile.width,
        "height": tile.height,
        "gsd_m": tile.gsd_m,
        "place": tile.meta.get("place"),
        "date": tile.time.date().isoformat() if tile.time else None,
        "lon": lon,
        "lat": lat,
    }
    return {"tile": facts, "view": view, "variants": variants}


def prepare_request(tile: Tile, job: CaptionJob, needs_image: bool) -> CaptionRequest:
    """Render the tile's view and the prompt; raises TileError for unreadable pixels."""
    return build_request(tile, job, *render_view(tile, needs_image))


def render_view(tile: Tile, needs_image: bool) -> tuple[str, np.ndarray | None]:
    """The view a VLM gets (CPU work: reading and rendering); raises TileError for unreadable pixels."""
    view = resolve_view(tile, "auto")
    if not needs_image:
        return view, None
    bands = view_bands(tile, view)  # only the view's bands are read: 3 of a Sentinel-2 tile's 12 files
    part = replace(tile, band_names=tuple(tile.band_names[i] for i in bands), shape=(len(bands), *tile.shape[1:]))
    return view, render_rgb(part, read_pixels(tile, max_side=VIEW_SIDE, bands=bands), view)


def build_request(tile: Tile, job: CaptionJob, view: str, image: np.ndarray | None) -> CaptionRequest:
    """The request for a rendered view: the prompt, the output schema and the generation parameters."""
    prompt = job.template.render(**prompt_context(tile, view, job.variants)) if job.template.kind == "vlm" else None
    return CaptionRequest(tile, image, prompt, job.schema, job.generation_params)


def prepare_or_error(tile: Tile, job: CaptionJob, needs_image: bool) -> CaptionRequest | TileError:
    """`prepare_request`, with an unreadable tile returned as its error instead of raised."""
    try:
        return prepare_request(tile, job, needs_image)
    except TileError as error:
        return error


def todo_chunks(
    refs: Iterable[TileRef],
    store: CaptionStore,
    summary: JobSummary,
    spec: str,
    revision: str,
    job: CaptionJob,
    limit: int | None = None,
    on_todo: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[list[Tile], list[CaptionRecord]]]:
    """The tiles still to caption and the failed records of the unreadable ones (for the caller to write), about
    `CHUNK` opened tiles at a time (`open_chunks`: scenes on `job.workers` threads, cut into `job.chip` windows).
    The next chunk is opened in the background while this one is captioned; the store is asked here (`todo_among`).
    `on_todo(listed, todo)` says how many listed tiles became how many to caption, for a progress bar's total."""
    claim = refs.claim if isinstance(refs, Listing) else None
    for listed, tiles, skipped in run_ahead(open_chunks(islice(refs, limit), job.chip, job.workers, CHUNK, claim)):
        todo, unreadable = todo_among(tiles, skipped, store, summary, spec, revision, job)
        if on_todo:
            on_todo(listed, len(todo))
        if todo or unreadable:
            yield todo, unreadable


def todo_among(
    tiles: list[Tile],
    skipped: list[Skipped],
    store: CaptionStore,
    summary: JobSummary,
    spec: str,
    revision: str,
    job: CaptionJob,
) -> tuple[list[Tile], list[CaptionRecord]]:
    """The opened `tiles` still to caption, and failed records for the skipped ones not yet done (empty chips are
    only counted)."""
    unreadable = [s for s in skipped if s.reason != NO_DATA]
    summary.no_data += len(skipped) - len(unreadable)
    done = store.done_among([t.id for t in tiles] + [u.id for u in unreadable], spec, job.template.version)
    summary.already_done += sum(t.id in done for t in tiles)
    failed = [unreadable_ref_record(job, spec, revision, u) for u in unreadable if u.id not in done]
    return [t for t in tiles if t.id not in done], failed
