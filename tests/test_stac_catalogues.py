"""STAC Items shaped as public catalogues publish them: each fixture rebuilds (never copies) the structure of a real
Item from a catalogue's own test data or examples, named in its docstring, with band files from the shared rasters
(the band files `stac_scenes` writes, or crops of the shared Landsat bands). Every band asset is stacked in band
order, the sensor is named, copies and non-data assets are left out, a lone Item file is a collection of one, and
errors name the item."""

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.windows import Window
from typer.testing import CliRunner

from rsq.cli import app
from rsq.errors import SourceError
from rsq.imagery import read_pixels, render_rgb
from rsq.imagery.sensors import S2_BANDS_L2A
from rsq.imagery.tile import Sensor
from rsq.sources import list_tiles, open_tiles

from stac_scenes import LANDSAT, S2_ASSETS

runner = CliRunner()
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
S2_KEYS = tuple(S2_ASSETS)  # Earth Search v1 keys, coastal … swir22, in band order
S2_NATIVE = [f"T30SXH_20190918_{band}_{metres}m.tif" for band, metres in S2_ASSETS.values()]
OLI = {
    "SR_B1": "coastal",
    "SR_B2": "blue",
    "SR_B3": "green",
    "SR_B4": "red",
    "SR_B5": "nir08",
    "SR_B6": "swir16",
    "SR_B7": "swir22",
}


def feature(
    item_id: str, collection: str, properties: dict, assets: dict, bbox: list[float], version: str = "1.0.0"
) -> dict:
    """A STAC Item object around `assets`."""
    w, s, e, n = bbox
    return {
        "type": "Feature",
        "stac_version": version,
        "stac_extensions": [],
        "id": item_id,
        "collection": collection,
        "bbox": bbox,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": properties,
        "assets": assets,
        "links": [],
    }


def collection_file(folder: Path, *items: dict) -> Path:
    path = folder / "items.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(items)}))
    return path


def only_tile(path: Path):
    tiles, skipped = open_tiles(list_tiles(str(path)))
    assert skipped == [] and len(tiles) == 1
    return tiles[0]


def names(tile) -> list[str]:
    return [Path(f).name for f in tile.band_files]


def s2_band(folder: Path, key: str) -> dict:
    """An Earth Search v1 band asset of `key` over the band file `stac_scenes` wrote for it."""
    band, metres = S2_ASSETS[key]
    return {
        "href": str(folder / f"T30SXH_20190918_{band}_{metres}m.tif"),
        "type": COG,
        "title": f"{key} - {metres}m",
        "eo:bands": [{"name": key, "common_name": "rededge" if key.startswith("rededge") else key}],
        "gsd": metres,
        "raster:bands": [
            {"nodata": 0, "data_type": "uint16", "spatial_resolution": metres, "scale": 0.0001, "offset": -0.1}
        ],
        "roles": ["data", "reflectance"],
    }


