"""`closp:<checkpoint>`: zero-shot tagging with rsq's CLOSP encoders, so a CPU can caption tiles without a VLM.

Each tile's image vector is compared with the text-tower vectors of a phrase vocabulary (land cover,
objects, density, events); the best phrases fill the structured fields. The sentences are the checkpoint's
caption bank (the training captions nearest the tile: nearest-neighbour captioning), or phrase sentences
for checkpoints without one.
"""

from __future__ import annotations

import json

import numpy as np

from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.closp.vocabulary import DENSITY, EVENTS, LAND_COVER, OBJECTS
from rsq.landcover import corine

TOP_LAND_COVER = 3
TOP_OBJECTS = 3
EVENT_MARGIN = 0.05  # an event is reported when it beats the best land-cover phrase by this much


class ClospTagger:
    needs_image = False  # reads each tile's bands itself: SAR and Sentinel-2 go to their own towers
    scheme = "closp"

    def __init__(self, checkpoint: str) -> None:
        from rsq.closp.checkpoint import load_caption_bank
        from rsq.closp.encoder import ClospEncoder

        self.spec = f"{self.scheme}:{checkpoint}"
        self.encoder = ClospEncoder(self.spec)
        self.revision = self.encoder.folder.name
        self.scale = float(self.encoder.model.logit_scale.detach().exp().clamp(max=100))
        self.phrases = {
            name: list(group)
            for name, group in (("land", LAND_COVER), ("objects", OBJECTS), ("density", DENSITY), ("events", EVENTS))
        }
        self.vectors = {name: self.encoder.encode_texts(group) for name, group in self.phrases.items()}
        self.bank = load_caption_bank(self.encoder.checkpoint)

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]:
        vectors, errors = self.encoder.encode_tiles([r.tile for r in requests])
        return [
            CaptionResult(raw=None, error=error)
            if error
            else CaptionResult(raw=json.dumps(self._captions(vector, r.params)))
            for r, vector, error in zip(requests, vectors, errors, strict=True)
        ]

    def _captions(self, image: np.ndarray, params: dict) -> dict:
        scores = {name: vectors @ image for name, vectors in self.vectors.items()}
        land = np.argsort(-scores["land"])[:TOP_LAND_COVER]
        objects = np.argsort(-scores["objects"])[:TOP_OBJECTS]
        density = self.phrases["density"][int(np.argmax(scores["density"]))]
        weights = np.exp(self.scale * (scores["land"][land] - scores["land"][land].max()))
        shares = weights / weights.sum()
        events = [
            self.phrases["events"][i]
            for i in np.argsort(-scores["events"])[:2]
            if scores["events"][i] > scores["land"][land[0]] + EVENT_MARGIN
        ]
        land_names = [self.phrases["land"][i] for i in land]
        object_names = [self.phrases["objects"][i] for i in objects]
        wanted = max(1, int(params.get("variants", 1)))
        if self.bank:
            texts, vectors = self.bank
            sentences = [texts[i] for i in np.argsort(-(vectors @ image), kind="stable")[:wanted]]
        else:
            sentences = [f"{cover} with {density} {thing}" for cover in land_names for thing in object_names]
        return {
            "variants": [{"one_sentence": s} for s in sentences[:wanted]],
            "land_cover_path": corine().names(corine().mappings["closp"].get(land_names[0], "")),
            "land_cover": [{"name": n, "share": round(float(s), 3)} for n, s in zip(land_names, shares, strict=True)],
            "objects": [{"name": n, "density": density} for n in object_names],
            "events": [{"kind": e} for e in events],
            "sensor_notes": "tags and nearest training captions by CLOSP image-text similarity, not a VLM description",
            "keywords": land_names + object_names + events,
        }


class CisenTagger(ClospTagger):
    """`cisen:<folder>`: the tagger with a CISEN head's image vectors (the base checkpoint's caption bank)."""

    scheme = "cisen"
