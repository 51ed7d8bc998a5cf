from datetime import UTC, datetime

import pytest

from rsq.errors import RsqError
from rsq.query.filters import Filters, haversine_km, parse_filters
from rsq.query.fusion import best_per_tile, min_max, ranks, reciprocal_rank_fusion, weighted_fusion
from rsq.textindex.catalog import TileRow


def test_best_per_tile_takes_the_max_over_variants():
    row_tile = {0: "a", 1: "a", 2: "b", 3: "c"}
    assert best_per_tile([(0, 0.2), (1, 0.9), (2, 0.5), (9, 5.0)], row_tile) == {"a": (0.9, 1), "b": (0.5, 2)}


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


def _row(tile_id, lon=None, lat=None, bounds=None, time=None, sensor="s1"):
    return TileRow(tile_id, f"{tile_id}.tif", sensor, lon, lat, bounds, time, {})


def test_filters():
    murcia = _row("m", -0.76, 38.1, (-0.78, 38.08, -0.74, 38.13), "2019-09-17T00:00:00+00:00")
    paris = _row("p", 2.35, 48.86, None, "2020-01-01T00:00:00+00:00", sensor="s2")
    plain = _row("u", sensor="rgb")
    near = parse_filters(near="-0.7,38.1,10")
    assert near.accepts(murcia) and not near.accepts(paris) and not near.accepts(plain)
    box = parse_filters(bbox="-0.75,38.0,0,39")  # overlaps the tile's bounds but not its centre
    assert box.accepts(murcia) and not box.accepts(paris)
    assert parse_filters(after="2019-09-17", before="2019-09-17").accepts(murcia)
    assert not parse_filters(after="2019-09-18").accepts(murcia) and not parse_filters(before="2019-12-31").accepts(plain)
    assert parse_filters(sensor="s2").accepts(paris) and not parse_filters(sensor="s2").accepts(murcia)
    assert not Filters().active and Filters().accepts(plain)
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19, abs=0.01)


@pytest.mark.parametrize("kwargs, message", [({"bbox": "1,2,3"}, "--bbox"), ({"near": "a,b,c"}, "--near"), ({"after": "yesterday"}, "--after")])
def test_malformed_filters(kwargs, message):
    with pytest.raises(RsqError, match=message):
        parse_filters(**kwargs)


def test_end_of_day_for_before_dates():
    assert parse_filters(before="2019-09-17").before == datetime(2019, 9, 17, 23, 59, 59, tzinfo=UTC)
