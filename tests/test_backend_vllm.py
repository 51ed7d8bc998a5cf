"""The vLLM backend against a fake `vllm` module: vLLM itself cannot run here (no GPU, no weights)."""

import sys
import types

import numpy as np
import pytest

from rsq.captioner.backends import make_backend
from rsq.captioner.records import CaptionRequest
from rsq.captioner.schema import output_schema
from rsq.errors import RsqError
from rsq.imagery import Sensor, Tile
from rsq.prompts import RenderedPrompt


@pytest.fixture()
def fake_vllm(monkeypatch):
    created = {}

    class LLM:
        def __init__(self, **kwargs):
            created["engine_kwargs"] = kwargs
            created["engine"] = self

        def chat(self, conversations, sampling_params, use_tqdm):
            created["chat"] = (conversations, sampling_params)
            output = types.SimpleNamespace(text='{"one_sentence": "fields"}')
            return [types.SimpleNamespace(outputs=[output]) for _ in conversations]

    class Params:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, Params
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = Params
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return created


def test_engine_and_requests(fake_vllm):
    backend = make_backend("vllm:Qwen/Qwen2-VL-2B-Instruct", tensor_parallel_size=2, max_model_len=4096)
    assert fake_vllm["engine_kwargs"] == {
        "model": "Qwen/Qwen2-VL-2B-Instruct", "revision": None, "tensor_parallel_size": 2, "max_model_len": 4096,
        "limit_mm_per_prompt": {"image": 1},
    }
    tile = Tile("t", "t.jpg", Sensor.RGB, ("red", "green", "blue"), (3, 8, 8), "uint8")
    request = CaptionRequest(
        tile, np.zeros((8, 8, 3), np.uint8), RenderedPrompt("describe", "h"), output_schema("brief"),
        {"temperature": 0.5, "max_new_tokens": 64, "variants": 1},
    )
    results = backend.caption_batch([request, request])
    assert [r.raw for r in results] == ['{"one_sentence": "fields"}'] * 2
    conversations, params = fake_vllm["chat"]
    assert len(conversations) == 2
    image, text = conversations[0][0]["content"]
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,") and text["text"] == "describe"
    assert params.kwargs["temperature"] == 0.5 and params.kwargs["max_tokens"] == 64
    assert params.kwargs["structured_outputs"].kwargs == {"json": output_schema("brief")}


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(RsqError, match=r"install rsq\[vllm\]"):
        make_backend("vllm:some/model")
