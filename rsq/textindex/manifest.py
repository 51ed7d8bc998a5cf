"""What an index holds and how it was built; part of every generation (commit point)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rsq.errors import RsqError


@dataclass
class Manifest:
    rsq_version: str
    embedder: str
    dim: int
    faiss: str  # the --vectors choice: auto, exact, compressed, flat or ivf (applied per segment by its size)
    caption_runs: list[dict[str, str]] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # tiles, variants, dead_variants, images
    built_at: str = ""
    image_encoder: str | None = None  # closp:<checkpoint> when the index holds image vectors
    image_dim: int | None = None
    image_text_space: str | None = None  # the embedder the image towers were trained against (see rsq.closp.text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Manifest:
        try:
            return cls(**record)
        except TypeError as error:
            raise RsqError(f"not a valid rsq index manifest ({error})") from None
