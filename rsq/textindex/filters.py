"""Tile filters as the engines take them: sensor, land-cover class, bounding box, distance from a point,
acquisition time.

A `Filters` value is engine-agnostic; `rsq.textindex.bm25` turns it into tantivy term queries and
`rsq.textindex.columns` into a row mask for FAISS ID selectors. Users' strings become one in
`rsq.query.filters.parse_filters`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rsq.geo import EARTH_RADIUS_KM, normalised_box
from rsq.imagery.timeparse import epoch_seconds

SENSORS = ("rgb", "s2", "s1", "other")


@dataclass(frozen=True)
class Filters:
    sensor: str | None = None
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north; west > east crosses 180°
    near: tuple[float, float, float] | None = None  # lon, lat, km
    after: datetime | None = None
    before: datetime | None = None
    land_cover: str | None = None  # a CORINE code at any level: the class and every class below it

    @property
    def conditions(self) -> tuple[str, ...]:
        """The conditions set: `sensor`, `land_cover`, `time` (after, before or both), `bbox`, `near`."""
        values = {
            "sensor": self.sensor,
            "land_cover": self.land_cover,
            "time": self.after if self.after is not None else self.before,
            "bbox": self.bbox,
            "near": self.near,
        }
        return tuple(name for name, value in values.items() if value is not None)

    @property
    def active(self) -> bool:
        return bool(self.conditions)

    @property
    def by_place(self) -> bool:
        """Whether a box or a distance filters: their grid-cell terms admit more tiles than the exact test keeps."""
        return self.bbox is not None or self.near is not None

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


def _seconds(moment: datetime | None) -> int | None:
    return epoch_seconds(moment) if moment else None
