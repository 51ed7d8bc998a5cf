"""An embedder wrapper that encodes each distinct text once (evaluation rotations and training sets repeat texts)."""

from __future__ import annotations

import numpy as np

from rsq.encoders.base import Embedder


class CachedEmbedder:
    def __init__(self, base: Embedder) -> None:
        self.base = base
        self.spec, self.dim, self.runtime = base.spec, base.dim, getattr(base, "runtime", "")
        self._cache: dict[str, np.ndarray] = {}
        self.queries: CachedEmbedder = self  # what encodes queries: itself, or another runtime of the same model

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            self._cache.update(zip(missing, self.base.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])
