"""A STAC ItemCollection of multi-asset scenes written from the shared rasters, as providers publish them.

- a Sentinel-2 L2A item: the Sen1Floods11 S2 chip (cropped to 510 px) split into one GeoTIFF per band at the
  band's native resolution (10 m: 510 px, 20 m: 255 px, 60 m: 85 px), B10 dropped as in L2A, asset keys and
  eo:bands as Earth Search publishes them, plus a thumbnail asset that is not data;
- a Sentinel-1 item: VV and VH files from the Sen1Floods11 S1 chip;
- a Landsat 8 item whose blue/green/red assets are the shared single-band files themselves (absolute hrefs),
  with the no-data value declared only in the item (raster:bands), as USGS does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

S2_ASSETS = {  # Earth Search v1 key: (band, native metres)
    "coastal": ("B01", 60),
    "blue": ("B02", 10),
    "green": ("B03", 10),
    "red": ("B04", 10),
    "rededge1": ("B05", 20),
    "rededge2": ("B06", 20),
    "rededge3": ("B07", 20),
    "nir": ("B08", 10),
    "nir08": ("B8A", 20),
    "nir09": ("B09", 60),
    "swir16": ("B11", 20),
    "swir22": ("B12", 20),
}
S2_FILE_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
SIDE = 510  # divisible by 2 and 6, so 20 m and 60 m grids cover the 10 m grid exactly
LANDSAT = "LC08_L1TP_224078_20200518_20200518_01_RT"


def write_scenes(data_dir: Path, out: Path) -> Path:
    """Write the band files and `scenes.json` (the ItemCollection) into `out`; returns the collection's path."""
    out.mkdir(parents=True, exist_ok=True)
    items = [_sentinel2_item(data_dir, out), _sentinel1_item(data_dir, out), _landsat_item(data_dir)]
    path = out / "scenes.json"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    return path


def _sentinel2_item(data_dir: Path, out: Path) -> dict:
    import rasterio

    assets = {"thumbnail": {"href": "preview.jpg", "type": "image/jpeg", "roles": ["thumbnail"]}}
    with rasterio.open(data_dir / "sen1floods11" / "Spain_7370579_S2Hand.tif") as ds:
        pixels, transform, crs = ds.read()[:, :SIDE, :SIDE], ds.transform, ds.crs
    for key, (band, metres) in S2_ASSETS.items():
        factor = metres // 10
        plane = pixels[S2_FILE_BANDS.index(band.replace("B0", "B"))].astype(np.float64)
        plane = (
            plane.reshape(SIDE // factor, factor, SIDE // factor, factor).mean(axis=(1, 3)).round().astype(np.uint16)
        )
        name = f"T30SXH_20190918_{band}_{metres}m.tif"
        _write(out / name, plane, transform * transform.scale(factor), crs, nodata=0)
        assets[key] = {
            "href": name,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "eo:bands": [{"name": band, "common_name": "rededge" if key.startswith("rededge") else key}],
            "gsd": metres,
        }
    return _item(
        "S2B_30SXH_20190918_0_L2A",
        "2019-09-18T10:50:00Z",
        assets,
        transform,
        SIDE,
        {"platform": "sentinel-2b", "constellation": "sentinel-2"},
        "sentinel-2-l2a",
    )


def _sentinel1_item(data_dir: Path, out: Path) -> dict:
    import rasterio

    with rasterio.open(data_dir / "sen1floods11" / "Spain_7370579_S1Hand.tif") as ds:
        pixels, transform, crs = ds.read(), ds.transform, ds.crs
    assets = {}
    for index, polarisation in enumerate(("vv", "vh")):
        name = f"S1A_IW_GRDH_20190917_{polarisation}.tif"
        _write(out / name, pixels[index], transform, crs, nodata=float("nan"))
        assets[polarisation] = {"href": name, "type": "image/tiff; application=geotiff", "roles": ["data"]}
    return _item(
        "S1A_IW_GRDH_20190917",
        "2019-09-17T18:00:00Z",
        assets,
        transform,
        pixels.shape[1],
        {"platform": "sentinel-1a", "sar:polarizations": ["VV", "VH"]},
        "sentinel-1-grd",
    )


def _landsat_item(data_dir: Path) -> dict:
    import rasterio

    folder = data_dir / "rasters"
    assets = {}
    for key, band in (("blue", "B2"), ("green", "B3"), ("red", "B4")):
        assets[key] = {
            "href": str(folder / f"{LANDSAT}_{band}.TIF"),
            "type": "image/tiff; application=geotiff",
            "roles": ["data"],
            "eo:bands": [{"name": band, "common_name": key}],
            "raster:bands": [{"nodata": 0, "data_type": "uint16"}],
        }
    with rasterio.open(folder / f"{LANDSAT}_B2.TIF") as ds:
        from rasterio.warp import transform_bounds

        bbox = list(transform_bounds(ds.crs, "EPSG:4326", *ds.bounds))
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "LC08_L1TP_224078_20200518",
        "collection": "landsat-c2-l1",
        "geometry": _box(bbox),
        "bbox": bbox,
        "properties": {"datetime": "2020-05-18T13:40:00Z", "platform": "landsat-8"},
        "assets": assets,
        "links": [],
    }


def _item(item_id: str, when: str, assets: dict, transform, side: int, properties: dict, collection: str) -> dict:
    west, north = transform.c, transform.f
    bbox = [west, north - side * abs(transform.e), west + side * transform.a, north]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": item_id,
        "collection": collection,
        "geometry": _box(bbox),
        "bbox": bbox,
        "properties": {"datetime": when, **properties},
        "assets": assets,
        "links": [],
    }


def _box(bbox: list[float]) -> dict:
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def _write(path: Path, plane: np.ndarray, transform, crs, nodata: float) -> None:
    import rasterio

    profile = {
        "driver": "GTiff",
        "height": plane.shape[0],
        "width": plane.shape[1],
        "count": 1,
        "dtype": plane.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    if plane.shape[0] < 256:
        profile.update(tiled=False)
        del profile["blockxsize"], profile["blockysize"]
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(plane, 1)
