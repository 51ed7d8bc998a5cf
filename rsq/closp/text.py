"""The text side of a CLOSP space. rsq's own towers are trained against an index embedder's caption vectors
(`st:…`, `onnx-int8:…`), so one query vector searches captions and images alike; the published CLOSP towers
live in the CLS-token space of all-MiniLM-L6-v2 (`closp-cls:<model>`: last hidden state, token 0, 64 tokens)."""

from __future__ import annotations

import numpy as np

from rsq.closp.config import CLS_SPACE
from rsq.encoders import Embedder, make_embedder, model_folder

BATCH = 128
CLS_MAX_TOKENS = 64


def text_encoder(space: str, device: str | None = None) -> Embedder:
    """The encoder of a text space: an index embedder spec, or `closp-cls:<model>`."""
    if space.startswith(CLS_SPACE):
        return ClsTextTower(space.removeprefix(CLS_SPACE), device or "cpu")
    return make_embedder(space, device)


class ClsTextTower:
    """Texts -> the L2-normalised CLS token of a frozen transformer (an `Embedder`)."""

    def __init__(self, model: str = "sentence-transformers/all-MiniLM-L6-v2", device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        source = model_folder(f"st:{model}") or model
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).to(device).eval().requires_grad_(False)
        self.device = device
        self.spec = CLS_SPACE + model
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def encode(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    texts[start : start + BATCH],
                    padding=True,
                    truncation=True,
                    max_length=CLS_MAX_TOKENS,
                    return_tensors="pt",
                ).to(self.device)
                cls = self.model(**batch).last_hidden_state[:, 0, :]
                rows.append(torch.nn.functional.normalize(cls, dim=-1).cpu().numpy())
        return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
