"""List tiles from a folder, a glob, a JSONL manifest, a STAC ItemCollection or a named dataset."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from rsq.errors import SourceError
from rsq.imagery.containers import CONTAINER_SUFFIXES
from rsq.imagery.gdal import is_remote
from rsq.sources.refs import Skipped, TileRef
from rsq.sources.stac import gdal_path, is_stac_item, item_line_ref, read_stac

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", *CONTAINER_SUFFIXES}
MANIFEST_PATH_KEYS = ("path", "image", "href")


def list_tiles(spec: str, data: str | Path | None = None) -> list[TileRef]:
    """The tiles `spec` names, as a list (see `iter_tiles`)."""
    return list(iter_tiles(spec, data))


def iter_tiles(spec: str, data: str | Path | None = None) -> Iterator[TileRef]:
    """Tiles named by `spec`, listed lazily: `data:NAME[:SPLIT]`, a folder (walked in name order), a .jsonl manifest
    (read line by line), a STAC .json, a file or a glob. What kind of source it is, and whether it exists, is
    checked now; a malformed manifest line raises when it is reached.

    A tile's id is unique within its source: the path relative to the folder (or to the glob's fixed
    part), the manifest's `id` or else its path as written, the STAC item id; named datasets keep their
    published ids.
    """
    if spec.startswith("data:"):
        from rsq.sources.datasets import dataset_tiles

        name, _, split = spec.removeprefix("data:").partition(":")
        return iter(dataset_tiles(name, split or None, data))
    path = Path(spec).expanduser()
    if path.is_dir():
        return _folder(path)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return iter_manifest(path)
    if path.is_file() and path.suffix.lower() == ".json":
        return _stac_collection(path)
    if path.is_file():
        return iter([_ref(path, path.parent)])
    matches = sorted(Path(p) for p in glob.glob(spec, recursive=True))
    if not matches:
        raise SourceError(f"{spec}: no such file, folder, manifest or glob match")
    base = _fixed_part(spec)
    return (_ref(p, base) for p in matches if p.is_file())


class Listing:
    """The tiles of several sources, in order, listed lazily (memory does not grow with the archive but for 16 bytes
    a tile of id hashes). A tile listed twice counts once; a tile whose id is not text (a file name that is not
    UTF-8, a lone surrogate) or is already taken, by another tile or by a window `claim`ed for a chip, is skipped,
    its reason kept in `skipped`."""

    def __init__(self, specs: list[str], data: str | Path | None = None) -> None:
        self.specs, self.data = specs, data
        self.skipped: list[Skipped] = []
        self._ids = HashSet()

    def __iter__(self) -> Iterator[TileRef]:
        self.skipped, self._ids = [], HashSet()
        pairs, listed = HashSet(), 0
        for spec in self.specs:
            for ref in iter_tiles(spec, self.data):
                if not pairs.add(f"{ref.id}\0{_absolute(ref.path)}"):
                    continue  # the same file listed again
                if reason := ref_problem(ref) or self._taken(ref.id):
                    self.skipped.append(Skipped(printable(ref.id), printable(str(ref.path)), reason))
                    continue
                listed += 1
                yield ref
        if not listed:
            raise SourceError(f"no tiles in {', '.join(self.specs)}")

    def claim(self, tile_id: str, path: str) -> bool:
        """Take `tile_id` for a tile made while listing (a chip window); False, the window skipped, when it is taken."""
        if self._ids.add(tile_id):
            return True
        reason = f"chip window {tile_id!r} has the id of a listed tile; give that tile another id (a manifest with ids)"
        self.skipped.append(Skipped(tile_id, path, reason))
        return False

    def _taken(self, tile_id: str) -> str | None:
        if self._ids.add(tile_id):
            return None
        return f"tile id {tile_id!r} is already taken by another tile; give each tile a unique id (a manifest with ids)"

    def count(self, limit: int | None = None) -> int:
        """How many tiles the sources list (up to `limit`), by one streaming pass that also checks every line read."""
        return sum(1 for _ in islice(self, limit))


def ref_problem(ref: TileRef) -> str | None:
    """Why `ref` cannot be stored (its id and files must be text that UTF-8 can hold), or None."""
    for what, text in (("tile id", ref.id), ("path", str(ref.path)), *(("band file", f) for _, f in ref.bands)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"{what} {_raw(text)} is not valid UTF-8 text (a file name in another encoding?); rename it"
    return None


def printable(text: str) -> str:
    """`text` with anything UTF-8 cannot hold (surrogates) written as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _raw(text: str) -> str:
    """A name as the bytes it was on disk (undecodable bytes of a file name), else with escapes."""
    try:
        return repr(os.fsencode(text))
    except UnicodeEncodeError:
        return f"'{printable(text)}'"


