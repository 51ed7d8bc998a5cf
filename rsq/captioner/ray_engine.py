"""`rsq caption --engine ray`: caption an archive over a Ray cluster with Ray Data.

Two stages per chunk of tiles: reading and rendering views run as CPU tasks (`ray_rows`), ahead of the GPU
stage: for `vllm:` Ray Data's own LLM processor (`ray_llm`), for other backends an actor pool whose actors each
hold one backend (and ask Ray for their GPUs, so the model sees its device). Tiles arrive in
bounded chunks from a lazy listing; the driver alone writes records to the store as batches come back, so
memory stays flat and a killed job resumes as the local engine does (done tiles are skipped per chunk).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from rsq.captioner.backends import backend_class, make_backend, parse_spec
from rsq.captioner.job import CaptionJob, JobSummary
from rsq.captioner.mapping import caption_prepared
from rsq.captioner.ray_llm import llm_stage, model_revision, record_row
from rsq.captioner.ray_rows import prepared_row, render_rows
from rsq.captioner.reading import todo_chunks
from rsq.captioner.records import CaptionRecord
from rsq.captioner.store import CaptionStore
from rsq.captioner.writing import begin_run, finish_job, write_records
from rsq.errors import RsqError
from rsq.parallel import batched
from rsq.raycluster import ActorPlan, plan_actors, start_ray
from rsq.sources import TileRef

GPU_SCHEMES = ("vllm",)  # backends that need a GPU wherever they run; hf takes one when the cluster has any


def scheme_gpus(scheme: str, cluster: dict[str, float]) -> float:
    """GPUs a backend actor asks for by default: 1 for vllm, and for hf on a cluster with GPUs; else none."""
    return float(scheme in GPU_SCHEMES or (scheme == "hf" and cluster.get("GPU", 0.0) > 0))


class CaptionActor:
    """A Ray Data batch mapper holding one backend: rendered rows -> {"record": [json]}."""

    def __init__(self, spec: str, options: dict[str, Any], job: CaptionJob, gpus: float) -> None:
        import ray

        if gpus and not ray.get_gpu_ids():
            raise RsqError(f"Ray gave this {spec} actor no GPU although it asked for {gpus:g}")
        self.backend = make_backend(spec, **options)
        self.job = job

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        columns = (batch["tile"], batch["view"], batch["image"], batch["shape"], batch["error"])
        prepared = [prepared_row(*row, self.job) for row in zip(*columns, strict=True)]
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
    actors: int | None = None,
    gpus_per_actor: float | None = None,
    on_todo: Callable[[int, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> JobSummary:
    """Like `run_job`, chunk by chunk: CPU tasks render views, `actors` backend actors (GPUs as planned)
    caption them, the driver writes each batch of records as it arrives."""
    ray = start_ray(address)
    cluster = ray.cluster_resources()
    scheme = parse_spec(spec)[0]
    plan = plan_actors(scheme_gpus(scheme, cluster), actors, gpus_per_actor, cluster, scheme)
    needs_image = bool(getattr(backend_class(scheme), "needs_image", True))  # known without loading a model
    caption_stage = gpu_stage(spec, options, plan, job)
    summary, unreadable = begin_run(store, spec, job), Unreadable(store)
    for todo, failed in todo_chunks(refs, store, summary, spec, "", job, limit, on_todo):
        unreadable.add(summary, failed)
        if not todo:
            continue
        rendered = ray.data.from_items([{"tile": json.dumps(t.to_dict())} for t in todo]).map_batches(
            render_rows, fn_kwargs={"needs_image": needs_image}, batch_size=job.batch_size, num_cpus=1
        )
        for rows in batched(caption_stage(rendered).iter_rows(), job.batch_size):
            records = [_record_of(row, spec, options, job) for row in rows]
            write_records(store, summary, records)
            unreadable.learn(summary, records[0].model_revision)
            if on_progress:
                on_progress(len(records))
    unreadable.learn(summary, model_revision(options) if scheme == "vllm" else "")
    return finish_job(store, summary)


class Unreadable:
    """Failed records of tiles the driver could not read, written with the model revision the actors report:
    held until the first captioned batch says it (the driver loads no model to know it)."""

    def __init__(self, store: CaptionStore) -> None:
        self.store, self.revision, self.pending = store, None, []

    def add(self, summary: JobSummary, records: list[CaptionRecord]) -> None:
        self.pending += records
        self._flush(summary)

    def learn(self, summary: JobSummary, revision: str) -> None:
        self.revision = self.revision or revision
        self._flush(summary, force=True)

    def _flush(self, summary: JobSummary, force: bool = False) -> None:
        if self.pending and (self.revision or force):
            write_records(self.store, summary, [replace(r, model_revision=self.revision or "") for r in self.pending])
            self.pending = []


def gpu_stage(spec: str, options: dict[str, Any], plan: ActorPlan, job: CaptionJob) -> Callable[[Any], Any]:
    """The GPU stage, checked before any tile is read: Ray Data's vLLM processor for `vllm:`, else a pool of
    backend actors; it maps a rendered dataset to a dataset of {"record": json}."""
    import ray

    scheme, model = parse_spec(spec)
    if scheme == "vllm":
        return llm_stage(model, options, plan, job, spec)
    return lambda rendered: rendered.map_batches(
        CaptionActor,
        fn_constructor_kwargs={"spec": spec, "options": options, "job": job, "gpus": plan.gpus_per_actor},
        batch_size=job.batch_size,
        num_gpus=plan.gpus_per_actor,
        num_cpus=plan.cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
    )


def _record_of(row: dict[str, Any], spec: str, options: dict[str, Any], job: CaptionJob) -> CaptionRecord:
    """A caption record from an output row; a row Ray's LLM stage failed skips its postprocess and is recorded here."""
    text = row.get("record") or record_row(row, job, spec, model_revision(options))["record"]
    return CaptionRecord(**json.loads(text))
