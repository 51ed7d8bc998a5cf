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
REPLICA_CONCURRENCY = 64  # calls a replica takes at once (Serve's default, 5, held a router's rounds in its queue:
# 64 calls/s of a no-op method from 20 threads against 399 with 64, and 6.1 against 17.9 searches/s)


class ShardReplica(LocalShard):
    """What a Serve replica of one shard runs: the shard's newest generation, opened as a Searcher."""

    def __init__(self, root: str, query_encoder: str | None = None) -> None:
        from rsq.query import Searcher

        super().__init__(Searcher(Path(root), query_encoder=query_encoder))
        self.warm()

    def pid(self) -> int:
        import os

        return os.getpid()


class RemoteShard:
    """The router's side of one shard's deployment: each method returns Serve's response, not yet awaited
    (`gather_responses` awaits them all)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def statistics(self, query):
        return self.handle.statistics.remote(query)

    def rows(self, query, statistics, vector):
        return self.handle.rows.remote(query, statistics, vector)

    def hits(self, query, final, per_mode, mode_ranks):
        return self.handle.hits.remote(query, final, per_mode, mode_ranks)

    def default_image_weight(self):
        return self.handle.default_image_weight.remote()

    def manifest(self):
        return self.handle.manifest.remote()

    def status(self):
        return self.handle.status.remote()

    def tile_details(self, tile_id):
        return self.handle.tile_details.remote(tile_id)

    def tile_record(self, tile_id):
        return self.handle.tile_record.remote(tile_id)

    def thumbnail(self, tile_id):
        return self.handle.thumbnail.remote(tile_id)

    def warm(self):
        return self.handle.warm.remote()


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


def deploy_shards(
    root: Path, replicas: int = 1, address: str | None = None, query_encoder: str | None = None
) -> ShardedSearcher:
    """Start (or update) one Serve deployment per shard of `root`, `replicas` each; returns the router."""
    serve = require("ray.serve", "serve-ray", needed_by="sharded serving")
    start_ray(address)
    serve.start(proxy_location="Disabled")
    shards = []
    for number, folder in enumerate(shard_roots(root)):
        name = f"rsq-shard-{number:02d}"
        deployment = serve.deployment(
            ShardReplica,
            name=name,
            num_replicas=replicas,
            max_ongoing_requests=REPLICA_CONCURRENCY,
            ray_actor_options={"num_cpus": 0},
        )
        handle = serve.run(deployment.bind(str(folder.resolve()), query_encoder), name=name, route_prefix=None)
        shards.append(RemoteShard(handle))
    return ShardedSearcher(shards, gather_responses, root, query_encoder)
