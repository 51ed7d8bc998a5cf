"""Per-row tile attributes as numpy columns: which tile a row belongs to, and what filters test.

A tile's land-cover class is a column too: its CORINE code padded to three digits (`31` → 310, 0 unknown), so a
class at any level is one integer range. A segment stores its columns as `.npy` files, opened memory-mapped, plus
sorted indexes (values ascending, with their positions) of the sensor, time and centre-longitude columns and of the
centre's 1° grid cell (`cell`: a box is one run of cells per degree of latitude). A filter finds the narrowest of its
ranges by binary search. When gathering that range's rows costs less than one vectorised pass over the columns
would (`PASS_COSTS`: a sensor's one-byte column is passed over far faster than its rows are gathered, a box's four
float columns far slower), only its rows are tested, and only for the conditions the range does not answer exactly;
otherwise the pass tests everything. FAISS applies the result as an ID-selector bitmap.
"""

from __future__ import annotations

import math
import mmap
from dataclasses import dataclass, field, replace
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
INDEXED = ("sensor", "time", "lon", "cell")  # segments written before grid cells have no cell index
SAVED_FILES = frozenset(  # what `Columns.save` writes in a segment folder
    {"tiles.bin", "tiles.offsets.npy"}
    | {f"{name}.npy" for name in FILES}
    | {f"{name}.{part}.npy" for name in INDEXED for part in ("keys", "order")}
)
PASS_COSTS = {  # a condition's cost per row in one pass over the columns, in gathers of one row of a range: measured
    "sensor": 0.02,  # on a 2-million-row segment (bench/filter_masks.py: a gather 3.4 ns a row kept, a pass testing
    "land_cover": 0.05,  # the sensor 0.06 ns a row, the class 0.16, a time range 0.81, a box 10.8, a distance 2.3)
    "time": 0.25,
    "bbox": 3.0,
    "near": 0.7,
}
NO_CELL = -1


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

    def slices(self, pieces: list[tuple[float, float]]) -> list[tuple[int, int]]:
        """The (start, stop) runs of these value ranges (low, high inclusive), two binary searches each, in one call."""
        if not pieces:
            return []
        lows = np.array([low for low, _ in pieces], dtype=self.keys.dtype)
        highs = np.array([high for _, high in pieces], dtype=self.keys.dtype)
        starts, stops = np.searchsorted(self.keys, lows, "left"), np.searchsorted(self.keys, highs, "right")
        return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b > a]


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
        tiles = self.tiles.take(positions) if with_tiles else Strings(np.zeros(len(positions) + 1, np.int64), b"")
        return Columns(  # np.take: a memory map's fancy indexing is several times slower
            tiles,
            np.take(self.sensor, positions),
            np.take(self.time, positions),
            np.take(self.geo, positions, axis=1),
            np.take(self.cover, positions),
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
            if (folder / f"{name}.keys.npy").is_file()
        }
        return cls(Strings.load(folder, "tiles"), *arrays, extent, index)

    def time_span(self) -> tuple[int, int] | None:
        """The earliest and latest acquisition times of the rows (None when none has one)."""
        keys = self.index["time"].keys if self.index else np.sort(self.time)
        first = int(np.searchsorted(keys, NO_TIME, "right"))
        return (int(keys[first]), int(keys[-1])) if first < len(keys) else None

    def _values(self, name: str) -> np.ndarray:
        if name == "cell":
            return grid_cells(self.geo[0], self.geo[1])
        return self.geo[0] if name == "lon" else getattr(self, name)

    def mask(self, filters: Filters) -> np.ndarray | None:
        """Rows that pass `filters` (None when no filter is set); rows lacking a tested fact fail."""
        if not filters.active:
            return None
        narrowest = self._narrowest(filters)
        if narrowest is None or _count(narrowest[1]) > len(self) * pass_cost(filters):
            return self._exact(filters)  # one vectorised pass over the columns is cheaper
        name, slices = narrowest
        column = self.index[name]
        candidates = _gathered(column.order, slices, np.int32)
        rest = _without(filters, name)  # the conditions the range did not answer exactly
        if name == "cell" and filters.bbox:  # a centre inside the box: its footprint meets the box, nothing to test
            inside = inner_cells(filters.bbox, _gathered(column.keys, slices, np.int32))
            sure, candidates = candidates[inside], candidates[~inside]
            sure = self._passing(sure, replace(rest, bbox=None))
        else:
            sure = np.zeros(0, np.int32)
        if name == "lon" and rest.active:  # a longitude slab: keep the rows in the latitude band before the rest
            south, north = self._latitudes(filters)
            latitudes = np.take(self.geo[1], candidates)
            candidates = candidates[(latitudes >= south) & (latitudes <= north)]
        mask = np.zeros(len(self), dtype=bool)
        mask[sure] = True
        mask[self._passing(candidates, rest)] = True
        return mask

    def _passing(self, positions: np.ndarray, filters: Filters) -> np.ndarray:
        """The positions whose rows pass `filters` (all of them when no filter is set)."""
        if not filters.active:
            return positions
        return positions[self.take(positions, with_tiles=False)._exact(filters)]

    def _narrowest(self, filters: Filters) -> tuple[str, list[tuple[int, int]]] | None:
        """The indexed range the filters imply that holds the fewest rows: (column, [(start, stop), …] in its order;
        a longitude range across 180° is two slices, a box one slice of grid cells per degree of latitude)."""
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
            if box and width(box) + 2 * margin < 360:  # the centres a box can reach: itself widened by the extent
                ranges.append(("lon", lon_ranges(box[0] - margin, box[0] + width(box) + margin)))
                if "cell" in self.index:
                    ranges.append(("cell", cell_ranges(box, margin)))
        spans = [(name, self.index[name].slices(pieces)) for name, pieces in ranges if name in self.index]
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


