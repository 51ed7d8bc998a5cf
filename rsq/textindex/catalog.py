"""The tile table and the variant table of an index (SQLite): filters, display and explanations."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsq.textindex.documents import VariantDoc

SCHEMA = """
CREATE TABLE IF NOT EXISTS tiles (
    tile_id TEXT PRIMARY KEY, path TEXT NOT NULL, sensor TEXT NOT NULL, lon REAL, lat REAL,
    min_lon REAL, min_lat REAL, max_lon REAL, max_lat REAL, time TEXT, meta TEXT NOT NULL, thumbnail BLOB
);
CREATE TABLE IF NOT EXISTS variants (
    row INTEGER PRIMARY KEY, tile_id TEXT NOT NULL, source TEXT NOT NULL, variant INTEGER NOT NULL,
    snippet TEXT NOT NULL, fields TEXT NOT NULL, live INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS variants_tile ON variants (tile_id);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, template TEXT NOT NULL);
"""


@dataclass(frozen=True)
class TileRow:
    """A tile as the index knows it."""

    tile_id: str
    path: str
    sensor: str
    lon: float | None
    lat: float | None
    bounds: tuple[float, float, float, float] | None
    time: str | None
    meta: dict[str, Any]


class Catalog:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def tile_ids(self) -> set[str]:
        return {row[0] for row in self.db.execute("SELECT tile_id FROM tiles")}

    def live_rows_of(self, tile_ids: Iterable[str]) -> list[int]:
        ids = list(tile_ids)
        rows: list[int] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += [r[0] for r in self.db.execute(f"SELECT row FROM variants WHERE live = 1 AND tile_id IN ({marks})", chunk)]
        return rows

    def kill_rows(self, rows: list[int]) -> None:
        with self.db:
            self.db.executemany("UPDATE variants SET live = 0 WHERE row = ?", [(r,) for r in rows])

    def add_variants(self, rows: list[int], docs: list[VariantDoc]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT INTO variants (row, tile_id, source, variant, snippet, fields) VALUES (?,?,?,?,?,?)",
                [(r, d.tile_id, d.source, d.variant, d.snippet, json.dumps(d.fields)) for r, d in zip(rows, docs, strict=True)],
            )

    def upsert_tiles(self, tiles: list[dict[str, Any]], thumbnails: dict[str, bytes | None]) -> None:
        """Tiles as `Tile.to_dict()` records; missing georeference or time stays NULL."""
        values = []
        for tile in tiles:
            lon, lat = tile.get("center") or (None, None)
            bounds = tile.get("bounds") or (None, None, None, None)
            meta = dict(tile.get("meta") or {})
            values.append((tile["id"], tile["path"], tile["sensor"], lon, lat, *bounds, tile.get("time"), json.dumps(meta), thumbnails.get(tile["id"])))
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO tiles VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", values)

    def add_runs(self, runs: Iterable[tuple[str, str, str]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO runs VALUES (?,?,?)", list(runs))

    def runs(self) -> list[dict[str, str]]:
        return [{"run_id": r, "model": m, "template": t} for r, m, t in self.db.execute("SELECT * FROM runs ORDER BY run_id")]

    def tiles(self) -> dict[str, TileRow]:
        rows = self.db.execute("SELECT tile_id, path, sensor, lon, lat, min_lon, min_lat, max_lon, max_lat, time, meta FROM tiles")
        return {r[0]: TileRow(r[0], r[1], r[2], r[3], r[4], tuple(r[5:9]) if r[5] is not None else None, r[9], json.loads(r[10])) for r in rows}

    def variants(self, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
        wanted = list(rows)
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = f"SELECT row, tile_id, source, variant, snippet FROM variants WHERE row IN ({','.join('?' * len(chunk))})"
            for row, tile_id, source, variant, snippet in self.db.execute(query, chunk):
                found[row] = {"tile_id": tile_id, "source": source, "variant": variant, "snippet": snippet}
        return found

    def first_snippets(self, tile_ids: list[str]) -> dict[str, str]:
        """A caption to show for tiles found without a caption match (image and composed queries)."""
        found: dict[str, str] = {}
        for start in range(0, len(tile_ids), 500):
            chunk = tile_ids[start : start + 500]
            query = f"SELECT tile_id, snippet FROM variants WHERE live = 1 AND tile_id IN ({','.join('?' * len(chunk))}) ORDER BY row DESC"
            found |= dict(self.db.execute(query, chunk))  # the lowest row wins: the first variant
        return found

    def row_tiles(self) -> dict[int, str]:
        """Live row -> tile id, for turning variant hits into tile scores."""
        return dict(self.db.execute("SELECT row, tile_id FROM variants WHERE live = 1"))

    def thumbnail(self, tile_id: str) -> bytes | None:
        row = self.db.execute("SELECT thumbnail FROM tiles WHERE tile_id = ?", (tile_id,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        def one(sql: str) -> int:
            return self.db.execute(sql).fetchone()[0]

        return {
            "tiles": one("SELECT COUNT(DISTINCT tile_id) FROM variants WHERE live = 1"),
            "variants": one("SELECT COUNT(*) FROM variants WHERE live = 1"),
            "dead_variants": one("SELECT COUNT(*) FROM variants WHERE live = 0"),
        }
