"""Training pairs from an archive's own captions: two different caption variants of one tile are a positive pair;
the other pairs of a batch are its negatives, except those whose texts nearly repeat its own (`negative_mask`).

Records stream from the caption stores through a seeded shuffle buffer, so memory holds at most `BUFFER` records
whatever the archive's size, and an epoch's batches are the same on every run with the same seed (a resumed run
replays them as text, without encoding, up to where it stopped).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsq.captioner.records import OK
from rsq.captioner.store import CaptionStore
from rsq.textindex.documents import record_docs

BUFFER = 16_384  # records held for shuffling
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Pair:
    tile: str
    anchor: str
    positive: str


@dataclass(frozen=True)
class Batch:
    pairs: list[Pair]
    mask: np.ndarray  # (n, n) bool: True where pair j's positive may serve as a negative for pair i's anchor


def count_pairs(stores: list[Path]) -> int:
    """How many records can give a pair (two distinct caption texts): one streaming pass."""
    return sum(1 for _ in _record_texts(stores))


def epoch_batches(stores: list[Path], batch_size: int, seed: int, epoch: int, threshold: float) -> Iterator[Batch]:
    """One epoch's batches in their seeded order (a last batch of fewer than two pairs is dropped)."""
    rng = np.random.default_rng([seed, epoch])
    batch: list[Pair] = []
    for tile, texts in _shuffled(_record_texts(stores), rng):
        first, second = rng.choice(len(texts), size=2, replace=False)
        batch.append(Pair(tile, texts[first], texts[second]))
        if len(batch) == batch_size:
            yield Batch(batch, negative_mask(batch, threshold))
            batch = []
    if len(batch) >= 2:
        yield Batch(batch, negative_mask(batch, threshold))


def negative_mask(pairs: list[Pair], threshold: float) -> np.ndarray:
    """False where a negative would be a false one: the same tile, or a text whose word set overlaps the pair's own
    (anchor or positive) by at least `threshold` (Jaccard). Many tiles of one class share a caption word for word
    ("There is a piece of farmland ."); pushing those apart would teach the model that the same words differ."""
    words = [(frozenset(_WORD.findall(p.anchor.lower())), frozenset(_WORD.findall(p.positive.lower()))) for p in pairs]
    n = len(pairs)
    mask = np.ones((n, n), dtype=bool)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            if pairs[i].tile == pairs[j].tile or max(_jaccard(own, words[j][1]) for own in words[i]) >= threshold:
                mask[i, j] = False
    return mask


def _jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _record_texts(stores: list[Path]) -> Iterator[tuple[str, list[str]]]:
    """(tile id, its record's distinct dense texts) for every ok record with at least two."""
    for folder in stores:
        for record in CaptionStore(folder, create=False).records(OK):
            texts = list(dict.fromkeys(doc.dense_text for doc in record_docs(record) if doc.dense_text.strip()))
            if len(texts) >= 2:
                yield record.tile_id, texts


def _shuffled(items: Iterator, rng: np.random.Generator) -> Iterator:
    """A shuffle buffer: fill BUFFER items, then emit a random one per item read, then drain in random order."""
    buffer: list = []
    for item in items:
        if len(buffer) < BUFFER:
            buffer.append(item)
            continue
        slot = int(rng.integers(len(buffer)))
        yield buffer[slot]
        buffer[slot] = item
    for slot in rng.permutation(len(buffer)):
        yield buffer[slot]