def pass_cost(filters: Filters) -> float:
    """What one pass over the columns costs per row for these filters, in gathers of a range's row."""
    return sum(PASS_COSTS[name] for name in filters.conditions)


def grid_cells(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The 1° grid cell of each centre (int32, row-major from the south-west corner; NO_CELL where unknown)."""
    with np.errstate(invalid="ignore"):
        row = np.clip(np.floor(np.asarray(lat) + 90.0), 0, 179)
        column = np.clip(np.floor(np.asarray(lon) + 180.0), 0, 359)
        cells = row * 360 + column
    return np.where(np.isnan(cells), NO_CELL, cells).astype(np.int32)


def cell_ranges(box: Box, margin: float) -> list[tuple[float, float]]:
    """The grid cells whose centres a box can reach (widened by `margin`): per degree of latitude, one run of cells
    (two across 180°), as (first, last) cell numbers."""
    south, north = max(-90.0, box[1] - margin), min(90.0, box[3] + margin)
    first_row, last_row = int(min(179, math.floor(south + 90.0))), int(min(179, math.floor(north + 90.0)))
    columns = [
        (int(min(359, math.floor(low + 180.0))), int(min(359, math.floor(high + 180.0))))
        for low, high in lon_ranges(box[0] - margin, box[0] + width(box) + margin)
    ]
    return [(row * 360 + low, row * 360 + high) for row in range(first_row, last_row + 1) for low, high in columns]


def inner_cells(box: Box, cells: np.ndarray) -> np.ndarray:
    """Which grid cells lie wholly inside the box (so every centre in them does)."""
    row, column = cells // 360, cells % 360
    first_row, last_row = math.ceil(box[1] + 90.0), math.floor(box[3] + 90.0) - 1
    inside = np.zeros(len(cells), dtype=bool)
    for low, high in lon_ranges(box[0], box[0] + width(box)):
        inside |= (column >= math.ceil(low + 180.0)) & (column <= math.floor(high + 180.0) - 1)
    return inside & (row >= first_row) & (row <= last_row) & (cells != NO_CELL)


def _gathered(values: np.ndarray, slices: list[tuple[int, int]], dtype) -> np.ndarray:
    """The values of several runs of a sorted index, one array."""
    return np.concatenate([np.asarray(values[start:stop]) for start, stop in slices] or [np.zeros(0, dtype)])


def _without(filters: Filters, answered: str) -> Filters:
    """The filters less the condition an index range answered exactly (sensor or time: their ranges are exact;
    longitude slabs and grid cells only bound a place)."""
    if answered == "sensor":
        return replace(filters, sensor=None)
    if answered == "time":
        return replace(filters, after=None, before=None)
    return filters


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
