"""Turn any tile into an 8-bit RGB view that a VLM or a person can look at."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from rsq.errors import TileError
from rsq.imagery.sensors import VIEW_BANDS
from rsq.imagery.tile import Sensor, Tile


class ViewError(TileError):
    """A view or bands the tile cannot be rendered in (its pixels are fine)."""


VIEWS = ("auto", "true", "false", "sar")
# Display ranges in dB for the SAR composite: VV, VH and the VV/VH ratio.
SAR_DB_RANGES = ((-25.0, 0.0), (-30.0, -5.0), (0.0, 15.0))


def render_rgb(
    tile: Tile,
    pixels: np.ndarray,
    view: str = "auto",
    bands: Sequence[str] | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> np.ndarray:
    """An (H, W, 3) uint8 view of `pixels`; no-data pixels come out black.

    `view` is true colour, false colour (NIR-R-G), SAR composite or `auto` (by sensor);
    `bands` names three bands (or 1-based indices) to show instead.
    """
    view = resolve_view(tile, view)
    if view == "sar":
        return _sar_composite(tile, pixels)
    channels = pixels[_band_indices(tile, view, bands)]
    if tile.sensor == Sensor.RGB and not bands and view == "true":
        scaled = np.clip(channels, 0, 255) / 255.0
    else:
        scaled = np.stack([_stretch(band, *percentiles) for band in channels])
    return _to_uint8(scaled)


def resolve_view(tile: Tile, view: str) -> str:
    """The view `auto` stands for on this tile, after checking the name."""
    if view not in VIEWS:
        raise ViewError(tile.path, f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    if view == "auto":
        return "sar" if tile.sensor == Sensor.S1 else "true"
    return view


def view_bands(tile: Tile, view: str) -> list[int]:
    """The bands (0-based, ascending) a view of `tile` reads: what to read when nothing else is wanted."""
    return sorted(set(_band_indices(tile, resolve_view(tile, view), None)))


def thumbnail(rgb: np.ndarray, max_size: int = 256, fmt: str = "png", quality: int = 90) -> bytes:
    """PNG or JPEG bytes of an RGB view, shrunk to fit `max_size` on its longer side."""
    from PIL import Image

    image = Image.fromarray(rgb)
    image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG" if fmt.lower() in ("jpg", "jpeg") else "PNG", quality=quality)
    return buffer.getvalue()


def render_image(
    tile: Tile,
    size: int | None = None,
    view: str = "auto",
    bands: Sequence[str] | None = None,
    fmt: str = "png",
    read_side: int | None = None,
) -> bytes:
    """A tile as an encoded RGB image (read -> render -> encode, the one way every stage makes one): read
    decimated to `read_side` (default `size`), rendered in `view` (or from `bands`), shrunk to fit `size`."""
    from rsq.imagery.reader import read_pixels

    rgb = render_rgb(tile, read_pixels(tile, max_side=read_side or size), view=view, bands=bands)
    return thumbnail(rgb, size or max(rgb.shape[:2]), fmt=fmt)


def _band_indices(tile: Tile, view: str, bands: Sequence[str] | None) -> list[int]:
    if bands:
        return [_band_index(tile, band) for band in bands]
    wanted = VIEW_BANDS[view].get(tile.sensor)
    if tile.sensor == Sensor.OTHER:  # a raster named by common band names (a stacked STAC item) shows them as RGB does
        named = VIEW_BANDS[view].get(Sensor.RGB)
        if named and set(named) <= set(tile.band_names):
            return [tile.band_names.index(name) for name in named]
        if view == "true":
            return [0, 1, 2] if tile.shape[0] >= 3 else [0, 0, 0]
    if wanted is None or not set(wanted) <= set(tile.band_names):
        raise ViewError(
            tile.path,
            f"the {view!r} view needs bands {wanted or 'of another sensor'}; "
            f"this {tile.sensor.value} tile has {', '.join(tile.band_names)}",
        )
    return [tile.band_names.index(name) for name in wanted]


def _band_index(tile: Tile, band: str) -> int:
    if band.isdigit() and 1 <= int(band) <= tile.shape[0]:
        return int(band) - 1
    if band in tile.band_names:
        return tile.band_names.index(band)
    raise ViewError(tile.path, f"no band {band!r}; bands are {', '.join(tile.band_names)} (or 1-{tile.shape[0]})")


def _sar_composite(tile: Tile, pixels: np.ndarray) -> np.ndarray:
    vv, vh = sar_db(pixels[_band_indices(tile, "sar", None)[:2]])
    channels = []
    for band, (low, high) in zip((vv, vh, vv - vh), SAR_DB_RANGES, strict=True):
        channels.append((band - low) / (high - low))
    return _to_uint8(np.stack(channels))


def sar_db(bands: np.ndarray) -> np.ndarray:
    """SAR bands in dB: linear power (no negative values) is converted, dB (mostly negative) passes through."""
    valid = bands[np.isfinite(bands)]
    linear = valid.size > 0 and float(valid.min()) >= 0.0
    return 10.0 * np.log10(np.maximum(bands, 1e-6)) if linear else bands


def _stretch(band: np.ndarray, low_pct: float, high_pct: float) -> np.ndarray:
    """Scale a band to 0..1 between two percentiles of its valid values (zero counts as fill)."""
    finite = band[np.isfinite(band)]
    valid = finite[finite != 0] if np.any(finite != 0) else finite
    if valid.size == 0:
        return np.zeros_like(band)
    low, high = np.percentile(valid, [low_pct, high_pct])
    return (band - low) / max(high - low, 1e-6)


def _to_uint8(channels: np.ndarray) -> np.ndarray:
    """(3, H, W) floats in 0..1, NaN allowed, to (H, W, 3) uint8."""
    scaled = np.nan_to_num(np.clip(channels, 0.0, 1.0), nan=0.0)
    return np.ascontiguousarray((scaled * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0))
