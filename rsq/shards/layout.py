"""A sharded index: a folder of separate indexes (`shard-00`, `shard-01`, …) and `shards.json` naming them.

A tile belongs to one shard, by a stable hash of its id, so a re-captioned tile replaces its old rows in the
shard that holds them. Each shard is an ordinary rsq index: its own writer lock and generations, built,
updated and merged alone; a reader takes the newest generation of each.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rsq.errors import RsqError

MANIFEST = "shards.json"
MAX_SHARDS = 256  # a merged row id keeps the shard number in its low 8 bits (rsq.shards.router)


def shard_of(tile_id: str, count: int) -> int:
    """The shard a tile lives in: the same for every run, machine and Python."""
    return int.from_bytes(hashlib.blake2b(tile_id.encode(), digest_size=8).digest(), "big") % count


def shard_folder(root: Path, number: int) -> Path:
    return root / f"shard-{number:02d}"


def write_layout(root: Path, count: int) -> list[Path]:
    """Name `count` shards in `root` (created if needed); refuses a folder already split another way."""
    if not 1 <= count <= MAX_SHARDS:
        from rsq.errors import OptionError

        raise OptionError("shards", "must be between 1 and {most}, not {value}", most=MAX_SHARDS, value=count)
    from rsq.textindex.commit import is_index

    if is_index(root):
        raise RsqError(f"{root} is one index, not a sharded one; give the shards a folder of their own")
    if root.is_dir() and any(root.iterdir()) and not is_sharded(root):
        raise RsqError(f"{root} holds other files; give the shards an empty folder of their own")
    root.mkdir(parents=True, exist_ok=True)
    existing = root / MANIFEST
    if existing.is_file() and len(shard_roots(root)) != count:
        raise RsqError(f"{root} holds {len(shard_roots(root))} shards, not {count}")
    existing.write_text(json.dumps({"shards": [shard_folder(root, n).name for n in range(count)]}))
    return shard_roots(root)


def is_sharded(root: Path) -> bool:
    return (Path(root) / MANIFEST).is_file()


def shard_roots(root: Path) -> list[Path]:
    """The shard folders a sharded index names (inside it: names from the file cannot leave the folder)."""
    try:
        names = json.loads((Path(root) / MANIFEST).read_text())["shards"]
    except (OSError, ValueError, KeyError, TypeError):
        raise RsqError(f"{root} is not a sharded index (no readable {MANIFEST})") from None
    folders = [Path(root) / name for name in names]
    if not names or any(not str(n).startswith("shard-") or "/" in str(n) or ".." in str(n) for n in names):
        raise RsqError(f"{root}/{MANIFEST} names shards outside the folder")
    return folders
