"""Composed image + text queries, WEICOM-style: each similarity is normalised over the database by the
Gaussian CDF of its z-score, then mixed as (1 - lam) * image + lam * text.

The database mean and spread of a query's scores come from the index's moments (mean vector and mean outer
product of the image vectors), so only candidate tiles are scored; `composed_bound` tells when the
candidates already hold the true top k (a threshold algorithm over the two ranked lists).
"""

from __future__ import annotations

import math

import numpy as np

Spread = tuple[float, float]  # mean and standard deviation of a query's scores over the database


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
    return (1.0 - lam) * gaussian_cdf_normalise(image_similarity, image_spread) + lam * gaussian_cdf_normalise(text_similarity, text_spread)


def score_spread(query: np.ndarray, mean: np.ndarray, second_moment: np.ndarray) -> Spread:
    """Mean and standard deviation of `query · x` over the database, from its moments E[x] and E[x xᵀ]."""
    q = np.asarray(query, dtype=np.float64)
    mu = float(q @ mean)
    return mu, math.sqrt(max(float(q @ second_moment @ q) - mu * mu, 1e-12))
