"""Imagery I/O: read tiles of any sensor, render RGB views, cut chips, make thumbnails."""

from rsq.imagery.chips import chip_scene
from rsq.imagery.reader import read_pixels, read_tile
from rsq.imagery.render import VIEWS, render_image, render_rgb, thumbnail
from rsq.imagery.tile import Sensor, Tile

__all__ = [
    "VIEWS",
    "Sensor",
    "Tile",
    "chip_scene",
    "read_pixels",
    "read_tile",
    "render_image",
    "render_rgb",
    "thumbnail",
]
