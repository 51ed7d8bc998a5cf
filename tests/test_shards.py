"""A sharded index answers what one index holding every shard answers (rsq.shards): in this process, through the
CLI and the HTTP API, and as Ray Serve deployments that lose replicas and shards."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rsq.cli import app as cli
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.serve.app import create_app
from rsq.shards.build import build_shards
from rsq.shards.layout import shard_of, shard_roots
from rsq.shards.router import LocalShard, ShardedSearcher, one_by_one, open_local
from rsq.textindex.build import BuildOptions, build_index

QUERIES = [
    "many planes are parked next to a long runway",
    "a baseball field surrounded by green trees",
    "storage tanks",
    "flooded farmland",
    "river beside the forest",
    "there are some white boats in the harbor",
]
# the demo's Sen1Floods11 chips are the only tiles with a sensor, a place and a time
FILTERS = [
    {},
    {"land_cover": "Artificial surfaces"},
    {"sensor": "s1"},
    {"bbox": "-10,35,5,45"},
    {"after": "2019-01-01", "before": "2019-12-31"},
]
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_corpus(data_dir, tmp_path_factory):
    """The demo's caption stores (UCM human captions, Sen1Floods11 chips from their label), one index of them, and
    the same records in two shards."""
    import os

    from rsq.demo import demo_stores

    home = tmp_path_factory.mktemp("demo-home")
    previous = os.environ.get("RSQ_HOME")
    os.environ["RSQ_HOME"] = str(home)
    try:
        stores = demo_stores(data_dir, on_step=lambda message: None)
    finally:
        os.environ.pop("RSQ_HOME") if previous is None else os.environ.__setitem__("RSQ_HOME", previous)
    whole, sharded = home / "whole", home / "sharded"
    options = BuildOptions(thumbnails=False)
    build_index(stores, whole, options)
    build_shards(stores, sharded, 2, options)
    return stores, whole, sharded


def _sharded(root, gather=one_by_one) -> ShardedSearcher:
    return ShardedSearcher([LocalShard(Searcher(folder)) for folder in shard_roots(root)], gather, root)


def _same_answers(whole, sharded, modes=("bm25", "dense", "hybrid"), k=20) -> None:
    """Every query, mode and filter: the same ids in the same order, scores, per-mode ranks and captions."""
    for mode in modes:
        for filters in FILTERS:
            for text in QUERIES:
                query = SearchQuery(text, k=k, mode=mode, filters=parse_filters(**filters))
                expected, result = whole.search(query), sharded.answer(query)
                assert result.missing == []
                assert [h.id for h in result.hits] == [h.id for h in expected], (mode, filters, text)
                assert [h.score for h in result.hits] == pytest.approx([h.score for h in expected], abs=1e-4), (
                    mode,
                    filters,
                    text,
                )
                assert [h.ranks for h in result.hits] == [h.ranks for h in expected]
                assert [h.caption for h in result.hits] == [h.caption for h in expected]


def test_tiles_split_by_a_stable_hash(demo_corpus):
    _, whole, sharded = demo_corpus
    assert shard_of("ucm/airplane00", 2) == shard_of("ucm/airplane00", 2)
    counts = [Searcher(folder).manifest.counts["tiles"] for folder in shard_roots(sharded)]
    assert sum(counts) == Searcher(whole).manifest.counts["tiles"] and min(counts) > 900


def test_a_sharded_search_returns_the_ids_and_order_of_one_index(demo_corpus):
    _, whole, sharded = demo_corpus
    _same_answers(Searcher(whole), _sharded(sharded))


def test_inverted_files_cut_from_one_partition_search_the_same_sharded(demo_corpus, tmp_path, monkeypatch):
    """Above IVF_ABOVE rows (lowered here) segments are inverted files, flushed and merged differently in one index
    and in each shard. Cut from one partition trained on the build's first rows, and probed as many lists as the
    whole needs, they give the shards' router one index's dense rows: with and without filters."""
    from rsq.textindex import build, vectors

    monkeypatch.setattr(vectors, "IVF_ABOVE", 2_000)
    monkeypatch.setattr(vectors, "EXACT_BELOW", 200)
    monkeypatch.setattr(build, "COMMIT_ROWS", 1_500)
    stores, options = demo_corpus[0], BuildOptions(thumbnails=False)
    build_index(stores, tmp_path / "whole", options)
    build_shards(stores, tmp_path / "sharded", 2, options)
    whole, sharded = Searcher(tmp_path / "whole"), _sharded(tmp_path / "sharded")
    shards = [Searcher(folder).snapshot for folder in shard_roots(tmp_path / "sharded")]
    segments = whole.snapshot.segments["captions"] + [s for shard in shards for s in shard.segments["captions"]]
    assert {s.vectors.kind for s in segments} == {"ivf"} and len({s.vectors.quantizer_key for s in segments}) == 1
    assert len(whole.snapshot.segments["captions"]) != sum(len(shard.segments["captions"]) for shard in shards)
    _same_answers(whole, sharded, modes=("dense", "hybrid"))


def test_bm25_statistics_are_the_sum_over_shards(demo_corpus):
    """Summed shard statistics are the whole index's: documents, document frequencies, field lengths."""
    from rsq.textindex.bm25global import Bm25Statistics

    _, whole, sharded = demo_corpus
    text = "planes parked near the runway"
    expected = Searcher(whole).snapshot.bm25.statistics(text)
    parts = [Searcher(f).snapshot.bm25.statistics(text) for f in shard_roots(sharded)]
    summed = Bm25Statistics.summed(parts)
    assert summed.documents == expected.documents and summed.frequencies == expected.frequencies
    for name, total in expected.tokens.items():
        assert summed.tokens[name] == pytest.approx(total, rel=1e-5)
    assert any(p.frequencies != summed.frequencies for p in parts)  # each shard alone counts differently


