"""Opening SQLite files that rsq did not necessarily write: header checks, read-only access, clear errors.

Used by the caption store and the index catalog (a helper below both stages).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rsq.errors import RsqError

HEADER = b"SQLite format 3\x00"


def check_header(path: Path, what: str, min_size: int = 0) -> None:
    """Refuse a file that is missing, not SQLite, or smaller than `min_size` bytes (what its last commit left).

    The in-header page count is not used: a writer may be extending the file while this looks at it."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(HEADER))
        size = path.stat().st_size
    except OSError as error:
        raise RsqError(f"{path}: cannot read the {what} ({error.strerror})") from None
    if header != HEADER:
        raise RsqError(f"{path} is not a {what} (not an SQLite file)")
    if size < min_size:
        raise RsqError(f"{path}: the {what} is truncated ({size} of at least {min_size} bytes)")


def connect_read_only(path: Path, what: str, min_size: int = 0, recover: bool = False) -> sqlite3.Connection:
    """A connection that only reads: read-only (a WAL file gets SQLite's -wal/-shm coordination files beside
    it; the database itself is never written); with `recover`, read-write when SQLite must first roll back
    what a killed writer left (a hot journal), though nothing but reads is asked of it; immutable on
    read-only media, where no writer can be at work."""
    check_header(path, what, min_size)
    modes = ("mode=ro", "mode=rw", "immutable=1") if recover else ("mode=ro", "immutable=1")
    for flags in modes:
        try:
            db = sqlite3.connect(f"file:{path}?{flags}", uri=True, check_same_thread=False)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.Error as error:
            last = error
    raise RsqError(f"{path}: cannot open the {what} ({last})")


def check_complete(db: sqlite3.Connection, path: Path, what: str) -> None:
    """Refuse a file shorter than the pages SQLite counts, when no write-ahead log could hold the rest."""
    log = path.with_name(path.name + "-wal")
    if log.is_file() and log.stat().st_size > 0:
        return  # pages may live in the log until a checkpoint
    pages, page_size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
    if path.stat().st_size < pages * page_size:
        raise RsqError(f"{path}: the {what} is truncated ({path.stat().st_size} of {pages * page_size} bytes)")


def database_error(path: Path, what: str, error: sqlite3.Error) -> RsqError:
    """One line for an SQLite failure: a full disk, read-only media, a locked or damaged file."""
    return RsqError(f"{path}: cannot use the {what} ({error})")
