"""Tiles from STAC Items: one tile per item, stacked from one asset per band, else from its image asset.

A STAC file may be an ItemCollection or a single Item (as pystac's `Item.save_object` writes one); Items may also
come one per line (`item_line_ref`). Single-band raster data assets are recognised as bands, and stacked in band order
on the finest grid, when they name:
- a Sentinel-2 band, in items whose platform, constellation or collection says Sentinel-2: the eo:bands `name`
  (`B05`, `B8A`, or Earth Search v1's `rededge1`) or else the asset key (`B05`, `rededge1`, `nir08`, `swir16`,
  `coastal`...), so Earth Search, stactools and Planetary Computer items all give B1...B12 with B8A;
- a SAR polarisation, by name or key (`vv`, or Indigo RTC's `gamma0_vv`): VV, VH, HH, HV;
- a Landsat 8/9 band by key (USGS Collection 2 `SR_B2.TIF`, `SR_B2`, `B2`), as its eo common name by OLI band
  number, whether eo:bands give it or not (older items give them as indices into a list the item may not carry);
- an eo common name (blue, green, red, nir...), by eo:bands `common_name` or by key.
Of several copies of one band the finest is stacked, GeoTIFF before JPEG 2000: stactools' resampled `blue_20m` and
`*_60m` copies and Earth Search's `*-jp2` duplicates never replace the native asset. Thumbnails, previews, metadata,
multiband visual images and unnamed rasters (SCL, AOT, WVP, QA) are not bands. Asset hrefs may be local paths
(relative to the STAC file), `file://`, or URLs GDAL reads in place: http(s) through `/vsicurl/`, `s3://` through
`/vsis3/`, `gs://` through `/vsigs/`. Errors name the item by its id.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rsq.errors import SourceError
from rsq.imagery.gdal import is_remote
from rsq.imagery.sensors import LANDSAT_OLI_BANDS, S2_BANDS_L1C, S2_COMMON_NAMES, s2_band
from rsq.sources.refs import TileRef

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".jp2"}
IMAGE_ASSET_KEYS = ("image", "visual", "data")
SAR_ORDER = ("VV", "VH", "HH", "HV")
COMMON_ORDER = (
    "coastal",
    "blue",
    "green",
    "red",
    "yellow",
    "pan",
    "rededge",
    "nir",
    "nir08",
    "nir09",
    "cirrus",
    "swir16",
    "swir22",
    "lwir",
    "lwir11",
    "lwir12",
)  # STAC eo common band names, by wavelength
REMOTE_SCHEMES = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/"}
SAR_NAME = re.compile(r"^(?:.*[_-])?(vv|vh|hh|hv)$", re.IGNORECASE)
LANDSAT_KEY = re.compile(r"^(?:SR_)?(B\d)$", re.IGNORECASE)
COPY_SUFFIX = re.compile(r"(?:\.tiff?|[-_](\d+)m|-jp2)$", re.IGNORECASE)  # SR_B2.TIF, blue_20m, blue-jp2
SENTINEL2 = re.compile(r"sentinel-?2", re.IGNORECASE)
LANDSAT_OLI = re.compile(r"landsat[-_ ]?[89](?!\d)|^l[co]0[89]_", re.IGNORECASE)


def read_stac(path: Path, text: str) -> list[TileRef]:
    """One tile per STAC Item of the ItemCollection, or the single Item, `text` read from `path`; item datetime and
    bbox become metadata."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(f"{path}: not JSON ({error.msg})") from None
    features = _features(path, document)
    return [item_ref(path, _item(str(path), record, f"feature {n}")) for n, record in enumerate(features, start=1)]


def is_stac_item(record: dict[str, Any]) -> bool:
    """Whether a JSON object is a STAC Item (a line of an items-as-JSON-lines file, as STAC API clients export)."""
    return record.get("type") == "Feature" and isinstance(record.get("assets"), dict)


def item_line_ref(path: Path, number: int, record: dict[str, Any]) -> TileRef:
    """The tile of the STAC Item on line `number` of a JSON-lines file."""
    return item_ref(path, _item(f"{path}:{number}", record, "no id"))