def test_a_text_search_asks_each_shard_three_rounds(demo_corpus):
    """Statistics, rows, hits: no round for the image weight when no image mode is fused."""
    asked = []

    class Counting(LocalShard):
        def __getattribute__(self, name):
            if name in ("statistics", "rows", "hits", "default_image_weight"):
                asked.append(name)
            return super().__getattribute__(name)

    sharded = ShardedSearcher([Counting(Searcher(f)) for f in shard_roots(demo_corpus[2])], one_by_one)
    sharded.answer(SearchQuery("storage tanks", k=10, mode="hybrid"))
    assert sorted(set(asked)) == ["hits", "rows", "statistics"] and asked.count("rows") == 2


def test_a_shard_that_fails_is_named_never_silently_left_out(demo_corpus):
    def failing_second(calls):
        results = one_by_one(calls[:1])
        return results + [ConnectionError("replica gone")] * (len(calls) - 1)

    sharded = _sharded(demo_corpus[2], failing_second)
    result = sharded.answer(SearchQuery("storage tanks", k=10, mode="hybrid"))
    assert result.missing == [1]
    assert result.hits and all(shard_of(h.id, 2) == 0 for h in result.hits)
    client = TestClient(create_app(sharded))
    for path in ("/api/search", "/api/search.geojson"):  # the page reads the GeoJSON's and says which are missing
        assert client.get(path, params={"q": "storage tanks"}).json()["missing_shards"] == [1]
    assert client.get("/health").json()["missing_shards"] == [1]


