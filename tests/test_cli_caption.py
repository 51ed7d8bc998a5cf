import json

import pytest
from typer.testing import CliRunner

from rsq.cli import app

runner = CliRunner()


@pytest.fixture()
def human_run(data_dir, tmp_path):
    out = tmp_path / "human"
    model = f"annotations:{data_dir}/ucm-captions/captions.jsonl"
    result = runner.invoke(
        app, ["caption", "data:ucm:test", "--model", model, "--out", str(out), "--data", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_export_jsonl_has_provenance_fields(human_run):
    result = runner.invoke(app, ["captions", "export", str(human_run)])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 210
    assert {
        "tile_id",
        "tile_path",
        "sensor",
        "model",
        "model_revision",
        "template",
        "prompt_hash",
        "params",
        "raw",
        "status",
        "error",
        "duration_s",
        "created_at",
        "run_id",
        "captions",
    } <= set(records[0])


def test_stats(human_run):
    result = runner.invoke(app, ["captions", "stats", str(human_run), "--json"])
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["status"] == "ok" and row["count"] == 210 and row["template"].startswith("human-captions@")


def test_stats_on_a_folder_without_a_store(tmp_path):
    result = runner.invoke(app, ["captions", "stats", str(tmp_path)])
    assert result.exit_code == 2 and "no caption store" in result.stderr


def test_dry_run_says_why_a_tile_cannot_be_read(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not a jpeg")
    result = runner.invoke(app, ["caption", str(tmp_path), "--dry-run", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"rsq: error: no readable tile to render a prompt for: a.jpg ({tmp_path / 'a.jpg'}): "
        f"not a readable image (cannot identify image file '{tmp_path / 'a.jpg'}')"
    )


def test_dry_run_prints_one_sar_prompt(data_dir, tmp_path):
    result = runner.invoke(
        app, ["caption", "data:sen1floods11:s1", "--dry-run", "--out", str(tmp_path / "x"), "--data", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "synthetic aperture radar" in result.stdout and "exactly 5" in result.stdout
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "clip:foo"], "SCHEME one of hf, vllm, openai, annotations"),
        (["--model", "annotations:x.jsonl", "--prompt", "structured"], "need an annotation template"),
        (["--model", "openai:http://h/v1#m", "--prompt", "labels"], "need a VLM template"),
        (["--prompt", "nope"], "no prompt template 'nope'"),
        (["--model", "openai:http://h/v1#m", "--backend-opt", "oops"], "KEY=VALUE"),
    ],
)
def test_bad_options_are_one_line_errors(data_dir, tmp_path, args, message):
    result = runner.invoke(
        app, ["caption", "data:sen1floods11", "--out", str(tmp_path), "--data", str(data_dir), *args]
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_prompts_commands(data_dir):
    listed = runner.invoke(app, ["prompts", "list"])
    assert "structured@" in listed.stdout and "human-captions@" in listed.stdout
    shown = runner.invoke(app, ["prompts", "show", "brief"])
    assert shown.stdout.startswith("---\nname: brief")
    rendered = runner.invoke(app, ["prompts", "render", "structured", "data:sen1floods11:s2", "--data", str(data_dir)])
    assert "Sentinel-2" in rendered.stdout and "2019-09-18" in rendered.stdout
    diff = runner.invoke(app, ["prompts", "diff", "brief", "structured"])
    assert diff.stdout.startswith("--- brief@") and "+name: structured" in diff.stdout


def test_models_list():
    result = runner.invoke(app, ["models", "list"])
    assert all(f"{scheme}:" in result.stdout for scheme in ("hf", "vllm", "openai", "annotations"))
    assert "rsq[vllm]" in result.stdout
