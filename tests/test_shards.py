"""A sharded index answers what one index holding every shard answers (rsq.shards)."""

from __future__ import annotations

import pytest

from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.shards.build import build_shards
from rsq.shards.layout import shard_of, shard_roots
from rsq.shards.router import LocalShard, ShardedSearcher, one_by_one
from rsq.textindex.build import BuildOptions

QUERIES = [
    "many planes are parked next to a long runway",
    "a baseball field surrounded by green trees",
    "storage tanks",
    "dense residential area with houses and roads",
    "river beside the forest",
    "there are some white boats in the harbor",
]
FILTERS = [{}, {"land_cover": "Artificial surfaces"}]


@pytest.fixture(scope="module")
def sharded_ucm(ucm_human_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("ucm-shards")
    build_shards([ucm_human_store], root, 2, BuildOptions(thumbnails=False))
    return root


def _sharded(root, gather=one_by_one) -> ShardedSearcher:
    return ShardedSearcher([LocalShard(Searcher(folder)) for folder in shard_roots(root)], gather)


def test_tiles_split_by_a_stable_hash(sharded_ucm):
    assert shard_of("ucm/airplane00", 2) == shard_of("ucm/airplane00", 2)
    counts = [Searcher(folder).manifest.counts["tiles"] for folder in shard_roots(sharded_ucm)]
    assert sum(counts) == 2100 and min(counts) > 900


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
@pytest.mark.parametrize("filters", FILTERS, ids=["none", "class"])
def test_a_sharded_search_returns_the_ids_and_order_of_one_index(ucm_index, sharded_ucm, mode, filters):
    whole, sharded = Searcher(ucm_index), _sharded(sharded_ucm)
    for text in QUERIES:
        query = SearchQuery(text, k=20, mode=mode, filters=parse_filters(**filters))
        expected, result = whole.search(query), sharded.search(query)
        assert result.missing == []
        assert [h.id for h in result.hits] == [h.id for h in expected]
        assert [h.score for h in result.hits] == pytest.approx([h.score for h in expected], abs=1e-4)
        assert [h.ranks for h in result.hits] == [h.ranks for h in expected]
        assert [h.caption for h in result.hits] == [h.caption for h in expected]


def test_bm25_statistics_are_the_sum_over_shards(ucm_index, sharded_ucm):
    """Summed shard statistics are the whole index's: documents, document frequencies, field lengths."""
    from rsq.textindex.bm25global import Bm25Statistics

    text = "planes parked near the runway"
    whole = Searcher(ucm_index).snapshot.bm25.statistics(text)
    parts = [Searcher(f).snapshot.bm25.statistics(text) for f in shard_roots(sharded_ucm)]
    summed = Bm25Statistics.summed(parts)
    assert summed.documents == whole.documents and summed.frequencies == whole.frequencies
    for name, total in whole.tokens.items():
        assert summed.tokens[name] == pytest.approx(total, rel=1e-5)
    assert any(p.frequencies != summed.frequencies for p in parts)  # each shard alone counts differently


def test_a_shard_that_fails_is_named_never_silently_left_out(sharded_ucm):
    def failing_second(calls):
        results = one_by_one(calls[:1])
        return results + [ConnectionError("replica gone")] * (len(calls) - 1)

    result = _sharded(sharded_ucm, failing_second).search(SearchQuery("storage tanks", k=10, mode="hybrid"))
    assert result.missing == [1]
    assert result.hits and all(shard_of(h.id, 2) == 0 for h in result.hits)


def test_shards_served_by_ray_serve_answer_as_one_index_and_survive_a_lost_replica(ucm_index, sharded_ucm):
    """Two shards as Ray Serve deployments (two replicas each) on a local Ray: the one index's results; a killed
    replica's calls go to the other; a shard with no deployment left is named missing."""
    ray = pytest.importorskip("ray")
    serve = pytest.importorskip("ray.serve")
    from rsq.serve.sharded import deploy_shards

    try:
        router = deploy_shards(sharded_ucm, replicas=2)
        whole = Searcher(ucm_index)
        for mode in ("bm25", "hybrid"):
            query = SearchQuery("many planes are parked next to a long runway", k=10, mode=mode)
            assert [h.id for h in router.search(query).hits] == [h.id for h in whole.search(query)]
        replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "rsq-shard-00" in a["name"]]
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)
        query = SearchQuery("storage tanks", k=10, mode="hybrid")
        for _ in range(4):  # calls that Serve still routes to the dead replica are sent again
            result = router.search(query)
            assert result.missing == [] and [h.id for h in result.hits] == [h.id for h in whole.search(query)]
        serve.delete("rsq-shard-01")
        result = router.search(query)
        assert result.missing == [1] and all(shard_of(h.id, 2) == 0 for h in result.hits)
    finally:
        serve.shutdown()
        ray.shutdown()
