"""Pure scoring functions: variant hits to tile scores, ranks, and hybrid fusion."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

RRF_K = 60
FUSIONS = ("rrf", "weighted")


def best_per_tile(rows: np.ndarray, tiles: np.ndarray, scores: np.ndarray) -> dict[str, tuple[float, int]]:
    """A tile scores the maximum over its caption variants: tile -> (score, row of the best variant)."""
    best: dict[str, tuple[float, int]] = {}
    for position in np.argsort(-np.asarray(scores), kind="stable").tolist():
        best.setdefault(tiles[position], (float(scores[position]), int(rows[position])))
    return best


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based ranks by descending score; ties broken by id for determinism."""
    ordered = sorted(scores, key=lambda tile: (-scores[tile], tile))
    return {tile: position for position, tile in enumerate(ordered, start=1)}


def reciprocal_rank_fusion(rankings: list[Mapping[str, int]], k: int = RRF_K) -> dict[str, float]:
    """Sum over modes of 1 / (k + rank); a tile missing from a mode gets nothing from it."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for tile, rank in ranking.items():
            fused[tile] = fused.get(tile, 0.0) + 1.0 / (k + rank)
    return fused


def min_max(scores: Mapping[str, float]) -> dict[str, float]:
    """Scale to 0..1 over the candidates; all-equal scores become 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {tile: 1.0 for tile in scores}
    return {tile: (score - low) / (high - low) for tile, score in scores.items()}


def weighted_fusion(sparse: Mapping[str, float], dense: Mapping[str, float], alpha: float) -> dict[str, float]:
    """alpha * normalised dense + (1 - alpha) * normalised BM25; a missing mode contributes 0."""
    sparse_norm, dense_norm = min_max(sparse), min_max(dense)
    tiles = set(sparse_norm) | set(dense_norm)
    return {t: alpha * dense_norm.get(t, 0.0) + (1 - alpha) * sparse_norm.get(t, 0.0) for t in tiles}
