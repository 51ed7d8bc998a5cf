"""`vllm:` on Ray through `ray.data.llm`: the processor configuration built against the installed Ray API, and the
row functions that feed it and read it back. vLLM itself cannot run here (no GPU, not installable)."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rsq.captioner.job import CaptionJob
from rsq.captioner.ray_llm import chat_row, engine_config, record_row
from rsq.captioner.ray_rows import render_rows
from rsq.captioner.reading import prepare_request
from rsq.captioner.records import CaptionRecord
from rsq.cli import app
from rsq.errors import RsqError
from rsq.imagery import Tile, read_tile
from rsq.prompts import load_template
from rsq.raycluster import ActorPlan

from fakes import FakeBackend

ray = pytest.importorskip("ray")
llm = pytest.importorskip("ray.data.llm")

MODEL = "Qwen/Qwen2-VL-2B-Instruct"


@pytest.fixture()
def job():
    return CaptionJob(load_template("structured"), variants=3, params={"max_new_tokens": 300}, batch_size=4)


@pytest.fixture()
def rendered(data_dir, job):
    tiles = [read_tile(data_dir / "ucm-captions" / "images" / f"{k}.jpg", str(k)) for k in (1, 1001)]
    tiles.append(Tile.from_dict({**tiles[0].to_dict(), "id": "gone", "path": "/nowhere/gone.jpg"}))
    batch = render_rows({"tile": [json.dumps(t.to_dict()) for t in tiles]}, needs_image=True)
    return [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)], tiles


def test_the_processor_is_built_on_the_installed_ray_data_llm(job, monkeypatch):
    """Engine replicas = the actor plan, tensor parallel = GPUs per replica, multimodal preparation on, errors per
    row."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # build_processor looks the model's config up for telemetry only
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for plan, tensor_parallel in ((ActorPlan(2, 1.0), 1), (ActorPlan(1, 2.0), 2)):
            config = engine_config(MODEL, {"max_model_len": 4096}, plan, job)
            assert isinstance(config, llm.vLLMEngineProcessorConfig) and config.should_continue_on_error
            assert config.engine_kwargs == {
                "tensor_parallel_size": tensor_parallel,
                "limit_mm_per_prompt": {"image": 1},
                "max_model_len": 4096,
                "task_type": "generate",
            }
            processor = llm.build_processor(config, preprocess=lambda row: row, postprocess=lambda row: row)
            stages = processor.stages
            assert list(stages) == [
                "PrepareMultimodalStage",
                "ChatTemplateStage",
                "TokenizeStage",
                "vLLMEngineStage",
                "DetokenizeStage",
            ]
            engine = stages["vLLMEngineStage"].map_batches_kwargs
            gpus = (
                engine["ray_remote_args_fn"].args[0] if tensor_parallel > 1 else engine["num_gpus"]
            )  # > 1: a placement group
            assert gpus == tensor_parallel and engine["compute"].max_size == plan.actors
    finally:
        ray.shutdown()


@pytest.mark.parametrize(
    ("gpus", "options", "message"),
    [
        (0.5, {}, "whole GPUs"),
        (2.0, {"tensor_parallel_size": 4}, "disagrees"),
    ],
)
def test_replicas_need_whole_gpus_that_agree_with_the_backend(job, gpus, options, message):
    with pytest.raises(RsqError, match=message):
        engine_config(MODEL, options, ActorPlan(1, gpus), job)


def test_chat_rows_carry_the_view_the_prompt_and_the_schema(rendered, job):
    rows, tiles = rendered
    chat = chat_row(rows[0], job)
    image_part, text_part = chat["messages"][0]["content"]
    view = np.asarray(Image.open(io.BytesIO(base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1]))))
    expected = prepare_request(tiles[0], job, needs_image=True)
    assert (
        view.shape == expected.image.shape and np.abs(view.astype(float) - expected.image).mean() < 2.0
    )  # JPEG, quality 95
    assert text_part["text"] == expected.prompt.text
    assert chat["sampling_params"]["structured_outputs"] == {"json": job.schema}
    assert (
        chat["sampling_params"]["max_tokens"] == 300
        and chat["sampling_params"]["temperature"] == job.generation_params["temperature"]
    )
    json.dumps(chat["sampling_params"])  # plain values, as Ray rows carry them
    unreadable = chat_row(rows[2], job)
    assert unreadable["error"] and unreadable["sampling_params"] == {"max_tokens": 1}


def test_generated_text_becomes_validated_records(rendered, job):
    rows, tiles = rendered
    good = FakeBackend().caption_batch([prepare_request(tiles[1], job, needs_image=True)])[0].raw
    spec = f"vllm:{MODEL}"
    outputs = [
        {**chat_row(rows[1], job), "generated_text": good},
        {**chat_row(rows[0], job), "generated_text": '{"captions": ['},
        {**chat_row(rows[0], job), "generated_text": "", "__inference_error__": "CUDA out of memory"},
        {**chat_row(rows[2], job), "generated_text": "x"},
    ]
    records = [CaptionRecord(**json.loads(record_row(row, job, spec, "main")["record"])) for row in outputs]
    assert [r.status for r in records] == ["ok", "failed", "failed", "failed"]
    assert records[0].tile_id == "1001" and records[0].model == spec and records[0].captions
    assert records[0].prompt_hash == prepare_request(tiles[1], job, needs_image=True).prompt.hash
    assert "CUDA out of memory" in records[2].error and records[3].error.startswith("unreadable tile")


def test_vllm_on_ray_without_vllm_is_one_line_before_any_tile(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        result = CliRunner().invoke(
            app,
            [
                "caption",
                "data:ucm:test",
                "--model",
                f"vllm:{MODEL}",
                "--engine",
                "ray",
                "--data",
                str(data_dir),
                "--out",
                str(tmp_path / "run"),
                "--limit",
                "4",
            ],
        )
    finally:
        ray.shutdown()
    assert (
        result.exit_code == 2 and "needs vllm where the job runs" in result.output and "Traceback" not in result.output
    )
