"""What a writer does first, under the lock: undo what a killed writer left, so the index is its last
published generation again and nothing half-written is read or built upon."""

from __future__ import annotations

from pathlib import Path

from rsq.textindex.bm25 import Bm25Writer
from rsq.textindex.catalog import Catalog
from rsq.textindex.commit import Generation, undo_unfinished
from rsq.textindex.segments import CAPTIONS


def undo_killed_writer(root: Path, live: Generation | None) -> None:
    """Remove the files a killed writer's journal names (segments, tombstones, epochs never published)."""
    undo_unfinished(root, live)


def drop_unpublished_rows(catalog: Catalog, bm25: Bm25Writer, next_row: dict[str, int]) -> None:
    """Remove catalog rows and BM25 documents numbered from the live generation's `next_row` on: written by a
    writer that was killed before it published them."""
    catalog.drop_uncommitted(next_row)
    bm25.delete_from(next_row[CAPTIONS])
    bm25.commit()
