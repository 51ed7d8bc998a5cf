"""`st:` models on PyTorch through sentence-transformers: on the GPU when there is one, batched."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsq.encoders.base import DEFAULT_BATCH
from rsq.errors import RsqError


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or a hub id; `spec` is what the index records."""

    def __init__(
        self, spec: str, source: str | Path, device: str | None = None, batch_size: int = DEFAULT_BATCH
    ) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging

        logging.disable_progress_bar()
        self.spec, self.batch_size = spec, batch_size
        try:
            self.model = SentenceTransformer(str(source), device=device)
        except (OSError, RuntimeError, ValueError) as error:
            raise RsqError(f"cannot load embedder {spec} on {device or 'the default device'}: {error}") from None
        self.device = str(self.model.device)
        self.dim = int(self.model.get_embedding_dimension())

    @property
    def runtime(self) -> str:
        return f"torch ({self.device})"

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
