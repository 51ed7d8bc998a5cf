"""A loopback HTTP file server with byte ranges, as object stores answer GDAL's /vsicurl/ and path-style /vsis3/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@contextmanager
def serve_folder(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `root` on a free loopback port; yields (base URL, log of "METHOD path range" lines)."""
    log: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = root / unquote(urlsplit(self.path).path).lstrip("/")
            log.append(f"{self.command} {self.path} {self.headers.get('Range', '')}")
            if not path.is_file() or root.resolve() not in path.resolve().parents:
                self.send_error(404)
                return
            data = path.read_bytes()
            start, end, status = 0, len(data) - 1, 200
            if (ranged := self.headers.get("Range", "")).startswith("bytes="):
                first, _, last = ranged.removeprefix("bytes=").partition("-")
                start, end, status = int(first), min(int(last or len(data) - 1), len(data) - 1), 206
            self.send_response(status)
            self.send_header("Content-Length", str(end - start + 1))
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if body:
                self.wfile.write(data[start : end + 1])

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", log
    finally:
        server.shutdown()
        server.server_close()
