"""A writer's segment set: the published segments of its epoch, the rows buffered for new ones, and the
tombstones changed since the last commit (tantivy's segment register and updater, in one small type).

Rows go into a buffer per kind (captions, images) until it holds `SEGMENT_ROWS`, then become an immutable
segment on disk, noted in the journal first. Replacing a record tombstones its rows wherever they are: in a
buffer (left out when it is written) or in a segment (a new tombstone mask, written at commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rsq.textindex.columns import Columns, TileAttrs
from rsq.textindex.commit import Journal, new_segment_name
from rsq.textindex.segments import CAPTIONS, IMAGES, Segment, SegmentInfo, tombstone_file, write_deletes, write_segment
from rsq.textindex.vectors import EXACT, VectorFile, resolve_kind

SEGMENT_ROWS = 200_000  # a buffer this large is written out as a segment: bounded memory whatever the input
KINDS = (CAPTIONS, IMAGES)


@dataclass
class _Buffer:
    """Rows of one kind not yet written as a segment."""

    lo: int
    tiles: list[str] = field(default_factory=list)
    attrs: list[TileAttrs] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)

    @property
    def count(self) -> int:
        return len(self.tiles)


class SegmentSet:
    """The segments and buffers of one epoch as a writer changes them; `write_tombstones` at commit."""

    def __init__(
        self, folder: Path, relative: str, segments: list[SegmentInfo], next_row: dict[str, int], faiss_kind: str
    ) -> None:
        self.folder, self.relative, self.faiss_kind = folder, relative, faiss_kind  # relative: the epoch's path
        self.segments, self.next_row = list(segments), dict(next_row)
        self.buffers = {kind: _Buffer(self.next_row[kind]) for kind in KINDS}
        self._opened: dict[str, Segment] = {}
        self.offered: dict[str, VectorFile] = {}
        self._dirty: dict[str, np.ndarray] = {}  # segment name -> tombstones changed since the last commit

    def of_kind(self, kind: str) -> list[SegmentInfo]:
        return [s for s in self.segments if s.kind == kind]

    @property
    def buffered_rows(self) -> int:
        return sum(b.count for b in self.buffers.values())

    def append(
        self, kind: str, tiles: list[str], attrs: list[TileAttrs], vectors: np.ndarray, journal: Journal, number: int
    ) -> None:
        """Buffer new rows (numbered from `next_row`); a full buffer becomes a segment."""
        buffer = self.buffers[kind]
        buffer.tiles += tiles
        buffer.attrs += attrs
        buffer.vectors.append(np.asarray(vectors, dtype=np.float32))
        self.next_row[kind] += len(tiles)
        if buffer.count >= SEGMENT_ROWS:
            self.flush(kind, journal, number)

    def flush(self, kind: str, journal: Journal, number: int) -> None:
        """Write the buffer of `kind` as a new segment (published with generation `number` + 1)."""
        buffer = self.buffers[kind]
        if buffer.count:
            rows = np.arange(buffer.lo, buffer.lo + buffer.count, dtype=np.int64)
            info = self.write(
                kind, rows, Columns.build(buffer.tiles, buffer.attrs), np.concatenate(buffer.vectors), journal, number
            )
            self.replace([], info)
            if buffer.killed:
                killed = np.zeros(info.count, dtype=bool)
                killed[np.array(sorted(buffer.killed)) - buffer.lo] = True
                self._dirty[info.name] = killed
        self.buffers[kind] = _Buffer(self.next_row[kind])

    def write(
        self,
        kind: str,
        rows: np.ndarray,
        columns: Columns,
        vectors: np.ndarray,
        journal: Journal,
        number: int,
    ) -> SegmentInfo:
        """Write a new segment of this epoch, noted in the journal first (it joins the set by `replace`). Its
        layout follows the index's size (`resolve_kind`); it is cut from the kind's partition when there is one
        (the first inverted file written trains it), so an index trains its partition once."""
        name = new_segment_name(number + 1)
        journal.record(f"{self.relative}/segments/{name}")
        info = SegmentInfo(name, kind, int(rows[0]), int(rows[-1]) + 1, len(rows))
        folder = self.folder / "segments" / name
        layout = resolve_kind(self.faiss_kind, self.next_row[kind], vectors.shape[1])
        return write_segment(folder, info, rows, columns, vectors, layout, self.partition(kind))

    def partition(self, kind: str) -> VectorFile | None:
        """What new segments of `kind` are cut from: the vectors of its largest segment cut from a partition (or,
        in an index written before partitions, its largest compressed one), else the partition a build offered."""
        cut = [s for s in self.of_kind(kind) if s.partition or EXACT in s.files]
        if cut:
            return self.segment(max(cut, key=lambda s: s.count)).vectors
        return self.offered.get(kind)

    def offer(self, kind: str, partition: VectorFile) -> None:
        """A partition for `kind` trained by the build (on the first rows it read, rsq.textindex.partition): taken
        if this index has none yet."""
        self.offered[kind] = partition

    def strays(self, kind: str) -> list[SegmentInfo]:
        """Flat segments written before the kind had a partition (too small to need one then): a merge rewrites
        them onto it, so every row of a partitioned index is searched the same way."""
        if self.faiss_kind == "flat" or self.partition(kind) is None:
            return []
        return [s for s in self.of_kind(kind) if not s.partition and self.segment(s).vectors.kind == "flat"]

    def segment(self, info: SegmentInfo) -> Segment:
        """An opened segment (cached; its tombstones as of the last commit)."""
        if info.name not in self._opened:
            self._opened[info.name] = Segment(self.folder / "segments" / info.name, info)
        return self._opened[info.name]

    def tombstones(self, info: SegmentInfo) -> np.ndarray:
        """The segment's tombstones including this writer's uncommitted ones."""
        if info.name not in self._dirty:
            deleted = self.segment(info).deleted
            self._dirty[info.name] = np.zeros(info.count, bool) if deleted is None else deleted.copy()
        return self._dirty[info.name]

    def kill(self, kind: str, rows: list[int]) -> int:
        """Tombstone rows wherever they are (a buffer or a segment); returns how many were live."""
        if not rows:
            return 0
        wanted = np.unique(np.asarray(rows, dtype=np.int64))
        buffer = self.buffers[kind]
        in_buffer = set(wanted[wanted >= buffer.lo].tolist()) - buffer.killed
        buffer.killed |= in_buffer
        killed = len(in_buffer)
        for info in self.of_kind(kind):
            inside = wanted[(wanted >= info.lo) & (wanted < info.hi)]
            if len(inside):
                positions = self.segment(info).positions(inside)
                positions = positions[positions >= 0]
                mask = self.tombstones(info)
                killed += int(np.count_nonzero(~mask[positions]))
                mask[positions] = True
        return killed

    def replace(self, old: list[SegmentInfo], new: SegmentInfo | None) -> None:
        """Swap merged segments for their merge (or for nothing, when every row was dead)."""
        names = {s.name for s in old}
        kept = [s for s in self.segments if s.name not in names] + ([new] if new else [])
        self.segments = sorted(kept, key=lambda s: (s.kind, s.lo))
        for name in names:
            self._dirty.pop(name, None)

    def write_tombstones(self, journal: Journal, number: int) -> None:
        """Write each changed tombstone mask as generation `number`'s file of its segment."""
        for name, deleted in self._dirty.items():
            position = next(i for i, s in enumerate(self.segments) if s.name == name)
            journal.record(f"{self.relative}/segments/{name}/{tombstone_file(number)}")
            self.segments[position] = write_deletes(
                self.folder / "segments" / name, number, deleted, self.segments[position]
            )

    def committed(self) -> None:
        """Forget what the last commit wrote: opened segments whose tombstones changed reopen with the new ones."""
        for name in self._dirty:
            self._opened.pop(name, None)
        self._dirty = {}
