"""Test doubles for captioner backends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

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


class HashEmbedder:
    """A text encoder for unit tests: each word hashed into one of `dim` dimensions, L2-normalised."""

    def __init__(self, dim: int = 32, spec: str = "fake:hash") -> None:
        self.spec, self.dim, self.runtime = spec, dim, "hashing"
        self.calls: list[int] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        import hashlib

        self.calls.append(len(texts))
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        vectors[:, 0] += 1e-3
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def caption_record(
    tile_id: str, sentences: list[str], model: str = "fake:model", tile: dict | None = None, run_id: str = "run-1"
):
    """An ok caption record holding `sentences` as its variants (for index tests that need no tiles)."""
    from rsq.captioner.records import OK, CaptionRecord

    tile = {"id": tile_id, "path": f"{tile_id}.tif", "sensor": "rgb", **(tile or {})}
    return CaptionRecord(
        run_id=run_id,
        tile_id=tile_id,
        tile_path=tile["path"],
        sensor=tile["sensor"],
        model=model,
        model_revision="",
        template="fake@000000000000",
        prompt_hash="",
        params={},
        status=OK,
        captions={"variants": [{"one_sentence": s} for s in sentences]},
        tile=tile,
    )


INDEX_WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from fakes import HashEmbedder, caption_record
import rsq.textindex.build as build
build.CHUNK_RECORDS, build.COMMIT_ROWS = 20, 60

class Slow(HashEmbedder):
    def encode(self, texts):
        time.sleep({delay})
        return super().encode(texts)

records = [caption_record(f"{prefix}{{n}}", [f"tile{prefix}{{n}} river forest", f"word{{n % 7}} {variant}"]) for n in
range({count})]
build.index_records(records, build.Path({out!r}), Slow(), build.BuildOptions(thumbnails=False))
print("done", flush=True)
"""


def index_writer(out, count: int, prefix: str = "", variant: str = "first", delay: float = 0.05):
    """A subprocess that indexes `count` records (ids prefix0..), committing every 60 rows, a little slowly;
    prints "done" when it finishes. For kill -9 and concurrent-writer tests."""
    import subprocess
    import sys
    from pathlib import Path

    script = INDEX_WRITER.format(
        tests=str(Path(__file__).parent), out=str(out), count=count, prefix=prefix, variant=variant, delay=delay
    )
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def free_gpu_samples(ray) -> Iterator[list[float]]:
    """Samples of the Ray cluster's free GPUs every 50 ms while the block runs (0.0 in it: every GPU was held)."""
    held, done = [], threading.Event()

    def watch() -> None:
        while not done.is_set():
            held.append(ray.available_resources().get("GPU", 0.0))
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield held
    finally:
        done.set()
        watcher.join()
