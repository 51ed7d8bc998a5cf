"""Shards served by Ray Serve: one deployment per shard (with replicas), and the router's calls to them.

Each shard of a sharded index (rsq.shards.layout) becomes the deployment `rsq-shard-NN`, whose replicas each
open the shard's index (the newest generation, as any Searcher) and answer the router's three rounds
(rsq.shards.router). The router issues a round to every shard at once and waits for all; a call that fails
(a replica that died, a timeout) is sent again, and Serve routes it to another replica; a shard that fails
twice is reported missing. Replicas need the shard folders at the same path (a shared or copied filesystem).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rsq.extras import require
from rsq.raycluster import start_ray
from rsq.shards.layout import shard_roots
from rsq.shards.router import LocalShard, ShardedSearcher

CALL_TIMEOUT_S = 30.0


class ShardReplica:
    """What a Serve replica of one shard runs."""

    def __init__(self, root: str) -> None:
        from rsq.query import Searcher

        self.shard = LocalShard(Searcher(Path(root)))

    def statistics(self, query):
        return self.shard.statistics(query)

    def rows(self, query, statistics):
        return self.shard.rows(query, statistics)

    def hits(self, query, final, per_mode, mode_ranks):
        return self.shard.hits(query, final, per_mode, mode_ranks)

    def default_image_weight(self) -> float:
        return self.shard.default_image_weight()

    def pid(self) -> int:
        import os

        return os.getpid()


class RemoteShard:
    """The router's side of one shard's deployment: each method returns Serve's response, not yet awaited."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def statistics(self, query):
        return self.handle.statistics.remote(query)

    def rows(self, query, statistics):
        return self.handle.rows.remote(query, statistics)

    def hits(self, query, final, per_mode, mode_ranks):
        return self.handle.hits.remote(query, final, per_mode, mode_ranks)

    def default_image_weight(self) -> float:
        return self.handle.default_image_weight.remote().result(timeout_s=CALL_TIMEOUT_S)


def gather_responses(calls: list[Callable[[], Any]]) -> list[Any]:
    """Send every call, then wait for each; a failed one is sent once more (Serve picks a live replica), and its
    result is then the answer or the last error."""
    results = [_awaited(response) for response in [_sent(call) for call in calls]]
    for n in [n for n, result in enumerate(results) if isinstance(result, Exception)]:
        results[n] = _awaited(_sent(calls[n]))
    return results


def _sent(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - a deployment gone: reported as this shard's answer
        return error


def _awaited(response: Any) -> Any:
    if isinstance(response, Exception):
        return response
    try:
        return response.result(timeout_s=CALL_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - a replica's death or a timeout
        return error


def deploy_shards(root: Path, replicas: int = 1, address: str | None = None) -> ShardedSearcher:
    """Start (or update) one Serve deployment per shard of `root`, `replicas` each; returns the router."""
    serve = require("ray.serve", "serve-ray", needed_by="sharded serving")
    start_ray(address)
    serve.start(proxy_location="Disabled")
    shards = []
    for number, folder in enumerate(shard_roots(root)):
        name = f"rsq-shard-{number:02d}"
        deployment = serve.deployment(ShardReplica, name=name, num_replicas=replicas, ray_actor_options={"num_cpus": 0})
        handle = serve.run(deployment.bind(str(folder.resolve())), name=name, route_prefix=None)
        shards.append(RemoteShard(handle))
    return ShardedSearcher(shards, gather_responses)
