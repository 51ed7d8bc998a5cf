"""`rsq caption --engine ray`: caption an archive over a Ray cluster with Ray Data.

Two stages per chunk of tiles: reading and rendering views run as CPU tasks, ahead of an actor pool whose
actors each hold one backend (and ask Ray for their GPUs, so the model sees its device). Tiles arrive in
bounded chunks from a lazy listing; the driver alone writes records to the store as batches come back, so
memory stays flat and a killed job resumes as the local engine does (done tiles are skipped per chunk).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import numpy as np

from rsq.captioner.backends import backend_class, make_backend, parse_spec
from rsq.captioner.batch import CaptionJob, JobSummary, begin_run, build_request, caption_prepared, finish_job, render_view, todo_tiles, write_records
from rsq.captioner.records import CaptionRecord
from rsq.captioner.store import CaptionStore
from rsq.errors import RsqError, TileError
from rsq.imagery import Tile
from rsq.parallel import batched
from rsq.raycluster import plan_actors, start_ray
from rsq.sources import TileRef

CHUNK = 50_000  # tiles per Ray dataset: bounds the driver's memory; the actor pool (and its models) restarts per chunk
GPU_SCHEMES = ("vllm",)  # backends that need a GPU wherever they run; hf takes one when the cluster has any


def scheme_gpus(scheme: str, cluster: dict[str, float]) -> float:
    """GPUs a backend actor asks for by default: 1 for vllm, and for hf on a cluster with GPUs; else none."""
    return float(scheme in GPU_SCHEMES or (scheme == "hf" and cluster.get("GPU", 0.0) > 0))


def render_rows(batch: dict[str, Any], needs_image: bool) -> dict[str, list]:
    """The CPU stage: each tile's view rendered (raw RGB bytes and shape), or why it could not be read."""
    out: dict[str, list] = {"tile": [], "view": [], "image": [], "shape": [], "error": []}
    for text in batch["tile"]:
        tile = Tile.from_dict(json.loads(text))
        view, image, error = "", None, ""
        try:
            view, image = render_view(tile, needs_image)
        except TileError as problem:
            error = problem.reason
        out["tile"].append(text)
        out["view"].append(view)
        out["image"].append(b"" if image is None else image.tobytes())
        out["shape"].append(json.dumps(None if image is None else list(image.shape)))
        out["error"].append(error)
    return out


class CaptionActor:
    """A Ray Data batch mapper holding one backend: rendered rows -> {"record": [json]}."""

    def __init__(self, spec: str, options: dict[str, Any], job: CaptionJob, gpus: float) -> None:
        import ray

        if gpus and not ray.get_gpu_ids():
            raise RsqError(f"Ray gave this {spec} actor no GPU although it asked for {gpus:g}")
        self.backend = make_backend(spec, **options)
        self.job = job

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        prepared = []
        for text, view, image, shape, error in zip(batch["tile"], batch["view"], batch["image"], batch["shape"], batch["error"], strict=True):
            tile = Tile.from_dict(json.loads(text))
            if error:
                prepared.append((tile, TileError(tile.path, str(error))))
                continue
            dims = json.loads(shape)
            pixels = np.frombuffer(image, dtype=np.uint8).reshape(dims) if dims else None
            prepared.append((tile, build_request(tile, self.job, str(view), pixels)))
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
    on_progress: Callable[[int], None] | None = None,
) -> JobSummary:
    """Like `run_job`, chunk by chunk: CPU tasks render views, `actors` backend actors (GPUs as planned)
    caption them, the driver writes each batch of records as it arrives."""
    ray = start_ray(address)
    cluster = ray.cluster_resources()
    scheme = parse_spec(spec)[0]
    plan = plan_actors(scheme_gpus(scheme, cluster), actors, gpus_per_actor, cluster, scheme)
    needs_image = bool(getattr(backend_class(scheme), "needs_image", True))  # known without loading a model
    summary = begin_run(store, spec, job)
    for chunk in batched(islice(refs, limit), CHUNK):
        todo = todo_tiles(chunk, store, summary, spec, "", job)
        if not todo:
            continue
        rendered = ray.data.from_items([{"tile": json.dumps(t.to_dict())} for t in todo]).map_batches(
            render_rows, fn_kwargs={"needs_image": needs_image}, batch_size=job.batch_size, num_cpus=1)
        captioned = rendered.map_batches(
            CaptionActor, fn_constructor_kwargs={"spec": spec, "options": options, "job": job, "gpus": plan.gpus_per_actor},
            batch_size=job.batch_size, num_gpus=plan.gpus_per_actor, num_cpus=plan.cpus_per_actor,
            compute=ray.data.ActorPoolStrategy(size=plan.actors))
        for batch in captioned.iter_batches(batch_size=job.batch_size, batch_format="numpy"):
            records = [CaptionRecord(**json.loads(text)) for text in batch["record"]]
            write_records(store, summary, records)
            if on_progress:
                on_progress(len(records))
    return finish_job(store, summary)
