"""A prepared commit (tantivy's `PreparedCommit`): everything of the next generation written and durable, then
published by one atomic step, or, if the writer dies between the two, undone by the next writer's recovery."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from rsq.textindex.bm25 import Bm25Writer
from rsq.textindex.catalog import Catalog
from rsq.textindex.commit import Generation, Journal, collect_garbage, publish
from rsq.textindex.manifest import Manifest
from rsq.textindex.segmentset import SegmentSet


@dataclass
class PreparedCommit:
    """Generation `generation.number`, written but not yet the live one."""

    root: Path
    generation: Generation
    journal: Journal

    def publish(self) -> Generation:
        """Make the generation live (an atomic rename), close its journal and clean up what no reader needs."""
        publish(self.root, self.generation)
        self.journal.close()
        collect_garbage(self.root)
        return self.generation


def prepare_commit(
    root: Path,
    number: int,
    epoch: str,
    manifest: Manifest,
    segments: SegmentSet,
    bm25: Bm25Writer,
    catalog: Catalog,
    journal: Journal,
) -> PreparedCommit:
    """Write the tombstones, BM25 and catalog changes of generation `number` (buffers already flushed)."""
    segments.write_tombstones(journal, number)
    bm25.commit()
    catalog_bytes = catalog.commit()
    manifest.built_at = datetime.now(UTC).isoformat(timespec="seconds")
    generation = Generation(
        number,
        epoch,
        replace(manifest, counts=dict(manifest.counts)),
        dict(segments.next_row),
        list(segments.segments),
        catalog_bytes=catalog_bytes,
    )
    return PreparedCommit(root, generation, journal)