def list_many(specs: list[str], data: str | Path | None = None) -> tuple[list[TileRef], list[Skipped]]:
    """Every tile of `specs` (a `Listing`) as a list, and the tiles skipped for a clashing id."""
    listing = Listing(specs, data)
    return list(listing), listing.skipped


class HashSet:
    """A set of strings kept as sorted 64-bit hashes (8 bytes each) plus a small set of recent ones: membership for
    tens of millions of ids without holding them; a false match has odds below 1e-5 at 10 million strings."""

    RECENT = 32_768

    def __init__(self) -> None:
        self._sorted = np.zeros(0, dtype=np.uint64)
        self._recent: set[int] = set()

    def add(self, text: str) -> bool:
        """Add `text`; False when it was already there."""
        key = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
        if key in self._recent or self._in_sorted(key):
            return False
        self._recent.add(key)
        if len(self._recent) >= self.RECENT:  # merge the recent keys in: one linear copy of the sorted array
            recent = np.sort(np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent)))
            self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, recent), recent)
            self._recent.clear()
        return True

    def _in_sorted(self, key: int) -> bool:
        at = int(np.searchsorted(self._sorted, np.uint64(key)))
        return at < len(self._sorted) and int(self._sorted[at]) == key


def _stac_collection(path: Path) -> Iterator[TileRef]:
    """The items of a STAC ItemCollection file, parsed when the listing reaches it (the file is read whole: for
    millions of items, write one Item per line to a .jsonl file, which streams)."""
    yield from read_stac(path, _text(path))


def iter_manifest(path: Path) -> Iterator[TileRef]:
    """One tile per JSON line with a `path` (or `image`/`href`), optional `id`, other fields as metadata, or one
    STAC Item per line (band assets stacked as in an ItemCollection); lazily."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise SourceError(f"{path}: cannot read ({error.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _manifest_ref(path, number, line)
        except UnicodeDecodeError:
            raise SourceError(f"{path}: not a UTF-8 text file") from None


def read_manifest(path: Path) -> list[TileRef]:
    """Every tile of a JSONL manifest (`iter_manifest`)."""
    return list(iter_manifest(path))


def _manifest_ref(path: Path, number: int, line: str) -> TileRef:
    record = json_object(path, number, line)
    if is_stac_item(record):
        return item_line_ref(path, number, record)
    key = next((k for k in MANIFEST_PATH_KEYS if k in record), None)
    if key is None:
        raise SourceError(f"{path}:{number}: no 'path' field")
    written = record.pop(key)
    if not isinstance(written, str) or not written.strip():
        raise SourceError(f"{path}:{number}: '{key}' must be a file path, not {json.dumps(written)}")
    tile_id = record.pop("id", Path(written).as_posix())
    if not isinstance(tile_id, str | int) or isinstance(tile_id, bool) or not str(tile_id).strip():
        raise SourceError(f"{path}:{number}: 'id' must be a string or a number, not {json.dumps(tile_id)}")
    return TileRef(str(tile_id), gdal_path(path.parent, written), record)


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


def _absolute(path: str | Path) -> str:
    return str(path) if is_remote(str(path)) else os.path.abspath(path)


def _folder(root: Path) -> Iterator[TileRef]:
    """Every image file below `root`, lazily: each folder's files in name order, then its subfolders in name order;
    folders reached twice (a link loop) are walked once."""
    seen, found = set(), False
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders[:] = []
            continue
        seen.add(real)
        subfolders.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found = True
                yield _ref(Path(folder) / name, root)
    if not found:
        raise SourceError(f"{root}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder or below")


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
