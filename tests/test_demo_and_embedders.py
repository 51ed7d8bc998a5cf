import pytest
from cli_output import hit_records
from typer.testing import CliRunner

from rsq.cli import app
from rsq.query import Searcher, SearchQuery
from rsq.textindex.build import BuildOptions, build_index


def test_onnx_int8_embedder_ranks_like_the_torch_model(ucm_human_store, ucm_index, tmp_path):
    out = tmp_path / "onnx"
    manifest = build_index(
        [ucm_human_store], out, BuildOptions(embedder="onnx-int8:all-MiniLM-L6-v2", thumbnails=False)
    ).manifest
    assert manifest.embedder == "onnx-int8:all-MiniLM-L6-v2" and manifest.dim == 384
    onnx, torch_index = Searcher(out), Searcher(ucm_index)
    for text in ("planes parked at an airport", "a river through a forest"):
        query = SearchQuery(text, k=10, mode="dense")
        onnx_ids = [h.id for h in onnx.search(query)]
        torch_ids = [h.id for h in torch_index.search(query)]
        assert len(set(onnx_ids) & set(torch_ids)) >= 7


@pytest.mark.slow
def test_demo_builds_the_default_index(data_dir, tmp_path, monkeypatch):
    """`rsq demo` as `make demo` runs it: the default embedder (all-mpnet-base-v2), not the suite's small one."""
    monkeypatch.setenv("RSQ_HOME", str(tmp_path))
    monkeypatch.delenv("RSQ_EMBEDDER", raising=False)
    result = CliRunner().invoke(app, ["demo", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "flooded farmland" in result.stdout and "storage tank" in result.stdout
    index = Searcher()
    assert index.manifest.embedder == "st:sentence-transformers/all-mpnet-base-v2" and index.manifest.dim == 768
    flooded = [h.id for h in index.search(SearchQuery("flooded farmland", k=2))]
    assert sorted(flooded) == ["Spain_7370579_S1Hand", "Spain_7370579_S2Hand"]
    plain = CliRunner().invoke(app, ["search", "storage tanks near a harbour", "--json", "--k", "3"])
    assert plain.exit_code == 0, plain.output
    artificial = CliRunner().invoke(app, ["search", "flooded farmland", "--class", "Artificial surfaces", "--json"])
    hits = hit_records(artificial.stdout)
    assert len(hits) == 10 and all(h["land_cover"][0] == "Artificial surfaces" for h in hits)
    assert not {h["id"] for h in hits} & set(flooded)  # the flood chips are Water bodies
