import numpy as np
import pytest

from rsq.captioner.backends import make_backend
from rsq.captioner.records import CaptionRequest
from rsq.captioner.schema import output_schema, parse_captions
from rsq.errors import RsqError
from rsq.imagery import Sensor, Tile
from rsq.prompts import RenderedPrompt

from chat_server import chat_server, echo_captions


def _requests(n):
    tile = Tile("t", "t.jpg", Sensor.RGB, ("red", "green", "blue"), (3, 16, 16), "uint8")
    image = np.full((16, 16, 3), 120, dtype=np.uint8)
    params = {"temperature": 0.3, "max_new_tokens": 99, "variants": 1, "seed": 7}
    return [
        CaptionRequest(tile, image, RenderedPrompt(f"describe {i}", "h"), output_schema("brief"), params)
        for i in range(n)
    ]


def test_sends_images_schema_and_params_concurrently(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with chat_server() as server:
        backend = make_backend(f"openai:{server['url']}#tiny-vlm", concurrency=3)
        results = backend.caption_batch(_requests(5))
    assert all(parse_captions(r.raw).variants[0].one_sentence.startswith("an image of") for r in results)
    request = server["requests"][0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "tiny-vlm" and body["temperature"] == 0.3 and body["max_tokens"] == 99 and body["seed"] == 7
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == output_schema("brief")
    image, text = body["messages"][0]["content"]
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert text["text"].startswith("describe")


def test_http_500_is_retried_with_backoff():
    def flaky(request, call):
        return (500, {"error": "overloaded"}, 0.0) if call <= 2 else echo_captions(request, call)

    with chat_server(flaky) as server:
        backend = make_backend(f"openai:{server['url']}#m", retries=3, backoff_s=0.01)
        [result] = backend.caption_batch(_requests(1))
    assert result.error is None and len(server["requests"]) == 3 and result.attempts == 3


def test_persistent_500_becomes_a_recorded_error():
    with chat_server(lambda request, call: (500, {"error": "down"}, 0.0)) as server:
        backend = make_backend(f"openai:{server['url']}#m", retries=2, backoff_s=0.01)
        [result] = backend.caption_batch(_requests(1))
    assert (
        result.raw is None
        and "HTTP 500" in result.error
        and "after 3 attempts" in result.error
        and result.attempts == 3
    )


def test_timeout_is_retried_then_reported():
    def slow(request, call):
        return 200, {"choices": [{"message": {"content": "{}"}}]}, 0.6

    with chat_server(slow) as server:
        backend = make_backend(f"openai:{server['url']}#m", timeout_s=0.2, retries=1, backoff_s=0.01)
        [result] = backend.caption_batch(_requests(1))
    assert result.raw is None and "timed out" in result.error and len(server["requests"]) == 2


def test_client_errors_are_not_retried():
    with chat_server(lambda request, call: (400, {"error": "bad schema"}, 0.0)) as server:
        [result] = make_backend(f"openai:{server['url']}#m", backoff_s=0.01).caption_batch(_requests(1))
    assert "HTTP 400" in result.error and len(server["requests"]) == 1


def test_bad_spec():
    with pytest.raises(RsqError, match="openai:<base url>#<model>"):
        make_backend("openai:localhost:8000")


def test_the_data_url_keeps_the_whole_vlm_view():
    """The view is read at up to VIEW_SIDE (1,344 px); the data URL must not shrink it again."""
    import base64
    import io

    from PIL import Image

    from rsq.captioner.backends.messages import image_data_url
    from rsq.captioner.reading import VIEW_SIDE

    view = np.random.default_rng(0).integers(0, 255, (1000, VIEW_SIDE, 3), dtype=np.uint8)
    url = image_data_url(view)
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert image.size == (VIEW_SIDE, 1000)
