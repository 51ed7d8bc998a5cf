"""`annotations:<file>`: existing captions or labels (JSONL, COCO captions JSON, CSV) as caption records.

Each annotation record is rendered through an annotation template (`human-captions`, `labels`, or your
own .j2 with `kind: annotation`) into the caption schema, so human captions and land-cover labels land
in the same store as VLM output.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.errors import RsqError
from rsq.prompts import PromptTemplate, load_template

KEY_FIELDS = ("id", "image", "file_name", "path", "filename")
LIST_SEPARATORS = (";", "|")


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
            raise RsqError(f"template {self.template.name} is for VLMs; annotations need an annotation template (human-captions, labels)")
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
        return CaptionResult(raw=self.template.render(record=record).text.strip())


def read_annotations(path: Path) -> list[dict[str, Any]]:
    """Annotation records from JSONL, COCO captions JSON or CSV; one record per image."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if suffix == ".json":
            return _coco_records(json.loads(path.read_text()))
        if suffix == ".csv":
            return _csv_records(path)
    except (json.JSONDecodeError, KeyError, csv.Error, UnicodeDecodeError) as error:
        raise RsqError(f"{path}: cannot read annotations ({type(error).__name__}: {error})") from None
    raise RsqError(f"{path}: annotations must be .jsonl, COCO captions .json or .csv")


def _coco_records(coco: dict[str, Any]) -> list[dict[str, Any]]:
    captions: dict[Any, list[str]] = defaultdict(list)
    for annotation in coco["annotations"]:
        captions[annotation["image_id"]].append(annotation["caption"])
    return [
        {"id": Path(image["file_name"]).stem, "file_name": image["file_name"], "image_id": image["id"],
         "captions": captions.get(image["id"], [])}
        for image in coco["images"]
    ]


def _csv_records(path: Path) -> list[dict[str, Any]]:
    """Rows sharing a key merge: their `caption` cells become `captions`; `labels` cells split on ; or |."""
    merged: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            key_field = next((f for f in KEY_FIELDS if row.get(f)), None)
            if key_field is None:
                raise RsqError(f"{path}: every row needs one of the columns {', '.join(KEY_FIELDS)}")
            record = merged.setdefault(row[key_field], {**row, "captions": [], "labels": []})
            if row.get("caption"):
                record["captions"].append(row["caption"])
            if row.get("labels"):
                record["labels"] += _split_list(row["labels"])
    return list(merged.values())


def _split_list(cell: str) -> list[str]:
    for separator in LIST_SEPARATORS:
        if separator in cell:
            return [part.strip() for part in cell.split(separator) if part.strip()]
    return [cell.strip()]


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
