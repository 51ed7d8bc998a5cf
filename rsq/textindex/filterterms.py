"""Place and time as indexed terms, so tantivy filters by posting lists (Lucene's prefix-tree approach).

A tile's centre is indexed as one grid cell at each of three levels (10°, 1°, 0.1°) and its acquisition
day as a year, a month and a day term. A query's box (widened by the largest tile half-extent, and split
at 180° where it crosses it) becomes the cells of the finest level that covers it in at most MAX_CELLS
cells, and a time range, bounded by the earliest and latest times the index holds, becomes the fewest whole
years, months and days that cover it (any year datetime holds, so every mode filters the same tiles). Both
are supersets of the exact answer; the exact test runs on the hits (rsq.textindex.columns).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from rsq.geo import Box, widened
from rsq.imagery.timeparse import from_epoch_seconds

LEVELS = (0.1, 1.0, 10.0)  # finest first
MAX_CELLS = 256
MAX_DATE_TERMS = 4096  # a range needing more terms is left to the exact test


def cell_terms(lon: float, lat: float) -> list[str]:
    """The cells holding a point, one per level."""
    return [_cell(level, *_grid(level, lon, lat)) for level in LEVELS]


def box_cells(west: float, south: float, east: float, north: float) -> list[str] | None:
    """The cells of the finest level that covers a box that does not cross 180° in at most MAX_CELLS cells; None
    for a box so large (over a third of the globe) that cells would not narrow the search."""
    for level in LEVELS:
        (i0, j0), (i1, j1) = _grid(level, west, south), _grid(level, east, north)
        if (i1 - i0 + 1) * (j1 - j0 + 1) <= MAX_CELLS:
            return [_cell(level, i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
    return None


def reach_cells(box: Box, margin: float) -> list[str] | None:
    """The cells of every centre that a footprint meeting `box` can have (the box widened by `margin`, the largest
    half-extent, either side of 180°); None when that reach is too large to narrow anything."""
    cells = [box_cells(*part) for part in widened(box, margin)]
    return None if any(c is None for c in cells) else [cell for part in cells for cell in part]


def date_terms(seconds: int) -> list[str]:
    """The year, month and day terms of an acquisition time (UTC)."""
    day = from_epoch_seconds(seconds).date()
    return [f"y{day.year}", f"m{day:%Y-%m}", f"d{day:%Y-%m-%d}"]


def range_dates(after: int | None, before: int | None, span: tuple[int, int]) -> list[str] | None:
    """The fewest year, month and day terms whose days cover [after, before] (epoch seconds, UTC) within `span`, the
    earliest and latest times the index holds: [] when no day can match, None when it would take more than
    MAX_DATE_TERMS terms."""
    first = from_epoch_seconds(max(span[0], after) if after is not None else span[0]).date()
    last = from_epoch_seconds(min(span[1], before) if before is not None else span[1]).date()
    terms, day = [], first
    while day <= last:
        if len(terms) >= MAX_DATE_TERMS:
            return None
        term, end = _largest_period(day, last)
        terms.append(term)
        if end >= last:
            break
        day = end + timedelta(days=1)
    return terms


def _largest_period(day: date, last: date) -> tuple[str, date]:
    """The term of the longest year, month or day that starts at `day` and ends by `last`, and its last day."""
    year_end, month_end = date(day.year, 12, 31), _month_end(day)
    if day == date(day.year, 1, 1) and year_end <= last:
        return f"y{day.year}", year_end
    if day.day == 1 and month_end <= last:
        return f"m{day:%Y-%m}", month_end
    return f"d{day:%Y-%m-%d}", day


def _grid(level: float, lon: float, lat: float) -> tuple[int, int]:
    columns, rows = round(360 / level), round(180 / level)
    i = min(max(math.floor((lon + 180) / level), 0), columns - 1)
    j = min(max(math.floor((lat + 90) / level), 0), rows - 1)
    return i, j


def _cell(level: float, i: int, j: int) -> str:
    return f"{level:g}:{i}:{j}"


def _month_end(day: date) -> date:
    if (day.year, day.month) == (9999, 12):
        return date.max
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)
