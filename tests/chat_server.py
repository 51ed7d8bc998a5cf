"""A real OpenAI-compatible chat-completions server on loopback, for backend tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[[dict[str, Any], int], tuple[int, Any, float]]  # (request, n-th call) -> (status, body, delay s)


def echo_captions(request: dict[str, Any], call: int) -> tuple[int, Any, float]:
    """Answers with captions that mention the size of the image it was sent."""
    url = request["messages"][0]["content"][0]["image_url"]["url"]
    content = json.dumps({"variants": [{"one_sentence": f"an image of {len(url)} url bytes"}]})
    return 200, {"choices": [{"message": {"role": "assistant", "content": content}}]}, 0.0


@contextmanager
def chat_server(behaviour: Behaviour = echo_captions) -> Iterator[dict[str, Any]]:
    """Serve until the block ends; yields {"url": base url, "requests": [...]} to inspect."""
    state: dict[str, Any] = {"requests": []}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state["requests"].append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                call = len(state["requests"])
            status, payload, delay = behaviour(body, call)
            time.sleep(delay)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
