"""The demo archive: the 2,100 UCM tiles with their human captions, and the Sen1Floods11 Sentinel-1 and
Sentinel-2 chips (georeferenced, dated) captioned from their real water label, indexed together."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rsq.captioner.backends import make_backend
from rsq.captioner.batch import run_job
from rsq.captioner.job import CaptionJob
from rsq.captioner.store import CaptionStore
from rsq.config import data_root, rsq_home
from rsq.prompts import load_template
from rsq.sources import list_tiles, sen1floods11
from rsq.textindex.build import BuildOptions

DEMO_QUERIES = ("flooded farmland", "planes parked at an airport", "storage tanks near a harbour", "baseball field")


def demo_stores(data: str | Path | None = None, on_step: Callable[[str], None] = print) -> list[Path]:
    """Caption (import) the demo tiles into two stores under $RSQ_HOME/demo; returns their folders."""
    root = data_root(data)
    human = _import(
        "human-captions",
        root / "ucm-captions" / "captions.jsonl",
        "data:ucm",
        rsq_home() / "demo" / "ucm-human-captions",
        data,
        on_step,
    )
    flood = sen1floods11(data)
    labels = rsq_home() / "demo" / "sen1floods11-labels.jsonl"
    labels.parent.mkdir(parents=True, exist_ok=True)
    labels.write_text("".join(json.dumps({"id": ref.id, "labels": flood.labels()}) + "\n" for ref in flood.tile_refs()))
    floods = _import("labels", labels, "data:sen1floods11", rsq_home() / "demo" / "sen1floods11-labels", data, on_step)
    return [human, floods]


def demo_options() -> BuildOptions:
    return BuildOptions(rebuild=True)


def _import(template_name: str, annotations: Path, tiles: str, store: Path, data, on_step) -> Path:
    template = load_template(template_name)
    backend = make_backend(f"annotations:{annotations}", template=template)
    summary = run_job(list_tiles(tiles, data), CaptionStore(store), backend, CaptionJob(template))
    on_step(f"captions: {summary.ok} imported, {summary.already_done} already there ({store})")
    return store
