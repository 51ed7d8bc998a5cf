"""Paths derived from data (tile ids, names in manifests and STAC items) stay inside the folder the user named."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rsq.errors import RsqError

MAX_PART_BYTES = 200


def inside(root: Path, name: str, suffix: str = "") -> Path:
    """`root`/`name` + `suffix`, with `name` made a plain relative path: no leading slash, no `.` or `..`
    parts, no NUL; over-long parts shortened with a hash. Refused if a link inside `root` leads outside it."""
    parts = [_part(p) for p in name.replace("\\", "/").replace("\x00", "_").split("/") if p not in ("", ".", "..")]
    target = root.joinpath(*(parts or ["_"]))
    target = target.with_name(_part(target.name + suffix))
    if not target.resolve().is_relative_to(root.resolve()):
        raise RsqError(f"{name!r} would lead outside {root} (through a link); not written")
    return target


def _part(part: str) -> str:
    encoded = part.encode()
    if len(encoded) <= MAX_PART_BYTES:
        return part
    digest = hashlib.sha256(encoded).hexdigest()[:12]
    return encoded[: MAX_PART_BYTES - 13].decode(errors="ignore") + "-" + digest
