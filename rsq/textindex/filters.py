"""Tile filters: sensor, bounding box, distance from a point, acquisition time.

A `Filters` value is engine-agnostic; `rsq.textindex.bm25` turns it into tantivy fast-field queries and
`rsq.textindex.columns` into a row mask for FAISS ID selectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rsq.errors import RsqError
from rsq.imagery.timeparse import parse_time

EARTH_RADIUS_KM = 6371.0088
SENSORS = ("rgb", "s2", "s1", "other")
FIRST_YEAR, LAST_YEAR = 1950, 2099


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

    def time_range(self) -> tuple[int | None, int | None]:
        """(after, before) as epoch seconds; None where unbounded."""
        return (_seconds(self.after), _seconds(self.before))

    def near_box(self) -> tuple[float, float, float, float] | None:
        """A lon/lat box that holds the `near` circle (whole longitudes near a pole or across the antimeridian)."""
        if self.near is None:
            return None
        lon, lat, km = self.near
        d_lat = math.degrees(km / EARTH_RADIUS_KM)
        south, north = max(-90.0, lat - d_lat), min(90.0, lat + d_lat)
        cos_lat = min(math.cos(math.radians(south)), math.cos(math.radians(north)))
        if cos_lat <= 1e-6 or d_lat / max(cos_lat, 1e-6) >= 180 or abs(lon) + d_lat / cos_lat > 180:
            return (-180.0, south, 180.0, north)
        d_lon = d_lat / cos_lat
        return (lon - d_lon, south, lon + d_lon, north)


def parse_filters(
    sensor: str | None = None, bbox: str | None = None, near: str | None = None, after: str | None = None, before: str | None = None
) -> Filters:
    """Filters from CLI-style strings, with a clear error for each malformed one."""
    if sensor is not None and sensor not in SENSORS:
        raise RsqError(f"--sensor must be one of {', '.join(SENSORS)}, not {sensor!r}")
    filters = Filters(
        sensor=sensor,
        bbox=_numbers(bbox, 4, "--bbox", "minlon,minlat,maxlon,maxlat") if bbox else None,
        near=_numbers(near, 3, "--near", "lon,lat,km") if near else None,
        after=_date(after, "--after"),
        before=_date(before, "--before", end_of_day=True),
    )
    _check_ranges(filters)
    return filters


def haversine_km(lon1, lat1, lon2, lat2):
    """Great-circle distance in km; works on floats and on numpy arrays alike."""
    import numpy as np

    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, np.radians(np.subtract(lon2, lon1))
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def _check_ranges(filters: Filters) -> None:
    if filters.bbox:
        min_lon, min_lat, max_lon, max_lat = filters.bbox
        if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
            raise RsqError("--bbox wants minlon,minlat,maxlon,maxlat with -180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90")
    if filters.near:
        lon, lat, km = filters.near
        if not (-180 <= lon <= 180 and -90 <= lat <= 90 and km > 0):
            raise RsqError("--near wants lon,lat,km with lon in -180..180, lat in -90..90 and km > 0")
    if filters.after and filters.before and filters.after > filters.before:
        raise RsqError("--after is later than --before: no tile can match")


def _seconds(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def _numbers(text: str, count: int, flag: str, shape: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise RsqError(f"{flag} wants {shape}, got {text!r}")
    return values


def _date(text: str | None, flag: str, end_of_day: bool = False) -> datetime | None:
    if text is None:
        return None
    parsed = parse_time(text)
    if parsed is None or not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise RsqError(f"{flag} wants a date from {FIRST_YEAR} to {LAST_YEAR}, such as 2019-09-17, got {text!r}")
    if end_of_day and len(text.strip()) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    return parsed
