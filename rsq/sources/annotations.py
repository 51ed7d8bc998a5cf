"""Annotation files (JSONL, COCO captions JSON, CSV): human captions or labels per image, read as records.

They feed the `annotations:` caption backend, and, for an archive whose captions come from elsewhere
and whose tile files are not at hand, they are a tile source of their own: `annotation_refs` lists one
pixel-less tile per record, with the place and time the record gives.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rsq.errors import RsqError
from rsq.sources.refs import TileRef

KEY_FIELDS = ("id", "image", "file_name", "path", "filename")
LIST_SEPARATORS = (";", "|")
TEXT_FIELDS = ("captions", "caption", "labels", "label")


def annotation_refs(path: Path) -> list[TileRef]:
    """One tile without pixels per annotation record: its id, and its other fields (time, lon, lat, bbox, sensor) as metadata."""
    refs = []
    for record in read_annotations(path):
        key = next((f for f in KEY_FIELDS if record.get(f) not in (None, "")), None)
        if key is None:
            raise RsqError(f"{path}: every record needs one of the fields {', '.join(KEY_FIELDS)}")
        meta = {k: v for k, v in record.items() if k not in TEXT_FIELDS and k != key}
        refs.append(TileRef(str(record[key]), Path(""), meta, pixels=False))
    return refs


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
