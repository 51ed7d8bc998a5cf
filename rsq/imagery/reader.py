"""Read tiles from JPEG, PNG, TIFF, GeoTIFF or NetCDF/HDF containers: metadata into a Tile, pixels into float32."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rsq.errors import TileError
from rsq.geo import haversine_km, normalised_box, wrap_lon
from rsq.imagery.containers import container_bands
from rsq.imagery.gdal import is_remote, open_raster
from rsq.imagery.sensors import detect_sensor
from rsq.imagery.stack import stacked_vrt
from rsq.imagery.tile import Sensor, Tile
from rsq.imagery.timeparse import parse_time

PIL_SUFFIXES = {".jpg", ".jpeg", ".png"}
TIME_TAGS = ("ACQUISITION_TIME", "ACQUISITIONDATETIME", "DATE_ACQUIRED", "SENSING_TIME", "DATETIME", "TIFFTAG_DATETIME")
EXIF_TIME_TAGS = (36867, 306)  # DateTimeOriginal, DateTime
MAX_VALUES = 100_000_000  # pixels x bands read at once: 400 MB of float32


def read_tile(
    path: str | Path,
    tile_id: str | None = None,
    meta: dict[str, Any] | None = None,
    bands: Sequence[tuple[str, str]] = (),
    nodata: float | None = None,
) -> Tile:
    """Read a tile's metadata; raises TileError when the file is missing or unreadable.

    `path` may be a GDAL path to a remote file (`/vsicurl/…`, `/vsis3/…`). With `bands` ((name, file) pairs),
    the tile is those single-band files stacked in that order (see `rsq.imagery.stack`), `path` its first file.
    """
    files = tuple(file for _, file in bands)
    for file in files or (str(path),):
        if not is_remote(file) and not Path(file).is_file():
            raise TileError(file, "file not found")
    if files:
        fields = _raster_metadata(stacked_vrt(files, tuple(name for name, _ in bands), nodata), files[0])
        fields.update(band_files=files, nodata=nodata)
    elif not is_remote(str(path)) and Path(path).suffix.lower() in PIL_SUFFIXES:
        fields = _pil_metadata(Path(path))
    else:
        fields = _raster_metadata(str(path), str(path))
    file_time = fields.pop("time")
    meta = dict(meta or {})
    time = parse_time(meta.pop("time", None)) or file_time
    return Tile(id=tile_id or Path(str(path)).stem, path=str(path), time=time, meta=meta, **fields)


def raster_source(tile: Tile) -> str:
    """What GDAL opens to read `tile`: its file, or the VRT stacking its band files."""
    return stacked_vrt(tile.band_files, tile.band_names, tile.nodata) if tile.band_files else tile.path


def read_pixels(tile: Tile, max_side: int | None = None, bands: Sequence[int] | None = None) -> np.ndarray:
    """The tile's pixels as float32 (bands, height, width), NaN where there is no data.

    With `max_side`, a larger tile is read decimated so that its longer side fits (GDAL uses the file's
    overviews when it has them; JPEGs decode at a reduced scale). With `bands` (0-based), only those bands
    are read, in that order (a stacked tile then opens only their files). What would still need more than
    MAX_VALUES values is refused with a TileError rather than exhausting memory.
    """
    path = tile.path
    height, width = _read_shape(tile, max_side)
    count = tile.shape[0] if bands is None else len(bands)
    if count * height * width > MAX_VALUES:
        advice = (
            "read it decimated (a size, e.g. --size 1024)" if max_side is None else "cut it into chips (rsq tiles chip)"
        )
        raise TileError(
            path, f"{tile.width} x {tile.height} px in {count} band(s) is too large to read whole; {advice}"
        )
    if not tile.band_files and not is_remote(path) and Path(path).suffix.lower() in PIL_SUFFIXES:
        pixels = _pil_pixels(Path(path), tile.sensor, (width, height))
        pixels = pixels if bands is None else pixels[list(bands)]
    else:
        pixels = _raster_pixels(tile, (count, height, width), bands)
    if pixels.shape[0] != count:
        raise TileError(path, f"has {pixels.shape[0]} bands, expected {count}")
    pixels[~np.isfinite(pixels)] = np.nan
    return pixels


def _read_shape(tile: Tile, max_side: int | None) -> tuple[int, int]:
    """(height, width) to read: the tile's own, or shrunk so the longer side is at most `max_side`."""
    longer = max(tile.height, tile.width, 1)
    if max_side is None or longer <= max_side:
        return tile.height, tile.width
    scale = max_side / longer
    return max(1, round(tile.height * scale)), max(1, round(tile.width * scale))


def _pil_metadata(path: Path) -> dict[str, Any]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            bands = 1 if image.mode in ("L", "I", "I;16", "F") else 3
            exif = image.getexif()
            time = next((parse_time(exif[t]) for t in EXIF_TIME_TAGS if t in exif), None)
            size = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise TileError(path, f"not a readable image ({error})") from None
    sensor, names = (Sensor.RGB, ("red", "green", "blue")) if bands == 3 else (Sensor.OTHER, ("gray",))
    return {"sensor": sensor, "band_names": names, "shape": (bands, size[1], size[0]), "dtype": "uint8", "time": time}


