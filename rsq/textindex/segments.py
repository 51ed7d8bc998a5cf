"""Immutable segments: a run of rows with their tile columns, their vectors and, per generation, tombstones.

    SEGMENT/rows.npy           global row ids, ascending (int64)
    SEGMENT/tiles.bin …geo.npy the tile id of each row (tiles.bin + tiles.offsets.npy), the filter columns
                               (sensor, time, geo) and sorted indexes of three of them (sensor, time,
                               lon: *.keys.npy + *.order.npy; rsq.textindex.columns)
    SEGMENT/vectors.faiss      FAISS index, ids = positions (rsq.textindex.vectors)
    SEGMENT/moments.npy        image segments: mean and second moment of the vectors (composed queries)
    SEGMENT/del-<gen>.npy      tombstones as of generation <gen>, packed bits (a new file per change)

A segment's files never change once written; deleting rows writes a new tombstone file, which the next
generation names. `SegmentInfo` is how a generation records a segment, with every file's size so a
missing or truncated file is caught on open.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rsq.errors import RsqError
from rsq.textindex.columns import SAVED_FILES, Columns
from rsq.textindex.filters import Filters
from rsq.textindex.vectors import EXACT, Coarse, VectorFile

CAPTIONS, IMAGES = "captions", "images"
VECTORS = "vectors.faiss"
MOMENTS = "moments.npy"
TIE_ROOM = 2  # a first search reads this many times its limit, so the rows tied with the last mostly come in it
TOMBSTONES = re.compile(r"^del-\d{9}\.npy$")  # tombstone_file's names
SEGMENT_FILES = SAVED_FILES | {"rows.npy", VECTORS, EXACT, MOMENTS}


def tombstone_file(generation: int) -> str:
    """The name of a segment's tombstone file as of `generation`."""
    return f"del-{generation:09d}.npy"


def is_segment_file(name: str) -> bool:
    """Whether `name` is one of the files rsq writes in a segment folder (the only ones it deletes there)."""
    return name in SEGMENT_FILES or bool(TOMBSTONES.match(name))


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    kind: str  # CAPTIONS or IMAGES
    lo: int  # rows lie in [lo, hi)
    hi: int
    count: int
    dead: int = 0
    deletes: str | None = None
    files: dict[str, int] = field(default_factory=dict)  # file name -> size in bytes
    extent: float = 0.0  # the largest tile half-extent in degrees (how far a bbox filter must look beyond its box)
    partition: str | None = None  # the key of the partition its inverted file is cut from (None: flat, or older)

    @property
    def live(self) -> int:
        return self.count - self.dead

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SegmentInfo:
        return cls(**record)


@dataclass(frozen=True)
class Hits:
    """Retrieved rows, best first: global row ids, the ids of their tiles, and scores."""

    rows: np.ndarray
    tiles: np.ndarray  # object array of tile ids
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Hits:
        return cls(np.zeros(0, np.int64), np.zeros(0, dtype=object), np.zeros(0, np.float32))

    @classmethod
    def merged(cls, parts: list[Hits], limit: int) -> Hits:
        """The best `limit` of several hit lists."""
        parts = [p for p in parts if len(p.rows)]
        if not parts:
            return cls.empty()
        rows, tiles, scores = (np.concatenate([getattr(p, f) for p in parts]) for f in ("rows", "tiles", "scores"))
        order = np.argsort(-scores, kind="stable")
        order = order[: with_ties(scores[order], limit)]
        return cls(rows[order], tiles[order], scores[order])

    def first(self, limit: int) -> Hits:
        """The best `limit` (these are sorted), and the rows tied with the last of them."""
        keep = with_ties(self.scores, limit)
        return Hits(self.rows[:keep], self.tiles[:keep], self.scores[:keep])


def with_ties(scores: np.ndarray, limit: int) -> int:
    """How many of these descending scores the best `limit` take when every row tied with the last one counts
    too: which of several tied rows a cut would keep is no engine's to choose, so one index and its shards
    read the same windows."""
    if len(scores) <= limit or limit <= 0:
        return min(len(scores), max(limit, 0))
    return limit + int(np.count_nonzero(scores[limit:] == scores[limit - 1]))


def tied_beyond(scores: np.ndarray, asked: int, limit: int) -> bool:
    """Whether a search that returned `asked` rows (these scores) may have cut rows tied with its limit-th."""
    return len(scores) >= asked and limit > 0 and scores[-1] == scores[min(limit, len(scores)) - 1]


def write_segment(
    folder: Path,
    info: SegmentInfo,
    rows: np.ndarray,
    columns: Columns,
    vectors: np.ndarray,
    faiss_kind: str,
    partition: VectorFile | None = None,
) -> SegmentInfo:
    """Write a new segment's files into `folder` (created here); returns its info with the file sizes and its
    partition. `partition`: the index's, which an inverted file is cut from (rsq.textindex.vectors)."""
    folder.mkdir(parents=True)
    np.save(folder / "rows.npy", np.asarray(rows, dtype=np.int64))
    columns.save(folder)
    built = VectorFile.build(vectors, faiss_kind, partition)
    built.save(folder / VECTORS)
    if info.kind == IMAGES:
        np.save(folder / MOMENTS, _moments(vectors))
    files = sorted(folder.iterdir())
    unknown = [p.name for p in files if not is_segment_file(p.name)]
    if unknown:
        raise RsqError(f"internal: a segment wrote files rsq would not delete: {', '.join(unknown)}")
    sync(*files, folder, folder.parent)
    files = {p.name: p.stat().st_size for p in files}
    return replace(info, files=files, extent=columns.extent, partition=built.quantizer_key)


