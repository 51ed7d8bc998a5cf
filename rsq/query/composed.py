"""Composed image + text queries, WEICOM-style: each similarity is normalised over the database by the
Gaussian CDF of its z-score, then mixed as (1 - lam) * image + lam * text.

The database mean and spread of a query's scores come from the index's moments (mean vector and mean outer
product of the image vectors), so only candidate tiles are scored; `composed_bound` tells when the
candidates already hold the true top k (a threshold algorithm over the two ranked lists).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from rsq.errors import RsqError
from rsq.query.windows import MIN_FETCH, rank_window
from rsq.textindex.filters import Filters
from rsq.textindex.segments import IMAGES

if TYPE_CHECKING:
    from rsq.query.request import SearchQuery
    from rsq.textindex.reader import Snapshot

Spread = tuple[float, float]  # mean and standard deviation of a query's scores over the database


class Encoders(Protocol):
    """What a composed search needs of the searcher: its index folder and query encoders (`Searcher`)."""

    root: Path
    embedder: Any
    image_encoder: Any
    shared_text_space: bool

    def image_queries(self, texts: list[str], caption_vectors: np.ndarray | None, filters: Filters) -> np.ndarray: ...


def gaussian_cdf_normalise(similarities: np.ndarray, spread: Spread | None = None) -> np.ndarray:
    """0.5 * (1 + erf((s - mu) / (sigma * sqrt 2))); mu and sigma over the last axis unless `spread` gives them."""
    scores = np.atleast_2d(np.asarray(similarities, dtype=np.float64))
    if spread is None:
        mu, sigma = scores.mean(axis=-1, keepdims=True), scores.std(axis=-1, keepdims=True)
    else:
        mu, sigma = np.float64(spread[0]), np.float64(spread[1])
    sigma = np.where(sigma > 0, sigma, 1.0)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * (1.0 + erf((scores - mu) / (sigma * math.sqrt(2.0))))


def composed_scores(
    image_similarity: np.ndarray, text_similarity: np.ndarray, lam: float, spreads: tuple[Spread, Spread] | None = None
) -> np.ndarray:
    """(1 - lam) * norm(sim_img) + lam * norm(sim_text), per query row; `spreads` are the database statistics."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in 0..1, got {lam}")
    image_spread, text_spread = spreads or (None, None)
    return (1.0 - lam) * gaussian_cdf_normalise(image_similarity, image_spread) + lam * gaussian_cdf_normalise(
        text_similarity, text_spread
    )


def score_spread(query: np.ndarray, mean: np.ndarray, second_moment: np.ndarray) -> Spread:
    """Mean and standard deviation of `query · x` over the database, from its moments E[x] and E[x xᵀ]."""
    q = np.asarray(query, dtype=np.float64)
    mu = float(q @ mean)
    return mu, math.sqrt(max(float(q @ second_moment @ q) - mu * mu, 1e-12))


def composed_search(searcher: Encoders, snapshot: Snapshot, query: SearchQuery) -> dict[str, tuple[float, int]]:
    """WEICOM over the candidates of both ranked lists (by image, by text), exact by the threshold test: the
    candidate lists grow until the k-th score beats what any tile beyond them could reach."""
    moments = snapshot.image_moments()
    if moments is None:
        raise RsqError(f"index {searcher.root} holds no image vectors for a composed query")
    caption_vector = searcher.embedder.encode([query.text]) if searcher.shared_text_space else None
    image_vector = query_image(searcher, snapshot, query)
    text_vector = searcher.image_queries([query.text], caption_vector, Filters())[0]
    spreads = (score_spread(image_vector, *moments), score_spread(text_vector, *moments))
    fetch = max(MIN_FETCH, rank_window(query.k) * 4)
    while True:
        by_image, by_text = snapshot.vector_hits(IMAGES, np.stack([image_vector, text_vector]), fetch, query.filters)
        rows = np.unique(np.concatenate([by_image.rows, by_text.rows]))
        vectors, tiles = snapshot.image_rows(rows)
        scores = composed_scores(vectors @ image_vector, vectors @ text_vector, query.lam, spreads)[0]
        exhausted = len(by_image.rows) < fetch and len(by_text.rows) < fetch
        both = len(by_image.rows) and len(by_text.rows)
        bound = composed_scores(by_image.scores[-1:], by_text.scores[-1:], query.lam, spreads)[0, 0] if both else -1.0
        if exhausted or np.sort(scores)[::-1][min(query.k, len(scores)) - 1] >= bound:
            return {tile: (float(s), int(r)) for tile, s, r in zip(tiles, scores, rows, strict=True)}
        fetch *= 4


def query_image(searcher: Encoders, snapshot: Snapshot, query: SearchQuery) -> np.ndarray:
    """The image vector of a composed query: from an image file, or stored for a tile of the index."""
    if query.image:
        from rsq.imagery import read_tile

        vectors, errors = searcher.image_encoder.encode_tiles([read_tile(query.image)])
        if errors[0]:
            raise RsqError(f"{query.image}: {errors[0]}")
        return vectors[0]
    stored = snapshot.image_vector(query.like)
    if stored is None:
        raise RsqError(f"tile {query.like!r} is not in the index or has no image vector")
    return stored
