"""Query-side defaults: image mode's share by caption source, nomenclature expansion."""

import pytest

from rsq.query import Searcher, SearchQuery
from rsq.query.expansion import EXPANSION_WEIGHT, SYNONYMS, expansion_terms
from rsq.query.request import DEFAULT_IMAGE_WEIGHT, TAGGER_IMAGE_WEIGHT
from rsq.textindex.manifest import Manifest


def test_expansion_adds_synonyms_and_spellings_the_query_lacks():
    extra = expansion_terms("boats moored in a harbour")
    assert extra == {"harbor": EXPANSION_WEIGHT, "port": EXPANSION_WEIGHT, "marina": EXPANSION_WEIGHT}
    assert "motorway" not in expansion_terms("a freeway and a motorway") and "highway" in expansion_terms(
        "a freeway and a motorway"
    )
    assert expansion_terms("tennis court") == {}
    assert all(len(set(group)) == len(group) for group in SYNONYMS)
    assert len({w for g in SYNONYMS for w in g}) == sum(len(g) for g in SYNONYMS)  # a word belongs to one group


def test_bm25_finds_a_synonym_the_captions_use(ucm_index):
    """UCM captions say "harbor"; a British "harbour" query still reaches them through BM25 alone."""
    hits = Searcher(ucm_index).search(SearchQuery("harbour", k=5, mode="bm25"))
    assert len(hits) == 5 and all(h.tile.meta["class"] == "harbor" for h in hits)


def test_image_weight_follows_the_caption_source(ucm_index, monkeypatch):
    index = Searcher(ucm_index)
    assert index.default_image_weight == DEFAULT_IMAGE_WEIGHT
    tagged = Manifest.from_dict(
        index.manifest.to_dict() | {"caption_runs": [{"run_id": "r", "model": "closp:ckpt", "template": "t"}]}
    )
    monkeypatch.setattr(Searcher, "manifest", property(lambda self: tagged))  # as a closp-tagged index records it
    assert index.default_image_weight == TAGGER_IMAGE_WEIGHT


@pytest.mark.parametrize(("alpha", "alone"), [(1.0, "dense"), (0.0, "bm25")])
def test_explicit_alpha_overrides_the_default(ucm_index, alpha, alone):
    index = Searcher(ucm_index)
    fused = index.search(SearchQuery("a forest next to a river", k=5, alpha=alpha))
    single = index.search(SearchQuery("a forest next to a river", k=5, mode=alone))
    assert [h.id for h in fused] == [h.id for h in single]
