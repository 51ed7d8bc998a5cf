"""Composed image + text queries, WEICOM-style: each similarity is normalised over the database by the
Gaussian CDF of its z-score, then mixed as (1 - lam) * image + lam * text."""

from __future__ import annotations

import math

import numpy as np


def gaussian_cdf_normalise(similarities: np.ndarray) -> np.ndarray:
    """0.5 * (1 + erf((s - mu) / (sigma * sqrt 2))) per row, mu and sigma taken over the database (last axis)."""
    scores = np.atleast_2d(np.asarray(similarities, dtype=np.float64))
    mu = scores.mean(axis=-1, keepdims=True)
    sigma = scores.std(axis=-1, keepdims=True)
    sigma = np.where(sigma > 0, sigma, 1.0)
    erf = np.vectorize(math.erf)
    return 0.5 * (1.0 + erf((scores - mu) / (sigma * math.sqrt(2.0))))


def composed_scores(image_similarity: np.ndarray, text_similarity: np.ndarray, lam: float) -> np.ndarray:
    """(1 - lam) * norm(sim_img) + lam * norm(sim_text), per query row over the database columns."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must lie in 0..1, got {lam}")
    return (1.0 - lam) * gaussian_cdf_normalise(image_similarity) + lam * gaussian_cdf_normalise(text_similarity)
