"""List tiles from a folder, a glob, a JSONL manifest, a STAC ItemCollection or a named dataset."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Any

from rsq.errors import SourceError
from rsq.sources.refs import Skipped, TileRef
from rsq.sources.stac import gdal_path, read_stac

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
MANIFEST_PATH_KEYS = ("path", "image", "href")


def list_tiles(spec: str, data: str | Path | None = None) -> list[TileRef]:
    """Tiles named by `spec`: `data:NAME[:SPLIT]`, a folder, a .jsonl manifest, a STAC .json, a file or a glob.

    A tile's id is unique within its source: the path relative to the folder (or to the glob's fixed
    part), the manifest's `id` or else its path as written, the STAC item id; named datasets keep their
    published ids.
    """
    if spec.startswith("data:"):
        from rsq.sources.datasets import dataset_tiles

        name, _, split = spec.removeprefix("data:").partition(":")
        return dataset_tiles(name, split or None, data)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder(path)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return read_manifest(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return read_stac(path, _text(path))
    if path.is_file():
        return [_ref(path, path.parent)]
    matches = sorted(Path(p) for p in glob.glob(spec, recursive=True))
    if not matches:
        raise SourceError(f"{spec}: no such file, folder, manifest or glob match")
    base = _fixed_part(spec)
    return [_ref(p, base) for p in matches if p.is_file()]


def list_many(specs: list[str], data: str | Path | None = None) -> tuple[list[TileRef], list[Skipped]]:
    """`list_tiles` over several specs, in order; a tile listed twice counts once, and a second tile
    claiming an id already taken is skipped, with the reason."""
    refs: dict[str, TileRef] = {}
    clashes: list[Skipped] = []
    for spec in specs:
        for ref in list_tiles(spec, data):
            first = refs.setdefault(ref.id, ref)
            if first is not ref and _real(first.path) != _real(ref.path):
                clashes.append(Skipped(ref.id, str(ref.path), f"tile id {ref.id!r} is already taken by {first.path}; give each tile a unique id (a manifest with ids)"))
    if not refs:
        raise SourceError(f"no tiles in {', '.join(specs)}")
    return list(refs.values()), clashes


def read_manifest(path: Path) -> list[TileRef]:
    """One tile per JSON line with a `path` (or `image`/`href`), optional `id`, other fields as metadata."""
    refs = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        record = json_object(path, number, line)
        key = next((k for k in MANIFEST_PATH_KEYS if k in record), None)
        if key is None:
            raise SourceError(f"{path}:{number}: no 'path' field")
        written = record.pop(key)
        if not isinstance(written, str) or not written.strip():
            raise SourceError(f"{path}:{number}: '{key}' must be a file path, not {json.dumps(written)}")
        tile_id = record.pop("id", Path(written).as_posix())
        if not isinstance(tile_id, str | int) or isinstance(tile_id, bool) or not str(tile_id).strip():
            raise SourceError(f"{path}:{number}: 'id' must be a string or a number, not {json.dumps(tile_id)}")
        refs.append(TileRef(str(tile_id), gdal_path(path.parent, written), record))
    return refs


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read ({error.strerror})") from None


def json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    """Line `number` of a JSON-lines file as an object, or a one-line error naming the file and line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise SourceError(f"{path}:{number}: not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise SourceError(f"{path}:{number}: expected a JSON object, not {type(record).__name__}")
    return record


def _real(path: str | Path) -> str:
    return str(path) if str(path).startswith("/vsi") else os.path.realpath(path)


def _folder(root: Path) -> list[TileRef]:
    """Every image file below `root`, in path order; folders reached twice (a link loop) are walked once."""
    refs, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        refs += [_ref(Path(folder) / name, root) for name in files if Path(name).suffix.lower() in IMAGE_SUFFIXES]
    if not refs:
        raise SourceError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder or below")
    return sorted(refs, key=lambda ref: ref.id)


def _ref(path: Path, root: Path) -> TileRef:
    return TileRef(path.relative_to(root).as_posix(), path)


def _fixed_part(pattern: str) -> Path:
    """The folder a glob pattern starts from: its leading parts without wildcards."""
    fixed = []
    for part in Path(pattern).expanduser().parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")
