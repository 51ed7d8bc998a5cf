"""Where rsq finds data and keeps its state: flags first, then RSQ_* variables, then defaults."""

from __future__ import annotations

import os
from pathlib import Path

from rsq.errors import RsqError

_CHECKOUT = Path(__file__).resolve().parent.parent


def data_root(explicit: str | Path | None = None) -> Path:
    """The shared data folder: `explicit`, else $RSQ_DATA, else ../shared/data beside the checkout or cwd."""
    if explicit is None:
        explicit = os.environ.get("RSQ_DATA")
    if explicit is not None:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise RsqError(f"data folder {root} does not exist (from --data or RSQ_DATA)")
        return root
    for base in (_CHECKOUT, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    raise RsqError("no data folder found: pass --data DIR or set RSQ_DATA")


def rsq_home() -> Path:
    """rsq's state folder: $RSQ_HOME, else ~/.rsq."""
    return Path(os.environ.get("RSQ_HOME", "~/.rsq")).expanduser()


def default_index_path() -> Path:
    """Where `rsq index`, `rsq search` and `rsq serve` keep the index unless told: $RSQ_HOME/indexes/default."""
    return rsq_home() / "indexes" / "default"
