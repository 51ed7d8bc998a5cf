"""`vllm:<model id>`: vLLM offline batches with multimodal chat input and schema-guided JSON.

Untested against a real vLLM here (no GPU, no weights): written against vLLM's documented `LLM.chat`
and structured-output API; the tests check the engine arguments and requests it builds against a fake
`vllm` module.
"""

from __future__ import annotations

from typing import Any

from rsq.captioner.backends.messages import chat_messages
from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.extras import require


class VLLMBackend:
    """One `vllm.LLM` engine; a batch is one `llm.chat` call over all its conversations."""

    needs_image = True

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = 8192,
        revision: str | None = None,
    ) -> None:
        vllm = require("vllm", "vllm")
        self.spec = f"vllm:{model}"
        self.revision = revision or "main"
        self.engine = vllm.LLM(
            model=model,
            revision=revision,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            limit_mm_per_prompt={"image": 1},
        )

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]:
        conversations = [chat_messages(r, inline_image=True) for r in requests]
        outputs = self.engine.chat(conversations, sampling_params=sampling_params(requests[0]), use_tqdm=False)
        return [CaptionResult(raw=output.outputs[0].text) for output in outputs]


def sampling_options(request: CaptionRequest) -> dict[str, Any]:
    """vLLM sampling parameters as plain values; `structured_outputs` holds the output to the request's JSON schema
    (the form Ray Data's vLLM stage takes per row, and `StructuredOutputsParams`'s keywords)."""
    params = request.params
    return {
        "temperature": float(params.get("temperature", 0.0)),
        "top_p": float(params.get("top_p", 1.0)),
        "max_tokens": int(params.get("max_new_tokens", 512)),
        "seed": params.get("seed"),
        "structured_outputs": {"json": request.schema},
    }


def sampling_params(request: CaptionRequest) -> Any:
    """vLLM SamplingParams holding the output to the request's JSON schema."""
    vllm = require("vllm", "vllm")
    kwargs = sampling_options(request)
    structured = kwargs.pop("structured_outputs")
    try:  # vLLM >= 0.11
        from vllm.sampling_params import StructuredOutputsParams

        kwargs["structured_outputs"] = StructuredOutputsParams(**structured)
    except ImportError:  # older releases
        from vllm.sampling_params import GuidedDecodingParams

        kwargs["guided_decoding"] = GuidedDecodingParams(**structured)
    return vllm.SamplingParams(**kwargs)
