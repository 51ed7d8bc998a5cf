"""Ray actor pools shared by the stages that fan out over a cluster (captioning, embedding): how many actors,
and how many GPUs each asks for."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rsq.errors import RsqError
from rsq.extras import require


@dataclass(frozen=True)
class ActorPlan:
    actors: int
    gpus_per_actor: float

    @property
    def cpus_per_actor(self) -> float:
        """A GPU actor reserves no CPU (its thread waits on the device; the CPUs do the rest); a CPU actor one."""
        return 0.0 if self.gpus_per_actor else 1.0


def start_ray(address: str | None) -> Any:
    """Ray, connected to `address` or to a local Ray (started if none is running)."""
    ray = require("ray", "ray")
    ray.init(
        address=address,
        ignore_reinit_error=True,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False  # rsq's own bar counts records as they are written
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


def plan_actors(
    default_gpus: float, workers: int | None, gpus_per_actor: float | None, cluster: dict[str, float], what: str
) -> ActorPlan:
    """GPUs per actor (`default_gpus` unless given) and the pool size: the cluster's GPUs (or half its CPUs) unless
    `workers` is given; asking for GPUs the cluster lacks is an error before any work."""
    gpus = cluster.get("GPU", 0.0)
    per_actor = default_gpus if gpus_per_actor is None else gpus_per_actor
    if per_actor > gpus:
        raise RsqError(
            f"the Ray cluster has {gpus:g} GPUs; {what} actors want {per_actor:g} each "
            "(set --ray-gpus-per-actor 0 to run on CPUs)"
        )
    actors = workers or (int(gpus // per_actor) if per_actor else max(1, int(cluster.get("CPU", 2)) // 2))
    if per_actor and actors * per_actor > gpus:
        raise RsqError(f"--ray-workers {actors} x {per_actor:g} GPUs exceeds the cluster's {gpus:g} GPUs")
    return ActorPlan(actors, per_actor)