@pytest.fixture()
def earth_search_s2(stac_scenes) -> dict:
    """An Earth Search v1 `sentinel-2-l2a` Item, as geopython/eodm tests/data/test_data.py holds one
    (S2A_39QTA_20230628_0_L2A): asset keys in that Item's order (aot, blue, coastal, granule_metadata, green, nir,
    nir08, nir09, red, rededge1-3, scl, swir16, swir22, thumbnail, tileinfo_metadata, visual, wvp, then a `*-jp2`
    duplicate of each raster), eo:bands `name` equal to the key (`rededge1`, common name `rededge`), gsd and
    raster:bands with scale and offset, SCL/AOT/WVP without eo:bands, a three-band `visual` image. The COG band files
    are the Sen1Floods11 S2 chip's bands; the JPEG 2000 and non-band rasters do not exist, so stacking one would
    fail."""
    folder = stac_scenes.parent
    raster = {"type": COG, "roles": ["data", "reflectance"]}
    others = {
        "aot": {**raster, "href": str(folder / "AOT.tif")},
        "scl": {**raster, "href": str(folder / "SCL.tif")},
        "wvp": {**raster, "href": str(folder / "WVP.tif")},
        "granule_metadata": {"href": str(folder / "granule.xml"), "type": "application/xml", "roles": ["metadata"]},
        "tileinfo_metadata": {"href": str(folder / "tileinfo.json"), "type": "application/json", "roles": ["metadata"]},
        "thumbnail": {"href": str(folder / "thumbnail.jpg"), "type": "image/jpeg", "roles": ["thumbnail"]},
        "visual": {
            "href": str(folder / "TCI.tif"),
            "type": COG,
            "roles": ["visual"],
            "eo:bands": [{"name": n, "common_name": n} for n in ("red", "green", "blue")],
        },
    }
    assets = {key: s2_band(folder, key) if key in S2_ASSETS else others[key] for key in sorted([*S2_KEYS, *others])}
    assets |= {
        f"{key}-jp2": {**assets[key], "href": str(folder / f"{key}.jp2"), "type": "image/jp2"}
        for key in sorted([*S2_KEYS, "aot", "scl", "visual", "wvp"])
    }
    properties = {
        "datetime": "2019-09-18T10:50:00Z",
        "platform": "sentinel-2b",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": 4.0,
        "proj:epsg": 32630,
        "s2:product_type": "S2MSI2A",
        "earthsearch:boa_offset_applied": True,
    }
    return feature("S2B_30SXH_20190918_0_L2A", "sentinel-2-l2a", properties, assets, [-0.7819, 38.83, -0.7232, 38.876])


