"""The land-cover hierarchy rsq files tiles under: CORINE Land Cover's three-level nomenclature (5 / 15 / 44
classes, codes 1 … 523, as the Copernicus Land Monitoring Service publishes it), shipped as data (`clc.json`),
with the mappings of the label sources onto it (UCM's 21 classes, the Sen1Floods11 water label, the CLOSP
tagger's land-cover phrases).

A class is named by its code or its name at any level (`"1"`, `"Artificial surfaces"`, `"112"`); a tile's class
is a path from level 1 down to the deepest level its source knows (UCM's `forest` stops at `31 Forests`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from rsq.errors import RsqError

DATA = Path(__file__).parent / "clc.json"


@dataclass(frozen=True)
class LandCoverClass:
    """One node of the nomenclature: its code (its length is its level) and its published name."""

    code: str
    name: str

    @property
    def level(self) -> int:
        return len(self.code)


@dataclass(frozen=True)
class Hierarchy:
    """The nomenclature: every class by code, and the mappings of label sources onto it."""

    name: str
    classes: dict[str, LandCoverClass]
    mappings: dict[str, dict[str, str]]

    def level(self, level: int) -> list[LandCoverClass]:
        return [c for c in self.classes.values() if c.level == level]

    def path(self, code: str) -> list[LandCoverClass]:
        """The classes from level 1 down to `code`: `112` → Artificial surfaces › Urban fabric › Discontinuous …"""
        return [self.classes[code[:n]] for n in range(1, len(code) + 1)]

    def names(self, code: str) -> list[str]:
        """The path's names from level 1 down to `code` ([] for "", an unknown class)."""
        return [node.name for node in self.path(code)] if code else []

    def find(self, name_or_code: str) -> LandCoverClass:
        """The class a user names by code or name (any case); an unknown one raises, suggesting the nearest names."""
        wanted = name_or_code.strip()
        if wanted in self.classes:
            return self.classes[wanted]
        by_name = self._by_name
        if wanted.lower() in by_name:
            return by_name[wanted.lower()]
        near = difflib.get_close_matches(wanted.lower(), list(by_name), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(by_name[n].name) for n in near)}?" if near else ""
        raise RsqError(f"{name_or_code!r} is not a {self.name} class (give a code such as 112, or a name){hint}")

    def mapped(self, source: str, label: str) -> list[LandCoverClass] | None:
        """The path a label of `source` (`ucm`, `sen1floods11`, `closp`) maps to; None for a label it does not map."""
        code = self.mappings.get(source, {}).get(label.strip().lower())
        return self.path(code) if code else None

    def label_code(self, label: str) -> str | None:
        """The class of any label: a code or class name of the nomenclature, else a label some source maps."""
        wanted = label.strip().lower()
        if wanted in self.classes:
            return wanted
        if wanted in self._by_name:
            return self._by_name[wanted].code
        return next((labels[wanted] for labels in self.mappings.values() if wanted in labels), None)

    def path_code(self, names: list[str]) -> str:
        """The code of a path given by name from level 1 down (["Water bodies", "Inland waters"] → 51); raises
        when the names are not a path of the nomenclature."""
        code = ""
        for name in names:
            child = next((c for c in self.children(code) if c.name.lower() == str(name).strip().lower()), None)
            if child is None:
                below = f" under {self.classes[code].name!r}" if code else " at level 1"
                raise RsqError(f"{name!r} is not a {self.name} class{below}")
            code = child.code
        return code

    def children(self, code: str) -> list[LandCoverClass]:
        """The classes one level below `code` ("" for level 1)."""
        return [c for c in self.classes.values() if c.level == len(code) + 1 and c.code.startswith(code)]

    def paths(self) -> list[list[str]]:
        """Every path by name, from each level-1 class down to each class (64 for CORINE): what a model may write."""
        return [[c.name for c in self.path(code)] for code in self.classes]

    @cached_property
    def _by_name(self) -> dict[str, LandCoverClass]:
        """Classes by lower-cased name; a name two levels share ("Water bodies", "Pastures") is the shallower."""
        by_name: dict[str, LandCoverClass] = {}
        for node in self.classes.values():
            by_name.setdefault(node.name.lower(), node)
        return by_name


def tile_class(captions: dict[str, Any]) -> str:
    """The class code of a caption record's tile: its `land_cover_path`, else the largest-share land-cover name any
    label source maps; "" when neither says."""
    clc = corine()
    if captions.get("land_cover_path"):
        try:
            return clc.path_code(captions["land_cover_path"])
        except RsqError:
            pass  # a record of another rsq version: fall back to its land-cover names
    covers = sorted(captions.get("land_cover") or [], key=lambda c: -float(c.get("share") or 0.0))
    return next((code for c in covers if (code := clc.label_code(str(c.get("name", ""))))), "")


@cache
def corine() -> Hierarchy:
    """CORINE Land Cover, read once from the shipped data file."""
    document = json.loads(DATA.read_text(encoding="utf-8"))
    classes = {c["code"]: LandCoverClass(c["code"], c["name"]) for c in document["classes"]}
    return Hierarchy(document["nomenclature"], classes, document["mappings"])


def land_cover_names(captions: dict[str, Any]) -> list[str]:
    """The CORINE path by name of a caption record's tile (`tile_class`), [] when it has none."""
    return corine().names(tile_class(captions))
