"""What a search's scores and candidates depend on beyond one index's own rows, so that a sharded search can sum it
over its shards and score as one index holding everything would (rsq.shards.router).

- BM25: documents, document frequencies and field lengths (rsq.textindex.bm25global).
- Vectors: per partition of each vector kind, its rows and the rows a search's filters allow. They decide how many
  IVF lists are probed (rsq.textindex.vectors), and with them which rows a dense search can find.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rsq.textindex.bm25global import Bm25Statistics

PartitionTotals = dict[str, tuple[int, int]]  # partition key -> (rows cut from it, rows a search's filters allow)


@dataclass(frozen=True)
class SearchStatistics:
    bm25: Bm25Statistics | None = None
    partitions: dict[str, PartitionTotals] = field(default_factory=dict)  # vector kind -> its partitions' totals

    @classmethod
    def summed(cls, parts: Iterable[SearchStatistics]) -> SearchStatistics:
        parts = list(parts)
        lexical = [p.bm25 for p in parts if p.bm25 is not None]
        partitions: dict[str, PartitionTotals] = {}
        for part in parts:
            for kind, totals in part.partitions.items():
                summed = partitions.setdefault(kind, {})
                for key, (rows, allowed) in totals.items():
                    before = summed.get(key, (0, 0))
                    summed[key] = (before[0] + rows, before[1] + allowed)
        return cls(Bm25Statistics.summed(lexical) if lexical else None, partitions)
