"""STAC scenes with one asset per band: stacked in band order on the finest grid, chipped in place, read locally or
through GDAL's /vsicurl/ and /vsis3/, and captioned on a Ray cluster of (fake) GPUs end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.closp.inputs import model_input
from rsq.errors import TileError
from rsq.imagery import read_pixels, render_rgb
from rsq.imagery.tile import Sensor
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.sources import list_tiles, open_tiles
from rsq.sources.stac import gdal_path

from fakes import free_gpu_samples
from stac_scenes import LANDSAT, SIDE

runner = CliRunner()


def scene(stac_scenes, prefix):
    refs = [r for r in list_tiles(str(stac_scenes)) if r.id.startswith(prefix)]
    tiles, skipped = open_tiles(refs)
    assert skipped == []
    return tiles[0]


def test_sentinel2_band_assets_stack_in_band_order_on_the_10m_grid(stac_scenes, s2_path):
    tile = scene(stac_scenes, "S2B")
    assert tile.sensor == Sensor.S2 and tile.shape == (12, SIDE, SIDE) and tile.dtype == "uint16"
    assert tile.band_names == (
        "B1",
        "B2",
        "B3",
        "B4",
        "B5",
        "B6",
        "B7",
        "B8",
        "B8A",
        "B9",
        "B11",
        "B12",
    )  # no B10 in L2A
    assert len(tile.band_files) == 12 and not any(
        "preview" in f for f in tile.band_files
    )  # the thumbnail is not a band
    assert tile.time.isoformat() == "2019-09-18T10:50:00+00:00" and tile.bounds[0] == pytest.approx(-0.78189, abs=1e-5)
    pixels = read_pixels(tile)
    with rasterio.open(s2_path) as ds:
        source = ds.read()[:, :SIDE, :SIDE].astype(np.float32)
    assert np.array_equal(pixels[3], source[3])  # B4 at its native 10 m: the same values
    for stacked, original in ((0, 0), (4, 4), (11, 12)):  # B1 (60 m), B5 (20 m), B12 (20 m) resampled back to 10 m
        assert np.abs(pixels[stacked] - source[original]).mean() < 0.5 * source[original].std()
    assert read_pixels(tile, max_side=128).shape == (12, 128, 128)


def test_sentinel1_and_landsat_items_stack_their_polarisations_and_named_bands(stac_scenes, data_dir):
    sar = scene(stac_scenes, "S1A")
    assert sar.sensor == Sensor.S1 and sar.band_names == ("VV", "VH") and sar.shape == (2, 512, 512)
    landsat = scene(stac_scenes, "LC08")
    assert landsat.band_names == ("blue", "green", "red") and landsat.nodata == 0.0
    assert landsat.band_files[0] == str(data_dir / "rasters" / f"{LANDSAT}_B2.TIF")  # read where it lies
    corner = open_tiles([r for r in list_tiles(str(stac_scenes)) if r.id.startswith("LC08")], (512, 0))[0][0]
    pixels = read_pixels(corner)
    with rasterio.open(
        data_dir / "rasters" / f"{LANDSAT}.TIF"
    ) as ds:  # the stack the band files came from (B2, B3, B4)
        stack = ds.read(window=rasterio.windows.Window(0, 0, 512, 512)).astype(np.float32)
    stack[stack == 0] = np.nan  # the item's no-data value masks the scene's surround
    assert np.isnan(pixels).any() and np.array_equal(pixels, stack, equal_nan=True)
    assert np.array_equal(render_rgb(corner, pixels), render_rgb(corner, pixels, bands=["red", "green", "blue"]))


def test_a_stacked_scene_chips_into_its_own_windows(stac_scenes):
    refs = list_tiles(str(stac_scenes))
    tiles, skipped = open_tiles(refs, (256, 0))
    by_scene = {prefix: [t for t in tiles if t.id.startswith(prefix)] for prefix in ("S2B", "S1A", "LC08")}
    assert [len(v) for v in by_scene.values()] == [4, 4, 60]
    assert [s.id for s in skipped] == [
        f"LC08_L1TP_224078_20200518@r0c{col}" for col in (1024, 1280, 1536, 1785)
    ]  # outside the scene
    assert all(s.reason == "all no-data" for s in skipped)
    whole = read_pixels(scene(stac_scenes, "S2B"))
    for chip in by_scene["S2B"]:
        col, row, width, height = chip.window
        assert chip.band_files and np.array_equal(read_pixels(chip), whole[:, row : row + height, col : col + width])


def test_level2a_tiles_feed_the_sentinel2_tower_with_b10_empty(stac_scenes):
    tile = scene(stac_scenes, "S2B")
    array = model_input(tile, 32)
    assert array.shape == (13, 32, 32) and not array[10].any() and array[3].any()
    partial = tile.__class__(
        **{
            **tile.__dict__,
            "band_names": tile.band_names[:4],
            "shape": (4, *tile.shape[1:]),
            "band_files": tile.band_files[:4],
        }
    )
    with pytest.raises(TileError, match="lacks B5, B6"):
        model_input(partial, 32)


def test_remote_assets_are_read_in_place_through_vsicurl_and_vsis3(stac_scenes, tmp_path, monkeypatch):
    from file_server import serve_folder

    bucket = tmp_path / "www" / "bucket"
    bucket.mkdir(parents=True)
    for polarisation in ("vv", "vh"):
        name = f"S1A_IW_GRDH_20190917_{polarisation}.tif"
        (bucket / name).write_bytes((stac_scenes.parent / name).read_bytes())
    item = next(f for f in json.loads(stac_scenes.read_text())["features"] if f["id"].startswith("S1A"))
    with serve_folder(tmp_path / "www") as (url, log):
        monkeypatch.setenv("AWS_S3_ENDPOINT", url.removeprefix("http://"))
        for key, value in {"AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE", "AWS_NO_SIGN_REQUEST": "YES"}.items():
            monkeypatch.setenv(key, value)
        item["assets"]["vv"]["href"] = f"{url}/bucket/S1A_IW_GRDH_20190917_vv.tif"
        item["assets"]["vh"]["href"] = "s3://bucket/S1A_IW_GRDH_20190917_vh.tif"
        remote = tmp_path / "remote.json"
        remote.write_text(json.dumps({"type": "FeatureCollection", "features": [item]}))
        refs = list_tiles(str(remote))
        assert [file for _, file in refs[0].bands] == [
            f"/vsicurl/{url}/bucket/S1A_IW_GRDH_20190917_vv.tif",
            "/vsis3/bucket/S1A_IW_GRDH_20190917_vh.tif",
        ]
        chips, skipped = open_tiles(refs, (256, 0))
        pixels = [read_pixels(chip) for chip in chips]
    local, _ = open_tiles([r for r in list_tiles(str(stac_scenes)) if r.id.startswith("S1A")], (256, 0))
    assert skipped == [] and len(chips) == 4
    assert all(np.array_equal(a, read_pixels(b), equal_nan=True) for a, b in zip(pixels, local, strict=True))
    assert any("bytes=" in line for line in log)  # byte ranges, not whole downloads


def test_an_unreachable_asset_skips_its_scene_with_one_line(stac_scenes, tmp_path):
    item = next(f for f in json.loads(stac_scenes.read_text())["features"] if f["id"].startswith("S1A"))
    item["assets"]["vv"]["href"] = "http://127.0.0.1:9/bucket/vv.tif"  # nothing listens on port 9
    item["assets"]["vh"]["href"] = str(stac_scenes.parent / "S1A_IW_GRDH_20190917_vh.tif")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [item]}))
    tiles, skipped = open_tiles(list_tiles(str(bad)), (256, 0))
    assert tiles == [] and len(skipped) == 1 and skipped[0].path.startswith("/vsicurl/http://127.0.0.1:9/")
    assert "not a readable raster" in skipped[0].reason and "\n" not in skipped[0].reason


@pytest.mark.parametrize(
    ("href", "path"),
    [
        ("https://bucket.example/a/B04.tif", "/vsicurl/https://bucket.example/a/B04.tif"),
        ("s3://sentinel-cogs/tiles/B04.tif", "/vsis3/sentinel-cogs/tiles/B04.tif"),
        ("gs://gcp-public-data/B04.tif", "/vsigs/gcp-public-data/B04.tif"),
        ("file:///data/B04.tif", "/data/B04.tif"),
        ("bands/B04.tif", "/scenes/bands/B04.tif"),
        ("/vsiaz/container/B04.tif", "/vsiaz/container/B04.tif"),
    ],
)
def test_asset_hrefs_become_gdal_paths(href, path):
    assert gdal_path(Path("/scenes"), href) == path


@pytest.mark.model
def test_scenes_chipped_captioned_on_ray_with_fake_gpus_and_indexed(stac_scenes, checkpoint, tmp_path):
    """`rsq caption SCENES --chip 512 --engine ray` on a local Ray declaring two GPUs: GPU actors tag every chip of
    the three multi-asset scenes; the index finds chips by sensor, place and time; a rerun has nothing to do."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    out, index = tmp_path / "captions", tmp_path / "index"
    args = [
        "caption",
        str(stac_scenes),
        "--chip",
        "512",
        "--engine",
        "ray",
        "--model",
        f"closp:{checkpoint}",
        "--ray-gpus-per-actor",
        "1",
        "--batch-size",
        "4",
        "--out",
        str(out),
    ]
    try:
        with free_gpu_samples(ray) as held:
            first = runner.invoke(app, args)
        again = runner.invoke(app, args)
    finally:
        ray.shutdown()
    assert first.exit_code == 0, first.output
    assert "18 ok, 0 failed, 0 already done" in first.stderr and min(held) == 0.0  # 1 S2 + 1 S1 + 16 Landsat chips
    assert again.exit_code == 0 and "0 ok, 0 failed, 18 already done" in again.stderr
    records = list(CaptionStore(out).records())
    assert len({r.tile_id for r in records}) == 18 == len(records)
    assert runner.invoke(app, ["index", str(out), "--out", str(index), "--no-thumbnails"]).exit_code == 0
    search = Searcher(index)
    box = parse_filters(bbox="-54.9,-25.7,-54.5,-25.3")
    hits = search.search(SearchQuery("fields", k=50, filters=box))
    assert hits and all(h.id.startswith("LC08_L1TP_224078_20200518@r") for h in hits)
    s2 = search.search(SearchQuery("fields", k=50, filters=parse_filters(sensor="s2")))
    assert [h.id for h in s2] == ["S2B_30SXH_20190918_0_L2A@r0c0"]
    sar = search.search(SearchQuery("water", k=50, filters=parse_filters(before="2019-09-17", after="2019-09-17")))
    assert [h.id for h in sar] == ["S1A_IW_GRDH_20190917@r0c0"]


