from datetime import UTC, datetime

import numpy as np
import pytest

from rsq.errors import RsqError
from rsq.geo import haversine_km
from rsq.query import Filters, parse_filters
from rsq.query.fusion import best_per_tile, min_max, ranks, reciprocal_rank_fusion, weighted_fusion
from rsq.textindex.columns import Columns, TileAttrs


def test_best_per_tile_takes_the_max_over_variants():
    rows, tiles, scores = (
        np.array([0, 1, 2, 7]),
        np.array(["a", "a", "b", "a"], dtype=object),
        np.array([0.2, 0.9, 0.5, 0.9]),
    )
    assert best_per_tile(rows, tiles, scores) == {"a": (pytest.approx(0.9), 1), "b": (pytest.approx(0.5), 2)}
    assert best_per_tile(np.array([]), np.array([]), np.array([])) == {}


def test_ranks_break_ties_by_id():
    assert ranks({"b": 1.0, "a": 1.0, "c": 2.0}) == {"c": 1, "a": 2, "b": 3}


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([{"a": 1, "b": 2}, {"b": 1, "c": 2}], k=60)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)


def test_weighted_fusion_by_hand():
    sparse = {"a": 10.0, "b": 5.0, "c": 0.0}  # -> 1, 0.5, 0
    dense = {"b": 0.8, "c": 0.4}  # -> 1, 0
    fused = weighted_fusion(sparse, dense, alpha=0.25)
    assert fused == pytest.approx({"a": 0.75, "b": 0.25 + 0.375, "c": 0.0})
    assert min_max({"x": 3.0, "y": 3.0}) == {"x": 1.0, "y": 1.0}


def _tiles(*records):
    return Columns.build([str(n) for n in range(len(records))], [TileAttrs.of(r) for r in records])


def _kept(columns, **filters):
    mask = columns.mask(parse_filters(**filters))
    return [n for n in range(len(columns)) if mask is None or mask[n]]


def test_filters_as_one_mask_over_the_columns():
    murcia = {
        "sensor": "s1",
        "center": (-0.76, 38.1),
        "bounds": (-0.78, 38.08, -0.74, 38.13),
        "time": "2019-09-17T00:00:00+00:00",
    }
    paris = {"sensor": "s2", "center": (2.35, 48.86), "time": "2020-01-01T00:00:00+00:00"}
    plain = {"sensor": "rgb"}
    tiles = _tiles(murcia, paris, plain)
    assert _kept(tiles, near="-0.7,38.1,10") == [0]
    assert _kept(tiles, bbox="-0.75,38.0,0,39") == [0]  # overlaps the tile's bounds but not its centre
    assert _kept(tiles, bbox="2,48,3,49") == [1]  # a tile with a centre only is a point
    assert _kept(tiles, after="2019-09-17", before="2019-09-17") == [0]
    assert _kept(tiles, after="2019-09-18") == [1] and _kept(tiles, before="2019-12-31") == [0]
    assert _kept(tiles, sensor="s2") == [1] and _kept(tiles, sensor="rgb") == [2]
    assert _kept(tiles) == [0, 1, 2] and not Filters().active
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.01)


def test_near_box_holds_the_circle_and_wraps_at_the_antimeridian():
    west, south, east, north = parse_filters(near="10,50,100").near_box()
    assert south < 50 - 0.89 and north > 50 + 0.89 and west < 10 - 1.39 and east > 10 + 1.39
    assert haversine_km(10, 50, west, 50) >= 100 and haversine_km(10, 50, 10, north) >= 99.99
    west, _, east, _ = parse_filters(near="179.9,0,50").near_box()  # across 180°: west > east, as a STAC bbox
    assert 179.4 < west < 179.5 and -179.7 < east < -179.6
    tiles = _tiles({"sensor": "s1", "center": (-179.9, 0.0)})
    assert _kept(tiles, near="179.9,0,50") == [0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bbox": "1,2,3"}, "--bbox"),
        ({"near": "a,b,c"}, "--near"),
        ({"after": "yesterday"}, "--after"),
        ({"bbox": "10,5,20,1"}, "--bbox"),
        ({"bbox": "185,0,190,1"}, "--bbox"),
        ({"near": "0,95,10"}, "--near"),
        ({"near": "0,0,-1"}, "--near"),
        ({"near": "nan,0,1"}, "--near"),
        ({"sensor": "landsat"}, "--sensor"),
        ({"after": "2020-01-02", "before": "2020-01-01"}, "--after"),
    ],
)
def test_malformed_filters(kwargs, message):
    with pytest.raises(RsqError, match=message):
        parse_filters(**kwargs)


def test_end_of_day_for_before_dates():
    assert parse_filters(before="2019-09-17").before == datetime(2019, 9, 17, 23, 59, 59, 999999, tzinfo=UTC)