@pytest.mark.parametrize("eo_bands", [True, False], ids=["eo-bands-names", "keys-only"])
def test_earth_search_sentinel2_is_sentinel2_with_its_twelve_bands(earth_search_s2, eo_bands, tmp_path):
    """The 12 L2A bands in band order, the three red edges apart though all are common name 'rededge', mapped by
    eo:bands name or, without eo:bands, by key; `--bands B12,B8,B4` renders from them."""
    if not eo_bands:
        for asset in earth_search_s2["assets"].values():
            asset.pop("eo:bands", None)
    path = collection_file(tmp_path, earth_search_s2)
    tile = only_tile(path)
    assert tile.sensor == Sensor.S2 and tile.band_names == S2_BANDS_L2A and tile.shape == (12, 510, 510)
    assert names(tile) == S2_NATIVE  # COGs, never the -jp2 duplicates, SCL, AOT, WVP or the visual image
    reversed_item = {**earth_search_s2, "assets": dict(reversed(earth_search_s2["assets"].items()))}
    assert names(only_tile(collection_file(tmp_path, reversed_item))) == S2_NATIVE  # GeoTIFF first, wherever listed
    out = tmp_path / "b12-b8-b4.png"
    result = runner.invoke(app, ["tiles", "render", str(path), "--bands", "B12,B8,B4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "(s2 tile" in result.stderr
    expected = render_rgb(tile, read_pixels(tile), bands=["B12", "B8", "B4"])
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), expected)


@pytest.fixture(scope="session")
def resampled_copies(stac_scenes, tmp_path_factory) -> dict[tuple[str, int], Path]:
    """20 m and 60 m copies of the 10 m bands and 60 m copies of the 20 m bands, block means of the native files."""
    out, copies = tmp_path_factory.mktemp("resampled"), {}
    for band, metres in S2_ASSETS.values():
        for target in [m for m in (20, 60) if m > metres]:
            copies[band, target] = _coarser(
                stac_scenes.parent / f"T30SXH_20190918_{band}_{metres}m.tif",
                target // metres,
                out / f"T30SXH_20190918_{band}_{target}m.tif",
            )
    return copies


def _coarser(native: Path, factor: int, out: Path) -> Path:
    with rasterio.open(native) as ds:
        plane, profile = ds.read(1).astype(np.float64), ds.profile
    height, width = plane.shape[0] // factor, plane.shape[1] // factor
    plane = plane.reshape(height, factor, width, factor).mean(axis=(1, 3)).round().astype(np.uint16)
    profile.update(
        height=height, width=width, transform=profile["transform"] * profile["transform"].scale(factor), tiled=False
    )
    for key in ("blockxsize", "blockysize"):
        profile.pop(key, None)
    with rasterio.open(out, "w", **profile) as ds:
        ds.write(plane, 1)
    return out


@pytest.fixture(params=["B0n-names", "common-names"])
def stactools_s2(request, stac_scenes, resampled_copies) -> dict:
    """A stactools-packages/sentinel2 L2A Item, as its test expectation
    tests/data-files/S2A_MSIL2A_20190212T192651_N0212_R013_T07HFE_20201007T160857.SAFE/expected_output.json holds
    it: resampled copies (`blue_20m` … `swir22_60m`) listed before the native assets, keys by common name with
    `rededge1`…`rededge3`, SCL/AOT/WVP at each resolution, `visual_20m`/`_60m`/`visual`, metadata and a `preview`.
    `B0n-names` follows that file as it is (eo:bands name `B02`, raster:bands spatial_resolution, gsd on native
    assets only); `common-names` follows it at its first commit (2022: eo:bands name `blue`, `rededge1`, no
    raster:bands). Band files: the native ones `stac_scenes` wrote, and block-mean copies."""
    folder, b0n = stac_scenes.parent, request.param == "B0n-names"

    def asset(key: str, metres: int, href: Path, native: bool) -> dict:
        band = S2_ASSETS[key][0]
        made = {
            "href": str(href),
            "type": COG,
            "title": f"{key} - {metres}m",
            "roles": ["data", "reflectance"],
            "eo:bands": [
                {"name": band if b0n else key, "common_name": "rededge" if key.startswith("rededge") else key}
            ],
        }
        if b0n:
            made["raster:bands"] = [{"nodata": 0, "data_type": "uint16", "spatial_resolution": metres, "scale": 0.0001}]
        return made | ({"gsd": metres} if native else {})

    assets = {}
    for target in (20, 60):
        for key, (band, metres) in S2_ASSETS.items():
            if metres == target:
                assets[key] = asset(key, metres, folder / f"T30SXH_20190918_{band}_{metres}m.tif", True)
            elif metres < target:
                assets[f"{key}_{target}m"] = asset(key, target, resampled_copies[band, target], False)
        for extra in ("scl", "aot", "wvp"):
            assets[extra if target == 20 else f"{extra}_60m"] = {
                "href": str(folder / f"{extra.upper()}_{target}m.tif"),
                "type": COG,
                "roles": ["data"],
            }
        assets[f"visual_{target}m"] = {"href": str(folder / f"TCI_{target}m.tif"), "type": COG, "roles": ["visual"]}
    for key in ("blue", "green", "red", "nir"):
        assets[key] = asset(key, 10, folder / f"T30SXH_20190918_{S2_ASSETS[key][0]}_10m.tif", True)
    assets |= {
        "aot_10m": {"href": str(folder / "AOT_10m.tif"), "type": COG, "roles": ["data"]},
        "visual": {"href": str(folder / "TCI_10m.tif"), "type": COG, "roles": ["visual"]},
        "product_metadata": {"href": str(folder / "MTD_MSIL2A.xml"), "type": "application/xml", "roles": ["metadata"]},
        "preview": {"href": str(folder / "preview.jpg"), "type": "image/jpeg", "roles": ["thumbnail"]},
    }
    properties = {
        "datetime": "2019-09-18T10:50:00Z",
        "platform": "sentinel-2b",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:product_type": "S2MSI2A",
    }
    return feature(
        "S2B_T30SXH_20190918T105019_L2A", "sentinel-2-l2a", properties, assets, [-0.7819, 38.83, -0.7232, 38.876]
    )


def test_stactools_sentinel2_stacks_native_assets_never_resampled_copies(stactools_s2, tmp_path):
    tile = only_tile(collection_file(tmp_path, stactools_s2))
    assert tile.sensor == Sensor.S2 and tile.band_names == S2_BANDS_L2A
    assert names(tile) == S2_NATIVE and tile.shape == (12, 510, 510)  # on the 10 m grid of the native blue…nir


@pytest.fixture(params=["planetary-computer", "indigo"])
def sentinel1_rtc(request, stac_scenes) -> dict:
    """`planetary-computer`: a Planetary Computer `sentinel-1-rtc` Item, assets as the collection's item_assets in
    microsoft/planetary-computer-tasks datasets/sentinel-1-rtc/collection/template.json give them (`vh`, `vv`, COG,
    raster:bands nodata -32768, float32, 10 m; upper-case platform), `vh` listed first, with the `tilejson` and
    `rendered_preview` assets the Planetary Computer adds to its Items. `indigo`: the older keys of
    stactools-packages/sentinel1 examples/sentinel1-rtc-aws/2020/S1A_20200103_17RMJ_ASC/S1A_20200103_17RMJ_ASC.json
    (`gamma0_vv`, `gamma0_vh`, roles data and gamma0, and a `local_incident_angle` data asset). Band files: the
    VV and VH files `stac_scenes` wrote from the Sen1Floods11 S1 chip."""
    folder = stac_scenes.parent
    band = {
        "type": COG,
        "roles": ["data"],
        "raster:bands": [{"nodata": -32768, "data_type": "float32", "spatial_resolution": 10}],
    }
    files = {p: str(folder / f"S1A_IW_GRDH_20190917_{p}.tif") for p in ("vv", "vh")}
    if request.param == "planetary-computer":
        assets = {
            "vh": {**band, "href": files["vh"], "title": "VH: vertical transmit, horizontal receive"},
            "vv": {**band, "href": files["vv"], "title": "VV: vertical transmit, vertical receive"},
            "tilejson": {
                "href": "https://planetarycomputer.microsoft.com/api/data/v1/item/tilejson.json?collection"
                "=sentinel-1-rtc&item=S1A_IW_GRDH_1SDV_20190917",
                "type": "application/json",
                "roles": ["tiles"],
            },
            "rendered_preview": {
                "href": "https://planetarycomputer.microsoft.com/api/data/v1/item/preview.png?"
                "collection=sentinel-1-rtc",
                "type": "image/png",
                "roles": ["overview"],
            },
        }
        properties = {
            "datetime": "2019-09-17T18:00:00Z",
            "platform": "SENTINEL-1A",
            "constellation": "Sentinel-1",
            "sar:polarizations": ["VV", "VH"],
            "sar:product_type": "GRD",
            "sar:instrument_mode": "IW",
        }
        return feature("S1A_IW_GRDH_1SDV_20190917_rtc", "sentinel-1-rtc", properties, assets, [-0.8, 38.8, -0.7, 38.9])
    gamma0 = {
        "type": COG,
        "roles": ["data", "gamma0"],
        "raster:bands": [{"nodata": 0, "sampling": "area", "data_type": "float32"}],
    }
    assets = {
        "gamma0_vv": {**gamma0, "href": files["vv"], "title": "Gamma0 VV backscatter"},
        "gamma0_vh": {**gamma0, "href": files["vh"], "title": "Gamma0 VH backscatter"},
        "incidence": {
            "href": str(folder / "local_incident_angle.tif"),
            "type": COG,
            "title": "Local incidence angle",
            "raster:bands": [{"nodata": 0, "data_type": "uint16", "unit": "degrees", "scale": 0.01}],
            "roles": ["data", "local-incidence-angle"],
        },
    }
    properties = {
        "datetime": "2019-09-17T18:00:00Z",
        "start_datetime": "2019-09-17T17:59:40Z",
        "constellation": "sentinel-1",
        "platform": "sentinel-1a",
        "sar:polarizations": ["VV", "VH"],
        "sar:product_type": "RTC",
    }
    return feature("S1A_20190917_30SXH_DSC", "sentinel1-rtc-aws", properties, assets, [-0.8, 38.8, -0.7, 38.9])


def test_sentinel1_rtc_stacks_vv_then_vh(sentinel1_rtc, stac_scenes, tmp_path):
    tile = only_tile(collection_file(tmp_path, sentinel1_rtc))
    assert tile.sensor == Sensor.S1 and tile.band_names == ("VV", "VH") and tile.shape == (2, 512, 512)
    assert names(tile) == ["S1A_IW_GRDH_20190917_vv.tif", "S1A_IW_GRDH_20190917_vh.tif"]
    with rasterio.open(tile.band_files[1]) as ds:
        assert np.array_equal(read_pixels(tile)[1], ds.read(1), equal_nan=True)


@pytest.fixture(scope="session")
def landsat_sr_files(data_dir, tmp_path_factory) -> dict[str, Path]:
    """Stand-ins for the seven SR band files: 256 px crops of the shared Landsat 8 B2, B3, B4 files (B1, B5, B6, B7
    reuse them), each offset by its band number so that every file differs."""
    out, files = tmp_path_factory.mktemp("landsat-sr"), {}
    source = {"SR_B1": "B2", "SR_B2": "B2", "SR_B3": "B3", "SR_B4": "B4", "SR_B5": "B4", "SR_B6": "B3", "SR_B7": "B2"}
    for number, (key, band) in enumerate(source.items(), start=1):
        with rasterio.open(data_dir / "rasters" / f"{LANDSAT}_{band}.TIF") as ds:
            window = Window(700, 700, 256, 256)
            plane, profile = ds.read(1, window=window), ds.profile
            profile.update(height=256, width=256, transform=ds.window_transform(window), tiled=False)
            profile.pop("blockxsize", None), profile.pop("blockysize", None)
        files[key] = out / f"LC08_L2SP_224078_20200518_20200820_02_T1_{key}.TIF"
        with rasterio.open(files[key], "w", **profile) as ds:
            ds.write(np.where(plane > 0, plane + number, 0).astype(np.uint16), 1)
    return files


@pytest.fixture(params=["1.0.0-beta.2-indices", "0.7.0-indices", "sr-keys-no-eo-bands"])
def landsat_c2_l2(request, landsat_sr_files, data_dir) -> dict:
    """A USGS Landsat 8 Collection 2 Level-2 SR Item. `1.0.0-beta.2-indices` follows stactools-packages/landsat
    tests/data-files/oli-tirs/LC08_L2SP_047027_20201204_20210313_02_T1_SR_stac.json: keys `SR_B1.TIF`…`SR_B7.TIF`
    whose eo:bands are indices into the item-level list (left as indices: only pre-1.0 Items get them resolved),
    `eo:platform`, no roles, `image/vnd.stac.geotiff` types, small `thumbnail` and `reduced_resolution_browse` JPEGs
    listed first, QA rasters and text/XML/JSON metadata. `0.7.0-indices` is the same Item as
    tests/data-files/LC08_L2SP_030034_20201111_20201212_02_T1_SR_stac.json of that repository has it (STAC 0.7.0,
    whose indices pystac resolves). `sr-keys-no-eo-bands` has the `SR_B1`…`SR_B7` keys, gsd and roles of the
    INSTRUMENT_ASSETS in that repository's src/stactools/landsat/constants.py, eo:bands given only at collection
    level (absent here). The thumbnail is a real JPEG (a UCM image), the band files crops of the shared bands."""
    thumbnail = str(data_dir / "ucm-captions" / "images" / "7.jpg")
    geotiff = "image/vnd.stac.geotiff; cloud-optimized=true"
    assets = {
        "thumbnail": {"href": thumbnail, "title": "Thumbnail image", "type": "image/jpeg"},
        "reduced_resolution_browse": {
            "href": thumbnail,
            "title": "Reduced resolution browse image",
            "type": "image/jpeg",
        },
        "index": {"href": "https://landsatlook.usgs.gov/stac-browser/LC08_L2SP", "type": "text/html"},
    }
    for number, key in enumerate(OLI):
        if request.param == "sr-keys-no-eo-bands":
            assets[key] = {"href": str(landsat_sr_files[key]), "type": COG, "gsd": 30, "roles": ["data"]}
        else:
            assets[f"{key}.TIF"] = {"href": str(landsat_sr_files[key]), "type": geotiff, "eo:bands": [number]}
    folder = landsat_sr_files["SR_B1"].parent
    for key, kind in (
        ("SR_QA_AEROSOL.TIF", geotiff),
        ("ANG.txt", "text/plain"),
        ("MTL.json", "application/json"),
        ("QA_PIXEL.TIF", geotiff),
        ("QA_RADSAT.TIF", geotiff),
    ):
        assets[key] = {"href": str(folder / key), "type": kind}
    bands = [{"name": key, "common_name": common, "gsd": 30} for key, common in OLI.items()]
    version = {"1.0.0-beta.2-indices": "1.0.0-beta.2", "0.7.0-indices": "0.7.0"}.get(request.param, "1.0.0")
    if request.param == "sr-keys-no-eo-bands":
        properties = {"datetime": "2020-05-18T13:40:00Z", "platform": "landsat-8", "instruments": ["oli", "tirs"]}
    else:
        properties = {
            "datetime": "2020-05-18T13:40:00Z",
            "eo:platform": "LANDSAT_8",
            "eo:instrument": "OLI_TIRS",
            "eo:bands": bands,
        }
    item = feature(
        "LC08_L2SP_224078_20200518_20200820_02_T1",
        "landsat-c2l2-sr",
        properties,
        assets,
        [-54.9, -25.7, -54.5, -25.3],
        version,
    )
    item["stac_extensions"] = ["eo", "https://landsat.usgs.gov/stac/landsat-extension/schema.json"]
    return item


def test_landsat_c2_l2_stacks_its_sr_bands_not_the_thumbnail(landsat_c2_l2, landsat_sr_files, tmp_path):
    tile = only_tile(collection_file(tmp_path, landsat_c2_l2))
    assert tile.band_names == tuple(OLI.values()) and tile.shape == (7, 256, 256)
    assert tile.band_files == tuple(str(landsat_sr_files[key]) for key in OLI)
    pixels = read_pixels(tile)
    for index, key in enumerate(OLI):
        with rasterio.open(landsat_sr_files[key]) as ds:
            assert np.array_equal(pixels[index], ds.read(1).astype(np.float32))
    assert np.array_equal(render_rgb(tile, pixels), render_rgb(tile, pixels, bands=["red", "green", "blue"]))


def test_a_single_item_file_is_a_collection_of_one(earth_search_s2, tmp_path):
    """A file holding one Item object, as pystac's Item.save_object writes it, lists that item."""
    import pystac

    path = tmp_path / "S2B_30SXH_20190918_0_L2A.json"
    pystac.Item.from_dict(earth_search_s2).save_object(include_self_link=False, dest_href=str(path))
    assert json.loads(path.read_text())["type"] == "Feature"
    refs = list_tiles(str(path))
    assert [r.id for r in refs] == ["S2B_30SXH_20190918_0_L2A"] and len(refs[0].bands) == 12
    assert refs[0].meta["time"] == "2019-09-18T10:50:00+00:00"


def test_errors_name_the_item(earth_search_s2, tmp_path):
    """An item pystac cannot read, or one with nothing to read, is named by its id, in a collection, an Item file
    or a JSON-lines file; an item without an id by its place."""
    broken = {**earth_search_s2, "id": "S2B_broken"}
    del broken["properties"]
    with pytest.raises(SourceError, match=r"items\.json: not a STAC Item \(item S2B_broken: missing 'properties'\)"):
        list_tiles(str(collection_file(tmp_path, earth_search_s2, broken)))
    anonymous = {k: v for k, v in broken.items() if k != "id"}
    with pytest.raises(SourceError, match=r"not a STAC Item \(feature 2: "):
        list_tiles(str(collection_file(tmp_path, earth_search_s2, anonymous)))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({**earth_search_s2, "id": "S2B_no_assets", "assets": {}}))
    with pytest.raises(SourceError, match=r"empty\.json: item S2B_no_assets has no image asset"):
        list_tiles(str(empty))
    lines = tmp_path / "items.jsonl"
    lines.write_text(json.dumps(earth_search_s2) + "\n" + json.dumps(broken) + "\n")
    with pytest.raises(SourceError, match=r"items\.jsonl:2: not a STAC Item \(item S2B_broken: "):
        list_tiles(str(lines))
