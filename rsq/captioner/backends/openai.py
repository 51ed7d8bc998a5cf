"""`openai:<base url>#<model>`: any OpenAI-compatible chat-completions server (vllm serve, llama.cpp, Ollama).

Images go as base64 data URLs, output is held to the schema with `response_format: json_schema`,
requests run concurrently, and each one has a timeout and retries with exponential backoff.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from rsq.captioner.backends.messages import chat_messages
from rsq.captioner.records import CaptionRequest, CaptionResult
from rsq.errors import RsqError

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAIBackend:
    """Chat completions over HTTP; `OPENAI_API_KEY` is sent as a bearer token when set."""

    needs_image = True

    def __init__(
        self,
        target: str,
        concurrency: int = 4,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        api_key: str | None = None,
    ) -> None:
        import httpx

        base_url, sep, model = target.partition("#")
        if not sep or not model or not base_url.startswith(("http://", "https://")):
            raise RsqError(
                "openai spec must be openai:<base url>#<model>, e.g. "
                f"openai:http://localhost:8000/v1#Qwen/Qwen2-VL-2B-Instruct (got {target!r})"
            )
        self.spec = f"openai:{target}"
        self.revision = model
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.concurrency, self.retries, self.backoff_s = concurrency, retries, backoff_s
        key = api_key or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def caption_batch(self, requests: list[CaptionRequest]) -> list[CaptionResult]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._caption, requests))

    def request_body(self, request: CaptionRequest) -> dict[str, Any]:
        """The chat-completions payload for one tile."""
        params = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(request, inline_image=True),
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "rsq_captions", "schema": request.schema, "strict": True},
            },
            "temperature": float(params.get("temperature", 0.0)),
            "max_tokens": int(params.get("max_new_tokens", 512)),
        }
        for key in ("top_p", "seed"):
            if params.get(key) is not None:
                body[key] = params[key]
        return body

    def _caption(self, request: CaptionRequest) -> CaptionResult:
        import httpx

        body = self.request_body(request)
        error = "no attempt made"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException:
                error = f"timed out after {self._client.timeout.read}s"
                continue
            except httpx.TransportError as failure:
                error = f"connection failed: {failure}"
                continue
            if response.status_code in RETRY_STATUS:
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            return replace(_parse_response(response), attempts=attempt + 1)
        return CaptionResult(raw=None, error=f"{error} (after {self.retries + 1} attempts)", attempts=self.retries + 1)


def _parse_response(response: Any) -> CaptionResult:
    if response.status_code != 200:
        return CaptionResult(raw=None, error=f"HTTP {response.status_code}: {response.text[:200]}")
    try:
        return CaptionResult(raw=response.json()["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return CaptionResult(raw=None, error=f"unexpected response: {response.text[:200]}")
