"""Cut a large scene into chips that keep their georeference: read in place as windows, or written out."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from rsq.errors import TileError
from rsq.imagery.gdal import open_raster
from rsq.imagery.reader import PIL_SUFFIXES, georeference_window, open_tile_raster
from rsq.imagery.tile import Tile

MASK_FACTOR = 8  # the scene's validity mask is read at 1/8 of its size to find empty windows


def chip_offsets(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets along one axis: a step of size - overlap, the last chip flush with the edge."""
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"need size > 0 and 0 <= overlap < size (got size={size}, overlap={overlap})")
    if length <= size:
        return [0]
    offsets = list(range(0, length - size + 1, size - overlap))
    if offsets[-1] + size < length:
        offsets.append(length - size)
    return offsets


def chip_tiles(scene: Tile, size: int, overlap: int = 0) -> tuple[list[Tile], list[str]]:
    """The scene as windows of `size` px, read in place (nothing is written): ids `<scene id>@r<row>c<col>`, each
    with its own footprint; and the ids of the windows that hold no valid pixel (skipped). Validity comes from
    the first band's mask read once for the whole scene at 1/MASK_FACTOR of its size (averaged, so one valid
    pixel keeps its block; on a COG, from its overviews). JPEG/PNG images and tiles that are windows stay whole."""
    if scene.window or (not scene.band_files and Path(scene.path).suffix.lower() in PIL_SUFFIXES):
        return [scene], []
    chips, empty = [], []
    with open_tile_raster(scene) as ds:
        valid = _scene_mask(ds)
        for row in chip_offsets(scene.height, size, overlap):
            for col in chip_offsets(scene.width, size, overlap):
                width, height = min(size, scene.width - col), min(size, scene.height - row)
                chip_id = f"{scene.id}@r{row}c{col}"
                if not _any_valid(valid, (scene.height, scene.width), row, col, height, width):
                    empty.append(chip_id)
                    continue
                place = georeference_window(ds, col, row, width, height)
                chips.append(
                    replace(
                        scene,
                        id=chip_id,
                        shape=(scene.shape[0], height, width),
                        window=(col, row, width, height),
                        **place,
                    )
                )
    return chips, empty


def _scene_mask(ds) -> np.ndarray:
    """The first band's validity mask (non-zero: valid), read decimated in one go."""
    from rasterio.enums import Resampling

    shape = (max(1, math.ceil(ds.height / MASK_FACTOR)), max(1, math.ceil(ds.width / MASK_FACTOR)))
    return ds.read_masks(1, out_shape=shape, resampling=Resampling.average)


def _any_valid(mask: np.ndarray, full: tuple[int, int], row: int, col: int, height: int, width: int) -> bool:
    """Whether the mask cells covering a window of the full-size scene hold any valid pixel."""
    y, x = mask.shape[0] / full[0], mask.shape[1] / full[1]
    top, left = int(row * y), int(col * x)
    bottom, right = max(top + 1, math.ceil((row + height) * y)), max(left + 1, math.ceil((col + width) * x))
    return bool(mask[top:bottom, left:right].any())


def chip_scene(scene: str | Path, size: int, out_dir: str | Path, overlap: int = 0) -> list[Path]:
    """Write GeoTIFF chips of `scene` to `out_dir` as STEM_r{row}_c{col}.tif; returns their paths."""
    from rasterio.errors import RasterioError
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    scene, out_dir = Path(scene), Path(out_dir)
    if not scene.is_file():
        raise TileError(scene, "file not found")
    if out_dir.exists() and not out_dir.is_dir():
        raise TileError(out_dir, "is a file; --out wants a folder for the chips")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with open_raster(scene) as ds:
        profile = _chip_profile(ds)
        for row in chip_offsets(ds.height, size, overlap):
            for col in chip_offsets(ds.width, size, overlap):
                window = Window(col, row, min(size, ds.width - col), min(size, ds.height - row))
                path = out_dir / f"{scene.stem}_r{row}_c{col}.tif"
                try:
                    _write_chip(ds, window, path, profile, window_transform(window, ds.transform))
                except RasterioError as error:
                    raise TileError(
                        scene,
                        f"cannot read the window at row {row}, column {col} ({error}); {len(written)} chips written",
                    ) from None
                written.append(path)
    return written


def _chip_profile(ds) -> dict:
    profile = {key: ds.profile[key] for key in ("dtype", "count", "crs", "nodata") if key in ds.profile}
    return {**profile, "driver": "GTiff", "compress": "deflate"}


def _write_chip(ds, window, path: Path, profile: dict, transform) -> None:
    import rasterio

    data = ds.read(window=window)
    profile = {**profile, "height": window.height, "width": window.width, "transform": transform}
    tmp = path.with_suffix(".tif.part")
    with rasterio.open(tmp, "w", **profile) as out:
        out.write(data)
        out.descriptions = ds.descriptions
        out.colorinterp = ds.colorinterp
        out.update_tags(**ds.tags())
    tmp.replace(path)
