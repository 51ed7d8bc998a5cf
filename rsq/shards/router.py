"""One search over several shards, answering what one index holding every shard would answer.

Three rounds, each asked of every shard at once (`Shard` is the interface; `LocalShard` answers in this
process, rsq.serve.sharded's Ray Serve deployments across machines):
1. `statistics`: each shard's BM25 statistics of the query's terms; the router sums them (documents, document
   frequencies, field lengths), as one index would count them (rsq.textindex.bm25global).
2. `rows`: each shard's best rows per retrieval mode, BM25 scored with the sums; the router merges each mode's
   rows by score and keeps the same number one index would read, so fusion sees the same windows.
3. `hits`: the shards holding the fused top k assemble their hits (snippets, tiles) with the global ranks.
A shard that does not answer is named in `ShardedResult.missing`: never a silent partial answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from rsq.errors import OptionError
from rsq.query.fusion import best_per_tile, ranks
from rsq.query.request import SearchQuery
from rsq.query.results import Hit, PerMode, assemble_hits
from rsq.query.searcher import Searcher, fuse, mode_limits
from rsq.textindex.bm25global import Bm25Statistics
from rsq.textindex.segments import Hits

SHARD_BITS = 8  # a merged row: the shard's row << SHARD_BITS | the shard's number


class Shard(Protocol):
    def statistics(self, query: SearchQuery) -> Bm25Statistics: ...

    def rows(self, query: SearchQuery, statistics: Bm25Statistics | None) -> dict[str, Hits]: ...

    def hits(self, query: SearchQuery, final: dict[str, float], per_mode: PerMode, mode_ranks: dict) -> list[Hit]: ...

    def default_image_weight(self) -> float: ...


class LocalShard:
    """A shard answered in this process by a Searcher over its index."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher

    def statistics(self, query: SearchQuery) -> Bm25Statistics:
        extra = self.searcher.bm25_extra(query.text)
        return self.searcher.snapshot.bm25.statistics(query.text, extra)

    def rows(self, query: SearchQuery, statistics: Bm25Statistics | None) -> dict[str, Hits]:
        [found] = self.searcher.retrieve_rows(
            [query.text], query.mode, query.k, query.filters, statistics=[statistics] if statistics else None
        )
        return found

    def hits(self, query: SearchQuery, final: dict[str, float], per_mode: PerMode, mode_ranks: dict) -> list[Hit]:
        return assemble_hits(self.searcher.snapshot, final, per_mode, query.k, mode_ranks)

    def default_image_weight(self) -> float:
        return self.searcher.default_image_weight


@dataclass
class ShardedResult:
    hits: list[Hit]
    missing: list[int] = field(default_factory=list)  # shards that did not answer (their tiles are absent)


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
    """Searches shards as one index (modes bm25, dense, image and hybrid; composed queries are not sharded)."""

    def __init__(self, shards: Sequence[Shard], gather: Gather = one_by_one) -> None:
        self.shards, self.gather = list(shards), gather

    def search(self, query: SearchQuery) -> ShardedResult:
        if query.composed:
            raise OptionError("image", "composed queries are not served by a sharded index yet")
        live = list(range(len(self.shards)))
        missing: list[int] = []
        statistics = None
        if query.mode in ("bm25", "hybrid"):
            parts, missing = self._ask(live, lambda shard: shard.statistics(query))
            statistics = Bm25Statistics.summed(parts.values())
            live = list(parts)
        rows, lost = self._ask(live, lambda shard: shard.rows(query, statistics))
        missing += lost
        per_mode = merged_modes(rows, mode_limits(query.k))
        weight = query.image_weight
        if weight is None and rows:
            weight = self.shards[next(iter(rows))].default_image_weight()
        final = fuse(per_mode, query.mode, query.fusion, query.alpha, weight if weight is not None else 0.0)
        hits, lost = self._hits(query, final, per_mode)
        return ShardedResult(hits, sorted(set(missing + lost)))

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


def local_shards(searchers: Sequence[Searcher]) -> list[LocalShard]:
    return [LocalShard(searcher) for searcher in searchers]
