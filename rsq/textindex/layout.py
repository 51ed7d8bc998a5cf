"""Index folders are versioned so that a build killed at any point leaves the last index usable.

    OUT/CURRENT          the name of the live version (replaced atomically with os.replace)
    OUT/v-<id>/          a complete index: manifest.json, catalog.sqlite, bm25/, faiss.index, live.npy
    OUT/.building-<id>/  a build in progress; never read, removed by the next build

A build copies the live version into a .building folder, changes the copy, renames it to v-<id>, and
only then points CURRENT at it. Readers resolve CURRENT once and keep using that folder.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

CURRENT = "CURRENT"


def live_version(root: Path) -> Path | None:
    """The folder CURRENT names, or None when there is no complete index."""
    pointer = root / CURRENT
    if not pointer.is_file():
        return None
    folder = root / pointer.read_text().strip()
    return folder if (folder / "manifest.json").is_file() else None


def start_build(root: Path, base: Path | None) -> Path:
    """A fresh .building folder, a copy of `base` when given; stale ones from killed builds are removed."""
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = root / f".building-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    if base is not None:
        shutil.copytree(base, work)
    else:
        work.mkdir()
    return work


def publish(root: Path, work: Path) -> Path:
    """Make a finished build the live index, atomically; keep the previous version, drop older ones."""
    _sync_tree(work)
    final = root / work.name.replace(".building-", "v-", 1)
    os.replace(work, final)
    previous = live_version(root)
    pointer = root / f"{CURRENT}.tmp"
    pointer.write_text(final.name)
    _fsync(pointer)
    os.replace(pointer, root / CURRENT)
    _fsync_dir(root)
    keep = {final.name, previous.name if previous else ""}
    for old in root.glob("v-*"):
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    return final


def _sync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync(path)
    _fsync_dir(folder)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
