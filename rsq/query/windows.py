"""How deep each retrieval mode is read for a request of k results."""

from __future__ import annotations

from rsq.query.request import MAX_K

MIN_FETCH = 200
RANK_WINDOWS = (10, 100, MAX_K)  # results are ranked within the window that holds k: pages of one window agree


def rank_window(k: int) -> int:
    """The smallest window that holds k. Fusion normalises over what was read, so asking for 20 or for 60 results
    gives the same first 20."""
    return next((window for window in RANK_WINDOWS if k <= window), k)
