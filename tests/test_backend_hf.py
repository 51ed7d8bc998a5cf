"""The hf backend through the real transformers code path, on tiny random VLMs built here."""

import pytest
from typer.testing import CliRunner

from rsq.captioner.schema import parse_captions
from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.landcover import corine

from tiny_vlm import BUILDERS

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    return {name: build(tmp_path_factory.mktemp(name)) for name, build in BUILDERS.items()}


@pytest.mark.parametrize("arch", ["llava", "qwen2vl"])
def test_caption_cli_on_ucm_and_sentinel_tiles(arch, tiny_models, data_dir, tmp_path):
    out = tmp_path / "run"
    args = [
        "caption",
        "data:sen1floods11",
        "data:ucm:test",
        "--limit",
        "22",
        "--model",
        f"hf:{tiny_models[arch]}",
        "--prompt",
        "brief",
        "--batch-size",
        "8",
        "--max-new-tokens",
        "400",
        "--data",
        str(data_dir),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = list(CaptionStore(out).records())
    assert len(records) == 22 and {r.sensor for r in records} == {"s1", "s2", "rgb"}
    for record in records:
        assert record.status == "ok", record.error
        assert parse_captions(record.raw).variants[0].one_sentence
        assert record.model == f"hf:{tiny_models[arch]}" and record.model_revision.startswith("local:")
        assert record.template.startswith("brief@") and len(record.prompt_hash) == 12
        assert record.params["max_new_tokens"] == 400 and record.duration_s > 0
    assert len({r.prompt_hash for r in records}) >= 3  # SAR, S2 and optical prompts differ


def test_structured_multi_variant_output(tiny_models, data_dir, tmp_path):
    out = tmp_path / "run"
    args = [
        "caption",
        "data:sen1floods11:s1",
        "--model",
        f"hf:{tiny_models['qwen2vl']}",
        "--variants",
        "2",
        "--max-new-tokens",
        "3000",
        "--temperature",
        "0.8",
        "--seed",
        "3",
        "--data",
        str(data_dir),
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [record] = CaptionStore(out).records()
    assert record.status == "ok", record.error
    assert len(record.captions["variants"]) == 2 and record.template.startswith("structured@")
    assert corine().path_code(record.captions["land_cover_path"])  # the grammar lets random weights write real paths
