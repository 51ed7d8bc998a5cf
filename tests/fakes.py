"""Test doubles for captioner backends."""

from __future__ import annotations

import json

from rsq.captioner.records import CaptionRequest, CaptionResult


class FakeBackend:
    """Returns schema-valid captions derived from the tile id; `script` can make chosen tiles misbehave.

    script maps tile id -> list of outcomes, one per call: "ok", "malformed", "error" or "raise".
    """

    needs_image = True

    def __init__(self, spec: str = "fake:test", script: dict[str, list[str]] | None = None) -> None:
        self.spec = spec
        self.revision = "rev-1"
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.calls: list[list[str]] = []

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]:
        self.calls.append([r.tile.id for r in requests])
        outcomes = [self.script.get(r.tile.id, ["ok"]).pop(0) if self.script.get(r.tile.id) else "ok" for r in requests]
        if "raise" in outcomes:
            raise RuntimeError("device fell over")
        return [self._result(r, o) for r, o in zip(requests, outcomes, strict=True)]

    @staticmethod
    def _result(request: CaptionRequest, outcome: str) -> CaptionResult:
        if outcome == "malformed":
            return CaptionResult(raw='{"variants": [{"one_sentence": "unterminated')
        if outcome == "error":
            return CaptionResult(raw=None, error="HTTP 500")
        assert request.image is not None and request.image.dtype.name == "uint8" and request.image.shape[2] == 3
        variants = [{"one_sentence": f"tile {request.tile.id} variant {i}"} for i in range(request.params["variants"])]
        return CaptionResult(raw=json.dumps({"variants": variants, "keywords": [request.tile.sensor.value]}))