def write_deletes(folder: Path, generation: int, deleted: np.ndarray, info: SegmentInfo) -> SegmentInfo:
    """A new tombstone file for the segment as of `generation`."""
    name = tombstone_file(generation)
    np.save(folder / name, np.packbits(deleted, bitorder="little"))
    sync(folder / name, folder)
    files = {k: v for k, v in info.files.items() if not TOMBSTONES.match(k)} | {name: (folder / name).stat().st_size}
    return replace(info, dead=int(np.count_nonzero(deleted)), deletes=name, files=files)


class Segment:
    """An opened segment: memory-mapped rows, columns and vectors, with its tombstones."""

    def __init__(self, folder: Path, info: SegmentInfo) -> None:
        check_files(folder, info)
        self.folder, self.info = folder, info
        self.rows = np.load(folder / "rows.npy", mmap_mode="r")
        self.columns = Columns.load(folder, info.extent)
        self.vectors = VectorFile.open(folder / VECTORS)
        self.deleted = self._deleted()
        self._live = None if self.deleted is None else ~self.deleted

    def _deleted(self) -> np.ndarray | None:
        if not self.info.deletes:
            return None
        packed = np.load(self.folder / self.info.deletes)
        return np.unpackbits(packed, count=self.info.count, bitorder="little").astype(bool)

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Rows a search may return: live and passing the filters (None: all rows)."""
        mask = self.columns.mask(filters)
        if self._live is None:
            return mask
        return self._live if mask is None else mask & self._live

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, coarse: Coarse | None = None
    ) -> list[Hits]:
        """The best `k` of the `allowed` rows (None: all) for each query (`coarse`: how the index's partition is
        searched); scores rounded to 1e-6, so identical captions tie exactly whichever kernel scored them (ties
        then break by tile id, the same way every time)."""
        first = k if self.vectors.kind == "codes" else TIE_ROOM * k
        scores, positions = self.vectors.search(queries, first, allowed, coarse)
        found = [self.hits(p, s) for s, p in zip(scores, positions, strict=True)]
        for n, hits in enumerate(found):
            asked = first
            while self.vectors.kind != "codes" and tied_beyond(hits.scores, asked, k) and asked < len(self.vectors):
                asked *= 4  # the rows tied with the k-th: all of them, whatever order FAISS met them in
                deeper_scores, deeper = self.vectors.search(queries[n : n + 1], asked, allowed, _row(coarse, n))
                hits = self.hits(deeper[0], deeper_scores[0])
            found[n] = hits.first(k)
        return found

    def rescored(self, query: np.ndarray, positions: np.ndarray) -> Hits:
        """Hits of some positions, scored exactly for one query (best first)."""
        scores = self.vectors.rescore(query, positions)
        order = np.argsort(-scores, kind="stable")
        return self.hits(positions[order], scores[order])

    def hits(self, positions: np.ndarray, scores: np.ndarray) -> Hits:
        found = positions >= 0  # FAISS pads a short result with -1 and the lowest float
        chosen = positions[found]
        return Hits(np.asarray(self.rows[chosen]), self.columns.tiles.get(chosen), np.round(scores[found], 6))

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions of `rows` in this segment; -1 for rows it does not hold."""
        if len(self.rows) == 0:
            return np.full(len(rows), -1, dtype=np.int64)
        at = np.searchsorted(self.rows, rows).clip(0, len(self.rows) - 1)
        return np.where(self.rows[at] == rows, at, -1)

    def is_live(self, positions: np.ndarray) -> np.ndarray:
        live = positions >= 0
        if self.deleted is not None:
            live[live] = ~self.deleted[positions[live]]
        return live

    def moments(self) -> np.ndarray:
        return np.load(self.folder / MOMENTS, mmap_mode="r")


def _row(coarse: Coarse | None, n: int) -> Coarse | None:
    """One query's part of a `Coarse` of several."""
    if coarse is None or coarse.exact:
        return coarse
    return Coarse(coarse.scores[n : n + 1], coarse.lists[n : n + 1])


def check_files(folder: Path, info: SegmentInfo) -> None:
    """Refuse a segment whose files are missing or not the size the generation recorded."""
    for name, size in info.files.items():
        path = folder / name
        try:
            actual = path.stat().st_size
        except OSError:
            raise RsqError(f"index damaged: {path} is missing; rebuild the index (rsq index --rebuild)") from None
        if actual != size:
            raise RsqError(
                f"index damaged: {path} has {actual} bytes, expected {size}; rebuild the index (rsq index --rebuild)"
            )


def sync(*paths: Path) -> None:
    """fsync files and folders, so a commit point never names data still only in the page cache."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _moments(vectors: np.ndarray) -> np.ndarray:
    """(dim + 1, dim): the mean vector, then the mean outer product; they give any query's score mean and spread."""
    matrix = np.asarray(vectors, dtype=np.float64)
    count = max(len(matrix), 1)
    return np.vstack([matrix.sum(axis=0) / count, matrix.T @ matrix / count]).astype(np.float32)
