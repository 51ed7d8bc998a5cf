"""Annotation files (JSONL, COCO captions JSON, CSV): human captions or labels per image, read as records.

They feed the `annotations:` caption backend, and, for an archive whose captions come from elsewhere
and whose tile files are not at hand, they are a tile source of their own: `annotation_refs` lists one
pixel-less tile per record, with the place and time the record gives.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from rsq.errors import RsqError
from rsq.sources.listing import json_object
from rsq.sources.refs import TileRef

KEY_FIELDS = ("id", "image", "file_name", "path", "filename")
LIST_SEPARATORS = (";", "|")
CSV_DELIMITERS = (",", ";", "\t", "|")
DECIMAL_COMMA = re.compile(r"^-?\d+,\d+$")
TEXT_FIELDS = ("captions", "caption", "labels", "label")


def annotation_refs(path: Path) -> list[TileRef]:
    """One tile without pixels per annotation record: its id, and its other fields (time, lon, lat, bbox, sensor) as
    metadata."""
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
            if (
                not isinstance(value, str | int | float)
                or isinstance(value, bool)
                or (name == "caption" and not isinstance(value, str))
            ):
                raise RsqError(
                    f"{name} must be one {'string' if name == 'caption' else 'string or number'}, not "
                    f"{json.dumps(value)[:80]}"
                )
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
    except UnicodeDecodeError:
        raise RsqError(f"{path}: not UTF-8 text; save it as UTF-8 (a spreadsheet's 'CSV UTF-8')") from None
    except (json.JSONDecodeError, csv.Error) as error:
        raise RsqError(f"{path}: cannot read annotations ({type(error).__name__}: {error})") from None
    except OSError as error:
        raise RsqError(f"{path}: cannot read annotations ({error.strerror})") from None


def _jsonl_records(path: Path) -> list[dict[str, Any]]:
    return [
        json_object(path, number, line)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip()
    ]


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
        records.append(
            {
                "id": Path(image["file_name"]).stem,
                "file_name": image["file_name"],
                "image_id": image["id"],
                "captions": captions.get(image["id"], []),
            }
        )
    return records


def _csv_records(path: Path) -> list[dict[str, Any]]:
    """Rows sharing a key merge: their `caption` cells become `captions`; `labels` cells split on ; or |.

    Files as spreadsheet programs save them read alike: a UTF-8 byte-order mark, CRLF line ends, `;` or tab as
    the delimiter (found from the header, or Excel's `sep=;` first line), header names in any case and padding,
    blank rows, and decimal commas in `lon`/`lat` cells of a `;` file."""
    merged: dict[str, dict[str, Any]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        delimiter = _csv_delimiter(path, handle)
        reader = csv.reader(handle, delimiter=delimiter)
        header = [name.strip().lower() for name in next(reader, [])]
        for cells in reader:
            if any(cell.strip() for cell in cells):
                _merge_row(path, merged, _csv_row(header, cells, delimiter))
    return list(merged.values())


def _csv_delimiter(path: Path, handle: Any) -> str:
    """The delimiter of a CSV file, from Excel's `sep=X` line (consumed) or the header; the handle is left at the
    header."""
    first = handle.readline()
    if first.lower().startswith("sep=") and len(first.rstrip("\r\n")) == 5:
        return first[4]
    handle.seek(0)  # back to the header (utf-8-sig skips the byte-order mark again)
    names = {field.strip().strip('"').lower() for field in KEY_FIELDS}
    for delimiter in CSV_DELIMITERS:
        if names & {cell.strip().strip('"').lower() for cell in first.split(delimiter)}:
            return delimiter
    raise RsqError(f"{path}: the header names none of the columns {', '.join(KEY_FIELDS)}")


def _csv_row(header: list[str], cells: list[str], delimiter: str) -> dict[str, str]:
    row = {name: cell.strip() for name, cell in zip(header, cells) if name}
    for name in ("lon", "lat"):
        if delimiter != "," and DECIMAL_COMMA.match(row.get(name, "")):
            row[name] = row[name].replace(",", ".")
    return row


def _merge_row(path: Path, merged: dict[str, dict[str, Any]], row: dict[str, str]) -> None:
    key_field = next((f for f in KEY_FIELDS if row.get(f)), None)
    if key_field is None:
        raise RsqError(f"{path}: every row needs one of the columns {', '.join(KEY_FIELDS)}")
    record = merged.setdefault(row[key_field], {**row, "captions": [], "labels": []})
    if row.get("caption"):
        record["captions"].append(row["caption"])
    if row.get("labels"):
        record["labels"] += _split_list(row["labels"])


def _split_list(cell: str) -> list[str]:
    for separator in LIST_SEPARATORS:
        if separator in cell:
            return [part.strip() for part in cell.split(separator) if part.strip()]
    return [cell.strip()]
