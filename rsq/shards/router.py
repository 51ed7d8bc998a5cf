"""One search over several shards, answering what one index holding every shard would answer.

Three rounds, each asked of every shard at once (`Shard` is the interface; `LocalShard` answers in this
process, rsq.serve.sharded's Ray Serve deployments across machines):
1. `statistics`: each shard's BM25 statistics of the query's terms and the row counts of its vector partitions
   (rsq.textindex.statistics); the router sums them (documents, document frequencies, field lengths; rows and
   rows the filters allow), as one index would count them.
2. `rows`: each shard's best rows per retrieval mode, BM25 scored with the sums, IVF lists probed as the summed
   rows need (every shard's segments are cut from one partition: rsq.textindex.partition); the router merges
   each mode's rows by score and keeps the same number one index would read, so fusion sees the same windows.
3. `hits`: the shards holding the fused top k assemble their hits (snippets, tiles) with the global ranks.
A shard that does not answer is named in the answer's `missing`: never a silent partial answer. Everything else a
front end asks of an index (a tile's details, thumbnail or record) goes to the one shard the tile's id hashes to, so
`ShardedSearcher` serves the CLI and the HTTP API as a `Searcher` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rsq.encoders import Embedder
from rsq.encoders import query_encoder as load_query_encoder
from rsq.errors import OptionError, RsqError
from rsq.query.fusion import best_per_tile, ranks
from rsq.query.request import SearchQuery
from rsq.query.results import Answer, Hit, PerMode, TileDetails, assemble_hits
from rsq.query.searcher import Searcher, fuse, mode_limits
from rsq.shards.layout import shard_of, shard_roots
from rsq.textindex.catalog import TileRow
from rsq.textindex.manifest import Manifest
from rsq.textindex.segments import Hits
from rsq.textindex.statistics import SearchStatistics

SHARD_BITS = 8  # a merged row: the shard's row << SHARD_BITS | the shard's number


class Shard(Protocol):
    def statistics(self, query: SearchQuery) -> SearchStatistics: ...

    def rows(self, query: SearchQuery, statistics: SearchStatistics, vector: np.ndarray | None) -> dict[str, Hits]: ...

    def hits(self, query: SearchQuery, final: dict[str, float], per_mode: PerMode, mode_ranks: dict) -> list[Hit]: ...

    def default_image_weight(self) -> float: ...

    def manifest(self) -> Manifest: ...

    def status(self) -> dict[str, Any]: ...

    def tile_details(self, tile_id: str) -> TileDetails | None: ...

    def tile_record(self, tile_id: str) -> dict | None: ...

    def thumbnail(self, tile_id: str) -> bytes | None: ...

    def warm(self) -> None: ...


class LocalShard:
    """A shard answered in this process by a Searcher over its index."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher

    def statistics(self, query: SearchQuery) -> SearchStatistics:
        return self.searcher.statistics(query)

    def rows(
        self, query: SearchQuery, statistics: SearchStatistics, vector: np.ndarray | None = None
    ) -> dict[str, Hits]:
        [found] = self.searcher.retrieve_rows(
            [query.text],
            query.mode,
            query.k,
            query.filters,
            statistics=[statistics.bm25] if statistics.bm25 else None,
            vectors=vector,
            partitions=statistics.partitions,
        )
        return found

    def hits(self, query: SearchQuery, final: dict[str, float], per_mode: PerMode, mode_ranks: dict) -> list[Hit]:
        return assemble_hits(self.searcher.snapshot, final, per_mode, query.k, mode_ranks)

    def default_image_weight(self) -> float:
        return self.searcher.default_image_weight

    def manifest(self) -> Manifest:
        return self.searcher.manifest

    def status(self) -> dict[str, Any]:
        return self.searcher.status()

    def tile_details(self, tile_id: str) -> TileDetails | None:
        return self.searcher.tile_details(tile_id)

    def tile_record(self, tile_id: str) -> dict | None:
        return self.searcher.tile_record(tile_id)

    def thumbnail(self, tile_id: str) -> bytes | None:
        return self.searcher.thumbnail(tile_id)

    def warm(self) -> None:
        self.searcher.warm()


