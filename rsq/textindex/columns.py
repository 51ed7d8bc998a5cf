"""Per-row tile attributes as numpy columns: which tile a row belongs to, and what filters test.

A tile's land-cover class is a column too: its CORINE code padded to three digits (`31` → 310, 0 unknown), so a
class at any level is one integer range. A segment stores its columns as `.npy` files, opened memory-mapped, plus a
sorted index of the sensor, time and centre-longitude columns (values ascending, with their positions). A filter
finds the narrowest of its ranges by binary search; when that range is narrow, every condition is tested on its rows
only (the cost follows the rows kept, not the segment's size), otherwise in one vectorised pass over the columns.
FAISS applies the result as an ID-selector bitmap.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsq.geo import Box, PlaceError, centre, checked_box, haversine_km, lon_inside, lon_overlaps, lon_ranges, width
from rsq.imagery.timeparse import epoch_seconds, parse_time
from rsq.textindex.filters import SENSORS, Filters

SENSOR_CODES = {name: code for code, name in enumerate(SENSORS, start=1)}  # 0: unknown
NO_TIME = np.iinfo(np.int64).min
GEO = ("lon", "lat", "west", "south", "east", "north")
FILES = ("sensor", "time", "geo", "cover")
INDEXED = ("sensor", "time", "lon")
NARROW_SHARE = 16  # a range keeping at most 1/16 of the rows is evaluated on those rows only


@dataclass(frozen=True)
class TileAttrs:
    """What filters know of a tile: sensor, acquisition time (epoch s), centre and bounds (WGS84), and its land-cover
    class (a CORINE code, "" unknown: what its captions say, not the pixels)."""

    sensor: str
    time: int | None
    geo: tuple[float, float, float, float, float, float]  # lon, lat, west, south, east, north; NaN unknown
    cover: str = ""

    @classmethod
    def of(cls, tile: dict[str, Any], cover: str = "") -> TileAttrs:
        """From a `Tile.to_dict()` record (or a partial one: id, path, sensor) and the tile's class code."""
        moment = parse_time(tile.get("time"))
        try:  # records of any rsq version: bounds normalised, a place that is not on the Earth is unknown
            bounds: Box | None = checked_box(tile["bounds"]) if tile.get("bounds") else None
        except PlaceError:
            bounds = None
        center = tile.get("center") or (centre(bounds) if bounds else None)
        if center and not bounds:
            bounds = (center[0], center[1], center[0], center[1])
        geo = (*center, *bounds) if center else (float("nan"),) * 6
        return cls(
            str(tile.get("sensor") or ""),
            epoch_seconds(moment) if moment else None,
            tuple(float(v) for v in geo),
            cover,
        )

    @property
    def located(self) -> bool:
        return not np.isnan(self.geo[0])


@dataclass(frozen=True)
class SortedColumn:
    """A column's values in ascending order and the positions they come from: a range is two binary searches."""

    keys: np.ndarray
    order: np.ndarray  # int32 positions

    @classmethod
    def of(cls, values: np.ndarray) -> SortedColumn:
        order = np.argsort(values, kind="stable").astype(np.int32)
        return cls(np.asarray(values)[order], order)

    def bounds(self, low: float, high: float) -> tuple[int, int]:
        return int(np.searchsorted(self.keys, low, "left")), int(np.searchsorted(self.keys, high, "right"))


@dataclass(frozen=True)
class Strings:
    """Variable-length strings as one UTF-8 buffer and offsets (an Arrow-style string column)."""

    offsets: np.ndarray  # int64, n + 1
    data: Any  # bytes, or an mmap of the saved buffer

    @classmethod
    def of(cls, texts: list[str]) -> Strings:
        encoded = [t.encode() for t in texts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(e) for e in encoded])
        return cls(offsets, b"".join(encoded))

    @classmethod
    def concat(cls, parts: list[Strings]) -> Strings:
        shifts = np.cumsum([0] + [int(p.offsets[-1]) for p in parts[:-1]])
        offsets = np.concatenate(
            [[0]] + [np.asarray(p.offsets[1:]) + shift for p, shift in zip(parts, shifts, strict=True)]
        )
        return cls(offsets.astype(np.int64), b"".join(bytes(p.data[: int(p.offsets[-1])]) for p in parts))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def get(self, positions: np.ndarray) -> np.ndarray:
        """The strings at `positions`, as an object array."""
        starts, ends = (
            np.asarray(self.offsets[positions]).tolist(),
            np.asarray(self.offsets[np.asarray(positions) + 1]).tolist(),
        )
        data = self.data
        return np.array([data[a:b].decode() for a, b in zip(starts, ends, strict=True)], dtype=object)

    def take(self, positions: np.ndarray) -> Strings:
        return Strings.of(self.get(positions).tolist())

    def save(self, folder: Path, name: str) -> None:
        np.save(folder / f"{name}.offsets.npy", self.offsets)
        (folder / f"{name}.bin").write_bytes(bytes(self.data[: int(self.offsets[-1])]))

    @classmethod
    def load(cls, folder: Path, name: str) -> Strings:
        offsets = np.load(folder / f"{name}.offsets.npy", mmap_mode="r")
        with open(folder / f"{name}.bin", "rb") as handle:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if int(offsets[-1]) else b""
        return cls(offsets, data)


