"""Tiles to model inputs per sensor: RGB views scaled to 0..1, Sentinel-2 reflectance / 10000, Sentinel-1 dB as is."""

from __future__ import annotations

import numpy as np

from rsq.errors import TileError
from rsq.imagery import Sensor, Tile, read_pixels, render_rgb
from rsq.imagery.render import sar_db
from rsq.imagery.sensors import S2_BANDS_L1C

S2_SCALE = 10000.0


def tower_for(tile: Tile) -> str:
    """Which vision tower reads this tile: SAR and Sentinel-2 have their own; anything else goes through RGB."""
    return {Sensor.S1: "s1", Sensor.S2: "s2"}.get(tile.sensor, "rgb")


def model_input(tile: Tile, size: int, pixels: np.ndarray | None = None) -> np.ndarray:
    """(C, size, size) float32 for the tile's tower; no-data becomes 0."""
    pixels = read_pixels(tile, max_side=2 * size) if pixels is None else pixels
    tower = tower_for(tile)
    if tower == "s2":
        array = s2_bands(tile, pixels) / S2_SCALE
    elif tower == "s1":
        array = sar_db(pixels[:2])
    else:
        array = render_rgb(tile, pixels).transpose(2, 0, 1).astype(np.float32) / 255.0
    return resize(np.nan_to_num(array, nan=0.0).astype(np.float32), size)


def s2_bands(tile: Tile, pixels: np.ndarray) -> np.ndarray:
    """The 13 Level-1C bands in order, by name; B10 (cirrus, dropped from Level-2A products) is zero when absent."""
    names = tile.band_names if len(tile.band_names) == pixels.shape[0] else ()
    missing = [band for band in S2_BANDS_L1C if band not in names and band != "B10"]
    if missing:
        raise TileError(
            tile.path,
            f"the Sentinel-2 tower needs bands {', '.join(S2_BANDS_L1C)} (B10 optional); "
            f"this tile lacks {', '.join(missing)}",
        )
    zeros = np.zeros_like(pixels[0])
    return np.stack([pixels[names.index(band)] if band in names else zeros for band in S2_BANDS_L1C])


def resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (C, H, W) to (C, size, size)."""
    import torch
    import torch.nn.functional as F

    if array.shape[1:] == (size, size):
        return array
    tensor = torch.from_numpy(np.ascontiguousarray(array))[None]
    return F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0].numpy()
