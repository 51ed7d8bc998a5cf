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
    """A `vllm` module whose classes take exactly the keywords vLLM's own do (vllm/entrypoints/llm.py `LLM.__init__`
    and `LLM.chat`, vllm/sampling_params.py `SamplingParams`, `StructuredOutputsParams`, vLLM 0.11), the engine
    arguments rsq may set among them: a keyword vLLM does not know fails here as it would there."""
    created = {}

    class LLM:
        def __init__(
            self,
            model,
            *,
            tokenizer=None,
            trust_remote_code=False,
            tensor_parallel_size=1,
            dtype="auto",
            revision=None,
            seed=None,
            gpu_memory_utilization=0.9,
            max_model_len=None,
            limit_mm_per_prompt=None,
            enforce_eager=False,
        ):
            created["engine_kwargs"] = {
                "model": model,
                "revision": revision,
                "tensor_parallel_size": tensor_parallel_size,
                "max_model_len": max_model_len,
                "limit_mm_per_prompt": limit_mm_per_prompt,
            }

        def chat(
            self,
            messages,
            sampling_params=None,
            use_tqdm=True,
            lora_request=None,
            chat_template=None,
            chat_template_content_format="auto",
            add_generation_prompt=True,
            continue_final_message=False,
            tools=None,
            chat_template_kwargs=None,
            mm_processor_kwargs=None,
        ):
            assert all(isinstance(m, list) and all({"role", "content"} <= set(turn) for turn in m) for m in messages)
            created["chat"] = (messages, sampling_params)
            output = types.SimpleNamespace(text='{"one_sentence": "fields"}')
            return [types.SimpleNamespace(outputs=[output]) for _ in messages]

    class SamplingParams:
        def __init__(
            self,
            *,
            n=1,
            presence_penalty=0.0,
            frequency_penalty=0.0,
            repetition_penalty=1.0,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            min_p=0.0,
            seed=None,
            stop=None,
            max_tokens=16,
            min_tokens=0,
            structured_outputs=None,
        ):
            self.kwargs = {
                "temperature": temperature,
                "top_p": top_p,
                "max_tokens": max_tokens,
                "seed": seed,
                "structured_outputs": structured_outputs,
            }

    class StructuredOutputsParams:
        def __init__(
            self,
            *,
            json=None,
            regex=None,
            choice=None,
            grammar=None,
            json_object=None,
            disable_fallback=False,
            whitespace_pattern=None,
            structural_tag=None,
        ):
            self.kwargs = {
                k: v for k, v in {"json": json, "regex": regex, "choice": choice, "grammar": grammar}.items() if v
            }

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = StructuredOutputsParams
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    return created


def test_engine_and_requests(fake_vllm):
    backend = make_backend("vllm:Qwen/Qwen2-VL-2B-Instruct", tensor_parallel_size=2, max_model_len=4096)
    assert fake_vllm["engine_kwargs"] == {
        "model": "Qwen/Qwen2-VL-2B-Instruct",
        "revision": None,
        "tensor_parallel_size": 2,
        "max_model_len": 4096,
        "limit_mm_per_prompt": {"image": 1},
    }
    tile = Tile("t", "t.jpg", Sensor.RGB, ("red", "green", "blue"), (3, 8, 8), "uint8")
    request = CaptionRequest(
        tile,
        np.zeros((8, 8, 3), np.uint8),
        RenderedPrompt("describe", "h"),
        output_schema("brief"),
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
