"""The rows Ray's CPU stage hands to the GPU stage: a tile's rendered view (raw RGB bytes and shape) or why it
could not be read, and the way back to a prepared caption request."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from rsq.captioner.job import CaptionJob
from rsq.captioner.reading import build_request, render_view
from rsq.captioner.records import CaptionRequest
from rsq.errors import TileError
from rsq.imagery import Tile


def render_rows(batch: dict[str, Any], needs_image: bool) -> dict[str, list]:
    """The CPU stage: each tile's view rendered, or why it could not be read."""
    out: dict[str, list] = {"tile": [], "view": [], "image": [], "shape": [], "error": []}
    for text in batch["tile"]:
        tile = Tile.from_dict(json.loads(text))
        view, image, error = "", None, ""
        try:
            view, image = render_view(tile, needs_image)
        except TileError as problem:
            error = problem.reason
        out["tile"].append(text)
        out["view"].append(view)
        out["image"].append(b"" if image is None else image.tobytes())
        out["shape"].append(json.dumps(None if image is None else list(image.shape)))
        out["error"].append(error)
    return out


def prepared_row(
    tile_json: str, view: str, image: bytes, shape: str, error: str, job: CaptionJob
) -> tuple[Tile, CaptionRequest | TileError]:
    """A rendered row back as (tile, its caption request), or (tile, the error that kept it from being read)."""
    tile = Tile.from_dict(json.loads(tile_json))
    if error:
        return tile, TileError(tile.path, str(error))
    dims = json.loads(shape)
    pixels = np.frombuffer(image, dtype=np.uint8).reshape(dims) if dims else None
    return tile, build_request(tile, job, str(view), pixels)
