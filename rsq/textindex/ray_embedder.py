"""`rsq index --engine ray`: caption variants embedded by a pool of Ray actors, each holding the text model (on a
GPU when the cluster has them); the streaming, resumable build on the driver stays as it is."""

from __future__ import annotations

import numpy as np

from rsq.encoders import make_embedder
from rsq.raycluster import plan_actors, start_ray


class _EmbedActor:
    def __init__(self, spec: str, device: str | None, batch_size: int) -> None:
        self.embedder = make_embedder(spec, device, batch_size)

    def dim(self) -> int:
        return self.embedder.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)


class RayEmbedder:
    """An Embedder whose `encode` spreads batches of texts over Ray actors and returns the rows in order."""

    def __init__(
        self,
        spec: str,
        batch_size: int,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_actor: float | None = None,
    ) -> None:
        ray = start_ray(address)
        cluster = ray.cluster_resources()
        plan = plan_actors(float(cluster.get("GPU", 0.0) > 0), workers, gpus_per_actor, cluster, "embedding")
        actor = ray.remote(num_gpus=plan.gpus_per_actor, num_cpus=plan.cpus_per_actor)(_EmbedActor)
        device = "cuda" if plan.gpus_per_actor else "cpu"
        self._actors = [actor.remote(spec, device, batch_size) for _ in range(plan.actors)]
        self._pool = ray.util.ActorPool(self._actors)
        self.spec, self.batch_size = spec, batch_size
        self.dim = ray.get(self._actors[0].dim.remote())
        self.runtime = f"ray ({plan.actors} actors on {device})"

    def encode(self, texts: list[str]) -> np.ndarray:
        batches = [texts[start : start + self.batch_size] for start in range(0, len(texts), self.batch_size)]
        rows = list(self._pool.map(lambda actor, batch: actor.encode.remote(batch), batches))
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
