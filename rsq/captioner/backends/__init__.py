"""Captioner backends behind a registry keyed by the model spec's scheme (`hf:`, `vllm:`, ...).

Each backend is a class with one batch method, `caption_batch(requests) -> results`. Classes are
named by import path so that `rsq --help` and `rsq models list` import no heavy library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.errors import RsqError

DEFAULT_MODEL = "hf:Qwen/Qwen2-VL-2B-Instruct"


@dataclass(frozen=True)
class BackendInfo:
    scheme: str
    target: str  # module:Class
    extra: str | None  # the pip extra it needs, if any
    summary: str


REGISTRY: dict[str, BackendInfo] = {
    info.scheme: info
    for info in (
        BackendInfo("hf", "rsq.captioner.backends.hf:HFBackend", None,
                    "transformers AutoModelForImageTextToText, grammar-constrained JSON, CPU or GPU"),
        BackendInfo("vllm", "rsq.captioner.backends.vllm:VLLMBackend", "vllm",
                    "vLLM offline batches with guided JSON (GPU)"),
        BackendInfo("openai", "rsq.captioner.backends.openai:OpenAIBackend", None,
                    "any OpenAI-compatible chat-completions server: openai:<base url>#<model>"),
        BackendInfo("annotations", "rsq.captioner.backends.annotations:AnnotationsBackend", None,
                    "import captions or labels from JSONL, COCO captions JSON or CSV"),
        BackendInfo("closp", "rsq.captioner.backends.closp:ClospTagger", None,
                    "zero-shot tags from a CLOSP checkpoint (rsq train closp), CPU, no VLM"),
    )
}


class CaptionBackend(Protocol):
    """What the batch job needs from a backend."""

    spec: str
    revision: str
    needs_image: bool

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]: ...


def parse_spec(spec: str) -> tuple[str, str]:
    """Split `scheme:rest`; an unknown scheme names the valid ones."""
    scheme, sep, rest = spec.partition(":")
    if not sep or scheme not in REGISTRY or not rest:
        raise RsqError(f"model spec {spec!r} must be SCHEME:NAME with SCHEME one of {', '.join(REGISTRY)}")
    return scheme, rest


def make_backend(spec: str, **options: Any) -> CaptionBackend:
    """Instantiate the backend a spec names; options go to its constructor."""
    scheme, rest = parse_spec(spec)
    module_name, class_name = REGISTRY[scheme].target.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class(rest, **options)


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RsqError(f"this needs {module}: install rsq[{extra}] (pip install 'rsq[{extra}]')") from None
