"""Place and time, right at the date line and on every date (issue 20): footprints across 180°, query boxes across
it, GeoTIFFs in UTM zone 60, Web Mercator and EPSG:4326 that straddle it, rotated rasters, ground sample distance
on the sphere, times from 1900 to 9999 filtered alike in every mode, and the time formats manifests use."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import import_annotations
from typer.testing import CliRunner

from rsq.cli import app
from rsq.geo import checked_box, lon_overlaps, polygon, widened
from rsq.imagery.reader import read_tile
from rsq.imagery.timeparse import parse_time
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.query.geojson import feature_collection

runner = CliRunner()
MODES = ("bm25", "dense", "hybrid")


def _archive(tmp_path: Path, rows: list[dict]) -> Searcher:
    """A text-only archive from an annotation file, captioned and indexed through the CLI."""
    archive, store, out = tmp_path / "archive.jsonl", tmp_path / "store", tmp_path / "index"
    archive.write_text("".join(json.dumps(row) + "\n" for row in rows))
    caption = runner.invoke(app, ["caption", "--model", f"annotations:{archive}", "--out", str(store)])
    assert caption.exit_code in (0, 1), caption.output
    assert runner.invoke(app, ["index", str(store), "--out", str(out)]).exit_code == 0
    return Searcher(out)


def _found(index: Searcher, text: str = "island", **filters) -> dict[str, list[str]]:
    """The ids each mode returns for the query under the filters."""
    parsed = parse_filters(**filters)
    return {
        mode: sorted(h.id for h in index.search(SearchQuery(text, k=50, mode=mode, filters=parsed))) for mode in MODES
    }


def _same_in_every_mode(found: dict[str, list[str]]) -> list[str]:
    assert len({tuple(ids) for ids in found.values()}) == 1, found
    return found["bm25"]


# --- boxes on the sphere -----------------------------------------------------------------------------------------


def test_boxes_across_the_antimeridian_are_kept_as_stac_writes_them():
    assert checked_box([175, -5, -175, 5]) == (175, -5, -175, 5)  # RFC 7946 / STAC: west > east crosses 180°
    assert checked_box([179, -1, 181, 1]) == (179, -1, -179, 1)  # an EPSG:4326 raster spanning 179..181
    assert checked_box([190, 0, 200, 1]) == (-170, 0, -160, 1)  # a 0..360 grid
    assert checked_box([-180, -90, 180, 90]) == (-180, -90, 180, 90)
    west, east = np.array([175.0, -10.0, 170.0]), np.array([-175.0, 10.0, 179.0])
    assert lon_overlaps(west, east, -180, -170).tolist() == [True, False, False]
    assert lon_overlaps(west, east, 178, -178).tolist() == [True, False, True]
    assert widened((179, 0, -179, 1), 1) == [(178, -1, 180, 2), (-180, -1, -178, 2)]


def test_geojson_splits_a_crossing_footprint_into_a_multipolygon():
    shape = polygon((179.5, -1, -179.5, 1))
    assert shape["type"] == "MultiPolygon" and len(shape["coordinates"]) == 2
    lons = [x for part in shape["coordinates"] for ring in part for x, _ in ring]
    assert min(lons) >= -180 and max(lons) <= 180  # no 181 or 185
    from shapely.geometry import shape as shapely_shape  # a third-party reader of GeoJSON geometry

    read = shapely_shape(shape)
    assert read.is_valid and read.area == pytest.approx(2.0)  # 1° × 2°, not 359° wide


# --- records across 180° and out-of-range places -----------------------------------------------------------------

ISLANDS = [
    {
        "id": "fiji",
        "captions": ["An island with a reef and a small harbour."],
        "bbox": [175, -5, -175, 5],
        "time": "2020-06-01",
    },
    {"id": "accra", "captions": ["An island of houses beside the sea."], "lon": 0.1, "lat": 0.1, "time": "2020-06-01"},
    {"id": "wrapped", "captions": ["An island in a lagoon."], "lon": 200, "lat": 10, "time": "2020-06-01"},
]


def test_a_footprint_across_180_is_found_from_either_side_and_only_there(tmp_path):
    index = _archive(tmp_path, ISLANDS)
    fiji = index.tile("fiji")
    assert abs(fiji.lon) == pytest.approx(180) and fiji.lat == pytest.approx(0)  # not centre 0,0
    assert index.tile("wrapped").lon == pytest.approx(-160)  # lon 200 of a 0..360 grid
    for box in ("170,-10,180,10", "-180,-10,-170,10", "170,-10,-170,10", "179,-1,-179,1"):
        assert _same_in_every_mode(_found(index, bbox=box)) == ["fiji"], box
    assert _same_in_every_mode(_found(index, bbox="-170,-10,170,10")) == ["accra", "wrapped"]  # the box around the rest
    assert _same_in_every_mode(_found(index, near="0,0,100")) == ["accra"]
    assert _same_in_every_mode(_found(index, near="179.9,0,200")) == ["fiji"]
    assert _same_in_every_mode(_found(index, near="-179.9,0,200")) == ["fiji"]


def test_a_place_off_the_earth_is_one_failed_record_and_the_rest_are_kept(tmp_path):
    rows = ISLANDS[:2] + [
        {"id": "nowhere", "captions": ["An island."], "lon": 500, "lat": 0},
        {"id": "pole", "captions": ["An island."], "lon": 0, "lat": 95},
    ]
    archive, store = tmp_path / "archive.jsonl", tmp_path / "store"
    archive.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = runner.invoke(app, ["caption", "--model", f"annotations:{archive}", "--out", str(store)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit)), (
        result.output
    )
    assert "nowhere" in result.output and "lon 500" in result.output and "lat 95" in result.output
    assert runner.invoke(app, ["index", str(store), "--out", str(tmp_path / "index")]).exit_code == 0
    assert sorted(h.id for h in Searcher(tmp_path / "index").search(SearchQuery("island", k=10))) == ["accra", "fiji"]


def test_geojson_of_a_crossing_tile_is_two_polygons(tmp_path):
    index = _archive(tmp_path, ISLANDS[:1])
    collection = feature_collection(index.search(SearchQuery("island", k=1)))
    assert collection["features"][0]["geometry"]["type"] == "MultiPolygon"


# --- GeoTIFFs that straddle 180° ---------------------------------------------------------------------------------


def _geotiff(path: Path, crs: str, transform, size: int = 64) -> Path:
    import rasterio

    data = (np.arange(size * size * 3, dtype=np.uint16).reshape(3, size, size) % 4000) + 1
    with rasterio.open(
        path, "w", driver="GTiff", width=size, height=size, count=3, dtype="uint16", crs=crs, transform=transform
    ) as ds:
        ds.write(data)
    return path


def _straddling(tmp_path: Path) -> dict[str, Path]:
    from rasterio.transform import Affine, from_origin

    return {
        "utm60": _geotiff(
            tmp_path / "utm60.tif", "EPSG:32660", from_origin(830_000, 100_000, 100, 100)
        ),  # east edge of zone 60, 0.9 N
        "mercator": _geotiff(
            tmp_path / "mercator.tif", "EPSG:3857", from_origin(20_037_508.34 - 32_000, 8_400_000, 1000, 1000)
        ),  # 60.0..60.3 N
        "degrees": _geotiff(tmp_path / "degrees.tif", "EPSG:4326", from_origin(179.0, 1.0, 2 / 64, 2 / 64)),  # 179..181
        "rotated": _geotiff(
            tmp_path / "rotated.tif", "EPSG:32631", Affine(8.660254, -5.0, 500_000, -5.0, -8.660254, 5_000_000)
        ),  # 10 m, 30°
    }


def test_geotiffs_that_straddle_180_get_a_crossing_footprint(tmp_path):
    files = _straddling(tmp_path)
    for name in ("utm60", "mercator", "degrees"):
        tile = read_tile(files[name], name)
        west, south, east, north = tile.bounds
        assert west > east and 170 < west <= 180 and -180 <= east < -170, (name, tile.bounds)
        assert all(-180 <= v <= 180 for v in (west, east)) and abs(tile.center[0]) > 175
    assert read_tile(files["degrees"], "degrees").bounds == pytest.approx((179, -1, -179, 1))


def test_ground_sample_distance_is_measured_on_the_ground(tmp_path):
    files = _straddling(tmp_path)
    mercator = read_tile(files["mercator"], "mercator")
    assert mercator.gsd_m == pytest.approx(
        1000 * math.cos(math.radians(mercator.center[1])), rel=0.01
    )  # ~500 m, not 1000
    assert read_tile(files["utm60"], "utm60").gsd_m == pytest.approx(100)


def test_chips_of_a_rotated_raster_cover_their_own_pixels(tmp_path):
    import rasterio
    from rasterio.warp import transform

    from rsq.imagery.chips import chip_tiles

    path = _straddling(tmp_path)["rotated"]
    scene = read_tile(path, "rotated")
    chips, _ = chip_tiles(scene, 32)
    with rasterio.open(path) as ds:
        for chip in chips:
            col, row, width, height = chip.window
            xs, ys = zip(
                *(
                    ds.transform * (c + 0.5, r + 0.5)
                    for c in range(col, col + width, 4)
                    for r in range(row, row + height, 4)
                ),
                strict=True,
            )
            lons, lats = transform(ds.crs, "EPSG:4326", list(xs), list(ys))
            west, south, east, north = chip.bounds
            assert min(lons) >= west and max(lons) <= east and min(lats) >= south and max(lats) <= north, chip.id


def test_an_index_of_straddling_geotiffs_is_found_from_both_sides(tmp_path, data_dir):
    files = _straddling(tmp_path)
    folder = tmp_path / "tiles"
    folder.mkdir()
    for name in ("utm60", "degrees"):
        files[name].rename(folder / files[name].name)
    labels = tmp_path / "labels.csv"
    labels.write_text("image,labels\nutm60.tif,island;sea\ndegrees.tif,island;reef\n")
    store = import_annotations(str(folder), labels, tmp_path / "store", data_dir, template="labels")
    assert runner.invoke(app, ["index", str(store), "--out", str(tmp_path / "index")]).exit_code == 0
    index = Searcher(tmp_path / "index")
    assert _same_in_every_mode(_found(index, bbox="179.5,-5,180,5")) == ["degrees.tif", "utm60.tif"]
    assert _same_in_every_mode(_found(index, bbox="-180,-5,-179.5,5")) == ["degrees.tif", "utm60.tif"]


# --- time --------------------------------------------------------------------------------------------------------


def test_times_manifests_write_are_read():
    assert parse_time("2020") == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_time(1577836800) == parse_time("1577836800") == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_time(2020) == datetime(2020, 1, 1, tzinfo=UTC)
    assert parse_time("20210315") == datetime(2021, 3, 15, tzinfo=UTC)
    assert parse_time("1900-05-01") == datetime(1900, 5, 1, tzinfo=UTC)
    assert parse_time("2021-02-30") is None and parse_time("soon") is None and parse_time(True) is None


def test_before_a_compact_date_means_the_end_of_that_day():
    assert (
        parse_filters(before="20210315").before
        == parse_filters(before="2021-03-15").before
        == datetime(2021, 3, 15, 23, 59, 59, 999999, tzinfo=UTC)
    )
    assert parse_filters(before="2021").before.date().isoformat() == "2021-12-31"
    assert parse_filters(after="2021-03").after == datetime(2021, 3, 1, tzinfo=UTC)


EPOCHS = [
    {"id": "aerial-1900", "captions": ["An island seen from a balloon."], "time": "1900-07-01"},
    {"id": "aerial-1935", "captions": ["An island on an old aerial photograph."], "time": 1935},
    {"id": "late-1959", "captions": ["An island at night."], "time": "1959-12-31T23:59:59.7Z"},
    {"id": "unix", "captions": ["An island in 2020."], "time": 1577836800},
    {"id": "unix-text", "captions": ["An island in 2020 again."], "time": "1577836800"},
    {"id": "year", "captions": ["An island some time in 2020."], "time": "2020"},
    {"id": "new-year", "captions": ["An island at new year."], "time": "2020-12-31T23:59:59.7Z"},
    {"id": "future-2100", "captions": ["An island in the next century."], "time": "2100-03-01"},
    {"id": "far-9999", "captions": ["An island at the end of time."], "time": "9999-12-31"},
]


def test_time_filters_agree_in_every_mode_from_1900_to_9999(tmp_path):
    index = _archive(tmp_path, EPOCHS)
    assert index.tile("unix").time.startswith("2020-01-01") and index.tile("year").time.startswith("2020-01-01")
    assert _same_in_every_mode(_found(index, before="1960")) == ["aerial-1900", "aerial-1935", "late-1959"]
    assert _same_in_every_mode(_found(index, before="1959-12-31")) == ["aerial-1900", "aerial-1935", "late-1959"]
    assert _same_in_every_mode(_found(index, after="1960-01-01", before="2099-12-31")) == [
        "new-year",
        "unix",
        "unix-text",
        "year",
    ]
    assert _same_in_every_mode(_found(index, after="2099")) == ["far-9999", "future-2100"]
    assert _same_in_every_mode(_found(index, after="2021-01-01", before="2099")) == []
    assert _same_in_every_mode(_found(index, before="2020-12-31")) == sorted(
        ["aerial-1900", "aerial-1935", "late-1959", "new-year", "unix", "unix-text", "year"]
    )
    assert _same_in_every_mode(_found(index, after="2021-01-01")) == [
        "far-9999",
        "future-2100",
    ]  # 23:59:59.7 stays in 2020


def test_cli_geojson_names_no_server_path(serving_index, data_dir, tmp_path):
    from typer.testing import CliRunner

    from rsq.cli import app as cli

    target = tmp_path / "hits.geojson"
    result = CliRunner().invoke(
        cli, ["search", "flooded farmland", "--index", str(serving_index), "--k", "5", "--geojson", str(target)]
    )
    assert result.exit_code == 0, result.output
    text = target.read_text()
    features = json.loads(text)["features"]
    assert features and all("path" not in f["properties"] for f in features)
    assert str(data_dir) not in text and str(data_dir.resolve()) not in text and "/sen1floods11/" not in text
