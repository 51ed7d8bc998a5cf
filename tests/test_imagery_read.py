import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rsq.errors import TileError
from rsq.imagery import Sensor, Tile, read_pixels, read_tile


def test_ucm_jpeg_is_rgb_without_georeference(ucm_tile_path):
    tile = read_tile(ucm_tile_path)
    assert tile.id == "1000"
    assert tile.sensor == Sensor.RGB
    assert tile.shape == (3, 256, 256) and tile.dtype == "uint8"
    assert tile.crs is None and tile.center is None
    pixels = read_pixels(tile)
    assert pixels.shape == (3, 256, 256) and pixels.dtype == np.float32
    assert 0 <= pixels.min() and pixels.max() <= 255 and pixels.std() > 5


def test_sentinel1_chip_matches_its_georeference_tags(s1_path, data_dir):
    facts = json.loads((data_dir / "sen1floods11" / "bands.json").read_text())["files"][s1_path.name]
    tile = read_tile(s1_path)
    assert tile.sensor == Sensor.S1
    assert tile.band_names == ("VV", "VH")
    assert tile.shape == (2, 512, 512) and tile.dtype == "float32"
    assert tile.crs == "EPSG:4326"
    assert tile.bounds == pytest.approx(tuple(facts["bounds_lon_lat"]), abs=1e-9)
    west, south, east, north = facts["bounds_lon_lat"]
    assert tile.center == pytest.approx(((west + east) / 2, (south + north) / 2), abs=1e-9)
    assert tile.gsd_m == pytest.approx(7.87, abs=0.05)  # 8.983e-5 degrees at 38.1 N
    pixels = read_pixels(tile)
    for band, stats in zip(pixels, facts["bands"], strict=True):
        assert float(band.min()) == pytest.approx(stats["min"])
        assert float(band.max()) == pytest.approx(stats["max"])


def test_sentinel2_chip_is_multispectral_reflectance(s2_path):
    tile = read_tile(s2_path)
    assert tile.sensor == Sensor.S2
    assert len(tile.band_names) == 13 and tile.band_names[8] == "B8A"
    assert tile.dtype == "int16"
    pixels = read_pixels(tile)
    assert pixels.shape == (13, 512, 512)
    assert np.nanmin(pixels) >= 1 and np.nanmax(pixels) <= 10000  # reflectance x 10000; 0 is no-data


def test_four_band_aerial_is_rgb_with_nir(data_dir):
    tile = read_tile(data_dir / "rasters" / "rgbn.tif")
    assert tile.sensor == Sensor.RGB
    assert tile.band_names == ("red", "green", "blue", "nir")
    assert tile.crs == "EPSG:32618" and tile.gsd_m == pytest.approx(5.0)
    lon, lat = tile.center
    assert -73 < lon < -72 and 18 < lat < 19  # UTM 18N, Haiti


def test_other_rasters_get_generic_band_names(data_dir):
    tile = read_tile(data_dir / "sen1floods11" / "Spain_7370579_LabelHand.tif")
    assert tile.sensor == Sensor.OTHER and tile.band_names == ("b1",)
    assert set(np.unique(read_pixels(tile))) == {-1.0, 0.0, 1.0}


def test_time_tag_and_nodata_are_read(tmp_path):
    path = tmp_path / "scene.tif"
    data = np.full((2, 8, 8), -12.0, dtype=np.float32)
    data[0, 0, 0] = np.nan
    profile = dict(
        driver="GTiff",
        width=8,
        height=8,
        count=2,
        dtype="float32",
        crs="EPSG:32631",
        transform=from_origin(500000, 4600000, 10, 10),
        nodata=np.nan,
    )
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        ds.descriptions = ("VV", "VH")
        ds.update_tags(TIFFTAG_DATETIME="2021:07:04 10:30:00")
    tile = read_tile(path)
    assert tile.sensor == Sensor.S1
    assert tile.time.isoformat() == "2021-07-04T10:30:00+00:00"
    assert tile.gsd_m == pytest.approx(10.0)
    pixels = read_pixels(tile)
    assert np.isnan(pixels[0, 0, 0]) and np.isnan(pixels).sum() == 1


def test_tile_round_trips_through_dict(s1_path):
    tile = read_tile(s1_path, meta={"time": "2019-09-17", "place": "Spain"})
    again = Tile.from_dict(json.loads(json.dumps(tile.to_dict())))
    assert again == tile
    assert again.time.year == 2019 and again.meta == {"place": "Spain"}


@pytest.mark.parametrize(
    "name, content",
    [("empty.tif", b""), ("garbage.tif", b"not a tiff at all"), ("garbage.jpg", b"\xff\xd8 nope"), ("empty.png", b"")],
)
def test_unreadable_files_raise_tile_error_naming_the_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TileError) as caught:
        read_tile(path)
    assert name in str(caught.value)
    assert caught.value.reason


def test_truncated_jpeg_fails_on_pixels(tmp_path, ucm_tile_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(ucm_tile_path.read_bytes()[:2000])
    tile = read_tile(path)
    with pytest.raises(TileError, match="cut.jpg: image data is corrupt"):
        read_pixels(tile)


def test_missing_file(tmp_path):
    with pytest.raises(TileError, match="file not found"):
        read_tile(tmp_path / "nope.tif")


def test_a_remote_jpeg_is_read_through_gdal(data_dir, tmp_path):
    """A JPEG behind a URL (/vsicurl/): its pixels are read by GDAL like its metadata, not opened as a local file."""
    import shutil

    from rsq.sources import list_tiles

    from file_server import serve_folder

    (tmp_path / "www").mkdir()
    shutil.copy(data_dir / "ucm-captions" / "images" / "1.jpg", tmp_path / "www" / "1.jpg")
    manifest = tmp_path / "m.jsonl"
    with serve_folder(tmp_path / "www") as (url, _log):
        manifest.write_text(f'{{"id": "remote", "path": "{url}/1.jpg"}}\n')
        tile = read_tile(list_tiles(str(manifest))[0].path, "remote")
        pixels = read_pixels(tile, max_side=64)
    assert tile.path.startswith("/vsicurl/") and pixels.shape[0] == 3 and max(pixels.shape[1:]) == 64
    assert np.nanmax(pixels) > 0
