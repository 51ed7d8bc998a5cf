"""Loaders for the benchmark data in the shared data folder (see its README)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsq.config import data_root
from rsq.errors import SourceError
from rsq.sources.refs import TileRef

UCM_SPLITS = ("train", "val", "test")
CAPTION_CORPORA = ("rsitmd", "rsicd")
SEN1FLOODS11_CHIP = "Spain_7370579"
SEN1FLOODS11_EVENT_ID = 9


@dataclass(frozen=True)
class CaptionedImage:
    """An image with its human captions; `path` is None for caption-only corpora."""

    id: str
    captions: tuple[str, ...]
    path: Path | None = None
    split: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class FloodChip:
    """The Sen1Floods11 chip: co-registered S1, S2 and water label, with its flood event record."""

    s1: Path
    s2: Path
    label: Path
    event: dict[str, Any] = field(default_factory=dict)

    def labels(self) -> list[str]:
        """Label names for the whole chip, from the share of flood water in its hand label (-1: no data)."""
        from rsq.imagery import read_pixels, read_tile

        label = read_pixels(read_tile(self.label))[0]
        valid = label >= 0
        return flood_label_caption(float((label == 1).sum() / max(valid.sum(), 1))).split(". ")

    def tile_refs(self, sensor: str | None = None) -> list[TileRef]:
        """The S1 and S2 images (or one of them) as tiles, each with its acquisition date and place."""
        place = {"place": self.event.get("location"), "event_id": self.event.get("ID")}
        refs = {
            "s1": TileRef(self.s1.stem, self.s1, {**place, "time": _slash_date(self.event.get("s1_date"))}),
            "s2": TileRef(self.s2.stem, self.s2, {**place, "time": _slash_date(self.event.get("s2_date"))}),
        }
        if sensor is not None and sensor not in refs:
            raise SourceError(f"sen1floods11 has sensors s1 and s2, not {sensor!r}")
        return [refs[sensor]] if sensor else list(refs.values())


def flood_label_caption(water_fraction: float) -> str:
    """CLOSP-style caption (label names joined by '. ') from a chip's share of flood water."""
    if water_fraction >= 0.5:
        return "flood. water. flooded farmland"
    if water_fraction >= 0.1:
        return "flood. water. farmland"
    return "farmland. dry land"


def ucm_captions(root: str | Path | None = None, split: str | None = None) -> list[CaptionedImage]:
    """UCM-captions: 2,100 UC Merced tiles with 5 captions each, optionally one split."""
    if split is not None and split not in UCM_SPLITS:
        raise SourceError(f"unknown UCM split {split!r}; choose one of {', '.join(UCM_SPLITS)}")
    folder = data_root(root) / "ucm-captions"
    items = []
    for record in _read_jsonl(folder / "captions.jsonl"):
        if split is None or record["split"] == split:
            items.append(
                CaptionedImage(
                    id=record["id"],
                    captions=tuple(record["captions"]),
                    path=folder / record["image"],
                    split=record["split"],
                    label=record["class"],
                )
            )
    return items


def caption_corpus(name: str, split: str = "test", root: str | Path | None = None) -> list[CaptionedImage]:
    """RSITMD or RSICD captions (no images); the label is the class prefix of the file name."""
    if name not in CAPTION_CORPORA:
        raise SourceError(f"unknown caption corpus {name!r}; choose one of {', '.join(CAPTION_CORPORA)}")
    records = _read_jsonl(data_root(root) / name / f"{split}.jsonl")
    return [
        CaptionedImage(id=r["id"], captions=tuple(r["captions"]), split=split, label=r["id"].rsplit("_", 1)[0])
        for r in records
    ]


def sen1floods11(root: str | Path | None = None) -> FloodChip:
    """The Sen1Floods11 Spain chip and its event metadata."""
    folder = data_root(root) / "sen1floods11"
    paths = {kind: folder / f"{SEN1FLOODS11_CHIP}_{kind}Hand.tif" for kind in ("S1", "S2", "Label")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise SourceError(f"Sen1Floods11 files missing: {', '.join(missing)}")
    return FloodChip(paths["S1"], paths["S2"], paths["Label"], _flood_event(folder, SEN1FLOODS11_EVENT_ID))


def dataset_tiles(name: str, split: str | None = None, root: str | Path | None = None) -> list[TileRef]:
    """Tiles of a named dataset for `data:NAME[:PART]`: `ucm[:SPLIT]` or `sen1floods11[:s1|s2]`."""
    if name in ("ucm", "ucm-captions"):
        return [
            TileRef(item.id, item.path, {"class": item.label, "split": item.split})
            for item in ucm_captions(root, split)
            if item.path is not None
        ]
    if name == "sen1floods11":
        return sen1floods11(root).tile_refs(split)
    raise SourceError(f"unknown dataset {name!r}; image datasets are ucm and sen1floods11")


def _flood_event(folder: Path, event_id: int) -> dict[str, Any]:
    collection = json.loads((folder / "Sen1Floods11_Metadata.geojson").read_text())
    for feature in collection["features"]:
        if feature["properties"].get("ID") == event_id:
            return feature["properties"]
    return {}


def _slash_date(value: str | None) -> str | None:
    return value.replace("/", "-") if value else None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SourceError(f"{path} not found; is the data folder right (--data or RSQ_DATA)?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
