"""`rsq caption --engine ray`: caption batches over a Ray cluster with Ray Data.

Each Ray actor holds one backend instance (the vLLM-on-Ray pattern) and turns a batch of tiles into
caption records; the driver alone writes them to the store, so resume and de-duplication work as in
the local engine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rsq.captioner.backends import make_backend, require
from rsq.captioner.batch import CaptionJob, JobSummary, caption_prepared, finish_job, prepare_or_error, start_job, write_records
from rsq.captioner.records import CaptionRecord
from rsq.captioner.store import CaptionStore
from rsq.imagery import Tile
from rsq.sources import TileRef


class CaptionActor:
    """A Ray Data batch mapper holding one backend: {"tile": [json]} -> {"record": [json]}."""

    def __init__(self, spec: str, options: dict[str, Any], job: CaptionJob) -> None:
        self.backend = make_backend(spec, **options)
        self.job = job

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        tiles = [Tile.from_dict(json.loads(text)) for text in batch["tile"]]
        prepared = [(tile, prepare_or_error(tile, self.job, self.backend.needs_image)) for tile in tiles]
        records = caption_prepared(self.backend, prepared, self.job)
        return {"record": [json.dumps(record.to_dict()) for record in records]}


def run_job_on_ray(
    refs: Iterable[TileRef],
    store: CaptionStore,
    spec: str,
    options: dict[str, Any],
    job: CaptionJob,
    limit: int | None = None,
    address: str | None = None,
    actors: int = 2,
) -> JobSummary:
    """Like `run_job`, with batches mapped over `actors` Ray actors (a local Ray unless `address`)."""
    ray = require("ray", "ray")
    todo, summary = start_job(refs, store, spec, "", job, limit)
    if not todo:
        return finish_job(store, summary)
    ray.init(address=address, ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    dataset = ray.data.from_items([{"tile": json.dumps(tile.to_dict())} for tile in todo])
    mapped = dataset.map_batches(
        CaptionActor,
        fn_constructor_kwargs={"spec": spec, "options": options, "job": job},
        batch_size=job.batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
    for batch in mapped.iter_batches(batch_size=job.batch_size, batch_format="numpy"):
        write_records(store, summary, [CaptionRecord(**json.loads(text)) for text in batch["record"]])
    return finish_job(store, summary)