def item_ref(path: Path, item: Any) -> TileRef:
    """The tile of one item: its bands stacked when it has one asset per band, else its image asset."""
    meta = {k: v for k, v in item.properties.items() if k != "datetime"}
    meta["time"] = item.datetime.isoformat() if item.datetime else item.properties.get("start_datetime")
    if item.bbox:
        meta["bbox"] = list(item.bbox)
    bands = band_assets(item)
    if len(bands) >= 2:
        files = tuple((name, gdal_path(path.parent, asset.href)) for name, asset in bands)
        return TileRef(item.id, files[0][1], meta, bands=files, nodata=_nodata(bands))
    asset = _image_asset(item)
    if asset is None:
        raise SourceError(f"{path}: item {item.id} has no image asset and no single-band assets to stack")
    return TileRef(item.id, gdal_path(path.parent, asset.href), meta)


def band_assets(item: Any) -> list[tuple[str, Any]]:
    """(band name, asset) of the item's single-band raster data assets that name a known band, in band order; of
    several copies of a band, the one `_rank` puts first."""
    sentinel2, landsat = _says(item, SENTINEL2), _says(item, LANDSAT_OLI)
    copies: dict[str, list[tuple[tuple[float, bool], Any]]] = {}
    for key, asset in item.assets.items():
        if _is_raster_data(asset) and (name := _band_name(key, asset, sentinel2, landsat)):
            copies.setdefault(name, []).append((_rank(key, asset), asset))
    named = {name: min(ranked, key=lambda copy: copy[0])[1] for name, ranked in copies.items()}
    kinds = {_kind(name) for name in named}
    if len(kinds) > 1:  # e.g. S2 bands beside SAR: keep the larger family
        keep = max(kinds, key=lambda kind: sum(_kind(n) == kind for n in named))
        named = {n: a for n, a in named.items() if _kind(n) == keep}
    order = S2_BANDS_L1C + SAR_ORDER + COMMON_ORDER
    return sorted(named.items(), key=lambda pair: order.index(pair[0]))


def gdal_path(base: Path, href: str) -> str:
    """The path GDAL opens for an asset href: URLs through its virtual file systems, relative paths from `base`."""
    scheme, sep, rest = href.partition("://")
    if sep and scheme.lower() in REMOTE_SCHEMES:
        return REMOTE_SCHEMES[scheme.lower()] + (href if scheme.lower().startswith("http") else rest)
    if is_remote(href):
        return href
    local = Path(href.removeprefix("file://")).expanduser()
    return str(local if local.is_absolute() else base / local)


def _features(path: Path, document: Any) -> list[Any]:
    """The Item objects of a STAC file: an ItemCollection's features, or the file's one Item."""
    if isinstance(document, dict) and document.get("type") == "Feature":
        return [document]
    features = document.get("features") if isinstance(document, dict) else None
    if isinstance(features, list) and document.get("type") == "FeatureCollection":
        return features
    raise SourceError(
        f"{path}: not a STAC ItemCollection (a FeatureCollection object with a 'features' list) "
        "nor a STAC Item (a Feature object)"
    )


def _item(where: str, record: Any, unnamed: str) -> Any:
    """The pystac Item of `record`, found at `where`; else a SourceError naming the item by id (else `unnamed`)."""
    import pystac

    try:
        return pystac.Item.from_dict(record)
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        pystac.STACError,
        pystac.STACTypeError,
    ) as error:
        item_id = record.get("id") if isinstance(record, dict) else None
        name = f"item {item_id}" if isinstance(item_id, str | int) and str(item_id).strip() else unnamed
        why = f"missing {error}" if isinstance(error, KeyError) else str(error)
        raise SourceError(f"{where}: not a STAC Item ({name}: {why})") from None


def _says(item: Any, pattern: re.Pattern[str]) -> bool:
    """Whether the item's platform, constellation, collection or id matches `pattern`."""
    props = item.properties
    words = (props.get("platform"), props.get("eo:platform"), props.get("constellation"), item.collection_id, item.id)
    return any(pattern.search(str(word)) for word in words if word)


