"""Longitudes and boxes on the sphere, with the antimeridian as STAC and RFC 7946 write it.

A box is (west, south, east, north) in WGS84 degrees, both longitudes in -180..180; west > east means the box
crosses 180° (RFC 7946 §5.2, STAC's `bbox`). Footprints, place filters and GeoJSON all go through here, so a tile
across the date line is found by a box on either side of it and drawn as two polygons.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EARTH_RADIUS_KM = 6371.0088
Box = tuple[float, float, float, float]


class PlaceError(ValueError):
    """A longitude, latitude or box that is not a place on the Earth."""


def wrap_lon(lon: float) -> float:
    """The same meridian in -180..180 (180 stays 180)."""
    if -180.0 <= lon <= 180.0:
        return float(lon)
    return float((lon + 180.0) % 360.0 - 180.0)


def checked_point(lon: Any, lat: Any) -> tuple[float, float]:
    """A record's lon/lat: finite, latitude in -90..90, longitude in -180..360 (0..360 grids are wrapped)."""
    lon, lat = _finite(lon, "lon"), _finite(lat, "lat")
    if not -90.0 <= lat <= 90.0:
        raise PlaceError(f"lat {lat:g} is outside -90..90")
    if not -180.0 <= lon <= 360.0:
        raise PlaceError(f"lon {lon:g} is outside -180..180 (or 0..360)")
    return wrap_lon(lon), lat


def normalised_box(west: float, south: float, east: float, north: float) -> Box:
    """A box from bounds as readers give them: longitudes wrapped into -180..180 (179..181 becomes 179..-179, a
    crossing box), a box 360° wide or more the whole band of latitudes."""
    if not (math.isfinite(west) and math.isfinite(east) and -90.0 <= south <= north <= 90.0):
        raise PlaceError(
            f"bbox {[west, south, east, north]} is not west,south,east,north with -90 <= south <= north <= 90"
        )
    if west <= east and east - west >= 360.0:
        return (-180.0, float(south), 180.0, float(north))
    w, e = wrap_lon(west), wrap_lon(east)
    if e == -180.0 and west < east:
        e = 180.0
    if w == 180.0 and west < east:
        w = -180.0
    return (w, float(south), e, float(north))


def checked_box(values: Any) -> Box:
    """A record's or a query's bbox: four finite numbers, west,south,east,north; west > east crosses 180°."""
    if not isinstance(values, list | tuple) or len(values) != 4:
        raise PlaceError(f"bbox must be [west, south, east, north], got {values!r}")
    west, south, east, north = (_finite(v, "bbox") for v in values)
    if not (-180.0 <= west <= 360.0 and -180.0 <= east <= 360.0):
        raise PlaceError(f"bbox {list(values)} has a longitude outside -180..180 (or 0..360)")
    if west > east and west <= 180.0 and east >= -180.0:
        return normalised_box(west, south, east + 360.0, north)
    return normalised_box(west, south, east, north)


def width(box: Box) -> float:
    """Degrees of longitude the box spans, going east from west."""
    return box[2] - box[0] if box[0] <= box[2] else box[2] + 360.0 - box[0]


def centre(box: Box) -> tuple[float, float]:
    """The middle of the box along its own span (a box across 180° has its centre near 180°, not near 0°)."""
    return wrap_lon(box[0] + width(box) / 2), (box[1] + box[3]) / 2


def parts(box: Box) -> list[Box]:
    """The box as boxes that do not cross 180°: itself, or its western and eastern halves."""
    west, south, east, north = box
    return [box] if west <= east else [(west, south, 180.0, north), (-180.0, south, east, north)]


def lon_ranges(low: float, high: float) -> list[tuple[float, float]]:
    """An interval of unwrapped longitude (low <= high, either side may pass ±180) as ranges within -180..180."""
    if high - low >= 360.0:
        return [(-180.0, 180.0)]
    shift = 360.0 * math.floor((low + 180.0) / 360.0)
    low, high = low - shift, high - shift
    return [(low, high)] if high <= 180.0 else [(low, 180.0), (-180.0, high - 360.0)]


def widened(box: Box, degrees: float) -> list[Box]:
    """The box grown by `degrees` on every side, as boxes that do not cross 180°."""
    south, north = max(-90.0, box[1] - degrees), min(90.0, box[3] + degrees)
    return [(low, south, high, north) for low, high in lon_ranges(box[0] - degrees, box[0] + width(box) + degrees)]


def lon_inside(lon: np.ndarray, west: float, east: float) -> np.ndarray:
    """Which longitudes lie in the span west..east (across 180° when west > east); NaN is outside."""
    with np.errstate(invalid="ignore"):
        if west <= east:
            return (lon >= west) & (lon <= east)
        return (lon >= west) | (lon <= east)


def lon_overlaps(west: np.ndarray, east: np.ndarray, box_west: float, box_east: float) -> np.ndarray:
    """Which spans west[i]..east[i] (each may cross 180°) share a meridian with box_west..box_east."""
    with np.errstate(invalid="ignore"):
        east = np.where(west > east, east + 360.0, east)
        box_east = box_east + 360.0 if box_west > box_east else box_east
        hit = np.zeros(np.shape(west), dtype=bool)
        for shift in (-360.0, 0.0, 360.0):
            hit |= (west <= box_east + shift) & (east >= box_west + shift)
        return hit


def polygon(box: Box) -> dict[str, Any]:
    """The box as GeoJSON: a Polygon, or a MultiPolygon split at 180° (RFC 7946 §3.1.9), counter-clockwise rings."""
    rings = [[[[w, s], [e, s], [e, n], [w, n], [w, s]]] for w, s, e, n in parts(box)]
    return (
        {"type": "Polygon", "coordinates": rings[0]}
        if len(rings) == 1
        else {"type": "MultiPolygon", "coordinates": rings}
    )


def haversine_km(lon1, lat1, lon2, lat2):
    """Great-circle distance in km; works on floats and on numpy arrays alike."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, np.radians(np.subtract(lon2, lon1))
    a = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PlaceError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise PlaceError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise PlaceError(f"{name} must be a finite number, got {value!r}")
    return number
