"""The writer stage of a caption job: a run in the store, records written a batch per transaction, the summary."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from rsq.captioner.job import CaptionJob, JobSummary
from rsq.captioner.records import (
    CaptionRecord,
)
from rsq.captioner.store import CaptionStore


def begin_run(store: CaptionStore, spec: str, job: CaptionJob) -> JobSummary:
    """A new run in the store, with its summary."""
    summary = JobSummary(new_run_id())
    store.start_run(summary.run_id, spec, job.template.version, job.generation_params)
    return summary


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
