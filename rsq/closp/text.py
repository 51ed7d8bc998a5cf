"""The frozen text tower: all-MiniLM-L6-v2, CLS token of the last hidden state, at most 64 tokens, 384-d."""

from __future__ import annotations

import numpy as np

from rsq.textindex.embedders import MINILM_IDS, packaged_minilm

BATCH = 128


class TextTower:
    """Encodes texts into L2-normalised 384-d vectors (an `Embedder`, so the index can use it)."""

    def __init__(self, model: str = "sentence-transformers/all-MiniLM-L6-v2", max_tokens: int = 64, device: str = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        source = (packaged_minilm() if model in MINILM_IDS else None) or model
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).to(device).eval().requires_grad_(False)
        self.max_tokens, self.device = max_tokens, device
        self.spec = f"closp-text:{model}"
        self.dim = int(self.model.config.hidden_size)
        self._torch = torch

    def encode(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(
                    texts[start : start + BATCH], padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
                ).to(self.device)
                cls = self.model(**batch).last_hidden_state[:, 0, :]
                rows.append(torch.nn.functional.normalize(cls, dim=-1).cpu().numpy())
        return np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
