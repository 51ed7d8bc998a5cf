"""A synthetic archive for the scale benchmarks: real RSICD/RSITMD caption sentences recombined into tile
captions, with random places, times and sensors, all from a fixed seed.

Each tile has two caption variants: one real sentence, and two other real sentences joined. The stand-in
encoder gives a variant the normalised mean of its sentences' real MiniLM vectors, so archives beyond what
the real encoder can embed here keep the neighbourhood structure of real caption vectors; `lifted` carries
them into 768 dimensions unchanged (inner products kept), for the bytes of a 768-d model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rsq.captioner.records import OK, CaptionRecord
from rsq.config import data_root

SENSORS = ("rgb", "s2", "s1")
SENSOR_SHARES = (0.5, 0.3, 0.2)
FIRST_DAY = datetime(2015, 1, 1, tzinfo=UTC).timestamp()
LAST_DAY = datetime(2025, 12, 31, tzinfo=UTC).timestamp()
SENTENCE_END = re.compile(r"(?<=\.)\s+")
CACHE = Path(__file__).parent / ".cache"


def sentences() -> list[str]:
    """The distinct training captions of RSICD and RSITMD, each ending in one full stop."""
    found: dict[str, None] = {}
    for corpus in ("rsicd", "rsitmd"):
        for line in (data_root() / corpus / "train.jsonl").read_text().splitlines():
            for caption in json.loads(line)["captions"]:
                text = " ".join(caption.replace(" .", ".").split()).rstrip(".").strip()
                if text and "." not in text:  # one full stop, at the end: joined sentences split back apart
                    found[text + "."] = None
    return list(found)


def queries(count: int, seed: int = 1) -> list[str]:
    """Held-out query sentences: RSITMD test captions (never in the corpus), in a fixed random order."""
    texts = {
        " ".join(c.replace(" .", "").split())
        for line in (data_root() / "rsitmd" / "test.jsonl").read_text().splitlines()
        for c in json.loads(line)["captions"]
    }
    ordered = sorted(t for t in texts if t)
    np.random.default_rng(seed).shuffle(ordered)
    return ordered[:count]


def records(
    tiles: int, pool: list[str], seed: int = 0, start: int = 0, model: str = "bench:corpus"
) -> Iterator[CaptionRecord]:
    """`tiles` caption records, streamed (ids from `start`), with sensor, time, centre and bounds."""
    rng = np.random.default_rng(seed + start)
    for number in range(start, start + tiles):
        a, b, c = rng.integers(0, len(pool), 3)
        sensor = SENSORS[rng.choice(3, p=SENSOR_SHARES)]
        lon, lat = float(rng.uniform(-180, 180)), float(rng.uniform(-60, 70))
        when = datetime.fromtimestamp(float(rng.uniform(FIRST_DAY, LAST_DAY)), UTC).isoformat(timespec="seconds")
        tile_id = f"scene-{number // 100:06d}/chip-{number % 100:02d}"
        tile = {
            "id": tile_id,
            "path": "",
            "sensor": sensor,
            "center": [lon, lat],
            "bounds": [lon - 0.02, lat - 0.02, lon + 0.02, lat + 0.02],
            "time": when,
        }
        variants = [{"one_sentence": pool[a]}, {"one_sentence": f"{pool[b]} {pool[c]}"}]
        yield CaptionRecord(
            run_id="bench",
            tile_id=tile_id,
            tile_path="",
            sensor=sensor,
            model=model,
            model_revision="",
            template="bench@corpus",
            prompt_hash="",
            params={},
            status=OK,
            captions={"variants": variants},
            tile=tile,
        )


class StandInEncoder:
    """Each text -> the normalised mean of the real MiniLM vectors of its sentences (texts of the corpus only)."""

    def __init__(self, pool: list[str], vectors: np.ndarray, spec: str) -> None:
        self.position = {text: n for n, text in enumerate(pool)}
        self.vectors, self.spec, self.dim = vectors, spec, vectors.shape[1]

    def encode(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for sentence in SENTENCE_END.split(text):
                rows[row] += self.vectors[self.position[sentence]]
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def lifted(vectors: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """The same vectors in `dim` dimensions through a random map with orthonormal rows: every inner product (so every
    neighbourhood) is the original's, the bytes per row are a `dim`-d model's (768: all-mpnet-base-v2's width)."""
    if dim == vectors.shape[1]:
        return vectors
    basis, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, vectors.shape[1])))
    return (vectors @ basis.T).astype(np.float32)


def sentence_vectors(pool: list[str], encoder) -> np.ndarray:
    """Real vectors of every pool sentence, cached under bench/.cache (computed once, about 2 minutes here)."""
    cache = CACHE / f"sentences-{len(pool)}-{encoder.spec.replace('/', '_').replace(':', '_')}.npy"
    if cache.is_file():
        return np.load(cache)
    vectors = encoder.encode(pool)
    CACHE.mkdir(exist_ok=True)
    np.save(cache, vectors)
    return vectors
