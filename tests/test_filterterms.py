"""Place and time as terms: coverings checked against the exact tests, by hand and at random."""

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np

from rsq.imagery.timeparse import epoch_seconds
from rsq.query import parse_filters
from rsq.textindex.columns import Columns, TileAttrs
from rsq.textindex.filterterms import MAX_CELLS, box_cells, cell_terms, date_terms, range_dates


def _seconds(day: str, hour: int = 0) -> int:
    return epoch_seconds(datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC))


SPAN = (_seconds("1900-01-01"), _seconds("2100-12-31", 12))  # the earliest and latest times an index holds


def test_date_ranges_become_the_fewest_whole_years_months_and_days():
    assert range_dates(_seconds("2020-01-01"), _seconds("2021-12-31", 23), SPAN) == ["y2020", "y2021"]
    assert range_dates(_seconds("2020-02-27"), _seconds("2020-04-02"), SPAN) == [
        "d2020-02-27",
        "d2020-02-28",
        "d2020-02-29",
        "m2020-03",
        "d2020-04-01",
        "d2020-04-02",
    ]
    assert range_dates(_seconds("2019-12-31"), _seconds("2019-12-31", 12), SPAN) == ["d2019-12-31"]
    assert range_dates(_seconds("2100-12-30"), None, SPAN) == ["d2100-12-30", "d2100-12-31"]
    assert range_dates(None, _seconds("1901-03-01"), SPAN) == ["y1900", "m1901-01", "m1901-02", "d1901-03-01"]
    assert date_terms(_seconds("2019-09-17", 18)) == ["y2019", "m2019-09", "d2019-09-17"]


def test_date_ranges_are_bounded_by_the_times_the_index_holds():
    assert range_dates(_seconds("2101-01-01"), None, SPAN) == []  # after every indexed time: nothing can match
    assert range_dates(None, _seconds("1899-12-31"), SPAN) == []
    far = (_seconds("0001-01-01"), _seconds("9999-12-31", 23))
    assert range_dates(_seconds("9999-12-01"), None, far) == ["m9999-12"]  # the last month datetime holds
    assert range_dates(None, None, far) is None  # 9,999 year terms: left to the exact test
    assert date_terms(_seconds("1900-06-01")) == ["y1900", "m1900-06", "d1900-06-01"]


def test_a_date_term_matches_exactly_when_its_day_lies_in_the_range():
    rng = random.Random(3)
    for _ in range(300):
        start = date(2015, 1, 1) + timedelta(days=rng.randrange(4000))
        end = start + timedelta(days=rng.randrange(900))
        covering = set(range_dates(_seconds(start.isoformat()), _seconds(end.isoformat(), 23), SPAN))
        day = start + timedelta(days=rng.randrange(-60, (end - start).days + 60))
        assert bool(covering & set(date_terms(_seconds(day.isoformat(), 6)))) == (start <= day <= end)


def test_box_cells_cover_every_point_inside_with_few_cells():
    rng = random.Random(5)
    for _ in range(300):
        west, south = rng.uniform(-180, 170), rng.uniform(-90, 80)
        east, north = min(180, west + rng.expovariate(0.2)), min(90, south + rng.expovariate(0.2))
        cells = box_cells(west, south, east, north)
        if cells is None:
            assert (east - west) * (north - south) > 360 * 180 / 4
            continue
        cells = set(cells)
        assert len(cells) <= MAX_CELLS
        for _ in range(20):
            lon, lat = rng.uniform(west, east), rng.uniform(south, north)
            assert cells & set(cell_terms(lon, lat)), (west, south, east, north, lon, lat)
    assert box_cells(-180, -90, 180, 90) is None and len(box_cells(-10, 35, 30, 60)) == 20


def test_indexed_ranges_give_the_same_mask_as_a_full_scan(tmp_path):
    rng = np.random.default_rng(0)
    attrs = [
        TileAttrs(
            rng.choice(["rgb", "s1", "s2", ""]),
            None if rng.random() < 0.1 else int(rng.integers(1.4e9, 1.8e9)),
            _box(rng),
        )
        for _ in range(5000)
    ]
    columns = Columns.build([f"t{n}" for n in range(5000)], attrs)
    columns.save(tmp_path)
    indexed = Columns.load(tmp_path, columns.extent)
    for values in (
        {"sensor": "s1"},
        {"after": "2017-01-01", "before": "2018-06-30"},
        {"bbox": "-10,35,30,60"},
        {"near": "10,50,800"},
        {"near": "179.5,0,300"},
        {"bbox": "100,-20,140,10", "sensor": "s2", "after": "2016-01-01"},
    ):
        filters = parse_filters(**values)
        assert np.array_equal(indexed.mask(filters), columns.mask(filters)), values


def _box(rng):
    if rng.random() < 0.1:
        return (float("nan"),) * 6
    lon, lat, half = rng.uniform(-180, 180), rng.uniform(-80, 80), rng.uniform(0, 2)
    return (lon, lat, lon - half, lat - half, lon + half, lat + half)
