import json

import pytest
from PIL import Image
from typer.testing import CliRunner

from rsq.cli import app
from rsq.eval.benchmarks import EvalOptions, run_benchmark

runner = CliRunner()


@pytest.mark.parametrize("bench, limit", [("rsitmd-t2t", 40), ("rsicd-t2t", 30), ("ucm-t2i", 40), ("ucm-class", 300)])
def test_benchmarks_write_json_markdown_and_png(bench, limit, data_dir, tmp_path):
    out = tmp_path / bench
    result = runner.invoke(
        app, ["eval", bench, "--limit", str(limit), "--alphas", "0,0.5,1", "--out", str(out), "--data", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["benchmark"] == bench and results["protocol"]
    assert {"bm25", "dense", "hybrid", "hybrid_rrf", "hybrid_weighted@0.5"} <= set(results["modes"])
    assert results["config"]["embedder"].startswith("st:") and results["config"]["index_manifest"]["caption_runs"]
    metrics = results["modes"]["hybrid"]
    expected = {"nDCG@10", "mAP", "WAP@10"} if bench == "ucm-class" else {"R@1", "R@5", "R@10", "mR"}
    assert set(metrics) == expected and all(0 <= v <= 100 for v in metrics.values())
    # at the ends of the sweep weighted fusion ranks the top 10 as the single mode does
    for alpha, mode in (("0.0", "bm25"), ("1.0", "dense")) if bench != "ucm-class" else ():
        assert results["modes"][f"hybrid_weighted@{alpha}"] == pytest.approx(results["modes"][mode], abs=1.0)
    assert "| mode |" in (out / "results.md").read_text()
    assert Image.open(out / "results.png").size[0] > 600


def test_ucm_t2i_with_human_captions_is_leave_one_out_and_a_vlm_run_is_not(data_dir, tmp_path):
    human = run_benchmark("ucm-t2i", EvalOptions(data=data_dir, limit=30, alphas=(0.5,)))
    assert human["protocol"].startswith("leave-one-out")
    store = tmp_path / "other"
    captions = tmp_path / "paraphrase.jsonl"
    from rsq.sources import ucm_captions

    items = ucm_captions(data_dir, "test")[:30]
    captions.write_text("".join(json.dumps({"id": i.id, "captions": [f"a {i.label} scene"]}) + "\n" for i in items))
    from conftest import import_annotations

    manifest = tmp_path / "tiles.jsonl"
    manifest.write_text("".join(json.dumps({"id": i.id, "path": str(i.path)}) + "\n" for i in items))
    import_annotations(str(manifest), captions, store, data_dir)
    other = run_benchmark("ucm-t2i", EvalOptions(data=data_dir, captions=store, limit=30, alphas=(0.5,)))
    assert other["protocol"].startswith("full") and other["config"]["captions"] == str(store)


def test_compare_two_runs(data_dir, tmp_path):
    for name, alphas in (("a", "0,1"), ("b", "0.5")):
        args = [
            "eval",
            "rsitmd-t2t",
            "--limit",
            "20",
            "--alphas",
            alphas,
            "--out",
            str(tmp_path / name),
            "--data",
            str(data_dir),
        ]
        assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["mode"] for r in rows} == {"bm25", "dense", "hybrid", "hybrid_rrf"}  # only modes both runs have
    assert all(r["delta"] == pytest.approx(r["b"] - r["a"]) for r in rows)
    table = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert "B - A" in table.stdout


def test_compare_refuses_different_benchmarks(tmp_path):
    for name, bench in (("a", "ucm-t2i"), ("b", "ucm-class")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"benchmark": bench, "modes": {}}))
    result = runner.invoke(app, ["eval", "compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 2 and "cannot compare" in result.stderr