Gather = Callable[[list[Callable[[], Any]]], list[Any]]  # run calls (at once where it can), results or exceptions


def one_by_one(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls here, in turn; a failing call's exception is its result."""
    results: list[Any] = []
    for call in calls:
        try:
            results.append(call())
        except Exception as error:  # noqa: BLE001 - a shard's failure is reported, not raised
            results.append(error)
    return results


class ShardedSearcher:
    """Searches shards as one index (modes bm25, dense, image and hybrid; composed queries are not sharded), and
    answers what else the CLI and the API ask of an index."""

    def __init__(
        self,
        shards: Sequence[Shard],
        gather: Gather = one_by_one,
        root: Path | None = None,
        query_encoder: str | None = None,
    ) -> None:
        self.shards, self.gather = list(shards), gather
        self.root = Path(root) if root else Path(".")
        self._query_choice, self._embedder, self._lock = query_encoder, None, threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The shards' query encoder, loaded here once: the router encodes a query for every shard."""
        with self._lock:
            if self._embedder is None:
                self._embedder = load_query_encoder(self.manifest.embedder, self._query_choice)
        return self._embedder

    def search(self, query: SearchQuery) -> list[Hit]:
        return self.answer(query).hits

    def answer(self, query: SearchQuery) -> Answer:
        if query.composed:
            raise OptionError("image", "composed queries are not served by a sharded index yet")
        parts, missing = self._ask(list(range(len(self.shards))), lambda shard: shard.statistics(query))
        statistics, live = SearchStatistics.summed(parts.values()), list(parts)
        vector = self.embedder.encode([query.text]) if query.mode in ("dense", "hybrid") else None
        rows, lost = self._ask(live, lambda shard: shard.rows(query, statistics, vector))
        missing += lost
        per_mode = merged_modes(rows, mode_limits(query.k))
        weight = query.image_weight
        if weight is None and "image" in per_mode:  # only an image mode's fusion weighs it: no round otherwise
            weight = self._one(next(iter(rows)), lambda shard: shard.default_image_weight())
        final = fuse(per_mode, query.mode, query.fusion, query.alpha, weight if weight is not None else 0.0)
        hits, lost = self._hits(query, final, per_mode)
        return Answer(hits, sorted(set(missing + lost)))

    @property
    def manifest(self) -> Manifest:
        """The first answering shard's manifest, with the answering shards' counts summed."""
        found, _ = self._ask(list(range(len(self.shards))), lambda shard: shard.manifest())
        if not found:
            raise RsqError(f"no shard of {self.root} answers")
        manifests = [found[n] for n in sorted(found)]
        counts: dict[str, int] = {}
        for manifest in manifests:
            for name, count in manifest.counts.items():
                counts[name] = counts.get(name, 0) + count
        return replace(manifests[0], counts=counts)

    def status(self) -> dict[str, Any]:
        """Each shard's generation and tiles, and the shards that did not answer."""
        found, missing = self._ask(list(range(len(self.shards))), lambda shard: shard.status())
        shards = [{"shard": n} | found[n] for n in sorted(found)]
        return {"tiles": sum(s["tiles"] for s in shards), "shards": shards} | (
            {"missing_shards": missing} if missing else {}
        )

    def warm(self) -> None:
        """Load the query encoders (the router's and every shard's) now, not on the first query."""
        _ = self.embedder
        self._ask(list(range(len(self.shards))), lambda shard: shard.warm())

    def tile(self, tile_id: str) -> TileRow | None:
        details = self.tile_details(tile_id)
        return details.row if details else None

    def tile_details(self, tile_id: str) -> TileDetails | None:
        return self._owner(tile_id, lambda shard: shard.tile_details(tile_id))

    def tile_record(self, tile_id: str) -> dict | None:
        return self._owner(tile_id, lambda shard: shard.tile_record(tile_id))

    def thumbnail(self, tile_id: str) -> bytes | None:
        return self._owner(tile_id, lambda shard: shard.thumbnail(tile_id))

    def _owner(self, tile_id: str, call: Callable[[Shard], Any]) -> Any:
        """Ask the shard a tile's id hashes to."""
        return self._one(shard_of(tile_id, len(self.shards)), call)

    def _one(self, number: int, call: Callable[[Shard], Any]) -> Any:
        """One shard's answer; an error naming the shard when it does not answer."""
        found, _ = self._ask([number], call)
        if number not in found:
            raise RsqError(f"shard {number} of {self.root} does not answer")
        return found[number]

    def _ask(self, numbers: list[int], call: Callable[[Shard], Any]) -> tuple[dict[int, Any], list[int]]:
        return self._gathered(numbers, [lambda shard=self.shards[n]: call(shard) for n in numbers])

    def _gathered(self, numbers: list[int], calls: list[Callable[[], Any]]) -> tuple[dict[int, Any], list[int]]:
        """Each shard's answer, and the shards that failed."""
        results = self.gather(calls)
        answered = {n: r for n, r in zip(numbers, results, strict=True) if not isinstance(r, Exception)}
        return answered, [n for n in numbers if n not in answered]

    def _hits(self, query: SearchQuery, final: dict[str, float], per_mode: PerMode) -> tuple[list[Hit], list[int]]:
        """The top k assembled by the shards holding them, in the fused order with global ranks."""
        top = sorted(final, key=lambda tile: (-final[tile], tile))[: query.k]
        mask = (1 << SHARD_BITS) - 1
        owner = {tile: row & mask for hits in per_mode.values() for tile, (_, row) in hits.items()}
        mode_ranks = {mode: ranks({t: s for t, (s, _) in hits.items()}) for mode, hits in per_mode.items()}
        numbers = sorted({owner[tile] for tile in top})

        def call_for(number: int) -> Callable[[], Any]:
            local = {
                mode: {t: (s, row >> SHARD_BITS) for t, (s, row) in hits.items() if owner[t] == number}
                for mode, hits in per_mode.items()
            }
            mine = {tile: final[tile] for tile in top if owner[tile] == number}
            shard = self.shards[number]
            return lambda: shard.hits(query, mine, local, mode_ranks)

        answers, lost = self._gathered(numbers, [call_for(n) for n in numbers])
        position = {tile: n for n, tile in enumerate(top, start=1)}
        hits = sorted((hit for part in answers.values() for hit in part), key=lambda hit: position[hit.id])
        return [replace(hit, rank=position[hit.id]) for hit in hits], lost


def merged_modes(rows: dict[int, dict[str, Hits]], limits: dict[str, int]) -> PerMode:
    """Each mode's rows over the shards (tagged with their shard), cut where one index would cut, best per tile."""
    per_mode: PerMode = {}
    modes = {mode for found in rows.values() for mode in found}
    for mode in sorted(modes):
        parts = [
            Hits((found[mode].rows << SHARD_BITS) | number, found[mode].tiles, found[mode].scores)
            for number, found in rows.items()
            if mode in found
        ]
        merged = Hits.merged(parts, limits[mode])
        per_mode[mode] = best_per_tile(merged.rows, merged.tiles, merged.scores)
    return per_mode


def open_local(root: Path, **searcher_options: Any) -> ShardedSearcher:
    """A sharded index searched in this process: each shard's newest generation, opened as a Searcher."""
    shards = [LocalShard(Searcher(f, **searcher_options)) for f in shard_roots(root)]
    return ShardedSearcher(shards, root=root, query_encoder=searcher_options.get("query_encoder"))


def open_index(root: Path | None = None, **searcher_options: Any) -> Searcher | ShardedSearcher:
    """The index at `root` (default: the default index) for searching: one Searcher, or a sharded index's shards
    searched in this process."""
    from rsq.config import default_index_path
    from rsq.shards.layout import is_sharded

    target = Path(root) if root else default_index_path()
    return open_local(target, **searcher_options) if is_sharded(target) else Searcher(target, **searcher_options)
