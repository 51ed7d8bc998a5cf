"""Image embeddings in an index (one per tile, from a CLOSP encoder): `images.npy` + `image_ids.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ImageVectors:
    ids: list[str]
    matrix: np.ndarray  # (N, dim) float32, L2-normalised rows

    @classmethod
    def load(cls, folder: Path) -> ImageVectors | None:
        if not (folder / "images.npy").is_file():
            return None
        return cls(json.loads((folder / "image_ids.json").read_text()), np.load(folder / "images.npy"))

    def save(self, folder: Path) -> None:
        np.save(folder / "images.npy", self.matrix.astype(np.float32))
        (folder / "image_ids.json").write_text(json.dumps(self.ids))

    def merged(self, newer: ImageVectors) -> ImageVectors:
        """These vectors with `newer` added; a tile in both takes the newer vector."""
        replaced = set(newer.ids)
        keep = [n for n, tile in enumerate(self.ids) if tile not in replaced]
        return ImageVectors([self.ids[n] for n in keep] + newer.ids, np.concatenate([self.matrix[keep], newer.matrix]))

    def scores(self, vector: np.ndarray) -> dict[str, float]:
        """Inner product of every tile's vector with `vector`."""
        return dict(zip(self.ids, (self.matrix @ vector).tolist(), strict=True))
