"""Reading one generation of an index: its segments, BM25 searcher and catalog, opened once and kept.

Opening maps files and reads one small JSON file: nothing is loaded per tile. A snapshot never changes
what it sees; `Snapshot.open` takes the newest generation, so a long-lived reader (`rsq.query.Searcher`)
moves to a newer one by opening a new snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rsq.errors import RsqError
from rsq.textindex.bm25 import Bm25Reader
from rsq.textindex.bm25global import Bm25Statistics
from rsq.textindex.catalog import Catalog, TileRow
from rsq.textindex.columns import unpadded_code
from rsq.textindex.commit import Generation, is_index, latest
from rsq.textindex.filters import Filters
from rsq.textindex.segments import CAPTIONS, IMAGES, Hits, Segment
from rsq.textindex.statistics import PartitionTotals
from rsq.textindex.vectors import Coarse, rerank_depth

OPEN_ATTEMPTS = 3
# A place filter's cells hold more rows than its exact test keeps (0.43 of a box's BM25 hits passed, 10^6 tiles,
# RSICD tuning queries), so BM25 first reads this many times the rows it needs: 4x read in 9.8 ms p50 against 11.5
# for 1x, where falling short cost a second search
PLACE_ROOM = 4


class Snapshot:
    def __init__(self, root: Path, generation: Generation) -> None:
        self.root, self.generation, self.manifest = root, generation, generation.manifest
        folder = root / generation.epoch
        self.segments = {
            kind: [Segment(folder / "segments" / info.name, info) for info in generation.of_kind(kind)]
            for kind in (CAPTIONS, IMAGES)
        }
        self.catalog = Catalog(folder / "catalog.sqlite", min_size=generation.catalog_bytes)
        self.bm25 = Bm25Reader(folder / "bm25")
        self._starts = {
            kind: np.array([s.info.lo for s in segments], dtype=np.int64) for kind, segments in self.segments.items()
        }
        self._extent = max((info.extent for info in generation.of_kind(CAPTIONS)), default=0.0)
        spans = [span for segment in self.segments[CAPTIONS] if (span := segment.columns.time_span())]
        self._time_span = (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None

    @classmethod
    def open(cls, root: Path) -> Snapshot:
        """The newest generation of the index at `root`, retried if a writer removes it while it opens."""
        if not is_index(root):
            raise RsqError(f"no index at {root}; build one with `rsq index` or `rsq demo`")
        for attempt in range(OPEN_ATTEMPTS):
            generation = latest(root)
            if generation is None:
                raise RsqError(f"no index at {root} yet: its first build has not finished")
            try:
                return cls(root, generation)
            except RsqError:
                newer = latest(root)
                if attempt + 1 == OPEN_ATTEMPTS or newer is None or newer.number == generation.number:
                    raise
        raise AssertionError("unreachable")

    def is_current(self) -> bool:
        """Whether this snapshot still shows the newest generation (a cheap directory listing)."""
        from rsq.textindex.commit import generation_numbers

        numbers = generation_numbers(self.root)
        return not numbers or numbers[-1] == self.generation.number

    def close(self) -> None:
        self.catalog.close()

    # --- retrieval ------------------------------------------------------------------------------------

    def bm25_hits(
        self,
        text: str,
        limit: int,
        filters: Filters,
        extra: Mapping[str, float] | None = None,
        statistics: Bm25Statistics | None = None,
    ) -> Hits:
        """The best `limit` live caption rows by BM25 (the words of `text`, and `extra` words with their weights)
        that pass the filters (as terms inside tantivy, then the exact test of `accepts` on the hits)."""
        counts = self.manifest.counts
        dead_share = counts.get("dead_variants", 0) / max(1, counts.get("variants", 0) + counts.get("dead_variants", 0))
        room = PLACE_ROOM if filters.by_place else 1
        fetch = math.ceil(room * limit / max(0.05, 1 - dead_share)) + 16
        while True:
            rows, scores = self.bm25.search(text, fetch, filters, self._extent, extra, self._time_span, statistics)
            keep, tiles = self.visible(CAPTIONS, rows, filters)
            if np.count_nonzero(keep) >= limit or len(rows) < fetch or fetch >= self.bm25.documents:
                return Hits(rows[keep], tiles[keep], scores[keep]).first(limit)
            fetch *= 4

    def vector_totals(self, kind: str, filters: Filters) -> PartitionTotals:
        """Per partition of the segments of `kind`, its rows and those the filters allow: a sharded search sums
        them over the shards, so every shard probes as one index would (rsq.shards.router)."""
        segments = self.segments[kind]
        return partition_totals(segments, [s.allowed(filters) for s in segments])

    def vector_hits(
        self, kind: str, queries: np.ndarray, limit: int, filters: Filters, totals: PartitionTotals | None = None
    ) -> list[Hits]:
        """Per query, the best `limit` live rows of `kind` by inner product that pass the filters. Segments cut
        from one partition are searched as one inverted file (`coarse`: the same lists in each, as many as the
        partition's rows and allowed rows need; `totals`: those of a whole sharded index, default this index's).
        Compressed segments pool their candidates: the best `rerank_depth(limit, rows of their partition)` by code
        over all of them are re-scored."""
        segments = self.segments[kind]
        allowed = [s.allowed(filters) for s in segments]
        depth = rerank_depth(limit)
        everywhere = partition_totals(segments, allowed) | (totals or {})
        coarse = partition_coarse(segments, queries, depth, everywhere)
        pools: dict[str, list[int]] = {}  # compressed segments, by partition
        for n, segment in enumerate(segments):
            if segment.vectors.kind == "codes":
                pools.setdefault(segment.vectors.quantizer_key, []).append(n)
        pooled = {n for members in pools.values() for n in members}
        per_segment = [
            s.search(queries, limit, allowed[n], coarse[n]) for n, s in enumerate(segments) if n not in pooled
        ]
        for key, members in pools.items():
            chosen, masks = [segments[n] for n in members], [allowed[n] for n in members]
            pool_depth = rerank_depth(limit, everywhere[key][0])
            per_segment.append(pooled_rerank(chosen, queries, pool_depth, masks, coarse[members[0]]))
        return [Hits.merged([hits[n] for hits in per_segment], limit) for n in range(len(queries))]

    def visible(self, kind: str, rows: np.ndarray, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
        """Which rows (found by BM25) are live in this generation and pass the filters exactly, and their tiles."""
        keep, tiles = np.zeros(len(rows), dtype=bool), np.full(len(rows), "", dtype=object)
        owner = (
            np.searchsorted(self._starts[kind], rows, side="right") - 1
            if len(self._starts[kind])
            else np.full(len(rows), -1)
        )
        for number in np.unique(owner[owner >= 0]):
            segment = self.segments[kind][number]
            mine = np.flatnonzero(owner == number)
            positions = segment.positions(rows[mine])
            live = segment.is_live(positions)
            if filters.active and np.any(live):
                live[np.flatnonzero(live)] = segment.columns.take(positions[live], with_tiles=False).mask(filters)
            keep[mine] = live
            tiles[mine[live]] = segment.columns.tiles.get(positions[live])
        return keep, tiles

    def row_classes(self, kind: str, rows: list[int]) -> list[str]:
        """The land-cover code of each row's tile ("" unknown), from the columns of the segments holding them."""
        codes = []
        for row in rows:
            owner = int(np.searchsorted(self._starts[kind], row, side="right")) - 1
            segment = self.segments[kind][owner] if owner >= 0 else None
            position = int(segment.positions(np.array([row]))[0]) if segment else -1
            codes.append(unpadded_code(int(segment.columns.cover[position])) if position >= 0 else "")
        return codes

    def image_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectors and tile ids of image rows that `vector_hits` returned (the candidates of a composed query)."""
        owner = np.searchsorted(self._starts[IMAGES], rows, side="right") - 1
        vectors, tiles = [], []
        for row, number in zip(rows, owner, strict=True):
            segment = self.segments[IMAGES][number]
            position = segment.positions(np.array([row]))
            vectors.append(segment.vectors.vector(int(position[0])))
            tiles.append(segment.columns.tiles.get(position)[0])
        dim = self.manifest.image_dim or 0
        return np.array(vectors, dtype=np.float32).reshape(len(rows), dim), np.array(tiles, dtype=object)

    def image_vector(self, tile_id: str) -> np.ndarray | None:
        """The live image vector of a tile, if the index holds one."""
        tkey = self.catalog.tkey(tile_id)
        if tkey is None or not self.manifest.image_encoder:
            return None
        records = self.catalog.live_records(tkey, IMAGES, self.generation.next_row.get(IMAGES, 0))
        for record in reversed(records):
            row = np.array([record["first_row"]], dtype=np.int64)
            owner = int(np.searchsorted(self._starts[IMAGES], row, side="right")[0]) - 1
            if owner >= 0:
                segment = self.segments[IMAGES][owner]
                position = segment.positions(row)
                if segment.is_live(position)[0]:
                    return segment.vectors.vector(int(position[0]))
        return None

    def image_moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean vector, mean outer product) of the image vectors, for normalising composed-query scores."""
        segments = self.segments[IMAGES]
        if not segments:
            return None
        weights = np.array([s.info.count for s in segments], dtype=np.float64)
        combined = sum(
            w * np.asarray(s.moments(), dtype=np.float64)
            for w, s in zip(weights / weights.sum(), segments, strict=True)
        )
        return combined[0], combined[1:]

    # --- display --------------------------------------------------------------------------------------

    def tile(self, tile_id: str) -> TileRow | None:
        """The newest committed version of a tile's metadata."""
        version = self._newest_version(tile_id)
        return self.catalog.versions([version])[version] if version is not None else None

    def tile_record(self, tile_id: str) -> dict | None:
        """The newest committed tile record (`Tile.to_dict()`, for reading its pixels)."""
        version = self._newest_version(tile_id)
        return self.catalog.record(version) if version is not None else None

    def thumbnail(self, tile_id: str) -> bytes | None:
        version = self._newest_version(tile_id)
        return self.catalog.thumbnail(version) if version is not None else None

    def caption_records(self, tile_id: str) -> list[dict]:
        """The tile's live caption records with their provenance and structured captions."""
        tkey = self.catalog.tkey(tile_id)
        return [] if tkey is None else self.catalog.live_records(tkey, CAPTIONS, self.generation.next_row[CAPTIONS])

    def _newest_version(self, tile_id: str) -> int | None:
        tkey = self.catalog.tkey(tile_id)
        if tkey is None:
            return None
        records = self.catalog.live_records(tkey, CAPTIONS, self.generation.next_row[CAPTIONS])
        return max(r["tver"] for r in records) if records else None


