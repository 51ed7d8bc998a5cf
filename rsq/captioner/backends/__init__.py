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
        BackendInfo(
            "hf",
            "rsq.captioner.backends.hf:HFBackend",
            None,
            "transformers AutoModelForImageTextToText, grammar-constrained JSON, CPU or GPU",
        ),
        BackendInfo(
            "vllm", "rsq.captioner.backends.vllm:VLLMBackend", "vllm", "vLLM offline batches with guided JSON (GPU)"
        ),
        BackendInfo(
            "openai",
            "rsq.captioner.backends.openai:OpenAIBackend",
            None,
            "any OpenAI-compatible chat-completions server: openai:<base url>#<model>",
        ),
        BackendInfo(
            "annotations",
            "rsq.captioner.backends.annotations:AnnotationsBackend",
            None,
            "import captions or labels from JSONL, COCO captions JSON or CSV",
        ),
        BackendInfo(
            "closp",
            "rsq.captioner.backends.closp:ClospTagger",
            None,
            "zero-shot tags from a CLOSP checkpoint (rsq train closp), CPU, no VLM",
        ),
        BackendInfo(
            "cisen",
            "rsq.captioner.backends.closp:CisenTagger",
            None,
            "the same tagger over a CISEN head (rsq train cisen), CPU, no VLM",
        ),
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
    return backend_class(scheme)(rest, **check_options(spec, options))


def backend_class(scheme: str) -> type:
    module_name, class_name = REGISTRY[scheme].target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def check_options(spec: str, options: dict[str, Any]) -> dict[str, Any]:
    """Refuse options the backend does not take, or of the wrong type, naming the ones it does take."""
    import inspect

    scheme, _ = parse_spec(spec)
    parameters = dict(list(inspect.signature(backend_class(scheme).__init__).parameters.items())[2:])
    for key, value in options.items():
        if key not in parameters:
            raise RsqError(f"--backend-opt {key}: the {scheme} backend takes {', '.join(parameters) or 'no options'}")
        expected = _simple_type(parameters[key].annotation)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected and not isinstance(value, expected) or isinstance(value, bool) and expected in (int, float):
            raise RsqError(f"--backend-opt {key}={value!r}: expected {expected.__name__}")
        if expected in (int, float) and value < 0:
            raise RsqError(f"--backend-opt {key}={value!r}: must not be negative")
        options[key] = value
    return options


def _simple_type(annotation: Any) -> type | None:
    """int, float, str or bool from an annotation like `int`, `float | None`, "str | None"; None otherwise."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    names = {part.strip() for part in str(text).split("|")} - {"None"}
    simple = {"int": int, "float": float, "str": str, "bool": bool}
    return simple[names.pop()] if len(names) == 1 and next(iter(names)) in simple else None