@dataclass(frozen=True)
class Columns:
    tiles: Strings  # the id of the tile each row belongs to
    sensor: np.ndarray  # uint8 code, 0 unknown
    time: np.ndarray  # int64 epoch seconds, NO_TIME unknown
    geo: np.ndarray  # float64 (6, n): GEO rows, NaN unknown
    cover: np.ndarray  # uint16 padded CORINE code, 0 unknown
    extent: float = 0.0  # the largest half-width or half-height of a tile's bounds, in degrees
    index: dict[str, SortedColumn] = field(default_factory=dict)  # sorted views of INDEXED columns (saved segments)

    def __len__(self) -> int:
        return len(self.sensor)

    @classmethod
    def build(cls, tile_ids: list[str], attrs: list[TileAttrs]) -> Columns:
        geo = np.array([a.geo for a in attrs], dtype=np.float64).reshape(len(attrs), 6).T
        return cls(
            Strings.of(tile_ids),
            np.array([SENSOR_CODES.get(a.sensor, 0) for a in attrs], dtype=np.uint8),
            np.array([NO_TIME if a.time is None else a.time for a in attrs], dtype=np.int64),
            np.ascontiguousarray(geo),
            np.array([padded_code(a.cover) for a in attrs], dtype=np.uint16),
            _extent(geo),
        )

    @classmethod
    def concat(cls, parts: list[Columns]) -> Columns:
        arrays = [np.concatenate([getattr(p, f) for p in parts], axis=-1) for f in FILES]
        return cls(Strings.concat([p.tiles for p in parts]), *arrays, max((p.extent for p in parts), default=0.0))

    def take(self, positions: np.ndarray, with_tiles: bool = True) -> Columns:
        tiles = self.tiles.take(positions) if with_tiles else Strings.of([""] * len(positions))
        return Columns(
            tiles,
            self.sensor[positions],
            self.time[positions],
            self.geo[:, positions],
            self.cover[positions],
            self.extent,
        )

    def save(self, folder: Path) -> None:
        self.tiles.save(folder, "tiles")
        for name in FILES:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        for name in INDEXED:
            column = SortedColumn.of(self._values(name))
            np.save(folder / f"{name}.keys.npy", column.keys)
            np.save(folder / f"{name}.order.npy", column.order)

    @classmethod
    def load(cls, folder: Path, extent: float) -> Columns:
        arrays = [_load_column(folder, name) for name in FILES]
        index = {
            name: SortedColumn(
                np.load(folder / f"{name}.keys.npy", mmap_mode="r"),
                np.load(folder / f"{name}.order.npy", mmap_mode="r"),
            )
            for name in INDEXED
        }
        return cls(Strings.load(folder, "tiles"), *arrays, extent, index)

    def time_span(self) -> tuple[int, int] | None:
        """The earliest and latest acquisition times of the rows (None when none has one)."""
        keys = self.index["time"].keys if self.index else np.sort(self.time)
        first = int(np.searchsorted(keys, NO_TIME, "right"))
        return (int(keys[first]), int(keys[-1])) if first < len(keys) else None

    def _values(self, name: str) -> np.ndarray:
        return self.geo[0] if name == "lon" else getattr(self, name)

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Rows that pass `filters` (None when no filter is set); rows lacking a tested fact fail."""
        if not filters.active:
            return None
        narrowest = self._narrowest(filters)
        if narrowest is None or _count(narrowest[1]) > len(self) // NARROW_SHARE:
            return self._exact(filters)  # a wide filter: one vectorised pass over the columns is cheaper
        name, slices = narrowest
        candidates = np.concatenate([np.asarray(self.index[name].order[start:stop]) for start, stop in slices])
        if name == "lon":  # a longitude slab: keep the rows in the latitude band before reading the rest
            south, north = self._latitudes(filters)
            latitudes = self.geo[1][candidates]
            candidates = candidates[(latitudes >= south) & (latitudes <= north)]
        mask = np.zeros(len(self), dtype=bool)
        mask[candidates[self.take(candidates, with_tiles=False)._exact(filters)]] = True
        return mask

    def _narrowest(self, filters: Filters) -> tuple[str, list[tuple[int, int]]] | None:
        """The indexed range the filters imply that holds the fewest rows: (column, [(start, stop), …] in its order;
        a longitude range across 180° is two slices)."""
        if not self.index:
            return None
        ranges: list[tuple[str, list[tuple[float, float]]]] = []
        if filters.sensor:
            code = SENSOR_CODES[filters.sensor]
            ranges.append(("sensor", [(code, code)]))
        after, before = filters.time_range()
        if after is not None or before is not None:
            ranges.append(
                (
                    "time",
                    [(NO_TIME + 1 if after is None else after, np.iinfo(np.int64).max if before is None else before)],
                )
            )
        for box, margin in ((filters.bbox, self.extent), (filters.near_box(), 0.0)):
            if (
                box and width(box) + 2 * margin < 360
            ):  # the centres a box can reach: itself widened by the largest half-extent
                ranges.append(("lon", lon_ranges(box[0] - margin, box[0] + width(box) + margin)))
        spans = [(name, [self.index[name].bounds(low, high) for low, high in pieces]) for name, pieces in ranges]
        return min(spans, key=lambda span: _count(span[1])) if spans else None

    def _latitudes(self, filters: Filters) -> tuple[float, float]:
        """The band of centre latitudes the place filters allow."""
        south, north = -90.0, 90.0
        if filters.bbox:
            south, north = max(south, filters.bbox[1] - self.extent), min(north, filters.bbox[3] + self.extent)
        if filters.near:
            box = filters.near_box()
            south, north = max(south, box[1]), min(north, box[3])
        return south, north

    def _exact(self, filters: Filters) -> np.ndarray:
        keep = np.ones(len(self), dtype=bool)
        if filters.sensor:
            keep &= self.sensor == SENSOR_CODES[filters.sensor]
        if filters.land_cover:
            low, high = code_range(filters.land_cover)
            keep &= (self.cover >= low) & (self.cover <= high)
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

    def _intersects(self, box: Box) -> np.ndarray:
        """Footprints that meet the box, either or both of them across 180°."""
        box_west, box_south, box_east, box_north = box
        _, _, west, south, east, north = self.geo
        with np.errstate(invalid="ignore"):
            return (south <= box_north) & (north >= box_south) & lon_overlaps(west, east, box_west, box_east)

    def _near(self, filters: Filters, candidates: np.ndarray) -> np.ndarray:
        """Centre within `near` km: a box test first, the exact distance only for rows inside the box."""
        lon, lat = self.geo[0], self.geo[1]
        west, south, east, north = filters.near_box()
        with np.errstate(invalid="ignore"):
            inside = candidates & lon_inside(lon, west, east) & (lat >= south) & (lat <= north)
        rows = np.flatnonzero(inside)
        centre_lon, centre_lat, km = filters.near
        inside[rows] = haversine_km(lon[rows], lat[rows], centre_lon, centre_lat) <= km
        return inside


def padded_code(code: str) -> int:
    """A CORINE code as three digits, the levels it lacks as 0: `31` → 310, `5` → 500, "" → 0."""
    return int(code.ljust(3, "0")) if code else 0


def unpadded_code(padded: int) -> str:
    """The CORINE code of a padded one: 310 → `31`, 0 → ""."""
    return str(padded).rstrip("0") if padded else ""


def code_range(code: str) -> tuple[int, int]:
    """The padded codes of a class and every class below it: `3` → 300 … 399, `31` → 310 … 319, `311` → 311."""
    step = 10 ** (3 - len(code))
    low = padded_code(code)
    return low, low + step - 1


def _load_column(folder: Path, name: str) -> np.ndarray:
    """A saved column, memory-mapped; a segment written before land-cover classes has none (all unknown)."""
    path = folder / f"{name}.npy"
    if name == "cover" and not path.exists():
        return np.zeros(len(np.load(folder / "sensor.npy", mmap_mode="r")), dtype=np.uint16)
    return np.load(path, mmap_mode="r")


def _extent(geo: np.ndarray) -> float:
    """The farthest a footprint's edge lies from its centre, in degrees (eastward to its east edge and westward to its
    west edge, so a footprint across 180° is measured along its own span)."""
    lon, lat, west, south, east, north = geo
    with np.errstate(invalid="ignore"):
        to_west, to_east = lon - west, east - lon
        spans = np.concatenate(
            [
                np.where(to_west < -1e-9, to_west + 360.0, to_west),
                np.where(to_east < -1e-9, to_east + 360.0, to_east),
                lat - south,
                north - lat,
            ]
        )
    spans = spans[~np.isnan(spans)]
    return float(spans.max()) if len(spans) else 0.0


def _count(slices: list[tuple[int, int]]) -> int:
    return sum(stop - start for start, stop in slices)
