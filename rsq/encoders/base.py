"""What every text encoder is: texts in, L2-normalised float32 rows out."""

from __future__ import annotations

from typing import Protocol

import numpy as np

DEFAULT_BATCH = 64


class Embedder(Protocol):
    """Encodes texts into L2-normalised float32 rows of `dim` columns."""

    spec: str
    dim: int
    runtime: str  # what runs it, e.g. "onnxruntime (model-int8.onnx)" or "torch (cpu)"

    def encode(self, texts: list[str]) -> np.ndarray: ...


def normalised(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32."""
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True).clip(1e-12)


def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each text's token vectors over its attention mask (sentence-transformers' mean pooling)."""
    weights = mask[..., None].astype(hidden.dtype)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