def _pil_pixels(path: Path, sensor: Sensor, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB" if sensor == Sensor.RGB else "L", size)  # JPEG: decode at a reduced scale
            image = image.convert("RGB" if sensor == Sensor.RGB else "F")
            if image.size != size:
                image = image.resize(size, Image.Resampling.BOX)
            array = np.asarray(image, dtype=np.float32)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise TileError(path, f"image data is corrupt ({error})") from None
    return array.transpose(2, 0, 1).copy() if array.ndim == 3 else array[None].copy()


def open_tile_raster(tile: Tile):
    """The open dataset of a raster tile (stacked when it has band files)."""
    return open_raster(raster_source(tile), tile.path)


def _raster_metadata(source: str, label: str) -> dict[str, Any]:
    with open_raster(source, label) as ds:
        if not ds.count:
            if not ds.subdatasets:
                raise TileError(label, "holds no raster bands")
            return _container_metadata(ds, label)
        colors = [c.name for c in ds.colorinterp]
        sensor, names = detect_sensor(ds.count, ds.dtypes[0], ds.descriptions, colors)
        fields = {
            "sensor": sensor,
            "band_names": names,
            "shape": (ds.count, ds.height, ds.width),
            "dtype": ds.dtypes[0],
        }
        fields.update(_georeference(ds))
        tags = {key.upper(): value for key, value in ds.tags().items()}
        fields["time"] = next((parse_time(tags[t]) for t in TIME_TAGS if t in tags), None)
    return fields


def _container_metadata(ds, label: str) -> dict[str, Any]:
    """A NetCDF/HDF container's metadata as the stack of its 2-D variables (`rsq.imagery.containers`)."""
    bands, time = container_bands(ds, label)
    files = tuple(subdataset for _, subdataset in bands)
    fields = _raster_metadata(stacked_vrt(files, tuple(name for name, _ in bands)), label)
    fields.update(band_files=files, time=fields["time"] or time)
    return fields


def _raster_pixels(tile: Tile, shape: tuple[int, int, int], bands: Sequence[int] | None = None) -> np.ndarray:
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    with open_tile_raster(tile) as ds:
        try:
            masked = ds.read(
                indexes=None if bands is None else [b + 1 for b in bands],
                masked=True,
                out_dtype="float32",
                out_shape=shape,
                resampling=Resampling.average,
                window=Window(*tile.window) if tile.window else None,
            )
        except (RasterioError, MemoryError) as error:
            raise TileError(
                tile.path, f"raster data is corrupt or unreadable ({error or type(error).__name__})"
            ) from None
    return np.ma.filled(masked, np.nan).astype(np.float32, copy=False)


def _georeference(ds) -> dict[str, Any]:
    """CRS, WGS84 bounds and centre, and ground sample distance of an open rasterio dataset."""
    return georeference_window(ds, 0, 0, ds.width, ds.height)


def georeference_window(ds, col: float, row: float, width: float, height: float) -> dict[str, Any]:
    """CRS, WGS84 footprint (a box that crosses 180° where the window does: rsq.geo) and centre, and ground sample
    distance of a pixel window of `ds`. The window's four corners go through the dataset's full affine transform,
    so a rotated raster gets the footprint of its own pixels."""
    from rasterio.warp import transform, transform_bounds

    if ds.crs is None or ds.transform.is_identity:
        return {}
    corners = [ds.transform * (c, r) for c in (col, col + width) for r in (row, row + height)]
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    box = transform_bounds(ds.crs, "EPSG:4326", min(xs), min(ys), max(xs), max(ys), densify_pts=21)
    centre = (col + width / 2, row + height / 2)
    points = [ds.transform * (centre[0] + dc, centre[1]) for dc in (0, 1)]
    lons, lats = transform(ds.crs, "EPSG:4326", [x for x, _ in points], [y for _, y in points])
    return {
        "crs": ds.crs.to_string(),
        "bounds": normalised_box(*box),
        "center": (wrap_lon(lons[0]), lats[0]),
        "gsd_m": _ground_sample_distance(ds, lons, lats),
    }


def _ground_sample_distance(ds, lons: list[float], lats: list[float]) -> float | None:
    """Metres on the ground across one pixel along a row at the centre, on the sphere, so a Web Mercator pixel at
    60° N measures half its nominal size; where that is within 1 % of the CRS's nominal pixel size (UTM and other
    conformal grids), the nominal size (10 m for a Sentinel-2 band, not 9.997)."""
    ground = float(haversine_km(lons[0], lats[0], lons[1], lats[1])) * 1000
    if not math.isfinite(ground) or ground <= 0:
        return None
    nominal = _nominal_pixel_metres(ds)
    return nominal if nominal and abs(ground - nominal) <= 0.01 * nominal else ground


def _nominal_pixel_metres(ds) -> float | None:
    from rasterio.errors import CRSError

    if ds.crs.is_geographic:
        return None
    try:
        return abs(ds.res[0]) * ds.crs.linear_units_factor[1]
    except CRSError:  # a CRS without linear units
        return None