def test_the_cli_builds_and_searches_a_sharded_index(demo_corpus, tmp_path):
    """`rsq index --shards 2` splits the stores; `rsq search` on it prints what it prints for one index; adding to
    it again keeps its shards; bad --shards values are one line each."""
    stores, whole, _ = demo_corpus
    target = tmp_path / "shards"
    built = runner.invoke(cli, ["index", *map(str, stores), "--out", str(target), "--shards", "2", "--no-thumbnails"])
    assert built.exit_code == 0, built.output
    assert "2 shards" in built.output and len(shard_roots(target)) == 2
    again = runner.invoke(cli, ["index", *map(str, stores), "--out", str(target), "--no-thumbnails"])
    assert again.exit_code == 0 and "0 records added" in again.output
    for text in ("storage tanks", "flooded farmland"):
        answers = [
            runner.invoke(cli, ["search", text, "--index", str(folder), "--json", "--k", "8"]).stdout
            for folder in (target, whole)
        ]
        records = [[json.loads(line) for line in answer.splitlines()] for answer in answers]
        assert [r.get("id") for r in records[0]] == [r.get("id") for r in records[1]] and len(records[0]) == 9
    for arguments, message in (
        (["--shards", "0"], "shards"),
        (["--shards", "3"], "holds 2 shards"),
        (["--out", str(whole), "--shards", "2"], "is one index"),
    ):
        options = ["--out", str(target), *arguments] if "--out" not in arguments else arguments
        result = runner.invoke(cli, ["index", str(stores[0]), *options])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_the_api_serves_a_sharded_index_as_one(demo_corpus):
    """The HTTP API over the shards (searched in this process): search, GeoJSON, tile details and thumbnails as
    over the one index, and the shards' generations in /health."""
    _, whole, sharded = demo_corpus
    one, split = TestClient(create_app(Searcher(whole))), TestClient(create_app(open_local(sharded)))
    for params in ({"q": "storage tanks", "mode": "hybrid"}, {"q": "flooded farmland", "sensor": "s2"}):
        expected, found = one.get("/api/search", params=params).json(), split.get("/api/search", params=params).json()
        assert [h["id"] for h in found["hits"]] == [h["id"] for h in expected["hits"]] and "missing_shards" not in found
        assert found["facets"] == expected["facets"]
    tile = expected["hits"][0]["id"]
    assert split.get(f"/api/tiles/{tile}").json() == one.get(f"/api/tiles/{tile}").json()
    assert split.get("/api/tiles/no-such-tile").status_code == 404
    health = split.get("/health").json()
    assert health["tiles"] == one.get("/health").json()["tiles"] and [s["shard"] for s in health["shards"]] == [0, 1]
    assert split.get("/api/info").json()["counts"]["tiles"] == health["tiles"]


def test_shards_served_by_ray_serve_answer_as_one_index_and_survive_a_lost_replica(demo_corpus):
    """Two shards as Ray Serve deployments (two replicas each) on a local Ray, as `rsq serve --shards 2` starts
    them: the one index's results in every mode and filter; a killed replica's calls go to the other; a shard with
    no deployment left is named missing, in the answer and in the API's JSON."""
    ray = pytest.importorskip("ray")
    serve = pytest.importorskip("ray.serve")
    from rsq.serve.sharded import deploy_shards

    _, whole, sharded = demo_corpus
    try:
        router = deploy_shards(sharded, replicas=2)
        one = Searcher(whole)
        _same_answers(one, router, k=10)
        replicas = [a for a in ray.util.list_named_actors(all_namespaces=True) if "rsq-shard-00" in a["name"]]
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]), no_restart=True)
        query = SearchQuery("storage tanks", k=10, mode="hybrid")
        for _ in range(4):  # calls that Serve still routes to the dead replica are sent again
            result = router.answer(query)
            assert result.missing == [] and [h.id for h in result.hits] == [h.id for h in one.search(query)]
        serve.delete("rsq-shard-01")
        result = router.answer(query)
        assert result.missing == [1] and all(shard_of(h.id, 2) == 0 for h in result.hits)
        answer = TestClient(create_app(router)).get("/api/search", params={"q": "storage tanks"}).json()
        assert answer["missing_shards"] == [1] and answer["hits"]
    finally:
        serve.shutdown()
        ray.shutdown()