def _is_raster_data(asset: Any) -> bool:
    roles = asset.roles or ["data"]
    kind = (asset.media_type or "").lower()
    raster = "tiff" in kind or "jp2" in kind or _suffix(asset.href) in {".tif", ".tiff", ".jp2"}
    return "data" in roles and raster and len(_band_fields(asset)) <= 1


def _band_fields(asset: Any) -> list[dict[str, Any]]:
    """The asset's band objects (eo:bands, STAC 1.1 bands or raster:bands); band indices of older items are not."""
    fields = asset.extra_fields
    bands = fields.get("eo:bands") or fields.get("bands") or fields.get("raster:bands") or []
    return [b for b in bands if isinstance(b, dict)] if isinstance(bands, list) else []


def _band_name(key: str, asset: Any, sentinel2: bool, landsat: bool = False) -> str | None:
    """A canonical band name: Sentinel-2 `B1`…`B12`/`B8A`, a SAR polarisation, or an eo common name (Landsat 8/9
    bands by OLI number), from the eo:bands name, else the asset key (less any copy suffix), else the common name."""
    band = (_band_fields(asset) or [{}])[0]
    common = str(band.get("common_name") or band.get("eo:common_name") or "").lower()
    stem = COPY_SUFFIX.sub("", key)
    for name in (str(band.get("name") or ""), stem, common):
        if sentinel2 and (s2 := _s2_band(name)):
            return s2
        if match := SAR_NAME.match(name):
            return match.group(1).upper()
        if landsat and (match := LANDSAT_KEY.match(name)) and match.group(1).upper() in LANDSAT_OLI_BANDS:
            return LANDSAT_OLI_BANDS[match.group(1).upper()]
    return next((n for n in (common, stem.lower()) if n in COMMON_ORDER), None)


def _s2_band(name: str) -> str | None:
    """The Sentinel-2 band `name` stands for (`B05`, `B8A`, or a name of `S2_COMMON_NAMES` such as `rededge1`)."""
    return s2_band(name) or S2_COMMON_NAMES.get(name.lower())


def _rank(key: str, asset: Any) -> tuple[float, bool]:
    """How one copy of a band ranks, lowest first: finest resolution (resampled copies are coarser than the native
    asset; one that gives no resolution counts as native), then GeoTIFF before JPEG 2000."""
    fields = asset.extra_fields
    raster = fields.get("raster:bands")
    first = raster[0] if isinstance(raster, list) and raster and isinstance(raster[0], dict) else {}
    suffix = COPY_SUFFIX.search(key)
    named = float(suffix.group(1)) if suffix and suffix.group(1) else None
    given = (fields.get("gsd"), first.get("spatial_resolution"), named)
    metres = next((float(value) for value in given if isinstance(value, int | float) and value > 0), 0.0)
    return metres, "jp2" in (asset.media_type or "").lower() or _suffix(asset.href) == ".jp2"


def _kind(name: str) -> str:
    return "s2" if name in S2_BANDS_L1C else "sar" if name in SAR_ORDER else "common"


def _nodata(bands: list[tuple[str, Any]]) -> float | None:
    """The no-data value the item declares for its bands (raster extension, or the asset's `nodata`)."""
    for _, asset in bands:
        raster = asset.extra_fields.get("raster:bands")
        for band in [*(raster if isinstance(raster, list) else []), asset.extra_fields]:
            value = band.get("nodata") if isinstance(band, dict) else None
            if isinstance(value, int | float) or value in ("nan", "NaN"):
                return float(value)
    return None


def _image_asset(item: Any) -> Any:
    assets = item.assets
    for asset in assets.values():
        if "data" in (asset.roles or []):
            return asset
    for key in IMAGE_ASSET_KEYS:
        if key in assets:
            return assets[key]
    return next((a for a in assets.values() if _suffix(a.href) in IMAGE_SUFFIXES), None)


def _suffix(href: str) -> str:
    return Path(href.split("?")[0]).suffix.lower()
