"""The caption store: one SQLite file per output folder, readable by any SQLite tool.

SQLite rather than Parquet because the batch job appends a batch at a time and must survive kill -9:
each batch is one transaction (all or nothing), and a UNIQUE key on (tile, model, template) makes a
resumed run unable to duplicate a record. `sqlite3 DIR/captions.sqlite` or pandas read it directly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsq.captioner.records import OK, CaptionRecord
from rsq.errors import RsqError
from rsq.sqlitefile import check_complete, check_header, connect_read_only, database_error

STORE_FILE = "captions.sqlite"
JSON_COLUMNS = ("params", "captions", "tile")
RECORD_COLUMNS = (
    "run_id",
    "tile_id",
    "tile_path",
    "sensor",
    "model",
    "model_revision",
    "template",
    "prompt_hash",
    "params",
    "status",
    "raw",
    "error",
    "captions",
    "tile",
    "attempts",
    "duration_s",
    "created_at",
)
MIGRATIONS = (
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
        model TEXT NOT NULL, template TEXT NOT NULL, params TEXT NOT NULL, rsq_version TEXT NOT NULL, counts TEXT
    );
    CREATE TABLE captions (
        record_id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL, tile_id TEXT NOT NULL, tile_path TEXT NOT NULL, sensor TEXT NOT NULL,
        model TEXT NOT NULL, model_revision TEXT NOT NULL, template TEXT NOT NULL, prompt_hash TEXT NOT NULL,
        params TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        raw TEXT, error TEXT, captions TEXT, tile TEXT NOT NULL, attempts INTEGER NOT NULL,
        duration_s REAL NOT NULL, created_at TEXT NOT NULL,
        UNIQUE (tile_id, model, template)
    );
    """,
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class CaptionStore:
    """Caption records in DIR/captions.sqlite, with schema migrations by `PRAGMA user_version`."""

    def __init__(self, directory: str | Path, create: bool = True) -> None:
        """`create=True` opens (or makes) the store to write; `create=False` opens an existing one read-only,
        writing nothing to it (`rsq captions`, `rsq index`)."""
        self.directory = Path(directory)
        self.path = self.directory / STORE_FILE
        if not create and not self.path.is_file():
            raise RsqError(f"no caption store in {self.directory} (expected {STORE_FILE})")
        try:
            self._db = self._open_to_write() if create else connect_read_only(self.path, "caption store")
            check_complete(self._db, self.path, "caption store")
            self._check_version(migrate=create)
        except sqlite3.Error as error:
            raise database_error(self.path, "caption store", error) from None

    def _open_to_write(self) -> sqlite3.Connection:
        if self.directory.exists() and not self.directory.is_dir():
            raise RsqError(f"{self.directory} is a file; --out wants a folder for the caption store")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RsqError(f"cannot create {self.directory}: {error.strerror}") from None
        if self.path.exists():
            check_header(self.path, "caption store")
        db = sqlite3.connect(self.path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _check_version(self, migrate: bool) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RsqError(f"{self.path} was written by a newer rsq (schema {version}); upgrade rsq to read it")
        if version < len(MIGRATIONS) and not migrate:
            raise RsqError(f"{self.path} is empty or from an older rsq; run `rsq caption` on it first")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def close(self) -> None:
        self._db.close()

    def start_run(self, run_id: str, model: str, template: str, params: dict[str, Any]) -> None:
        from rsq import __version__

        self._execute(
            "INSERT INTO runs (run_id, started_at, model, template, params, rsq_version) VALUES (?,?,?,?,?,?)",
            (run_id, now_iso(), model, template, json.dumps(params), __version__),
        )

    def finish_run(self, run_id: str, counts: dict[str, int]) -> None:
        self._execute(
            "UPDATE runs SET finished_at = ?, counts = ? WHERE run_id = ?", (now_iso(), json.dumps(counts), run_id)
        )

    def _execute(self, sql: str, args: tuple) -> None:
        try:
            with self._db:
                self._db.execute(sql, args)
        except sqlite3.Error as error:
            raise database_error(self.path, "caption store", error) from None

    def done_among(self, tile_ids: list[str], model: str, template: str) -> set[str]:
        """Which of `tile_ids` are already captioned successfully with this model and template (bounded memory:
        a batch job asks chunk by chunk)."""
        done: set[str] = set()
        for start in range(0, len(tile_ids), 500):
            chunk = tile_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT tile_id FROM captions WHERE model = ? AND template = ? AND status = ? AND tile_id IN "
                f"({marks})",
                (model, template, OK, *chunk),
            )
            done.update(row[0] for row in rows)
        return done

    def write(self, records: list[CaptionRecord]) -> list[CaptionRecord]:
        """Write a batch in one transaction; a failed record is replaced by a later attempt, an ok one never.
        Returns the records written (not those an ok record of the same tile, model and template kept out)."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in RECORD_COLUMNS)
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                kept_out = self._ok_keys(records)
                written = [r for r in records if (r.tile_id, r.model, r.template) not in kept_out]
                self._db.executemany(
                    f"INSERT INTO captions ({', '.join(RECORD_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(RECORD_COLUMNS))}) "
                    f"ON CONFLICT (tile_id, model, template) DO UPDATE SET {updates} WHERE captions.status != 'ok'",
                    [tuple(_column_value(r, c) for c in RECORD_COLUMNS) for r in written],
                )
        except sqlite3.Error as error:
            raise database_error(self.path, "caption store", error) from None
        return written

    def _ok_keys(self, records: list[CaptionRecord]) -> set[tuple[str, str, str]]:
        """(tile, model, template) of the records that already have an ok record: one query per 500 tiles."""
        by_run: dict[tuple[str, str], list[str]] = {}
        for record in records:
            by_run.setdefault((record.model, record.template), []).append(record.tile_id)
        return {
            (tile, model, template)
            for (model, template), tiles in by_run.items()
            for tile in self.done_among(tiles, model, template)
        }

    def records(self, status: str | None = None) -> Iterator[CaptionRecord]:
        """All records in insertion order, optionally only those with `status`."""
        query = f"SELECT {', '.join(RECORD_COLUMNS)} FROM captions"
        args: tuple = ()
        if status:
            query, args = query + " WHERE status = ?", (status,)
        for row in self._db.execute(query + " ORDER BY record_id", args):
            values = dict(zip(RECORD_COLUMNS, row, strict=True))
            for column in JSON_COLUMNS:
                values[column] = json.loads(values[column]) if values[column] is not None else None
            yield CaptionRecord(**values)

    def count(self, status: str | None = None) -> int:
        """How many records (with `status`, when given) the store holds."""
        if status:
            return self._db.execute("SELECT COUNT(*) FROM captions WHERE status = ?", (status,)).fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM captions").fetchone()[0]

    def stats(self) -> list[dict[str, Any]]:
        """Record counts by status, model and template."""
        rows = self._db.execute(
            "SELECT status, model, template, COUNT(*) FROM captions GROUP BY status, model, template ORDER BY 2, 3, 1"
        )
        return [{"status": s, "model": m, "template": t, "count": n} for s, m, t, n in rows]

    def runs(self) -> list[dict[str, Any]]:
        cursor = self._db.execute("SELECT * FROM runs ORDER BY started_at")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


def _column_value(record: CaptionRecord, column: str) -> Any:
    value = getattr(record, column)
    return json.dumps(value, ensure_ascii=False) if column in JSON_COLUMNS and value is not None else value
