"""The mapper stage of a caption job: a backend over a batch of requests, its output validated against the
schema and malformed output retried once, each result made a `CaptionRecord` with its provenance."""

from __future__ import annotations

import time
from typing import Any

from rsq.captioner.backends import CaptionBackend
from rsq.captioner.job import CaptionJob
from rsq.captioner.records import (
    FAILED,
    OK,
    CaptionRecord,
    CaptionRequest,
    CaptionResult,
)
from rsq.captioner.schema import CaptionParseError, parse_captions
from rsq.captioner.store import now_iso
from rsq.errors import TileError
from rsq.imagery import Tile
from rsq.prompts import sha256_hex
from rsq.sources import Skipped


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


def caption_prepared(
    backend: CaptionBackend, batch: list[tuple[Tile, CaptionRequest | TileError]], job: CaptionJob
) -> list[CaptionRecord]:
    """Records for a batch of prepared tiles: captions for the readable ones, failures for the rest."""
    requests = [r for _, r in batch if isinstance(r, CaptionRequest)]
    records = caption_requests(backend, requests, job) if requests else []
    unreadable = [(t, e) for t, e in batch if isinstance(e, TileError)]
    records += [unreadable_record(job, backend.spec, backend.revision, t, e.reason) for t, e in unreadable]
    return records


def result_record(
    job: CaptionJob, spec: str, revision: str, request: CaptionRequest, result: CaptionResult
) -> CaptionRecord:
    """The record of one generated output, validated (for engines that generate outside a backend, e.g. Ray's vLLM)."""
    captions, error, _ = _validate(result)
    return _record(job, spec, revision, request, result, captions, error, attempts=result.attempts, seconds=0.0)


def unreadable_record(job: CaptionJob, spec: str, revision: str, tile: Tile, reason: str) -> CaptionRecord:
    """The failed record of a tile whose pixels could not be read."""
    return _unreadable_record(job, spec, revision, tile.id, tile.path, reason, tile)


def _call_backend(backend: CaptionBackend, requests: list[CaptionRequest]) -> list[CaptionResult]:
    """The backend's results; when a whole batch fails, each tile is tried alone, so one bad tile fails alone."""
    try:
        results = backend.caption_batch(requests)
    except Exception as error:  # a backend failure must not crash the batch job; it is recorded per tile
        if len(requests) > 1:
            return [result for request in requests for result in _call_backend(backend, [request])]
        return [CaptionResult(raw=None, error=f"backend error: {type(error).__name__}: {error}")]
    if len(results) != len(requests):
        return [CaptionResult(raw=None, error=f"backend returned {len(results)} results for {len(requests)}")] * len(
            requests
        )
    return results


def _validate(result: CaptionResult) -> tuple[dict[str, Any] | None, str | None, bool]:
    """(captions, error, malformed): malformed output is worth one retry; a backend error is not."""
    if result.raw is None:
        return None, result.error or "no output", False
    try:
        return parse_captions(result.raw).model_dump(), None, False
    except CaptionParseError as error:
        return None, str(error), True


def _record(
    job: CaptionJob,
    spec: str,
    revision: str,
    request: CaptionRequest,
    result: CaptionResult,
    captions,
    error,
    attempts: int,
    seconds: float,
) -> CaptionRecord:
    tile = request.tile
    prompt_hash = request.prompt.hash if request.prompt else sha256_hex(result.raw or "")
    return CaptionRecord(
        run_id="",
        tile_id=tile.id,
        tile_path=tile.path,
        sensor=tile.sensor.value,
        model=spec,
        model_revision=revision,
        template=job.template.version,
        prompt_hash=prompt_hash,
        params=request.params,
        status=OK if captions is not None else FAILED,
        raw=result.raw,
        error=error,
        captions=captions,
        tile=tile.to_dict(),
        attempts=attempts,
        duration_s=round(seconds, 4),
        created_at=now_iso(),
    )


def unreadable_ref_record(job: CaptionJob, spec: str, revision: str, skipped: Skipped) -> CaptionRecord:
    """The failed record of a listed tile that could not be opened (no Tile exists for it)."""
    return _unreadable_record(job, spec, revision, skipped.id, skipped.path, skipped.reason)


def _unreadable_record(
    job: CaptionJob, spec: str, revision: str, tile_id: str, path: str, reason: str, tile: Tile | None = None
) -> CaptionRecord:
    return CaptionRecord(
        run_id="",
        tile_id=tile_id,
        tile_path=path,
        sensor=tile.sensor.value if tile else "",
        model=spec,
        model_revision=revision,
        template=job.template.version,
        prompt_hash="",
        params=job.generation_params,
        status=FAILED,
        error=f"unreadable tile: {reason}",
        tile=tile.to_dict() if tile else {},
        created_at=now_iso(),
    )
