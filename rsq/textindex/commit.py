"""Generations: the commit points of an index, and what rsq may create and delete in its folder.

    OUT/RSQ-INDEX               marks the folder as an rsq index; written first, never removed
    OUT/gen-<n>.json            generation n: manifest, segments with file sizes, next row ids; highest n is live
    OUT/writer.lock             the writer lock (rsq.lockfile)
    OUT/pending/<writer>.json   what an unfinished write has created, so a killed write can be undone
    OUT/<epoch>/                the data: catalog.sqlite, bm25/ (tantivy), segments/<name>/ (rsq.textindex.segments)

A writer adds files, then publishes generation n+1 by writing `gen-<n+1>.json.tmp`, syncing it and renaming
it into place: the rename is the commit. Readers take the highest generation and open everything it names at
once, so a later commit or clean-up never changes what they see. rsq deletes only files it created: those a
generation or a pending journal names, in the shapes it writes them; any other file in OUT stays.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsq.errors import RsqError
from rsq.textindex.manifest import Manifest
from rsq.textindex.segments import SegmentInfo, is_segment_file, sync

MARKER = "RSQ-INDEX"
FORMAT = "rsq-index 2"
GENERATION = re.compile(r"^gen-(\d{9})\.json$")
KEEP_GENERATIONS = 1  # readers hold what they opened; one opening a generation being removed retries the newer one
PENDING = "pending"
CATALOG_FILES = ("catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "catalog.sqlite-journal")
TANTIVY_OWN_FILES = ("meta.json", ".managed.json", ".tantivy-meta.lock", ".tantivy-writer.lock")


@dataclass
class Generation:
    number: int
    epoch: str
    manifest: Manifest
    next_row: dict[str, int]  # segment kind -> the next row id
    segments: list[SegmentInfo] = field(default_factory=list)
    created_at: str = ""
    catalog_bytes: int = 0  # the catalog's size after this commit (it only grows): a smaller file is damaged

    def of_kind(self, kind: str) -> list[SegmentInfo]:
        return [s for s in self.segments if s.kind == kind]

    def segment_dir(self, root: Path, name: str) -> Path:
        return root / self.epoch / "segments" / name

    def files(self) -> set[str]:
        """Every segment file this generation names, relative to the index folder."""
        return {f"{self.epoch}/segments/{s.name}/{name}" for s in self.segments for name in s.files}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "number": self.number,
            "epoch": self.epoch,
            "created_at": self.created_at,
            "next_row": self.next_row,
            "catalog_bytes": self.catalog_bytes,
            "manifest": self.manifest.to_dict(),
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Generation:
        return cls(
            record["number"],
            record["epoch"],
            Manifest.from_dict(record["manifest"]),
            dict(record["next_row"]),
            [SegmentInfo.from_dict(s) for s in record["segments"]],
            record.get("created_at", ""),
            record.get("catalog_bytes", 0),
        )


def is_index(root: Path) -> bool:
    return (root / MARKER).is_file()


def claim_folder(root: Path) -> None:
    """Make `root` an rsq index folder: created if missing, adopted if empty, refused if it holds anything else."""
    if root.exists() and not root.is_dir():
        raise RsqError(f"{root} is a file, not a folder: --out wants a folder")
    if is_index(root):
        return
    if root.is_dir() and any(root.iterdir()):
        raise RsqError(f"{root} is not empty and is not an rsq index; choose a new or empty folder for --out")
    try:
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).write_text(FORMAT + "\n")
    except OSError as error:
        raise RsqError(f"cannot create an index in {root}: {error.strerror}") from None


def latest(root: Path) -> Generation | None:
    """The live generation, or None when the folder holds none yet."""
    numbers = generation_numbers(root)
    return read_generation(root, numbers[-1]) if numbers else None


def generation_numbers(root: Path) -> list[int]:
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(GENERATION.match, names) if m)


def read_generation(root: Path, number: int) -> Generation:
    path = root / f"gen-{number:09d}.json"
    try:
        record = json.loads(path.read_text())
        if record.get("format") != FORMAT:
            raise RsqError(f"{path} is not an {FORMAT} generation")
        return Generation.from_dict(record)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise RsqError(
            f"index damaged: {path} is unreadable ({error}); rebuild the index (rsq index --rebuild)"
        ) from None


def publish(root: Path, generation: Generation) -> None:
    """Write the generation and make it live in one atomic rename."""
    generation.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    final = root / f"gen-{generation.number:09d}.json"
    temporary = final.with_name(final.name + ".tmp")
    with open(temporary, "w") as handle:
        json.dump(generation.to_dict(), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    sync(root)


def new_epoch() -> str:
    return f"data-{uuid.uuid4().hex[:12]}"


def new_segment_name(generation: int) -> str:
    return f"s{generation:09d}-{uuid.uuid4().hex[:8]}"


class Journal:
    """OUT/pending/<id>.json: the segment folders and epoch an unfinished write has created."""

    def __init__(self, root: Path) -> None:
        self.path = root / PENDING / f"{uuid.uuid4().hex}.json"
        self.created: list[str] = []

    def record(self, relative: str) -> None:
        """Note `relative` (a path under OUT) before creating it."""
        self.created.append(relative)
        self.path.parent.mkdir(exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.created))
        os.replace(temporary, self.path)

    def close(self) -> None:
        """The write was published: nothing to undo."""
        self.path.unlink(missing_ok=True)


def undo_unfinished(root: Path, live: Generation | None) -> None:
    """Remove what killed writers created and the live generation does not name (call with the writer lock held)."""
    for stale in root.glob("gen-*.json.tmp"):
        stale.unlink(missing_ok=True)
    pending = root / PENDING
    for journal in sorted(pending.glob("*.json")) if pending.is_dir() else []:
        try:
            created = [str(p) for p in json.loads(journal.read_text())]
        except (OSError, ValueError):
            created = []
        for relative in created:
            _undo(root, Path(relative).parts, live)
        journal.unlink(missing_ok=True)


def _undo(root: Path, parts: tuple[str, ...], live: Generation | None) -> None:
    """Remove one thing a journal names (an epoch, a segment or a tombstone file) unless `live` uses it."""
    if ".." in parts or not parts:
        return
    if len(parts) == 1 and (live is None or parts[0] != live.epoch):
        remove_epoch(root / parts[0])
    elif (
        len(parts) == 3 and parts[1] == "segments" and (live is None or parts[2] not in {s.name for s in live.segments})
    ):
        remove_segment(root.joinpath(*parts))
    elif (
        len(parts) == 4
        and parts[1] == "segments"
        and is_segment_file(parts[3])
        and (live is None or "/".join(parts) not in live.files())
    ):
        root.joinpath(*parts).unlink(missing_ok=True)


def collect_garbage(root: Path, keep: int = KEEP_GENERATIONS) -> None:
    """Drop generations older than the last `keep`, and the files only they named."""
    numbers = generation_numbers(root)
    kept = [read_generation(root, n) for n in numbers[-keep:]]
    kept_files = set().union(*(g.files() for g in kept)) if kept else set()
    kept_segments = {(g.epoch, s.name) for g in kept for s in g.segments}
    kept_epochs = {g.epoch for g in kept}
    for number in numbers[:-keep]:
        path = root / f"gen-{number:09d}.json"
        try:
            old = read_generation(root, number)
        except RsqError:
            path.unlink(missing_ok=True)
            continue
        for relative in old.files() - kept_files:
            (root / relative).unlink(missing_ok=True)
        for segment in old.segments:
            if (old.epoch, segment.name) not in kept_segments:
                remove_segment(old.segment_dir(root, segment.name))
        if old.epoch not in kept_epochs:
            remove_epoch(root / old.epoch)
        path.unlink(missing_ok=True)


def remove_segment(folder: Path) -> None:
    """Delete the files rsq writes in a segment folder, then the folder if nothing else is in it."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if is_segment_file(path.name):
            path.unlink(missing_ok=True)
    _remove_if_empty(folder)


def remove_epoch(folder: Path) -> None:
    """Delete an epoch's catalog, tantivy files and segments (only files rsq or tantivy made)."""
    if not folder.is_dir():
        return
    for name in CATALOG_FILES:
        (folder / name).unlink(missing_ok=True)
    segments = folder / "segments"
    if segments.is_dir():
        for segment in segments.iterdir():
            remove_segment(segment)
        _remove_if_empty(segments)
    _remove_tantivy(folder / "bm25")
    _remove_if_empty(folder)


def _remove_tantivy(folder: Path) -> None:
    """Tantivy lists the files it manages in .managed.json."""
    if not folder.is_dir():
        return
    try:
        managed = [str(name) for name in json.loads((folder / ".managed.json").read_text())]
    except (OSError, ValueError):
        managed = []
    for name in {*managed, *TANTIVY_OWN_FILES}:
        if "/" not in name:
            (folder / name).unlink(missing_ok=True)
    _remove_if_empty(folder)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
