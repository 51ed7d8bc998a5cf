"""The index's tables in SQLite: tile ids, tile versions (metadata, thumbnail), caption and image records,
and the caption variant of every row.

Rows are only ever appended. A reader sees what its generation committed: a record is visible when its
first row lies below the generation's next row id of its kind, and of the visible records with one key
(tile, kind, source) the newest is the live one. A killed writer's rows lie above the committed row ids,
so readers ignore them and the next writer deletes them (`drop_uncommitted`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsq.errors import RsqError
from rsq.sqlitefile import connect_read_only

SCHEMA = """
CREATE TABLE IF NOT EXISTS tile_keys (tkey INTEGER PRIMARY KEY, tile_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS tiles (
    tver INTEGER PRIMARY KEY, tkey INTEGER NOT NULL, fingerprint TEXT NOT NULL, record TEXT NOT NULL, thumbnail BLOB,
    UNIQUE (tkey, fingerprint)
);
CREATE TABLE IF NOT EXISTS records (
    rid INTEGER PRIMARY KEY, kind TEXT NOT NULL, tkey INTEGER NOT NULL, tver INTEGER NOT NULL, source TEXT NOT NULL,
    fingerprint TEXT NOT NULL, first_row INTEGER NOT NULL, n_rows INTEGER NOT NULL, run_id TEXT, model TEXT,
    template TEXT, captions TEXT
);
CREATE INDEX IF NOT EXISTS records_key ON records (tkey, kind, source);
CREATE UNIQUE INDEX IF NOT EXISTS records_rows ON records (kind, first_row);
CREATE TABLE IF NOT EXISTS variants (row INTEGER PRIMARY KEY, rid INTEGER NOT NULL, variant INTEGER NOT NULL, snippet
TEXT NOT NULL);
"""
CHUNK = 500
LIVE_RECORD = """rid = (SELECT MAX(r2.rid) FROM records r2 INDEXED BY records_key WHERE r2.tkey = r.tkey AND r2.kind =
r.kind
                 AND r2.source = r.source AND r2.first_row < :below)"""


@dataclass(frozen=True)
class TileRow:
    """A tile as the index knows it (one version of its metadata)."""

    tile_id: str
    path: str
    sensor: str
    lon: float | None
    lat: float | None
    bounds: tuple[float, float, float, float] | None
    time: str | None
    meta: dict[str, Any]

    @classmethod
    def of(cls, tile_id: str, record: dict[str, Any]) -> TileRow:
        lon, lat = record.get("center") or (None, None)
        bounds = tuple(record["bounds"]) if record.get("bounds") else None
        return cls(
            tile_id,
            str(record.get("path") or ""),
            str(record.get("sensor") or ""),
            lon,
            lat,
            bounds,
            record.get("time"),
            dict(record.get("meta") or {}),
        )


@dataclass(frozen=True)
class StoredRecord:
    rid: int
    tkey: int
    fingerprint: str
    first_row: int
    n_rows: int


class Catalog:
    """One SQLite file per epoch, in rollback-journal mode: the writer appends in one transaction per commit,
    readers open it read-only (no -wal or -shm files, which a closing writer would delete under a reader).
    Each commit returns the file's size, which the generation records, so a truncated catalog is caught on open."""

    def __init__(self, path: Path, writable: bool = False, min_size: int = 0) -> None:
        self.path = path
        try:
            if writable:
                self.db = sqlite3.connect(path, check_same_thread=False)
                self.db.executescript(SCHEMA)
            else:
                self.db = connect_read_only(path, "index catalog", min_size, recover=True)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA mmap_size = 1073741824")  # read pages through the page cache, no copies
        except (RsqError, sqlite3.DatabaseError) as error:
            raise RsqError(f"index damaged: {error}; rebuild the index (rsq index --rebuild)") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def commit(self) -> int:
        """Commit and return the file's size (it only grows)."""
        self.db.commit()
        return self.path.stat().st_size

    def _rows(self, sql: str, args: Iterable[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.db.execute(sql, tuple(args)).fetchall()
            except sqlite3.DatabaseError as error:
                raise RsqError(f"index damaged: {self.path} ({error}); rebuild the index") from None

    def _in_chunks(self, sql: str, values: list[Any], *args: Any) -> Iterator[tuple]:
        """`sql` with `{marks}` run over `values` CHUNK at a time; yields every row."""
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            yield from self._rows(sql.format(marks=",".join("?" * len(chunk))), [*chunk, *args])

    # --- writing -------------------------------------------------------------------------------------

    def tile_keys(self, tile_ids: list[str]) -> dict[str, int]:
        """The key of every tile id, new ones assigned."""
        unique = list(dict.fromkeys(tile_ids))
        self.db.executemany("INSERT OR IGNORE INTO tile_keys (tile_id) VALUES (?)", [(t,) for t in unique])
        return dict(self._in_chunks("SELECT tile_id, tkey FROM tile_keys WHERE tile_id IN ({marks})", unique))

    def known_versions(self, versions: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(tkey, fingerprint) -> tver for the tile versions already stored."""
        wanted = set(versions)
        query = "SELECT tkey, fingerprint, tver FROM tiles WHERE tkey IN ({marks})"
        return {
            (tkey, digest): tver
            for tkey, digest, tver in self._in_chunks(query, list({t for t, _ in wanted}))
            if (tkey, digest) in wanted
        }

    def add_version(self, tkey: int, fingerprint: str, record: dict[str, Any], thumbnail: bytes | None) -> int:
        cursor = self.db.execute(
            "INSERT INTO tiles (tkey, fingerprint, record, thumbnail) VALUES (?,?,?,?)",
            (tkey, fingerprint, json.dumps(record, ensure_ascii=False, default=str), thumbnail),
        )
        return int(cursor.lastrowid)

    def newest_records(self, kind: str, keys: list[tuple[int, str]], below: int) -> dict[tuple[int, str], StoredRecord]:
        """(tkey, source) -> the newest record of that key whose rows lie below row id `below`."""
        wanted = set(keys)
        query = (
            "SELECT rid, tkey, source, fingerprint, first_row, n_rows FROM records INDEXED BY records_key"
            " WHERE tkey IN ({marks}) AND kind = ? AND first_row < ?"
        )
        found: dict[tuple[int, str], StoredRecord] = {}
        for rid, tkey, source, digest, first_row, n_rows in self._in_chunks(
            query, list({t for t, _ in wanted}), kind, below
        ):
            key = (tkey, source)
            if key in wanted and (key not in found or rid > found[key].rid):
                found[key] = StoredRecord(rid, tkey, digest, first_row, n_rows)
        return found

    def captioned(self, tkeys: list[int], below: int) -> set[int]:
        """The tiles among `tkeys` that already have a caption record below row id `below`."""
        query = (
            "SELECT DISTINCT tkey FROM records INDEXED BY records_key WHERE tkey IN ({marks}) AND kind = 'captions' "
            "AND first_row < ?"
        )
        return {row[0] for row in self._in_chunks(query, list(tkeys), below)}

    def add_record(
        self,
        kind: str,
        tkey: int,
        tver: int,
        source: str,
        fingerprint: str,
        first_row: int,
        n_rows: int,
        provenance: dict[str, Any] | None = None,
    ) -> int:
        provenance = provenance or {}
        cursor = self.db.execute(
            "INSERT INTO records (kind, tkey, tver, source, fingerprint, first_row, n_rows, run_id, model, template, "
            "captions)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                kind,
                tkey,
                tver,
                source,
                fingerprint,
                first_row,
                n_rows,
                provenance.get("run_id"),
                provenance.get("model"),
                provenance.get("template"),
                json.dumps(provenance["captions"], ensure_ascii=False) if provenance.get("captions") else None,
            ),
        )
        return int(cursor.lastrowid)

    def add_variants(self, values: list[tuple[int, int, int, str]]) -> None:
        """(row, rid, variant number, snippet) per caption row."""
        self.db.executemany("INSERT INTO variants (row, rid, variant, snippet) VALUES (?,?,?,?)", values)

    def drop_uncommitted(self, next_row: dict[str, int]) -> None:
        """Delete what a killed writer appended above the committed row ids."""
        for kind, below in next_row.items():
            self.db.execute("DELETE FROM records WHERE kind = ? AND first_row >= ?", (kind, below))
        self.db.execute("DELETE FROM variants WHERE row >= ?", (next_row.get("captions", 0),))
        self.db.commit()

    def drop_rows(self, kind: str, rows: list[int]) -> None:
        """Forget rows a merge left out (all rows of replaced records)."""
        self.db.executemany("DELETE FROM records WHERE kind = ? AND first_row = ?", [(kind, r) for r in rows])
        if kind == "captions":
            self.db.executemany("DELETE FROM variants WHERE row = ?", [(r,) for r in rows])

    # --- reading -------------------------------------------------------------------------------------

    def tkey(self, tile_id: str) -> int | None:
        row = self._rows("SELECT tkey FROM tile_keys WHERE tile_id = ?", (tile_id,))
        return row[0][0] if row else None

    def caption_rows(self, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Row -> the variant it holds: tile version, source, variant number, snippet."""
        wanted = [int(r) for r in dict.fromkeys(rows)]
        query = (
            "SELECT v.row, r.tver, r.source, v.variant, v.snippet FROM variants v JOIN records r ON r.rid = v.rid"
            " WHERE v.row IN ({marks})"
        )
        return {
            row: {"tver": tver, "source": source, "variant": variant, "snippet": snippet}
            for row, tver, source, variant, snippet in self._in_chunks(query, wanted)
        }

    def image_rows(self, rows: Iterable[int]) -> dict[int, int]:
        """Image row -> its tile version."""
        wanted = [int(r) for r in dict.fromkeys(rows)]
        return dict(
            self._in_chunks(
                "SELECT first_row, tver FROM records WHERE kind = 'images' AND first_row IN ({marks})", wanted
            )
        )

    def versions(self, tvers: Iterable[int]) -> dict[int, TileRow]:
        wanted = [int(v) for v in dict.fromkeys(tvers)]
        query = (
            "SELECT t.tver, k.tile_id, t.record FROM tiles t JOIN tile_keys k ON k.tkey = t.tkey WHERE t.tver IN "
            "({marks})"
        )
        return {
            tver: TileRow.of(tile_id, json.loads(record)) for tver, tile_id, record in self._in_chunks(query, wanted)
        }

    def live_records(self, tkey: int, kind: str, below: int) -> list[dict[str, Any]]:
        """The live records of a tile: per source, the newest one committed below row id `below`."""
        query = (
            "SELECT rid, tver, source, first_row, n_rows, run_id, model, template, captions FROM records r INDEXED "
            "BY records_key"
            f" WHERE tkey = :tkey AND kind = :kind AND first_row < :below AND {LIVE_RECORD} ORDER BY rid"
        )
        with self._lock:
            cursor = self.db.execute(query, {"tkey": tkey, "kind": kind, "below": below})
            names = [d[0] for d in cursor.description]
            records = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        for record in records:
            record["captions"] = json.loads(record["captions"]) if record["captions"] else None
        return records

    def first_snippets(self, tkeys: list[int], below: int) -> dict[int, str]:
        """A caption to show for tiles found without a caption match (image and composed queries)."""
        query = (
            "SELECT r.tkey, r.rid, v.snippet FROM records r INDEXED BY records_key JOIN variants v ON v.row = "
            "r.first_row"
            " WHERE r.tkey IN ({marks}) AND r.kind = 'captions' AND r.first_row < ?"
        )
        newest: dict[int, tuple[int, str]] = {}
        for tkey, rid, snippet in self._in_chunks(query, list(tkeys), below):
            if tkey not in newest or rid > newest[tkey][0]:
                newest[tkey] = (rid, snippet)
        return {tkey: snippet for tkey, (_, snippet) in newest.items()}

    def record(self, tver: int) -> dict[str, Any] | None:
        row = self._rows("SELECT record FROM tiles WHERE tver = ?", (tver,))
        return json.loads(row[0][0]) if row else None

    def thumbnail(self, tver: int) -> bytes | None:
        row = self._rows("SELECT thumbnail FROM tiles WHERE tver = ?", (tver,))
        return row[0][0] if row else None
