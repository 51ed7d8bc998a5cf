import json

import pytest
from cli_output import hit_records
from typer.testing import CliRunner

from rsq.cli import app
from rsq.errors import RsqError
from rsq.query import Searcher, SearchQuery

runner = CliRunner()


@pytest.fixture(scope="module")
def index(ucm_index):
    return Searcher(ucm_index)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("baseball field", "baseballdiamond"),
        ("planes parked at an airport", "airplane"),
        ("storage tanks", "storagetanks"),
        ("tennis court", "tenniscourt"),
        ("a beach with waves", "beach"),
    ],
)
@pytest.mark.parametrize("mode, fusion", [("bm25", "rrf"), ("dense", "rrf"), ("hybrid", "rrf"), ("hybrid", "weighted")])
def test_expected_class_comes_first(index, query, expected, mode, fusion):
    hits = index.search(SearchQuery(query, k=5, mode=mode, fusion=fusion))
    assert index.tile(hits[0].id).meta["class"] == expected
    assert sum(index.tile(h.id).meta["class"] == expected for h in hits) >= 4


def test_hits_explain_which_variant_matched(index):
    [hit] = index.search(SearchQuery("many planes parked at the airport", k=1))
    assert set(hit.matched) == {"bm25", "dense"} and hit.ranks["bm25"] >= 1 and hit.ranks["dense"] >= 1
    assert hit.caption in {m["snippet"] for m in hit.matched.values()}
    assert hit.scores["bm25"] > 0 and 0 < hit.scores["dense"] <= 1 and hit.scores["fused"] == hit.score


def test_manifest_records_provenance(index):
    manifest = index.manifest
    assert manifest.embedder == "st:sentence-transformers/all-MiniLM-L6-v2" and manifest.dim == 384
    assert manifest.counts == {"tiles": 2100, "variants": 10500, "dead_variants": 0}
    assert manifest.faiss == "auto" and manifest.templates[0].startswith("human-captions@")
    assert manifest.caption_runs[0]["model"].startswith("annotations:")


def test_cli_json_lines(ucm_index):
    result = runner.invoke(app, ["search", "baseball field", "--index", str(ucm_index), "--json", "--k", "3"])
    assert result.exit_code == 0, result.output
    *records, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert set(records[0]) == {"rank", "id", "score", "path", "sensor", "caption", "land_cover", "scores"}
    assert records[0]["land_cover"][-1] == "Sport and leisure facilities"  # UCM's class, mapped onto CORINE
    assert summary["summary"]["facets"]["land_cover"]["hits"] == 3
    assert records[0]["path"].endswith(f"images/{records[0]['id']}.jpg")  # ids are the UCM caption ids
    assert set(records[0]["scores"]) == {"bm25", "dense", "fused"}


def test_cli_explain_and_table(ucm_index):
    explained = runner.invoke(
        app, ["search", "tennis court", "--index", str(ucm_index), "--json", "--explain", "--mode", "dense"]
    )
    record = hit_records(explained.stdout)[0]
    assert record["ranks"] == {"dense": 1} and record["matched"]["dense"]["snippet"] == record["caption"]
    table = runner.invoke(app, ["search", "tennis court", "--index", str(ucm_index), "--explain"])
    assert table.exit_code == 0 and "tennis" in table.stdout.lower() and "rank per mode" in table.stdout


def test_queries_file(ucm_index, tmp_path):
    text = tmp_path / "q.txt"
    text.write_text("baseball field\n\nstorage tanks\n")
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"query": "a river"}\n{"query": "golf course"}\n')
    for path, queries in ((text, ["baseball field", "storage tanks"]), (jsonl, ["a river", "golf course"])):
        result = runner.invoke(app, ["search", "--queries", str(path), "--index", str(ucm_index), "--k", "2"])
        assert result.exit_code == 0, result.output
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["query"] for r in records] == [q for q in queries for _ in range(3)]  # 2 hits, then the summary
        assert ["summary" in r for r in records] == [False, False, True] * 2


ADVERSARIAL = [
    '"unbalanced quote',
    "title:field AND",
    "(a OR b) AND NOT c",
    "[1 TO 5] {x}",
    "baseball^3 field~2",
    "ünïcödé 飞机 مطار",
    "plane " * 2000,
    "a\x00b\tc\nd",
    "-field +court",
    "*",
    "\\",
]


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_any_user_text_is_safe(ucm_index, text):
    result = runner.invoke(app, ["search", "--index", str(ucm_index), "--json", "--", text])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.stderr.startswith("rsq: error: empty query")


@pytest.mark.parametrize("text", ["", "   ", "!!! ??? ..."])
def test_empty_query_gets_a_clear_message(ucm_index, text):
    result = runner.invoke(app, ["search", text, "--index", str(ucm_index)])
    assert result.exit_code == 2 and "empty query" in result.stderr


def test_embedder_mismatch_is_refused(ucm_index, ucm_human_store):
    with pytest.raises(RsqError, match="was built with st:sentence-transformers/all-MiniLM-L6-v2"):
        Searcher(ucm_index, embedder="onnx-int8:all-MiniLM-L6-v2")
    result = runner.invoke(
        app, ["index", str(ucm_human_store), "--out", str(ucm_index), "--embedder", "st:other/model"]
    )
    assert result.exit_code == 2 and "--rebuild" in result.stderr


def test_missing_index_and_bad_options(tmp_path, ucm_index):
    assert "no index at" in runner.invoke(app, ["search", "x", "--index", str(tmp_path)]).stderr
    assert "--mode must be" in runner.invoke(app, ["search", "x", "--index", str(ucm_index), "--mode", "magic"]).stderr
    assert (
        "--alpha must"
        in runner.invoke(app, ["search", "x", "--index", str(ucm_index), "--fusion", "weighted", "--alpha", "2"]).stderr
    )


def test_filters_exclude_tiles_without_the_facts(index):
    assert index.search(SearchQuery("baseball field", filters=_filters(sensor="s1"))) == []
    assert index.search(SearchQuery("baseball field", filters=_filters(near="0,0,100"))) == []


def _filters(**kwargs):
    from rsq.query import parse_filters

    return parse_filters(**kwargs)


def test_highlight_spans_mark_the_words_bm25_matched():
    from rsq.commands.search import highlight
    from rsq.query.highlight import highlight_spans

    caption = "Flooded farmland beside a river; the floods reach the fields."
    spans = highlight_spans(caption, "flooded fields in the river")  # as BM25 matches: stems, no stop words
    assert [caption[a:b] for a, b in spans] == ["Flooded", "river", "floods", "fields"]
    assert highlight_spans(caption, "the a an") == [] and highlight_spans("", "flood") == []
    assert (
        highlight(caption, "river") == "Flooded farmland beside a [bold yellow]river[/]; the floods reach the fields."
    )


def test_a_filter_adds_no_tile_that_holds_none_of_the_words(index):
    """A filter every tile passes changes nothing: BM25 still returns only the tiles whose captions hold a query
    word, not every filtered tile at score 0 after them."""
    everything = SearchQuery("baseball diamond", k=1000, mode="bm25")
    filtered = SearchQuery("baseball diamond", k=1000, mode="bm25", filters=_filters(sensor="rgb"))
    plain = [(h.id, h.score) for h in index.search(everything)]
    assert 0 < len(plain) < 1000 and all(score > 0 for _, score in plain)
    assert [(h.id, h.score) for h in index.search(filtered)] == plain
