"""Training sets on the shared data: UCM tiles with human captions, Sentinel-1/-2 flood sub-chips with label
captions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsq.closp.inputs import model_input
from rsq.imagery import read_pixels, read_tile
from rsq.landcover import corine
from rsq.parallel import prefetch
from rsq.sources import sen1floods11, ucm_captions
from rsq.sources.datasets import flood_label_caption


@dataclass
class TrainingSet:
    """Images of one sensor (N, C, S, S) float32, the captions each may be paired with, and locations."""

    sensor: str
    images: np.ndarray
    caption_ids: list[list[int]]  # per image, indices into `texts`
    texts: list[str]
    lon_lat: np.ndarray | None = None  # (N, 2)
    classes: list[str] | None = None  # per image, its CORINE land-cover code (UCM's class, mapped)

    def __len__(self) -> int:
        return len(self.images)


def ucm_set(data: str | Path | None, splits: tuple[str, ...], size: int, limit: int | None = None) -> TrainingSet:
    """UCM tiles of the given splits (the first `limit`) at `size` px, each with its five human captions."""
    items = [i for split in splits for i in ucm_captions(data, split)][:limit]
    texts = sorted({c for i in items for c in i.captions if c.strip()})
    index = {text: n for n, text in enumerate(texts)}

    def load(item):
        tile = read_tile(item.path, item.id)
        return model_input(tile, size)

    images = np.stack([array for _, array in prefetch(load, items, workers=2)])
    caption_ids = [[index[c] for c in i.captions if c.strip()] for i in items]
    classes = [corine().label_code(i.label or "") or "" for i in items]
    return TrainingSet("rgb", images, caption_ids, texts, classes=classes)


def flood_sets(data: str | Path | None, chip: int, size: int) -> list[TrainingSet]:
    """The Sen1Floods11 chip cut into chip x chip sub-chips, for the S1 and the S2 tower, captioned from its label."""
    flood = sen1floods11(data)
    label = read_pixels(read_tile(flood.label))[0]
    sets = []
    for path, sensor in ((flood.s1, "s1"), (flood.s2, "s2")):
        tile = read_tile(path)
        pixels = read_pixels(tile)
        images, texts, lon_lat = [], [], []
        for row in range(0, tile.height - chip + 1, chip):
            for col in range(0, tile.width - chip + 1, chip):
                window = label[row : row + chip, col : col + chip]
                valid = window >= 0
                water = float((window == 1).sum() / max(valid.sum(), 1))
                sub = pixels[:, row : row + chip, col : col + chip]
                images.append(model_input(_sub_tile(tile, sub), size, sub))
                texts.append(flood_label_caption(water))
                lon_lat.append(_centre(tile, row + chip / 2, col + chip / 2))
        unique = sorted(set(texts))
        sets.append(
            TrainingSet(
                sensor, np.stack(images), [[unique.index(t)] for t in texts], unique, np.array(lon_lat, np.float32)
            )
        )
    return sets


def _sub_tile(tile, sub: np.ndarray):
    from dataclasses import replace

    return replace(tile, shape=(sub.shape[0], sub.shape[1], sub.shape[2]))


def _centre(tile, row: float, col: float) -> tuple[float, float]:
    west, south, east, north = tile.bounds
    return west + (east - west) * col / tile.width, north - (north - south) * row / tile.height
