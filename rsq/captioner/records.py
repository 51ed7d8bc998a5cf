"""Records that pass between the captioner's stages: requests to a backend, its results, stored captions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rsq.imagery import Tile
from rsq.prompts import RenderedPrompt

OK, FAILED = "ok", "failed"


@dataclass(frozen=True)
class CaptionRequest:
    """One tile for a backend: the rendered RGB view (if the backend looks at pixels) and the prompt."""

    tile: Tile
    image: np.ndarray | None  # (H, W, 3) uint8
    prompt: RenderedPrompt | None  # None for annotation imports
    schema: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class CaptionResult:
    """What a backend returned for one request: raw text, or the error that prevented it."""

    raw: str | None
    error: str | None = None
    attempts: int = 1  # calls the backend made for it (an HTTP backend retries on its own)


@dataclass
class CaptionRecord:
    """One stored caption result with full provenance; `captions` is the validated schema as a dict."""

    run_id: str
    tile_id: str
    tile_path: str
    sensor: str
    model: str
    model_revision: str
    template: str  # name@hash
    prompt_hash: str
    params: dict[str, Any]
    status: str  # "ok" | "failed"
    raw: str | None = None
    error: str | None = None
    captions: dict[str, Any] | None = None
    tile: dict[str, Any] = field(default_factory=dict)  # Tile.to_dict(), for the index's tile table
    attempts: int = 1
    duration_s: float = 0.0
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
