"""BM25 top-k that scores only documents holding a rarer query term (MaxScore) returns the whole query's top k."""

import numpy as np
import pytest

from rsq.query import Searcher
from rsq.query.filters import parse_filters
from rsq.sources.datasets import caption_corpus
from rsq.textindex import bm25
from rsq.textindex.bm25 import PrunedTop

TOLERANCE = 5e-4
QUERIES = [
    "many buildings and green trees are around a playground",
    "a long runway with several planes parked beside the terminal",
    "storage tanks near a harbour",
    "dense residential area with houses and roads",
    "a river flows through the green farmland",
    "the baseball field is next to a parking lot with many cars",
    "white waves on the sea beside a yellow beach",
    "an overpass crosses the highway",
    "chaparral",
    "a tennis court surrounded by trees and some buildings",
]


def _captions(data_dir, count: int) -> list[str]:
    """RSITMD test captions: sentences written by others for other tiles."""
    return [item.captions[0] for item in caption_corpus("rsitmd", "test", data_dir)[:count]]


@pytest.mark.parametrize("fetch", [1, 10, 57])
def test_pruned_top_k_is_the_whole_querys(ucm_index, data_dir, monkeypatch, fetch):
    monkeypatch.setattr(bm25, "PRUNE_ABOVE", 0)  # prune even the small index
    reader = Searcher(ucm_index).snapshot.bm25
    pruned_runs = 0
    for text in QUERIES + _captions(data_dir, 40):
        top = PrunedTop(reader, reader.clauses(text, {}), None)
        whole = reader.searcher.search(top.whole, fetch, count=False).hits
        found = top(fetch)
        # the same scores, but for float32 rounding: the clauses are summed in another order
        assert np.allclose([s for s, _ in found], [s for s, _ in whole], rtol=0, atol=TOLERANCE), text
        cut = whole[-1][0] if whole else 0.0
        above = {(a.segment_ord, a.doc) for s, a in whole if s > cut + TOLERANCE}  # ties with the last: any of them
        assert above <= {(a.segment_ord, a.doc) for _, a in found}, text
        pruned_runs += top.essential_used < len(top.common_first)
    assert pruned_runs >= 10  # most queries were answered without scoring every document


def test_pruned_search_keeps_filters(ucm_index, monkeypatch):
    monkeypatch.setattr(bm25, "PRUNE_ABOVE", 0)
    reader = Searcher(ucm_index).snapshot.bm25
    filters = parse_filters(land_cover="Artificial surfaces")
    pruned = reader.search("green trees around the buildings", 30, filters)
    monkeypatch.setattr(bm25, "PRUNE_ABOVE", 10**12)
    whole = reader.search("green trees around the buildings", 30, filters)
    assert np.allclose(pruned[1], whole[1], rtol=0, atol=TOLERANCE)
    assert set(pruned[0][pruned[1] > pruned[1][-1] + TOLERANCE]) <= set(whole[0])
