"""Per-row tile attributes as numpy columns: which tile a row belongs to, and what filters test.

A segment stores its columns as plain `.npy` files, opened memory-mapped; a filter becomes one vectorised
mask over them (`Columns.mask`), which FAISS then applies as an ID-selector bitmap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsq.imagery.timeparse import parse_time
from rsq.textindex.filters import SENSORS, Filters, haversine_km

SENSOR_CODES = {name: code for code, name in enumerate(SENSORS, start=1)}  # 0: unknown
NO_TIME = np.iinfo(np.int64).min
GEO = ("lon", "lat", "west", "south", "east", "north")
FILES = ("tkeys", "sensor", "time", "geo")


@dataclass(frozen=True)
class TileAttrs:
    """What filters know of a tile: sensor, acquisition time (epoch s), centre and bounds (WGS84)."""

    sensor: str
    time: int | None
    geo: tuple[float, float, float, float, float, float]  # lon, lat, west, south, east, north; NaN unknown

    @classmethod
    def of(cls, tile: dict[str, Any]) -> TileAttrs:
        """From a `Tile.to_dict()` record (or a partial one: id, path, sensor)."""
        moment = parse_time(tile.get("time"))
        center, bounds = tile.get("center"), tile.get("bounds")
        if bounds and not center:
            center = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        if center and not bounds:
            bounds = (center[0], center[1], center[0], center[1])
        geo = (*center, *bounds) if center else (float("nan"),) * 6
        return cls(str(tile.get("sensor") or ""), int(moment.timestamp()) if moment else None, tuple(float(v) for v in geo))


@dataclass(frozen=True)
class Columns:
    tkeys: np.ndarray  # int64: the tile each row belongs to
    sensor: np.ndarray  # uint8 code, 0 unknown
    time: np.ndarray  # int64 epoch seconds, NO_TIME unknown
    geo: np.ndarray  # float64 (6, n): GEO rows, NaN unknown

    def __len__(self) -> int:
        return len(self.tkeys)

    @classmethod
    def build(cls, tkeys: list[int], attrs: list[TileAttrs]) -> Columns:
        geo = np.array([a.geo for a in attrs], dtype=np.float64).reshape(len(attrs), 6).T
        return cls(
            np.asarray(tkeys, dtype=np.int64),
            np.array([SENSOR_CODES.get(a.sensor, 0) for a in attrs], dtype=np.uint8),
            np.array([NO_TIME if a.time is None else a.time for a in attrs], dtype=np.int64),
            np.ascontiguousarray(geo),
        )

    @classmethod
    def concat(cls, parts: list[Columns]) -> Columns:
        return cls(*(np.concatenate([getattr(p, f) for p in parts], axis=-1) for f in FILES))

    def take(self, positions: np.ndarray) -> Columns:
        return Columns(self.tkeys[positions], self.sensor[positions], self.time[positions], self.geo[:, positions])

    def save(self, folder: Path) -> None:
        for name in FILES:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))

    @classmethod
    def load(cls, folder: Path) -> Columns:
        return cls(*(np.load(folder / f"{name}.npy", mmap_mode="r") for name in FILES))

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Rows that pass `filters` (None when no filter is set); rows lacking a tested fact fail."""
        if not filters.active:
            return None
        keep = np.ones(len(self), dtype=bool)
        if filters.sensor:
            keep &= self.sensor == SENSOR_CODES[filters.sensor]
        after, before = filters.time_range()
        if after is not None or before is not None:
            keep &= self.time != NO_TIME
            if after is not None:
                keep &= self.time >= after
            if before is not None:
                keep &= self.time <= before
        if filters.bbox:
            keep &= self._intersects(filters.bbox)
        if filters.near:
            keep &= self._near(filters, keep)
        return keep

    def _intersects(self, box: tuple[float, float, float, float]) -> np.ndarray:
        min_lon, min_lat, max_lon, max_lat = box
        _, _, west, south, east, north = self.geo
        with np.errstate(invalid="ignore"):
            return (west <= max_lon) & (east >= min_lon) & (south <= max_lat) & (north >= min_lat)

    def _near(self, filters: Filters, candidates: np.ndarray) -> np.ndarray:
        """Centre within `near` km: a box test first, the exact distance only for rows inside the box."""
        lon, lat = self.geo[0], self.geo[1]
        west, south, east, north = filters.near_box()
        with np.errstate(invalid="ignore"):
            inside = candidates & (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        rows = np.flatnonzero(inside)
        centre_lon, centre_lat, km = filters.near
        inside[rows] = haversine_km(lon[rows], lat[rows], centre_lon, centre_lat) <= km
        return inside