def test_views_read_only_their_bands_and_render_the_same(stac_scenes, data_dir, s1_path, s2_path):
    """The caption view reads the three bands it shows (three of a Sentinel-2 item's twelve files), and the picture
    is the one a full read renders."""
    from rsq.captioner.reading import render_view
    from rsq.imagery import read_tile

    scenes, _ = open_tiles(list_tiles(str(stac_scenes)), (512, 0))
    singles = [
        read_tile(p)
        for p in (s1_path, s2_path, data_dir / "rasters" / "rgbn.tif", data_dir / "ucm-captions" / "images" / "7.jpg")
    ]
    for tile in [*scenes[:3], *singles]:
        view, picture = render_view(tile, needs_image=True)
        assert np.array_equal(picture, render_rgb(tile, read_pixels(tile), view)), tile.id


def test_broken_band_assets_skip_their_scene_alone(stac_scenes, data_dir, tmp_path):
    """A missing band file, a multiband file posing as a band, band files in two coordinate systems: each scene
    is skipped with one line naming why; the good scene is captioned; the exit code says one failed each."""
    items = json.loads(stac_scenes.read_text())["features"]
    sar = next(f for f in items if f["id"].startswith("S1A"))
    broken = []
    for name, vh in (
        ("missing", "nowhere_vh.tif"),
        ("multiband", str(data_dir / "rasters" / "rgbn.tif")),
        ("two-crs", str(data_dir / "rasters" / f"{LANDSAT}_B2.TIF")),
    ):
        item = json.loads(json.dumps(sar))
        item["id"] = f"S1A_{name}"
        item["assets"]["vv"]["href"] = str(stac_scenes.parent / item["assets"]["vv"]["href"])
        item["assets"]["vh"]["href"] = vh
        broken.append(item)
    good = {**json.loads(json.dumps(sar)), "id": "S1A_good"}
    for asset in good["assets"].values():
        asset["href"] = str(stac_scenes.parent / asset["href"])
    path = tmp_path / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [*broken, good]}))
    result = runner.invoke(
        app,
        [
            "caption",
            str(path),
            "--model",
            f"annotations:{_labels(tmp_path)}",
            "--prompt",
            "labels",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "1 ok, 3 failed" in result.stderr and "Traceback" not in result.output
    reasons = {r.tile_id: r.error for r in CaptionStore(tmp_path / "run").records() if r.status == "failed"}
    assert "file not found" in reasons["S1A_missing"]
    assert "has 4 bands" in reasons["S1A_multiband"] and "different coordinate systems" in reasons["S1A_two-crs"]


def _labels(folder):
    labels = folder / "labels.csv"
    labels.write_text(
        "image,labels\n" + "".join(f"S1A_{n},water\n" for n in ("missing", "multiband", "two-crs", "good"))
    )
    return labels


def test_items_as_json_lines_stream_like_a_manifest(stac_scenes, tmp_path):
    """One STAC Item per line (as STAC API clients export searches) lists the same tiles as the collection."""
    from rsq.errors import SourceError

    items = json.loads(stac_scenes.read_text())["features"]
    lines = tmp_path / "items.jsonl"
    lines.write_text(
        "\n".join(
            json.dumps(
                {
                    **item,
                    "assets": {
                        k: {**a, "href": str(stac_scenes.parent / a["href"])} for k, a in item["assets"].items()
                    },
                }
            )
            for item in items
        )
    )
    streamed, collected = list_tiles(str(lines)), list_tiles(str(stac_scenes))
    assert [(r.id, r.bands, r.meta["time"]) for r in streamed] == [(r.id, r.bands, r.meta["time"]) for r in collected]
    lines.write_text(lines.read_text() + '\n{"type": "Feature", "assets": {}, "id": 5}\n')
    with pytest.raises(SourceError, match=r"items.jsonl:4: not a STAC Item"):
        list_tiles(str(lines))
