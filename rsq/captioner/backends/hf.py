"""`hf:<model id or path>`: transformers VLMs with grammar-constrained JSON output (xgrammar)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rsq.captioner.backends.messages import chat_messages
from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.errors import RsqError


class HFBackend:
    """AutoModelForImageTextToText + AutoProcessor; batched generate with a JSON-schema grammar."""

    needs_image = True

    def __init__(
        self, model: str, device: str | None = None, dtype: str | None = None, revision: str | None = None
    ) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor
        from transformers.utils import logging

        logging.disable_progress_bar()
        self.spec = f"hf:{model}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        try:
            self.processor = AutoProcessor.from_pretrained(model, revision=revision)
            self.model = AutoModelForImageTextToText.from_pretrained(model, revision=revision, dtype=torch_dtype)
        except OSError as error:
            raise RsqError(f"cannot load {self.spec}: {error}") from None
        self.model.to(self.device).eval()
        self.processor.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        self.revision = revision or _model_revision(model, self.model)
        self._stop_ids = _stop_token_ids(self.model)
        self._grammars: dict[str, Any] = {}

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]:
        """Generate for a batch; requests in one batch share schema and generation parameters."""
        import torch
        import xgrammar.contrib.hf
        from PIL import Image

        params = requests[0].params
        prompts = [
            self.processor.apply_chat_template(
                chat_messages(r, inline_image=False), add_generation_prompt=True, tokenize=False
            )
            for r in requests
        ]
        images = [Image.fromarray(r.image) for r in requests]
        inputs = self.processor(text=prompts, images=images, return_tensors="pt", padding=True).to(self.device)
        grammar = xgrammar.contrib.hf.LogitsProcessor(self._grammar(requests[0].schema))  # stateful: one per call
        if params.get("seed") is not None:
            torch.manual_seed(int(params["seed"]))
        with torch.inference_mode():
            output = self.model.generate(**inputs, logits_processor=[grammar], **_generate_kwargs(params))
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [CaptionResult(raw=text) for text in texts]

    def _grammar(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            import xgrammar as xgr

            info = _tokenizer_info(
                self.processor.tokenizer, self.model.config.get_text_config().vocab_size, self._stop_ids
            )
            self._grammars[key] = xgr.GrammarCompiler(info).compile_json_schema(
                key, any_whitespace=False, separators=(",", ":"), strict_mode=True
            )
        return self._grammars[key]


def _generate_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    temperature = float(params.get("temperature", 0.0))
    kwargs: dict[str, Any] = {"max_new_tokens": int(params.get("max_new_tokens", 512)), "do_sample": temperature > 0}
    if temperature > 0:
        kwargs |= {"temperature": temperature, "top_p": float(params.get("top_p", 1.0))}
    return kwargs


def _stop_token_ids(model: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = model.config.get_text_config().eos_token_id
    return list(eos) if isinstance(eos, list | tuple) else [eos]


def _tokenizer_info(tokenizer: Any, vocab_size: int, stop_ids: list[int]) -> Any:
    """xgrammar's view of the vocabulary, with every special token blanked so it never appears in JSON text.

    `TokenizerInfo.from_huggingface` does not flag added special tokens (`<image>`, `<pad>`) as special;
    a blank entry is how xgrammar marks a token it must never emit.
    """
    import xgrammar as xgr

    base = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_ids)
    encoded = [""] * vocab_size
    for token, index in tokenizer.get_vocab().items():
        if index < vocab_size:
            encoded[index] = token
    special = set(tokenizer.all_special_ids)
    special |= {i for i, added in tokenizer.added_tokens_decoder.items() if added.special}
    for index in special:
        if index < vocab_size:
            encoded[index] = ""
    return xgr.TokenizerInfo(
        encoded,
        vocab_type=base.vocab_type,
        vocab_size=vocab_size,
        stop_token_ids=stop_ids,
        add_prefix_space=base.add_prefix_space,
    )


def _model_revision(model_id: str, model: Any) -> str:
    """The hub commit the weights came from, or a hash of a local folder's config and weights index."""
    commit = getattr(model.config, "_commit_hash", None)
    if commit:
        return commit
    folder = Path(model_id)
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors.index.json", "generation_config.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return "local:" + digest.hexdigest()[:12]
