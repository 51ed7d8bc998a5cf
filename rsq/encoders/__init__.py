"""Text encoders: captions and queries -> L2-normalised vectors. Used by textindex (caption vectors), query (query
vectors), closp (the text space its towers are trained into), eval and tune.

Layout: `base` (the Embedder protocol), `specs` (spec -> encoder, the defaults), `packaged` (models that load
offline) and `assembly` (the split mpnet package put together), `sentence` (PyTorch), `onnx` + `export` (onnxruntime).
"""

from rsq.encoders.base import DEFAULT_BATCH, Embedder
from rsq.encoders.specs import (
    DEFAULT_EMBEDDER,
    MINILM_INT8,
    QUERY_ENCODERS,
    SMALL_EMBEDDER,
    canonical_spec,
    default_embedder,
    make_embedder,
    model_folder,
    query_encoder,
)

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_EMBEDDER",
    "MINILM_INT8",
    "QUERY_ENCODERS",
    "SMALL_EMBEDDER",
    "Embedder",
    "canonical_spec",
    "default_embedder",
    "make_embedder",
    "model_folder",
    "query_encoder",
]
