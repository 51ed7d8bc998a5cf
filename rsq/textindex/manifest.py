"""manifest.json: what an index holds and how it was built."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from rsq.errors import RsqError

MANIFEST = "manifest.json"


@dataclass
class Manifest:
    rsq_version: str
    embedder: str
    dim: int
    faiss: str
    caption_runs: list[dict[str, str]] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    built_at: str = ""
    image_encoder: str | None = None  # closp:<checkpoint> when the index holds image vectors

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            return cls(**json.loads((folder / MANIFEST).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise RsqError(f"{folder / MANIFEST} is not a valid rsq index manifest ({error})") from None
