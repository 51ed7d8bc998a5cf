"""The land-cover hierarchy rsq files tiles under: CORINE Land Cover's three-level nomenclature (5 / 15 / 44
classes, codes 1 … 523, as the Copernicus Land Monitoring Service publishes it), shipped as data (`clc.json`),
with the mappings of the label sources onto it (UCM's 21 classes, the Sen1Floods11 water label).

A class is named by its code or its name at any level (`"1"`, `"Artificial surfaces"`, `"112"`); a tile's class
is a path from level 1 down to the deepest level its source knows (UCM's `forest` stops at `31 Forests`).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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

    def find(self, name_or_code: str) -> LandCoverClass:
        """The class a user names by code or name (any case); an unknown one raises, suggesting the nearest names."""
        wanted = name_or_code.strip()
        if wanted in self.classes:
            return self.classes[wanted]
        by_name = {c.name.lower(): c for c in self.classes.values()}
        if wanted.lower() in by_name:
            return by_name[wanted.lower()]
        near = difflib.get_close_matches(wanted.lower(), list(by_name), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(by_name[n].name) for n in near)}?" if near else ""
        raise RsqError(f"no land-cover class {name_or_code!r} in {self.name} (a code such as 112, or a name){hint}")

    def mapped(self, source: str, label: str) -> list[LandCoverClass] | None:
        """The path a label of `source` (`ucm`, `sen1floods11`) maps to, or None for a label it does not map."""
        code = self.mappings.get(source, {}).get(label.strip().lower())
        return self.path(code) if code else None


@cache
def corine() -> Hierarchy:
    """CORINE Land Cover, read once from the shipped data file."""
    document = json.loads(DATA.read_text(encoding="utf-8"))
    classes = {c["code"]: LandCoverClass(c["code"], c["name"]) for c in document["classes"]}
    return Hierarchy(document["nomenclature"], classes, document["mappings"])
