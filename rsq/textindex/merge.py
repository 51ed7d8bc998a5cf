"""Merging segments: a size-tiered policy run after every write, and `compact` (rsq index --compact).

Segments of one kind merge only with their neighbours in row order. After a write, the policy replays a
binary counter over the segments in row order: a segment joins the one before it while it holds at least
half as many live rows (a write that flushed hundreds of segments merges them all the same; only the
newest pair was looked at before, which left 360 segments after a 10^7-tile build), so an index of n rows
has O(log n) segments and a row is rewritten O(log n) times, while adding 10 tiles to a
large index touches only small segments. No merge grows past MAX_SEGMENT_ROWS, which bounds the memory a
merge needs; a segment more than a third dead is rewritten alone. A merge drops dead rows for good: from
the vectors, from BM25 and from the catalog. Flat segments written before the index had its vector partition
are rewritten onto it. Readers of older generations keep the files they opened.
"""

from __future__ import annotations

import numpy as np

from rsq.textindex.columns import Columns
from rsq.textindex.segments import Segment, SegmentInfo
from rsq.textindex.segmentset import KINDS
from rsq.textindex.writer import IndexWriter

MAX_SEGMENT_ROWS = 2_000_000
DEAD_SHARE = 1 / 3
MERGE_BLOCK = 65_536  # rows read at a time while a merge gathers its vectors


def plan_merges(
    segments: list[SegmentInfo], compact: bool = False, strays: list[SegmentInfo] = ()
) -> list[list[SegmentInfo]]:
    """Groups of neighbouring segments (one kind, row order) to merge, each group into one segment; `strays` are
    rewritten even alone (flat segments of an index that has a partition since)."""
    groups: list[list[SegmentInfo]] = _pack(segments) if compact else []
    for segment in [] if compact else segments:  # the counter replayed over every segment, in row order
        groups.append([segment])
        while (
            len(groups) >= 2
            and 2 * _live(groups[-1]) >= _live(groups[-2])
            and _live(groups[-1]) + _live(groups[-2]) <= MAX_SEGMENT_ROWS
        ):
            groups[-2:] = [groups[-2] + groups[-1]]
    rewrite = {s.name for s in strays}
    return [
        g
        for g in groups
        if len(g) > 1 or g[0].dead > (0 if compact else DEAD_SHARE * g[0].count) or g[0].name in rewrite
    ]


def merge(writer: IndexWriter, compact: bool = False) -> int:
    """Apply the policy (or compact everything) and commit each merge; returns the number of merges."""
    merges = 0
    for kind in KINDS:
        for group in plan_merges(writer.segment_set.of_kind(kind), compact, writer.segment_set.strays(kind)):
            merge_group(writer, group)
            writer.commit()
            merges += 1
    return merges


def merge_group(writer: IndexWriter, group: list[SegmentInfo]) -> None:
    """Replace neighbouring segments by one holding their live rows; dead rows are removed everywhere. A compressed
    merge is cut from the index's vector partition (SegmentSet.write)."""
    segments = writer.segment_set
    opened = [segments.segment(info) for info in group]
    dead = [segments.tombstones(info) for info in group]
    keeps = [np.flatnonzero(~mask) for mask in dead]
    kept_rows = np.concatenate([np.asarray(s.rows[keep]) for s, keep in zip(opened, keeps, strict=True)])
    dropped_rows = np.concatenate([np.asarray(s.rows[mask]) for s, mask in zip(opened, dead, strict=True)]).tolist()
    merged = None
    if len(kept_rows):
        columns = Columns.concat([s.columns.take(keep) for s, keep in zip(opened, keeps, strict=True)])
        merged = writer.write_segment(group[0].kind, kept_rows, columns, _live_vectors(opened, keeps))
    writer.replace_segments(group, merged, dropped_rows)


def _live_vectors(segments: list[Segment], keeps: list[np.ndarray]) -> np.ndarray:
    """The kept rows' vectors as one float32 matrix, filled a block at a time (no second copy of the whole)."""
    merged = np.empty((sum(map(len, keeps)), segments[0].vectors.index.d), dtype=np.float32)
    at = 0
    for segment, keep in zip(segments, keeps, strict=True):
        for start in range(0, len(keep), MERGE_BLOCK):
            block = segment.vectors.take(keep[start : start + MERGE_BLOCK])
            merged[at : at + len(block)] = block
            at += len(block)
    return merged


def _live(group: list[SegmentInfo]) -> int:
    return sum(s.live for s in group)


def _pack(segments: list[SegmentInfo]) -> list[list[SegmentInfo]]:
    """Neighbours packed greedily into groups of at most MAX_SEGMENT_ROWS live rows."""
    groups: list[list[SegmentInfo]] = []
    for segment in segments:
        if groups and _live(groups[-1]) + segment.live <= MAX_SEGMENT_ROWS:
            groups[-1].append(segment)
        else:
            groups.append([segment])
    return groups
