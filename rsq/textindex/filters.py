"""Tile filters: sensor, bounding box, distance from a point, acquisition time.

A `Filters` value is engine-agnostic; `rsq.textindex.bm25` turns it into tantivy fast-field queries and
`rsq.textindex.columns` into a row mask for FAISS ID selectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rsq.errors import RsqError
from rsq.geo import EARTH_RADIUS_KM, normalised_box
from rsq.imagery.timeparse import epoch_seconds, parse_period

SENSORS = ("rgb", "s2", "s1", "other")


@dataclass(frozen=True)
class Filters:
    sensor: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north; west > east crosses 180°
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
        """A lon/lat box that holds the `near` circle (west > east across 180°, whole longitudes near a pole)."""
        if self.near is None:
            return None
        lon, lat, km = self.near
        d_lat = math.degrees(km / EARTH_RADIUS_KM)
        south, north = max(-90.0, lat - d_lat), min(90.0, lat + d_lat)
        cos_lat = min(math.cos(math.radians(south)), math.cos(math.radians(north)))
        if cos_lat <= 1e-6 or d_lat / max(cos_lat, 1e-6) >= 180:
            return (-180.0, south, 180.0, north)
        d_lon = d_lat / cos_lat
        return normalised_box(lon - d_lon, south, lon + d_lon, north)  # across 180° as west > east


def parse_filters(
    sensor: str | None = None, bbox: str | None = None, near: str | None = None, after: str | None = None, before: str | None = None
) -> Filters:
    """Filters from CLI-style strings, with a clear error for each malformed one."""
    if sensor is not None and sensor not in SENSORS:
        raise RsqError(f"--sensor must be one of {', '.join(SENSORS)}, not {sensor!r}")
    filters = Filters(
        sensor=sensor,
        bbox=_numbers(bbox, 4, "--bbox", "west,south,east,north") if bbox else None,
        near=_numbers(near, 3, "--near", "lon,lat,km") if near else None,
        after=_date(after, "--after"),
        before=_date(before, "--before", end_of_day=True),
    )
    _check_ranges(filters)
    return filters


def _check_ranges(filters: Filters) -> None:
    if filters.bbox:
        west, south, east, north = filters.bbox
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
            raise RsqError("--bbox wants west,south,east,north with longitudes in -180..180 (west > east crosses 180°) "
                           "and -90 <= south <= north <= 90")
    if filters.near:
        lon, lat, km = filters.near
        if not (-180 <= lon <= 180 and -90 <= lat <= 90 and km > 0):
            raise RsqError("--near wants lon,lat,km with lon in -180..180, lat in -90..90 and km > 0")
    if filters.after and filters.before and filters.after > filters.before:
        raise RsqError("--after is later than --before: no tile can match")


def _seconds(moment: datetime | None) -> int | None:
    return epoch_seconds(moment) if moment else None


def _numbers(text: str, count: int, flag: str, shape: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise RsqError(f"{flag} wants {shape}, got {text!r}")
    return values


def _date(text: str | None, flag: str, end_of_day: bool = False) -> datetime | None:
    """A filter's date: its first instant, or with `end_of_day` its last (`--before 2021`, `--before 20210315`
    and `--before 2021-03-15` all include the whole period they name)."""
    if text is None:
        return None
    period = parse_period(text)
    if period is None:
        raise RsqError(f"{flag} wants a date or time such as 2019-09-17, 20190917, 2019-09, 2019 or 2019-09-17T10:30:00Z, got {text!r}")
    return period[1] if end_of_day else period[0]
