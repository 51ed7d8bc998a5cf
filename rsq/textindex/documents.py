"""Caption records -> one searchable document per caption variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rsq.captioner.records import OK, CaptionRecord

# BM25 fields and their boosts: the sentence and the structured terms weigh more than the paragraph.
FIELD_BOOSTS = {
    "one_sentence": 2.0,
    "keywords": 1.5,
    "events": 1.5,
    "land_cover": 1.2,
    "objects": 1.2,
    "features": 1.0,
    "caption": 1.0,
    "sensor_notes": 0.5,
}


@dataclass(frozen=True)
class VariantDoc:
    """One caption variant of one tile, with the tile-level structured fields folded in."""

    tile_id: str
    source: str  # model | template of the record it came from
    variant: int
    fields: dict[str, str]

    @property
    def dense_text(self) -> str:
        """What the dense encoder sees: the variant's own words."""
        parts = (self.fields["one_sentence"], self.fields["features"], self.fields["caption"])
        return " ".join(p for p in parts if p)

    @property
    def snippet(self) -> str:
        sentence, caption = self.fields["one_sentence"], self.fields["caption"]
        return f"{sentence} {caption}".strip() if caption else sentence


def record_docs(record: CaptionRecord) -> list[VariantDoc]:
    """One document per caption variant of an ok record (none for a failed one)."""
    if record.status != OK or not record.captions:
        return []
    shared = _tile_fields(record.captions)
    source = record_source(record)
    docs = []
    for number, variant in enumerate(record.captions.get("variants", [])):
        fields = {
            "one_sentence": variant["one_sentence"],
            "features": "; ".join(_feature_text(f) for f in variant.get("features", [])),
            "caption": variant.get("caption", ""),
            **shared,
        }
        docs.append(VariantDoc(record.tile_id, source, number, fields))
    return docs


def record_source(record: CaptionRecord) -> str:
    """What produced a record: model | template version."""
    return f"{record.model} | {record.template}"


def _tile_fields(captions: dict[str, Any]) -> dict[str, str]:
    objects = [
        " ".join(str(o.get(k) or "") for k in ("count", "colour", "shape", "size", "density", "name"))
        for o in captions.get("objects", [])
    ]
    return {
        "keywords": ", ".join(captions.get("keywords", [])),
        "land_cover": ", ".join(c["name"] for c in captions.get("land_cover", [])),
        "objects": "; ".join(" ".join(o.split()) for o in objects),
        "events": "; ".join(f"{e['kind']} {e.get('description', '')}".strip() for e in captions.get("events", [])),
        "sensor_notes": captions.get("sensor_notes", ""),
    }


def _feature_text(feature: dict[str, str]) -> str:
    return f"{feature['name']} ({feature['position']})" if feature.get("position") else feature["name"]
