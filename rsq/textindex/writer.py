"""The index writer: the only code that changes an index folder.

Under the writer lock it first undoes what a killed writer left, then appends caption and image records
as new rows (BM25 documents, catalog rows, a buffer that becomes a segment), tombstones the rows of the
records they replace, and publishes a generation at each `commit`. Nothing that exists is rewritten:
segments are immutable and a tombstone change is a new small file. The roles are the small types beside it:
`recovery` (undo a killed writer), `segmentset` (buffers, segments, tombstones), `prepared` (the two-step
commit), `merge` (the policy and the merge itself, through this writer's public surface).

A record's key is (tile, kind, source): re-indexing the same caption run skips identical records (so a
killed build resumes without re-embedding) and replaces changed ones; another model's captions of the
same tile are kept beside them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsq.captioner.records import OK, CaptionRecord
from rsq.errors import RsqError
from rsq.landcover import tile_class
from rsq.lockfile import WriterLock
from rsq.textindex.bm25 import Bm25Writer
from rsq.textindex.catalog import Catalog
from rsq.textindex.columns import Columns, TileAttrs
from rsq.textindex.commit import Generation, Journal, claim_folder, latest, new_epoch
from rsq.textindex.documents import VariantDoc, record_docs, record_source
from rsq.textindex.manifest import Manifest
from rsq.textindex.prepared import prepare_commit
from rsq.textindex.recovery import drop_unpublished_rows, undo_killed_writer
from rsq.textindex.segments import CAPTIONS, IMAGES, SegmentInfo
from rsq.textindex.segmentset import KINDS, SegmentSet
from rsq.textindex.vectors import choose_kind

Embed = Callable[[list[str]], np.ndarray]
Thumbnails = Callable[[list[dict[str, Any]]], list[bytes | None]]


@dataclass
class AddReport:
    added: int = 0  # records indexed
    skipped: int = 0  # identical records the index already holds
    replaced: int = 0  # records that replaced an older version of themselves

    def __iadd__(self, other: AddReport) -> AddReport:
        self.added, self.skipped, self.replaced = (
            self.added + other.added,
            self.skipped + other.skipped,
            self.replaced + other.replaced,
        )
        return self


@dataclass
class CaptionPlan:
    """The caption records a writer will index (key, record, fingerprint, the record it replaces), their variant
    documents, each one's position among the records planned, and what was skipped."""

    todo: list[tuple] = field(default_factory=list)
    docs: list[list[VariantDoc]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    report: AddReport = field(default_factory=AddReport)

    @property
    def texts(self) -> list[str]:
        return [doc.dense_text for group in self.docs for doc in group]


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def record_tile(record: CaptionRecord) -> dict[str, Any]:
    """The tile a record describes, as stored with it (a text-only record has just id, path and sensor)."""
    return record.tile or {"id": record.tile_id, "path": record.tile_path, "sensor": record.sensor}


class IndexWriter:
    """`with IndexWriter(out) as writer:` add records, `commit()`; leaving the block releases the lock."""

    def __init__(
        self,
        root: Path,
        embedder: str | None = None,
        rebuild: bool = False,
        faiss_kind: str = "auto",
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        choose_kind(faiss_kind, 0)
        self.root, self.rebuild, self.faiss_kind = Path(root), rebuild, faiss_kind
        self._requested_embedder = embedder
        self._lock = WriterLock(self.root, wait, on_wait)

    # --- opening -------------------------------------------------------------------------------------

    def __enter__(self) -> IndexWriter:
        claim_folder(self.root)
        self._lock.__enter__()
        try:
            self._open()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.catalog.close()
            self.bm25.close()
        except (OSError, ValueError):
            if exc_info[0] is None:  # the close failed on its own: report it; otherwise the first error stands
                raise
        finally:
            self._lock.__exit__(None, None, None)

    def _open(self) -> None:
        live = latest(self.root)
        undo_killed_writer(self.root, live)
        self.journal = Journal(self.root)
        self.number = live.number if live else 0
        fresh = live is None or self.rebuild
        segments, next_row = self._start_epoch(live) if fresh else self._continue(live)
        self.segment_set = SegmentSet(self.root / self.epoch, self.epoch, segments, next_row, self.faiss_kind)
        self.catalog = Catalog(self.root / self.epoch / "catalog.sqlite", writable=True)
        self.bm25 = Bm25Writer(self.root / self.epoch / "bm25")
        if not fresh:
            drop_unpublished_rows(self.catalog, self.bm25, next_row)
        self._changed = False

    def _start_epoch(self, live: Generation | None) -> tuple[list[SegmentInfo], dict[str, int]]:
        from rsq import __version__

        self.epoch = new_epoch()
        self.journal.record(self.epoch)
        (self.root / self.epoch / "segments").mkdir(parents=True)
        spec = self._requested_embedder or (live.manifest.embedder if live else None)
        self.manifest = Manifest(
            rsq_version=__version__,
            embedder=spec or "",
            dim=0,
            faiss=self.faiss_kind,
            counts={"tiles": 0, "variants": 0, "dead_variants": 0},
        )
        return [], {kind: 0 for kind in KINDS}

    def _continue(self, live: Generation) -> tuple[list[SegmentInfo], dict[str, int]]:
        manifest = live.manifest
        if self._requested_embedder and manifest.embedder and self._requested_embedder != manifest.embedder:
            raise RsqError(
                f"{self.root} was built with {manifest.embedder}; use --rebuild to switch to {self._requested_embedder}"
            )
        self.epoch = live.epoch
        self.manifest = Manifest.from_dict(manifest.to_dict())
        return list(live.segments), dict(live.next_row)

    @property
    def next_row(self) -> dict[str, int]:
        """The number the next row of each kind gets."""
        return self.segment_set.next_row

    @property
    def embedder(self) -> str | None:
        return self.manifest.embedder or None

    def use_embedder(self, spec: str) -> None:
        """Name the text encoder of a new index (an existing one keeps its own)."""
        if self.manifest.embedder and self.manifest.embedder != spec:
            raise RsqError(f"{self.root} was built with {self.manifest.embedder}; use --rebuild to switch to {spec}")
        self.manifest.embedder = spec

    # --- adding --------------------------------------------------------------------------------------

    def add_captions(
        self, records: list[CaptionRecord], embed: Embed, thumbnails: Thumbnails | None = None
    ) -> AddReport:
        """Index the ok records; identical ones already indexed are skipped, changed ones replace theirs."""
        plan = self.plan_captions(records)
        return self.apply_captions(plan, embed(plan.texts) if plan.todo else None, thumbnails)

    def plan_captions(self, records: list[CaptionRecord]) -> CaptionPlan:
        """Which of the records to index (ok, not held already in this form) and the texts to embed for them, in
        the order of the records (`CaptionPlan.positions`: each one's place among `records`)."""
        plan = CaptionPlan()
        usable = [(n, r) for n, r in enumerate(records) if r.status == OK and r.captions and r.captions.get("variants")]
        tkeys = self.catalog.tile_keys([r.tile_id for _, r in usable])
        first: dict[tuple, int] = {}
        latest_of_key: dict[tuple, CaptionRecord] = {}
        for position, record in usable:
            key = (tkeys[record.tile_id], record_source(record))
            first.setdefault(key, position)
            latest_of_key[key] = record
        plan.report.skipped += len(usable) - len(latest_of_key)
        stored = self.catalog.newest_records(CAPTIONS, list(latest_of_key), self.next_row[CAPTIONS])
        for key, record in latest_of_key.items():
            digest = fingerprint(record.captions, record_tile(record))
            old = stored.get(key)
            if old is not None and old.fingerprint == digest:
                plan.report.skipped += 1
            else:
                plan.todo.append((key[0], record, digest, old))
                plan.positions.append(first[key])
                plan.docs.append(record_docs(record))
        return plan

    def apply_captions(
        self, plan: CaptionPlan, vectors: np.ndarray | None, thumbnails: Thumbnails | None = None
    ) -> AddReport:
        """Index a plan's records with the vectors of its texts."""
        report, todo = plan.report, plan.todo
        if not todo:
            return report
        self._check_dim("dim", vectors)
        new_tiles = {tkey for tkey, *_ in todo} - self.catalog.captioned(
            [tkey for tkey, *_ in todo], self.next_row[CAPTIONS]
        )
        versions = self._versions([(tkey, record_tile(record)) for tkey, record, _, _ in todo], thumbnails)
        replaced = [old for *_, old in todo if old is not None]
        self.drop_rows_later(
            CAPTIONS, [row for old in replaced for row in range(old.first_row, old.first_row + old.n_rows)]
        )
        self._append_captions(todo, plan.docs, versions, vectors)
        self.manifest.counts["tiles"] += len(new_tiles)
        self._note_runs(record for _, record, _, _ in todo)
        report.added, report.replaced = len(todo), len(replaced)
        return report

    def _append_captions(
        self, todo: list, docs: list[list[VariantDoc]], versions: list[int], vectors: np.ndarray
    ) -> None:
        row = self.next_row[CAPTIONS]
        rows, tiles, attrs, flat_docs, variants = [], [], [], [], []
        for (tkey, record, digest, _), group, tver in zip(todo, docs, versions, strict=True):
            tile_attrs = TileAttrs.of(record_tile(record), tile_class(record.captions))
            provenance = {
                "run_id": record.run_id,
                "model": record.model,
                "template": record.template,
                "captions": record.captions,
            }
            rid = self.catalog.add_record(
                CAPTIONS, tkey, tver, record_source(record), digest, row, len(group), provenance
            )
            for number, doc in enumerate(group):
                rows.append(row + number)
                variants.append((row + number, rid, doc.variant, doc.snippet))
            tiles += [record.tile_id] * len(group)
            attrs += [tile_attrs] * len(group)
            flat_docs += group
            row += len(group)
        self.catalog.add_variants(variants)
        self.bm25.add(rows, attrs, flat_docs)
        self._append(CAPTIONS, tiles, attrs, vectors)

    def images_needed(self, tiles: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
        """The tiles whose image vector from encoder `spec` the index lacks or holds for other metadata."""
        if self.manifest.image_encoder and self.manifest.image_encoder != spec:
            raise RsqError(
                f"{self.root} holds image vectors from {self.manifest.image_encoder}; use --rebuild to switch to {spec}"
            )
        tkeys = self.catalog.tile_keys([t["id"] for t in tiles])
        stored = self.catalog.newest_records(IMAGES, [(tkeys[t["id"]], spec) for t in tiles], self.next_row[IMAGES])
        unique = {t["id"]: t for t in tiles}
        return [
            t
            for t in unique.values()
            if (old := stored.get((tkeys[t["id"]], spec))) is None or old.fingerprint != fingerprint(t)
        ]

    def add_images(
        self,
        tiles: list[dict[str, Any]],
        vectors: np.ndarray,
        spec: str,
        text_space: str | None = None,
        classes: dict[str, str] | None = None,
    ) -> int:
        """One image vector per tile (from `images_needed`), replacing the tile's older one; `classes` gives tiles'
        land-cover codes (from their captions) for the image rows' class filter."""
        if not tiles:
            return 0
        self.manifest.image_encoder, self.manifest.image_text_space = spec, text_space
        self._check_dim("image_dim", vectors)
        tkeys = self.catalog.tile_keys([t["id"] for t in tiles])
        stored = self.catalog.newest_records(IMAGES, [(tkeys[t["id"]], spec) for t in tiles], self.next_row[IMAGES])
        self.drop_rows_later(IMAGES, [old.first_row for old in stored.values()])
        versions = self._versions([(tkeys[t["id"]], t) for t in tiles], None)
        row = self.next_row[IMAGES]
        for offset, (tile, tver) in enumerate(zip(tiles, versions, strict=True)):
            self.catalog.add_record(IMAGES, tkeys[tile["id"]], tver, spec, fingerprint(tile), row + offset, 1)
        classes = classes or {}
        attrs = [TileAttrs.of(t, classes.get(t["id"], "")) for t in tiles]
        self._append(IMAGES, [t["id"] for t in tiles], attrs, vectors)
        return len(tiles)

    def _check_dim(self, name: str, vectors: np.ndarray) -> None:
        dim = int(vectors.shape[1])
        if getattr(self.manifest, name) and getattr(self.manifest, name) != dim:
            raise RsqError(
                f"{self.root} holds {getattr(self.manifest, name)}-d vectors; the encoder gives {dim}-d; use --rebuild"
            )
        setattr(self.manifest, name, dim)

    def _versions(self, tiles: list[tuple[int, dict[str, Any]]], thumbnails: Thumbnails | None) -> list[int]:
        """The stored version of each (tile key, tile record), adding new versions with their thumbnails."""
        keyed = [(tkey, fingerprint(tile)) for tkey, tile in tiles]
        known = self.catalog.known_versions(list(dict.fromkeys(keyed)))
        fresh = {key: tile for key, (_, tile) in zip(keyed, tiles, strict=True) if key not in known}
        images = thumbnails(list(fresh.values())) if thumbnails and fresh else [None] * len(fresh)
        for (tkey, digest), tile, image in zip(fresh, fresh.values(), images, strict=True):
            known[(tkey, digest)] = self.catalog.add_version(tkey, digest, tile, image)
        return [known[key] for key in keyed]

    def _note_runs(self, records) -> None:
        runs = {(r["run_id"], r["model"], r["template"]) for r in self.manifest.caption_runs}
        runs |= {(r.run_id, r.model, r.template) for r in records}
        self.manifest.caption_runs = [{"run_id": i, "model": m, "template": t} for i, m, t in sorted(runs)]
        self.manifest.templates = sorted({t for _, _, t in runs})

    # --- rows, tombstones and segments (the segment set), as `add_*` and merges change them ------------

    def _append(self, kind: str, tiles: list[str], attrs: list[TileAttrs], vectors: np.ndarray) -> None:
        self.segment_set.append(kind, tiles, attrs, vectors, self.journal, self.number)
        self.count_rows(kind, live=len(tiles))

    def drop_rows_later(self, kind: str, rows: list[int]) -> None:
        """Tombstone the rows of replaced records (removed for good by a merge)."""
        killed = self.segment_set.kill(kind, rows)
        self.count_rows(kind, live=-killed, dead=killed)

    def write_segment(self, kind: str, rows: np.ndarray, columns: Columns, vectors: np.ndarray) -> SegmentInfo:
        """A new segment of this epoch for the next generation (a merge's; `replace_segments` adds it)."""
        return self.segment_set.write(kind, rows, columns, vectors, self.journal, self.number)

    def replace_segments(self, old: list[SegmentInfo], new: SegmentInfo | None, dropped_rows: list[int]) -> None:
        """Swap merged segments for their merge, removing the dead rows they dropped from BM25 and the catalog."""
        kind = old[0].kind
        self.segment_set.replace(old, new)
        if kind == CAPTIONS and dropped_rows:
            self.bm25.delete_rows(dropped_rows)
        self.catalog.drop_rows(kind, dropped_rows)
        self.count_rows(kind, dead=-len(dropped_rows))

    def count_rows(self, kind: str, live: int = 0, dead: int = 0) -> None:
        """Keep the manifest's live and dead row counts of `kind` current."""
        counts = self.manifest.counts
        live_name, dead_name = ("variants", "dead_variants") if kind == CAPTIONS else ("images", "dead_images")
        counts[live_name] = counts.get(live_name, 0) + live
        counts[dead_name] = counts.get(dead_name, 0) + dead
        self._changed = True

    @property
    def uncommitted_rows(self) -> int:
        return self.segment_set.buffered_rows

    # --- committing ----------------------------------------------------------------------------------

    def commit(self) -> Generation | None:
        """Publish everything added so far as the next generation (None when nothing changed)."""
        for kind in KINDS:
            self.segment_set.flush(kind, self.journal, self.number)
        if not self._changed:
            return None
        prepared = prepare_commit(
            self.root,
            self.number + 1,
            self.epoch,
            self.manifest,
            self.segment_set,
            self.bm25,
            self.catalog,
            self.journal,
        )
        generation = prepared.publish()
        self.journal, self.number, self._changed = Journal(self.root), generation.number, False
        self.segment_set.committed()
        return generation
