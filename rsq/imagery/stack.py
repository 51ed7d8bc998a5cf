"""One multiband raster from single-band files (a STAC item with one asset per band): a GDAL VRT built in memory
on the grid of the finest band, so that windows, decimated reads and validity masks see one dataset.

Nothing is written: the VRT is an XML string GDAL opens directly; coarser bands (Sentinel-2's 20 m and 60 m)
are resampled onto the finest grid as they are read, only for the window being read.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache

from rsq.errors import TileError
from rsq.imagery.gdal import open_raster

GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


@dataclass(frozen=True)
class BandFile:
    """What the VRT needs to know of one band's file."""

    path: str
    width: int
    height: int
    transform: tuple[float, float, float, float, float, float]  # GDAL geotransform: x0, dx, 0, y0, 0, dy
    crs: str | None
    dtype: str
    nodata: float | None


@lru_cache(maxsize=64)  # a scene's chips share one VRT: its band files are opened once, not once per chip
def stacked_vrt(files: tuple[str, ...], names: tuple[str, ...], nodata: float | None = None) -> str:
    """VRT XML stacking band 1 of each file, in order, named `names`; `nodata` applies to files that declare none."""
    bands = [_band_file(path) for path in files]
    _check_same_crs(bands)
    x_res = min(abs(b.transform[1]) for b in bands)
    y_res = min(abs(b.transform[5]) for b in bands)
    left = min(b.transform[0] for b in bands)
    top = max(b.transform[3] for b in bands)
    right = max(b.transform[0] + b.width * b.transform[1] for b in bands)
    bottom = min(b.transform[3] + b.height * b.transform[5] for b in bands)
    width, height = round((right - left) / x_res), round((top - bottom) / y_res)
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    if bands[0].crs:
        ET.SubElement(root, "SRS").text = bands[0].crs
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in (left, x_res, 0.0, top, 0.0, -y_res))
    dtype = bands[0].dtype if len({b.dtype for b in bands}) == 1 else "float32"
    for number, (band, name) in enumerate(zip(bands, names, strict=True), start=1):
        offset = ((band.transform[0] - left) / x_res, (top - band.transform[3]) / y_res)
        size = (band.width * abs(band.transform[1]) / x_res, band.height * abs(band.transform[5]) / y_res)
        _add_band(root, number, name, band, dtype, band.nodata if band.nodata is not None else nodata, offset, size)
    return ET.tostring(root, encoding="unicode")


def _band_file(path: str) -> BandFile:
    with open_raster(path) as ds:
        if ds.count != 1:
            raise TileError(path, f"has {ds.count} bands; a stacked band file must hold one")
        if ds.transform.b or ds.transform.d or ds.transform.is_identity:
            raise TileError(path, "has no north-up georeference; band files are stacked by their geotransforms")
        return BandFile(
            path,
            ds.width,
            ds.height,
            tuple(ds.transform.to_gdal()),
            ds.crs.to_wkt() if ds.crs else None,
            ds.dtypes[0],
            ds.nodata,
        )


def _check_same_crs(bands: list[BandFile]) -> None:
    crs = {b.crs for b in bands}
    if len(crs) > 1:
        raise TileError(bands[0].path, "its band files are in different coordinate systems; they cannot be stacked")


def _add_band(
    root: ET.Element,
    number: int,
    name: str,
    band: BandFile,
    dtype: str,
    nodata: float | None,
    offset: tuple[float, float],
    size: tuple[float, float],
) -> None:
    element = ET.SubElement(root, "VRTRasterBand", dataType=GDAL_TYPES.get(dtype, "Float32"), band=str(number))
    ET.SubElement(element, "Description").text = name
    if nodata is not None:
        ET.SubElement(element, "NoDataValue").text = _number(nodata)
    source = ET.SubElement(element, "ComplexSource", resampling="bilinear")
    ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = band.path
    ET.SubElement(source, "SourceBand").text = "1"
    ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(band.width), ySize=str(band.height))
    ET.SubElement(
        source, "DstRect", xOff=repr(offset[0]), yOff=repr(offset[1]), xSize=repr(size[0]), ySize=repr(size[1])
    )
    if nodata is not None:
        ET.SubElement(source, "NODATA").text = _number(nodata)


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else repr(float(value))