def partition_totals(segments: list[Segment], allowed: list[np.ndarray | None]) -> PartitionTotals:
    """Per partition key, the rows of the segments cut from it and how many of them are allowed."""
    totals: PartitionTotals = {}
    for segment, mask in zip(segments, allowed, strict=True):
        key = segment.vectors.quantizer_key
        if key is not None:
            rows, kept = totals.get(key, (0, 0))
            count = len(segment.vectors)
            totals[key] = (rows + count, kept + (count if mask is None else int(np.count_nonzero(mask))))
    return totals


def partition_coarse(
    segments: list[Segment], queries: np.ndarray, depth: int, totals: PartitionTotals
) -> list[Coarse | None]:
    """Per segment, how its partition is searched for these queries (None: a flat segment, searched alone): the
    nearest lists found once per partition, as many as its `totals` need."""
    found: dict[str, Coarse] = {}
    for segment in segments:
        key = segment.vectors.quantizer_key
        if key is not None and key not in found:
            rows, kept = totals[key]
            found[key] = segment.vectors.coarse(queries, kept, rows, depth)
    return [found.get(s.vectors.quantizer_key) for s in segments]


def pooled_rerank(
    segments: list[Segment], queries: np.ndarray, depth: int, allowed: list[np.ndarray | None], coarse: Coarse
) -> list[Hits]:
    """Per query, the `depth` best candidates by code over several compressed segments cut from one partition
    (`coarse`: how it is searched), re-scored exactly."""
    found = [s.vectors.candidates(queries, depth, mask, coarse) for s, mask in zip(segments, allowed, strict=True)]
    results = []
    for n, query in enumerate(queries):
        estimates = np.concatenate([scores[n] for scores, _ in found])
        positions = np.concatenate([positions[n] for _, positions in found])
        owners = np.concatenate([np.full(len(p[n]), i) for i, (_, p) in enumerate(found)])
        real = positions >= 0
        best = np.argsort(-estimates[real], kind="stable")[:depth]
        positions, owners = positions[real][best], owners[real][best]
        chosen = {i: np.sort(positions[owners == i]) for i in np.unique(owners)}
        for i, mine in chosen.items():  # every read asked for before the first is waited on
            segments[i].vectors.prefetch(mine)
        parts = [segments[i].rescored(query, mine) for i, mine in chosen.items()]
        results.append(Hits.merged(parts, depth))
    return results
