"""The caption batch job: tiles -> rendered views + prompts -> backend -> validated records -> store.

Reading and rendering run ahead of the model in a thread pool so a fast backend is never starved;
records are written a batch at a time, each batch one transaction.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from datetime import UTC, datetime
from typing import Any

import numpy as np

from rsq.captioner.backends import CaptionBackend
from rsq.captioner.records import FAILED, OK, CaptionRecord, CaptionRequest, CaptionResult
from rsq.captioner.schema import CaptionParseError, output_schema, parse_captions
from rsq.captioner.store import CaptionStore, now_iso
from rsq.errors import TileError
from rsq.parallel import batched, prefetch, run_ahead
from rsq.imagery import Tile, read_pixels, render_rgb
from rsq.imagery.render import resolve_view, view_bands
from rsq.prompts import PromptTemplate, sha256_hex
from rsq.sources import Listing, Skipped, TileRef
from rsq.sources.refs import NO_DATA, open_chunks

MAX_REPORTED = 20  # failures a summary names one by one (the store holds every one)
CHUNK = 50_000  # opened tiles per chunk (plus at most one scene's windows): bounds a job's memory and a Ray dataset
VIEW_SIDE = 1344  # the longest side of the view a VLM gets (Qwen2-VL: 48 patches of 28 px); larger tiles are read decimated


@dataclass(frozen=True)
class CaptionJob:
    """What to caption with: the template, variants per tile, generation parameters, batching."""

    template: PromptTemplate
    variants: int = 5
    params: dict[str, Any] = field(default_factory=dict)  # overrides of the template's defaults
    batch_size: int = 8
    workers: int = 2
    chip: tuple[int, int] | None = None  # (size, overlap): scenes are captioned as windows read in place

    @functools.cached_property
    def generation_params(self) -> dict[str, Any]:
        return {**self.template.params, **self.params, "variants": self.variants}

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        return output_schema(self.template.schema, self.variants)


@dataclass
class JobSummary:
    run_id: str
    ok: int = 0
    failed: int = 0
    already_done: int = 0
    no_data: int = 0  # chips without a valid pixel, skipped
    failures: list[tuple[str, str]] = field(default_factory=list)  # (tile id, reason) of the first MAX_REPORTED failures

    def add(self, records: list[CaptionRecord]) -> None:
        self.ok += sum(r.status == OK for r in records)
        self.failed += sum(r.status == FAILED for r in records)
        room = MAX_REPORTED - len(self.failures)
        self.failures += [(r.tile_id, r.error or "failed") for r in records if r.status == FAILED][: max(0, room)]


def prompt_context(tile: Tile, view: str, variants: int) -> dict[str, Any]:
    """What a template sees of a tile."""
    lon, lat = tile.center or (None, None)
    facts = {
        "id": tile.id, "sensor": tile.sensor.value, "band_names": list(tile.band_names), "width": tile.width,
        "height": tile.height, "gsd_m": tile.gsd_m, "place": tile.meta.get("place"),
        "date": tile.time.date().isoformat() if tile.time else None, "lon": lon, "lat": lat,
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


def caption_requests(backend: CaptionBackend, requests: list[CaptionRequest], job: CaptionJob) -> list[CaptionRecord]:
    """Run the backend on a batch; malformed output is retried once, then recorded as failed."""
    started = time.perf_counter()
    results = _call_backend(backend, requests)
    attempts = [result.attempts for result in results]
    outcomes = [_validate(result) for result in results]
    retry = [i for i, (_, error, malformed) in enumerate(outcomes) if malformed]
    if retry:
        for i, result in zip(retry, _call_backend(backend, [requests[i] for i in retry]), strict=True):
            results[i], outcomes[i] = result, _validate(result)
            attempts[i] += result.attempts
    seconds = (time.perf_counter() - started) / max(len(requests), 1)
    return [
        _record(job, backend.spec, backend.revision, request, result, captions, error, attempts=tries, seconds=seconds)
        for request, result, (captions, error, _), tries in zip(requests, results, outcomes, attempts, strict=True)
    ]


def result_record(job: CaptionJob, spec: str, revision: str, request: CaptionRequest, result: CaptionResult) -> CaptionRecord:
    """The record of one generated output, validated (for engines that generate outside a backend, e.g. Ray's vLLM)."""
    captions, error, _ = _validate(result)
    return _record(job, spec, revision, request, result, captions, error, attempts=result.attempts, seconds=0.0)


def unreadable_record(job: CaptionJob, spec: str, revision: str, tile: Tile, reason: str) -> CaptionRecord:
    """The failed record of a tile whose pixels could not be read."""
    return _unreadable_record(job, spec, revision, tile.id, tile.path, reason, tile)


def run_job(
    refs: Iterable[TileRef],
    store: CaptionStore,
    backend: CaptionBackend,
    job: CaptionJob,
    limit: int | None = None,
    on_todo: Callable[[int, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> JobSummary:
    """Caption every tile (of the first `limit` listed) not yet captioned with this model and template; resumable.
    Tiles are opened a chunk at a time, so memory stays flat however long the listing."""
    summary = begin_run(store, backend.spec, job)
    for todo, unreadable in todo_chunks(refs, store, summary, backend.spec, backend.revision, job, limit, on_todo):
        write_records(store, summary, unreadable)
        prepared = prefetch(lambda tile: prepare_or_error(tile, job, backend.needs_image), todo, job.workers)
        for batch in batched(prepared, job.batch_size):
            write_records(store, summary, caption_prepared(backend, batch, job))
            if on_progress:
                on_progress(len(batch))
    return finish_job(store, summary)


def todo_chunks(
    refs: Iterable[TileRef], store: CaptionStore, summary: JobSummary, spec: str, revision: str, job: CaptionJob,
    limit: int | None = None, on_todo: Callable[[int, int], None] | None = None,
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


def begin_run(store: CaptionStore, spec: str, job: CaptionJob) -> JobSummary:
    """A new run in the store, with its summary."""
    summary = JobSummary(new_run_id())
    store.start_run(summary.run_id, spec, job.template.version, job.generation_params)
    return summary


def todo_among(tiles: list[Tile], skipped: list[Skipped], store: CaptionStore, summary: JobSummary, spec: str,
               revision: str, job: CaptionJob) -> tuple[list[Tile], list[CaptionRecord]]:
    """The opened `tiles` still to caption, and failed records for the skipped ones not yet done (empty chips are
    only counted)."""
    unreadable = [s for s in skipped if s.reason != NO_DATA]
    summary.no_data += len(skipped) - len(unreadable)
    done = store.done_among([t.id for t in tiles] + [u.id for u in unreadable], spec, job.template.version)
    summary.already_done += sum(t.id in done for t in tiles)
    failed = [_unreadable_record(job, spec, revision, u.id, u.path, u.reason) for u in unreadable if u.id not in done]
    return [t for t in tiles if t.id not in done], failed


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def write_records(store: CaptionStore, summary: JobSummary, records: list[CaptionRecord]) -> None:
    """Stamp the records with the run id and write them as one transaction; the summary counts what was written."""
    for record in records:
        record.run_id = summary.run_id
    if records:
        written = store.write(records)
        summary.add(written)
        summary.already_done += len(records) - len(written)


def finish_job(store: CaptionStore, summary: JobSummary) -> JobSummary:
    store.finish_run(summary.run_id, {"ok": summary.ok, "failed": summary.failed, "already_done": summary.already_done})
    return summary


def prepare_or_error(tile: Tile, job: CaptionJob, needs_image: bool) -> CaptionRequest | TileError:
    """`prepare_request`, with an unreadable tile returned as its error instead of raised."""
    try:
        return prepare_request(tile, job, needs_image)
    except TileError as error:
        return error


def caption_prepared(
    backend: CaptionBackend, batch: list[tuple[Tile, CaptionRequest | TileError]], job: CaptionJob
) -> list[CaptionRecord]:
    """Records for a batch of prepared tiles: captions for the readable ones, failures for the rest."""
    requests = [r for _, r in batch if isinstance(r, CaptionRequest)]
    records = caption_requests(backend, requests, job) if requests else []
    unreadable = [(t, e) for t, e in batch if isinstance(e, TileError)]
    records += [unreadable_record(job, backend.spec, backend.revision, t, e.reason) for t, e in unreadable]
    return records


def _call_backend(backend: CaptionBackend, requests: list[CaptionRequest]) -> list[CaptionResult]:
    """The backend's results; when a whole batch fails, each tile is tried alone, so one bad tile fails alone."""
    try:
        results = backend.caption_batch(requests)
    except Exception as error:  # a backend failure must not crash the batch job; it is recorded per tile
        if len(requests) > 1:
            return [result for request in requests for result in _call_backend(backend, [request])]
        return [CaptionResult(raw=None, error=f"backend error: {type(error).__name__}: {error}")]
    if len(results) != len(requests):
        return [CaptionResult(raw=None, error=f"backend returned {len(results)} results for {len(requests)}")] * len(requests)
    return results


def _validate(result: CaptionResult) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(captions, error, malformed): malformed output is worth one retry; a backend error is not."""
    if result.raw is None:
        return None, result.error or "no output", False
    try:
        return parse_captions(result.raw).model_dump(), None, False
    except CaptionParseError as error:
        return None, str(error), True


def _record(job: CaptionJob, spec: str, revision: str, request: CaptionRequest, result: CaptionResult, captions, error,
            attempts: int, seconds: float) -> CaptionRecord:
    tile = request.tile
    prompt_hash = request.prompt.hash if request.prompt else sha256_hex(result.raw or "")
    return CaptionRecord(
        run_id="", tile_id=tile.id, tile_path=tile.path, sensor=tile.sensor.value, model=spec,
        model_revision=revision, template=job.template.version, prompt_hash=prompt_hash,
        params=request.params, status=OK if captions is not None else FAILED, raw=result.raw, error=error,
        captions=captions, tile=tile.to_dict(), attempts=attempts, duration_s=round(seconds, 4), created_at=now_iso(),
    )


def _unreadable_record(
    job: CaptionJob, spec: str, revision: str, tile_id: str, path: str, reason: str, tile: Tile | None = None
) -> CaptionRecord:
    return CaptionRecord(
        run_id="", tile_id=tile_id, tile_path=path, sensor=tile.sensor.value if tile else "",
        model=spec, model_revision=revision, template=job.template.version, prompt_hash="",
        params=job.generation_params, status=FAILED, error=f"unreadable tile: {reason}",
        tile=tile.to_dict() if tile else {}, created_at=now_iso(),
    )
