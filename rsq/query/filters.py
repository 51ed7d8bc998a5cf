"""Filters from what users type: `--bbox 170,-10,-170,10`, `--after 2019`, `--class "Urban fabric"`, as CLI options
or API parameters."""

from __future__ import annotations

import math
from datetime import datetime

from rsq.errors import OptionError, RsqError
from rsq.imagery.timeparse import parse_period
from rsq.landcover import corine
from rsq.textindex.filters import SENSORS, Filters


def parse_filters(
    sensor: str | None = None,
    bbox: str | None = None,
    near: str | None = None,
    after: str | None = None,
    before: str | None = None,
    land_cover: str | None = None,
) -> Filters:
    """Filters from users' strings (CLI options, API parameters), an `OptionError` for each malformed one."""
    if sensor is not None and sensor not in SENSORS:
        raise OptionError("sensor", "must be one of {allowed}, not {value!r}", allowed=", ".join(SENSORS), value=sensor)
    filters = Filters(
        sensor=sensor,
        bbox=_numbers(bbox, 4, "bbox", "west,south,east,north") if bbox else None,
        near=_numbers(near, 3, "near", "lon,lat,km") if near else None,
        after=_date(after, "after"),
        before=_date(before, "before", end_of_day=True),
        land_cover=_land_cover(land_cover),
    )
    _check_ranges(filters)
    return filters


def _check_ranges(filters: Filters) -> None:
    if filters.bbox:
        west, south, east, north = filters.bbox
        if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
            raise OptionError(
                "bbox",
                "wants west,south,east,north with longitudes in -180..180 (west > east crosses "
                "180°) and -90 <= south <= north <= 90",
            )
    if filters.near:
        lon, lat, km = filters.near
        if not (-180 <= lon <= 180 and -90 <= lat <= 90 and km > 0):
            raise OptionError("near", "wants lon,lat,km with lon in -180..180, lat in -90..90 and km > 0")
    if filters.after and filters.before and filters.after > filters.before:
        raise OptionError("after", "is later than {before}: no tile can match")


def _land_cover(text: str | None) -> str | None:
    """The CORINE code a class name or code names (`--class 1`, `--class "Artificial surfaces"`)."""
    if text is None:
        return None
    try:
        return corine().find(text).code
    except RsqError as error:
        raise OptionError("class", "{reason}", reason=str(error)) from None


def _numbers(text: str, count: int, option: str, shape: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise OptionError(option, "wants {shape}, got {value!r}", shape=shape, value=text)
    return values


def _date(text: str | None, option: str, end_of_day: bool = False) -> datetime | None:
    """A filter's date: its first instant, or with `end_of_day` its last (`--before 2021`, `--before 20210315`
    and `--before 2021-03-15` all include the whole period they name)."""
    if text is None:
        return None
    period = parse_period(text)
    if period is None:
        raise OptionError(
            option,
            "wants a date or time such as 2019-09-17, 20190917, 2019-09, 2019 or 2019-09-17T10:30:00Z, got {value!r}",
            value=text,
        )
    return period[1] if end_of_day else period[0]
