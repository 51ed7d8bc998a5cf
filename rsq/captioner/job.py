"""What a caption job is asked to do (`CaptionJob`) and what it did (`JobSummary`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from rsq.captioner.records import (
    FAILED,
    OK,
    CaptionRecord,
)
from rsq.captioner.schema import output_schema
from rsq.prompts import PromptTemplate

MAX_REPORTED = 20  # failures a summary names one by one (the store holds every one)


@dataclass(frozen=True)
class CaptionJob:
    """What to caption with: the template, variants per tile, generation parameters, batching."""

    template: PromptTemplate
    variants: int = 5
    params: dict[str, Any] = field(default_factory=dict)  # overrides of the template's defaults
    batch_size: int = 8
    workers: int = 2
    chip: tuple[int, int] | None = None  # (size, overlap): scenes are captioned as windows read in place

    @functools.cached_property
    def generation_params(self) -> dict[str, Any]:
        return {**self.template.params, **self.params, "variants": self.variants}

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        return output_schema(self.template.schema, self.variants)


@dataclass
class JobSummary:
    run_id: str
    ok: int = 0
    failed: int = 0
    already_done: int = 0
    no_data: int = 0  # chips without a valid pixel, skipped
    failures: list[tuple[str, str]] = field(
        default_factory=list
    )  # (tile id, reason) of the first MAX_REPORTED failures

    def add(self, records: list[CaptionRecord]) -> None:
        self.ok += sum(r.status == OK for r in records)
        self.failed += sum(r.status == FAILED for r in records)
        room = MAX_REPORTED - len(self.failures)
        self.failures += [(r.tile_id, r.error or "failed") for r in records if r.status == FAILED][: max(0, room)]
