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
from rsq.sources.listing import json_object
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


def checked_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its caption and label fields as the templates expect them: `captions` and `labels`
    lists of strings (one string becomes a list of one), `caption` and `label` strings; anything else is refused."""
    checked = dict(record)
    for name in ("captions", "labels"):
        if name in checked:
            checked[name] = _text_list(name, checked[name], numbers=name == "labels")
    for name in ("caption", "label"):
        if name in checked:
            value = checked[name]
            if not isinstance(value, str | int | float) or isinstance(value, bool) or (name == "caption" and not isinstance(value, str)):
                raise RsqError(f"{name} must be one {'string' if name == 'caption' else 'string or number'}, not {json.dumps(value)[:80]}")
            checked[name] = str(value)
    if not any(name in checked for name in TEXT_FIELDS):
        raise RsqError(f"the record has none of the fields {', '.join(TEXT_FIELDS)}")
    return checked


def _text_list(name: str, value: Any, numbers: bool) -> list[str]:
    allowed = (str, int, float) if numbers else (str,)
    if isinstance(value, allowed) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and all(isinstance(v, allowed) and not isinstance(v, bool) for v in value):
        return [str(v) for v in value]
    kind = "strings or numbers" if numbers else "strings"
    raise RsqError(f"{name} must be a list of {kind} or one of them, not {json.dumps(value)[:80]}")


def read_annotations(path: Path) -> list[dict[str, Any]]:
    """Annotation records from JSONL, COCO captions JSON or CSV; one record per image."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise RsqError(f"{path}: annotations must be .jsonl, COCO captions .json or .csv")
    try:
        if suffix == ".jsonl":
            return _jsonl_records(path)
        if suffix == ".json":
            return _coco_records(path, json.loads(path.read_text()))
        return _csv_records(path)
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as error:
        raise RsqError(f"{path}: cannot read annotations ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise RsqError(f"{path}: cannot read annotations ({error.strerror})") from None


def _jsonl_records(path: Path) -> list[dict[str, Any]]:
    return [json_object(path, number, line) for number, line in enumerate(path.read_text().splitlines(), start=1) if line.strip()]


def _coco_records(path: Path, coco: Any) -> list[dict[str, Any]]:
    images, annotations = (coco.get("images"), coco.get("annotations")) if isinstance(coco, dict) else (None, None)
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise RsqError(f"{path}: a COCO captions file is an object with 'images' and 'annotations' lists")
    captions: dict[Any, list[Any]] = defaultdict(list)
    for number, annotation in enumerate(annotations):
        if not isinstance(annotation, dict) or "image_id" not in annotation or "caption" not in annotation:
            raise RsqError(f"{path}: annotation {number} needs 'image_id' and 'caption'")
        captions[annotation["image_id"]].append(annotation["caption"])
    records = []
    for number, image in enumerate(images):
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) or "id" not in image:
            raise RsqError(f"{path}: image {number} needs 'id' and a 'file_name' string")
        records.append({"id": Path(image["file_name"]).stem, "file_name": image["file_name"], "image_id": image["id"],
                        "captions": captions.get(image["id"], [])})
    return records


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
