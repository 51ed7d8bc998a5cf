"""A transformer exported to ONNX, on onnxruntime (no PyTorch): tokens -> last hidden state -> pooling -> L2 norm."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rsq.encoders.base import DEFAULT_BATCH, mean_pooled, normalised
from rsq.encoders.export import pooling_mode
from rsq.errors import RsqError

DEFAULT_MAX_TOKENS = 256


class OnnxEmbedder:
    """`model_file` (an ONNX export) with the tokenizer and pooling of the sentence-transformers `folder`."""

    device = "cpu"

    def __init__(
        self, spec: str, model_file: Path, folder: Path, batch_size: int = DEFAULT_BATCH, threads: int = 0
    ) -> None:
        """`threads` 0 lets onnxruntime use every core."""
        import onnxruntime

        self.spec, self.batch_size, self.file = spec, batch_size, model_file
        self.tokenizer = _tokenizer(folder)
        self.pooling = pooling_mode(folder)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable models
            raise RsqError(f"cannot load the ONNX model {model_file}: {str(error).splitlines()[0][:200]}") from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dim = int(json.loads((folder / "config.json").read_text())["hidden_size"])

    @property
    def runtime(self) -> str:
        return f"onnxruntime ({self.file.name})"

    def encode(self, texts: list[str]) -> np.ndarray:
        """Batches of similar length (less padding), returned in the order given."""
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        rows = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            rows[chosen] = self._encode_batch([texts[n] for n in chosen])
        return rows

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {name: feeds[name] for name in self.inputs})[0]
        return normalised(mean_pooled(hidden, mask) if self.pooling == "mean" else hidden[:, 0])


def _tokenizer(folder: Path):
    """The folder's fast tokenizer, padding to the longest text of a batch and truncating as sentence-transformers does
    (a tokenizer.json may carry fixed-length padding of its own, which would cost a full-length pass per query)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except Exception as error:  # tokenizers raises a bare Exception for unreadable files
        raise RsqError(f"{folder}: no readable tokenizer.json ({error})") from None
    pad = _special_token(folder, "pad_token") or "[PAD]"
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad) or 0, pad_token=pad)
    tokenizer.enable_truncation(_max_tokens(folder))
    return tokenizer


def _special_token(folder: Path, name: str) -> str | None:
    path = folder / "special_tokens_map.json"
    if not path.is_file():
        return None
    token = json.loads(path.read_text()).get(name)
    return token.get("content") if isinstance(token, dict) else token


def _max_tokens(folder: Path) -> int:
    path = folder / "sentence_bert_config.json"
    return (
        int(json.loads(path.read_text()).get("max_seq_length") or DEFAULT_MAX_TOKENS)
        if path.is_file()
        else DEFAULT_MAX_TOKENS
    )
