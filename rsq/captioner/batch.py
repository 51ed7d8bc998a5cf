"""The local runner of a caption job: the reader's chunks, prepared on threads ahead of the model, mapped by
the backend a batch at a time, written by the writer (`rsq.captioner.ray_engine` is the Ray runner)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rsq.captioner.backends import CaptionBackend
from rsq.captioner.job import CaptionJob, JobSummary
from rsq.captioner.mapping import caption_prepared
from rsq.captioner.reading import prepare_or_error, todo_chunks
from rsq.captioner.store import CaptionStore
from rsq.captioner.writing import begin_run, finish_job, write_records
from rsq.parallel import batched, prefetch
from rsq.sources import TileRef


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
