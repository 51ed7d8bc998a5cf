"""`annotations:<file>`: existing captions or labels (JSONL, COCO captions JSON, CSV) as caption records.

Each annotation record is rendered through an annotation template (`human-captions`, `labels`, or your
own .j2 with `kind: annotation`) into the caption schema, so human captions and land-cover labels land
in the same store as VLM output.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.errors import RsqError
from rsq.prompts import PromptTemplate, load_template
from rsq.sources.annotations import KEY_FIELDS, checked_record, read_annotations


class AnnotationsBackend:
    """Looks each tile up in an annotation file by id, file name or file stem."""

    needs_image = False

    def __init__(self, path: str, template: PromptTemplate | None = None) -> None:
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise RsqError(f"annotation file {path} not found")
        self.spec = f"annotations:{file}"
        self.revision = hashlib.sha256(file.read_bytes()).hexdigest()[:12]
        self.template = template or load_template("human-captions")
        if self.template.kind != "annotation":
            raise RsqError(
                f"template {self.template.name} is for VLMs; annotations need an annotation template (human-captions, "
                "labels)"
            )
        self.file = file
        self._index = _index_records(read_annotations(file))

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]:
        return [self._caption(request) for request in requests]

    def _caption(self, request: CaptionRequest) -> CaptionResult:
        tile = request.tile
        path = Path(tile.path)
        record = next((self._index[k] for k in (tile.id, path.name, path.stem) if k in self._index), None)
        if record is None:
            return CaptionResult(raw=None, error=f"no annotation for tile {tile.id} in {self.file.name}")
        try:
            return CaptionResult(raw=self.template.render(record=checked_record(record)).text.strip())
        except RsqError as error:  # this record is bad; the others of the batch are not
            return CaptionResult(raw=None, error=f"annotation for tile {tile.id} in {self.file.name}: {error}")


def _index_records(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    index: dict[str, dict[str, Any]] = {}
    for record in records:
        for field in KEY_FIELDS:
            value = record.get(field)
            if value not in (None, ""):
                value = str(value)
                index.setdefault(value, record)
                index.setdefault(Path(value).name, record)
                index.setdefault(Path(value).stem, record)
    return index
