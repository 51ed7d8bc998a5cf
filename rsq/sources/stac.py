"""Tiles from a STAC ItemCollection: one tile per item, from its image asset or stacked from one asset per band.

Sentinel-2 items (B01…B12 at 10, 20 and 60 m), Sentinel-1 items (VV, VH) and any item whose single-band assets
carry common band names (blue, green, red, nir…) become one multiband tile in band order; other items use their
image asset. Asset hrefs may be local paths (relative to the collection file), `file://`, or URLs GDAL reads
in place: http(s) through `/vsicurl/`, `s3://` through `/vsis3/`, `gs://` through `/vsigs/`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rsq.errors import SourceError
from rsq.imagery.reader import is_remote
from rsq.imagery.sensors import S2_BANDS_L1C, SAR_POLARISATIONS
from rsq.sources.refs import TileRef

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".jp2"}
IMAGE_ASSET_KEYS = ("image", "visual", "data")
SAR_ORDER = ("VV", "VH", "HH", "HV")
COMMON_ORDER = ("coastal", "blue", "green", "red", "yellow", "pan", "rededge", "nir", "nir08", "nir09", "cirrus",
                "swir16", "swir22", "lwir", "lwir11", "lwir12")  # STAC eo common band names, by wavelength
REMOTE_SCHEMES = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/"}
S2_NAME = re.compile(r"^B0?(\d{1,2}A?)$", re.IGNORECASE)


def read_stac(path: Path, text: str) -> list[TileRef]:
    """One tile per STAC Item of the collection `text` read from `path`; item datetime and bbox become metadata."""
    import pystac

    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceError(f"{path}: not JSON ({error.msg})") from None
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        raise SourceError(f"{path}: not a STAC ItemCollection (a FeatureCollection object with a 'features' list)")
    try:
        collection = pystac.ItemCollection.from_dict(document)
    except (ValueError, KeyError, TypeError, AttributeError, pystac.STACError, pystac.STACTypeError) as error:
        raise SourceError(f"{path}: not a STAC ItemCollection ({error})") from None
    return [item_ref(path, item) for item in collection]


def is_stac_item(record: dict[str, Any]) -> bool:
    """Whether a JSON object is a STAC Item (a line of an items-as-JSON-lines file, as STAC API clients export)."""
    return record.get("type") == "Feature" and isinstance(record.get("assets"), dict)


def item_line_ref(path: Path, number: int, record: dict[str, Any]) -> TileRef:
    """The tile of the STAC Item on line `number` of a JSON-lines file."""
    import pystac

    try:
        item = pystac.Item.from_dict(record)
    except (ValueError, KeyError, TypeError, AttributeError, pystac.STACError, pystac.STACTypeError) as error:
        raise SourceError(f"{path}:{number}: not a STAC Item ({error})") from None
    return item_ref(path, item)


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
    """(band name, asset) of the item's single-band raster data assets that name a known band, in band order."""
    sentinel2 = _is_sentinel2(item)
    named: dict[str, Any] = {}
    for key, asset in item.assets.items():
        if not _is_raster_data(asset):
            continue
        name = _band_name(key, asset, sentinel2)
        if name:
            named.setdefault(name, asset)
    order = S2_BANDS_L1C + SAR_ORDER + COMMON_ORDER
    kinds = {_kind(name) for name in named}
    if len(kinds) > 1:  # e.g. S2 bands beside SAR: keep the larger family
        keep = max(kinds, key=lambda kind: sum(_kind(n) == kind for n in named))
        named = {n: a for n, a in named.items() if _kind(n) == keep}
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


def _is_sentinel2(item: Any) -> bool:
    props = item.properties
    words = " ".join(str(v) for v in (props.get("platform"), props.get("constellation"), item.collection_id) if v)
    return "sentinel-2" in words.lower() or "sentinel2" in words.lower()


def _is_raster_data(asset: Any) -> bool:
    roles = asset.roles or ["data"]
    kind = (asset.media_type or "").lower()
    raster = "tiff" in kind or "jp2" in kind or Path(asset.href.split("?")[0]).suffix.lower() in {".tif", ".tiff", ".jp2"}
    return "data" in roles and raster and len(_band_fields(asset)) <= 1


def _band_fields(asset: Any) -> list[dict[str, Any]]:
    fields = asset.extra_fields
    bands = fields.get("eo:bands") or fields.get("bands") or fields.get("raster:bands") or []
    return [b for b in bands if isinstance(b, dict)] if isinstance(bands, list) else []


def _band_name(key: str, asset: Any, sentinel2: bool) -> str | None:
    """A canonical band name: Sentinel-2 `B1`…`B12`/`B8A`, a SAR polarisation, or an eo common name."""
    band = (_band_fields(asset) or [{}])[0]
    names = [str(band.get("name") or ""), key]
    for name in names:
        if sentinel2 and (match := S2_NAME.match(name)) and f"B{match.group(1).upper().lstrip('0')}" in S2_BANDS_L1C:
            return f"B{match.group(1).upper().lstrip('0')}"
        if name.upper() in SAR_POLARISATIONS:
            return name.upper()
    common = str(band.get("common_name") or band.get("eo:common_name") or "").lower()
    return next((n for n in (common, key.lower()) if n in COMMON_ORDER), None)


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
    return next((a for a in assets.values() if Path(a.href.split("?")[0]).suffix.lower() in IMAGE_SUFFIXES), None)
