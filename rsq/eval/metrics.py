"""Retrieval metrics as pure functions over ranked id lists.

Recall@k follows RemoteCLIP: text->image is a hit when the query's image is in the top k;
image->text is a hit when any of the image's captions is; mR is the mean of R@1/5/10 in both
directions (or of the directions measured).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

KS = (1, 5, 10)


def hit_at_k(ranked: Sequence[Hashable], relevant: set, k: int) -> bool:
    """Whether any relevant id is among the first k."""
    return any(item in relevant for item in ranked[:k])


def recall_at_k(rankings: Sequence[Sequence[Hashable]], relevant: Sequence[set], k: int) -> float:
    """Percentage of queries with a relevant id in the top k (text->image: one relevant image;
    image->text: the image's captions)."""
    if not rankings:
        return 0.0
    return 100.0 * sum(hit_at_k(r, rel, k) for r, rel in zip(rankings, relevant, strict=True)) / len(rankings)


def recall_table(rankings: Sequence[Sequence[Hashable]], relevant: Sequence[set], prefix: str = "") -> dict[str, float]:
    """{"R@1", "R@5", "R@10"} (optionally prefixed, e.g. "i2t_")."""
    return {f"{prefix}R@{k}": recall_at_k(rankings, relevant, k) for k in KS}


def mean_recall(recalls: Mapping[str, float]) -> float:
    """mR: the mean of every R@k value given (six for both directions)."""
    values = [v for key, v in recalls.items() if "R@" in key]
    return sum(values) / len(values) if values else 0.0


def average_precision(ranked: Sequence[Hashable], relevant: set) -> float:
    """AP over the ranked list: mean of precision at each relevant position, over all relevant ids."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for position, item in enumerate(ranked, start=1):
        if item in relevant:
            hits += 1
            total += hits / position
    return total / len(relevant)


def mean_average_precision(rankings: Sequence[Sequence[Hashable]], relevant: Sequence[set]) -> float:
    if not rankings:
        return 0.0
    return sum(average_precision(r, rel) for r, rel in zip(rankings, relevant, strict=True)) / len(rankings)


def dcg(gains: Sequence[float]) -> float:
    """DCG = sum of rel_i / log2(i + 1), positions from 1."""
    return sum(gain / math.log2(position + 1) for position, gain in enumerate(gains, start=1))


def ndcg_at_k(ranked: Sequence[Hashable], gain: Mapping[Hashable, float], k: int) -> float:
    """DCG of the top k over the DCG of the ideal top k; 0 when nothing is relevant."""
    ideal = dcg(sorted((g for g in gain.values() if g > 0), reverse=True)[:k])
    return dcg([gain.get(item, 0.0) for item in ranked[:k]]) / ideal if ideal else 0.0


def weighted_average_precision(
    ranked: Sequence[Hashable], gain: Mapping[Hashable, float], k: int | None = None
) -> float:
    """WAP@k for hierarchical labels: the mean, over positions p <= k with rel_p > 0, of
    ACG@p = (1/p) * sum_{i<=p} rel_i, where rel counts the label levels shared with the query."""
    cumulative, total, relevant_positions = 0.0, 0.0, 0
    for position, item in enumerate(ranked[:k] if k else ranked, start=1):
        rel = gain.get(item, 0.0)
        cumulative += rel
        if rel > 0:
            relevant_positions += 1
            total += cumulative / position
    return total / relevant_positions if relevant_positions else 0.0


def weighted_map(
    rankings: Sequence[Sequence[Hashable]], gains: Sequence[Mapping[Hashable, float]], k: int | None = None
) -> float:
    """WMAP (k=None, whole lists) or mean WAP@k over queries."""
    if not rankings:
        return 0.0
    return sum(weighted_average_precision(r, g, k) for r, g in zip(rankings, gains, strict=True)) / len(rankings)
