"""Place and time as indexed terms, so tantivy filters by posting lists (Lucene's prefix-tree approach).

A tile's centre is indexed as one grid cell at each of three levels (10°, 1°, 0.1°) and its acquisition
day as a year, a month and a day term. A query's box (widened by the largest tile half-extent) becomes
the cells of the finest level that covers it in at most MAX_CELLS cells, and a time range becomes the
fewest whole years, months and days that cover it. Both are supersets of the exact answer; the exact test
runs on the hits (rsq.textindex.columns).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from rsq.textindex.filters import FIRST_YEAR, LAST_YEAR

LEVELS = (0.1, 1.0, 10.0)  # finest first
MAX_CELLS = 256
EARLIEST, LATEST = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)  # the span an open-ended time range covers


def cell_terms(lon: float, lat: float) -> list[str]:
    """The cells holding a point, one per level."""
    return [_cell(level, *_grid(level, lon, lat)) for level in LEVELS]


def box_cells(west: float, south: float, east: float, north: float) -> list[str] | None:
    """The cells of the finest level that covers the box in at most MAX_CELLS cells; None for a box so large
    (over a third of the globe) that cells would not narrow the search."""
    for level in LEVELS:
        (i0, j0), (i1, j1) = _grid(level, west, south), _grid(level, east, north)
        if (i1 - i0 + 1) * (j1 - j0 + 1) <= MAX_CELLS:
            return [_cell(level, i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]
    return None


def date_terms(seconds: int) -> list[str]:
    """The year, month and day terms of an acquisition time (UTC)."""
    day = datetime.fromtimestamp(seconds, UTC).date()
    return [f"y{day.year}", f"m{day:%Y-%m}", f"d{day:%Y-%m-%d}"]


def range_dates(after: int | None, before: int | None) -> list[str]:
    """The fewest year, month and day terms whose days cover [after, before] (epoch seconds, UTC)."""
    first = datetime.fromtimestamp(after, UTC).date() if after is not None else EARLIEST
    last = datetime.fromtimestamp(before, UTC).date() if before is not None else LATEST
    terms, day = [], first
    while day <= last:
        year_end, month_end = date(day.year, 12, 31), _month_end(day)
        if day == date(day.year, 1, 1) and year_end <= last:
            terms.append(f"y{day.year}")
            day = year_end + timedelta(days=1)
        elif day.day == 1 and month_end <= last:
            terms.append(f"m{day:%Y-%m}")
            day = month_end + timedelta(days=1)
        else:
            terms.append(f"d{day:%Y-%m-%d}")
            day += timedelta(days=1)
    return terms


def _grid(level: float, lon: float, lat: float) -> tuple[int, int]:
    columns, rows = round(360 / level), round(180 / level)
    i = min(max(math.floor((lon + 180) / level), 0), columns - 1)
    j = min(max(math.floor((lat + 90) / level), 0), rows - 1)
    return i, j


def _cell(level: float, i: int, j: int) -> str:
    return f"{level:g}:{i}:{j}"


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)
