"""`--class`: the CORINE land-cover filter at every level in bm25, dense and hybrid, each hit's path, and facet
counts, against the 2,100 UCM tiles whose labels are mapped onto CORINE (image mode: test_closp_pipeline)."""

from collections import Counter

import pytest
from cli_output import hit_records, summaries
from typer.testing import CliRunner

from rsq.cli import app
from rsq.landcover import corine
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.query.facets import land_cover_facets

runner = CliRunner()


@pytest.fixture(scope="module")
def index(ucm_index):
    return Searcher(ucm_index)


def _ucm_code(index, tile_id: str) -> str:
    return corine().mapped("ucm", index.tile(tile_id).meta["class"])[-1].code


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
@pytest.mark.parametrize("wanted, code", [("Artificial surfaces", "1"), ("Forests", "31"), ("124", "124")])
def test_a_class_at_any_level_keeps_only_its_tiles(index, mode, wanted, code):
    hits = index.search(
        SearchQuery("a green area beside buildings", k=200, mode=mode, filters=parse_filters(land_cover=wanted))
    )
    assert hits and all(_ucm_code(index, h.id).startswith(code) for h in hits)
    assert all(corine().path_code(h.land_cover).startswith(code) for h in hits)


def test_dense_finds_every_tile_of_the_class(index):
    """Dense scores every tile, so with k large enough the filter's answer is the whole class: UCM's airplane and
    runway tiles (Airports, 124) and, for level 2 `Urban fabric`, its five residential and building classes."""
    counts = Counter(corine().mapped("ucm", index.tile(str(n)).meta["class"])[-1].code for n in range(1, 2101))
    for wanted, codes in (("Airports", {"124"}), ("11", {"111", "112"})):
        hits = index.search(SearchQuery("x", k=1000, mode="dense", filters=parse_filters(land_cover=wanted)))
        assert len(hits) == sum(counts[c] for c in codes)


def test_each_hit_names_its_path_and_facets_count_the_hits(index):
    hits = index.search(SearchQuery("planes parked at an airport", k=40))
    assert hits[0].land_cover == ["Artificial surfaces", "Industrial, commercial and transport units", "Airports"]
    facets = land_cover_facets(hits)
    for level in facets["levels"]:
        expected = Counter(corine().path_code(h.land_cover)[: level["level"]] for h in hits if h.land_cover)
        expected = {c: n for c, n in expected.items() if len(c) == level["level"]}
        assert {c["code"]: c["count"] for c in level["classes"]} == expected
    assert facets["hits"] == 40 and facets["unclassified"] == 0


def test_the_cli_filters_prints_paths_and_a_summary(ucm_index):
    args = ["search", "trees", "--index", str(ucm_index), "--json", "--k", "20", "--class", "Artificial surfaces"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    hits, [summary] = hit_records(result.stdout), summaries(result.stdout)
    assert len(hits) == 20 and all(h["land_cover"][0] == "Artificial surfaces" for h in hits)
    assert summary["facets"]["land_cover"]["levels"][0]["classes"] == [
        {"code": "1", "name": "Artificial surfaces", "count": 20}
    ]


@pytest.mark.parametrize(
    "wanted, says", [("Artifical surface", "did you mean 'Artificial surfaces'"), ("999", "is not a CORINE")]
)
def test_an_unknown_class_is_one_line_with_the_nearest(ucm_index, wanted, says):
    result = runner.invoke(app, ["search", "trees", "--index", str(ucm_index), "--class", wanted])
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output
    assert result.output.count("\n") <= 2 and "--class" in result.output
