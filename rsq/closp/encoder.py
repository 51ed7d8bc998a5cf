"""`closp:<checkpoint>` (a trained CLOSP model) or `cisen:<folder>` (a CISEN head over one, rsq/closp/cisen.py) as
an image encoder, a text encoder and a location encoder: the image-encoder registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsq.closp.checkpoint import load_checkpoint
from rsq.closp.cisen import BASE, load_cisen
from rsq.closp.inputs import model_input, tower_for
from rsq.closp.text import text_encoder
from rsq.errors import RsqError, TileError
from rsq.imagery import Tile

BATCH = 64
LOADERS = {"closp": load_checkpoint, "cisen": load_cisen}  # spec prefix -> folder -> model


class ClospEncoder:
    """Tiles, texts and (for GeoCLOSP) places in one L2-normalised space."""

    def __init__(self, spec: str, device: str = "cpu") -> None:
        kind, _, folder = spec.partition(":")
        if kind not in LOADERS or not folder:
            raise RsqError(f"image encoder spec must be closp:<checkpoint folder> or cisen:<folder>, got {spec!r}")
        self.spec, self.kind = spec, kind
        self.folder = Path(folder).expanduser()
        self.model = LOADERS[kind](self.folder, device)
        self.device = device
        self.dim = self.model.config.embed_dim
        self._text = None

    @property
    def checkpoint(self) -> Path:
        """The CLOSP checkpoint folder (a CISEN folder's base): where the caption bank is."""
        return self.folder / BASE if self.kind == "cisen" else self.folder

    @property
    def trained_on(self) -> list[str]:
        """What the encoder's weights saw (UCM splits, Sen1Floods11): what an evaluation must not reuse."""
        return self.model.cisen.trained_on if self.kind == "cisen" else self.model.config.trained_on

    @property
    def text_space(self) -> str:
        """The embedder whose vectors the image towers were trained against (see `rsq.closp.text`)."""
        return self.model.config.text_space

    @property
    def has_location(self) -> bool:
        return self.model.location is not None

    def encode_tiles(self, tiles: list[Tile]) -> tuple[np.ndarray, list[str | None]]:
        """(N, dim) vectors, zero rows for tiles that could not be read, and per-tile error or None."""
        import torch

        vectors = np.zeros((len(tiles), self.dim), dtype=np.float32)
        errors: list[str | None] = [None] * len(tiles)
        groups: dict[str, list[tuple[int, np.ndarray]]] = {}
        for n, tile in enumerate(tiles):
            tower = tower_for(tile)
            if tower not in self.model.towers:
                errors[n] = f"this checkpoint has no {tower} tower"
                continue
            try:
                groups.setdefault(tower, []).append((n, model_input(tile, self.model.config.input_size)))
            except TileError as error:
                errors[n] = error.reason
        with torch.inference_mode():
            for tower, items in groups.items():
                for start in range(0, len(items), BATCH):
                    chunk = items[start : start + BATCH]
                    batch = torch.from_numpy(np.stack([array for _, array in chunk])).to(self.device)
                    encoded = self.model.encode_images(tower, batch).cpu().numpy()
                    for (n, _), vector in zip(chunk, encoded, strict=True):
                        vectors[n] = vector
        return vectors, errors

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts in the towers' space (the text model loads on first use: indexing images needs none)."""
        if self._text is None:
            self._text = text_encoder(self.text_space, self.device)
        return self._text.encode(texts)

    def encode_location(self, lon: float, lat: float) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model.encode_locations(torch.tensor([[lon, lat]], dtype=torch.float32)).cpu().numpy()[0]
