"""Tile filters: sensor, bounding box, distance from a point, acquisition time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rsq.errors import RsqError
from rsq.imagery.timeparse import parse_time
from rsq.textindex.catalog import TileRow

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Filters:
    sensor: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    near: tuple[float, float, float] | None = None  # lon, lat, km
    after: datetime | None = None
    before: datetime | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.sensor, self.bbox, self.near, self.after, self.before))

    def accepts(self, tile: TileRow) -> bool:
        if self.sensor and tile.sensor != self.sensor:
            return False
        if self.bbox and not _in_bbox(tile, self.bbox):
            return False
        if self.near and (tile.lon is None or haversine_km(tile.lon, tile.lat, *self.near[:2]) > self.near[2]):
            return False
        return self._in_time(tile)

    def _in_time(self, tile: TileRow) -> bool:
        if not (self.after or self.before):
            return True
        time = parse_time(tile.time)
        if time is None:
            return False
        return (not self.after or time >= self.after) and (not self.before or time <= self.before)


def parse_filters(
    sensor: str | None = None, bbox: str | None = None, near: str | None = None, after: str | None = None, before: str | None = None
) -> Filters:
    """Filters from CLI-style strings, with a clear error for each malformed one."""
    return Filters(
        sensor=sensor,
        bbox=_numbers(bbox, 4, "--bbox", "minlon,minlat,maxlon,maxlat") if bbox else None,
        near=_numbers(near, 3, "--near", "lon,lat,km") if near else None,
        after=_date(after, "--after"),
        before=_date(before, "--before", end_of_day=True),
    )


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _in_bbox(tile: TileRow, box: tuple[float, float, float, float]) -> bool:
    min_lon, min_lat, max_lon, max_lat = box
    if tile.bounds:
        west, south, east, north = tile.bounds
        return west <= max_lon and east >= min_lon and south <= max_lat and north >= min_lat
    return tile.lon is not None and min_lon <= tile.lon <= max_lon and min_lat <= tile.lat <= max_lat


def _numbers(text: str, count: int, flag: str, shape: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise RsqError(f"{flag} wants {shape}, got {text!r}")
    return values


def _date(text: str | None, flag: str, end_of_day: bool = False) -> datetime | None:
    if text is None:
        return None
    parsed = parse_time(text)
    if parsed is None:
        raise RsqError(f"{flag} wants a date such as 2019-09-17, got {text!r}")
    if end_of_day and len(text.strip()) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    return parsed
