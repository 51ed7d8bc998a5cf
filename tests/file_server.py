"""A loopback HTTP file server with byte ranges, as object stores answer GDAL's /vsicurl/ and path-style /vsis3/.

It runs in a process of its own, as a real object store would: in the test's process its threads would wait for
the GIL that a GDAL read may hold, and that read would wait on them until curl gave up (30 s without a byte).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from urllib.parse import unquote, urlsplit


@contextmanager
def serve_folder(root: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve `root` on a free loopback port; yields (base URL, log of "METHOD path range" lines, complete once the
    block ends)."""
    log: list[str] = []
    context = multiprocessing.get_context("spawn")
    with TemporaryDirectory() as folder:
        log_file = Path(folder) / "requests.log"
        ports = context.Queue()
        server = context.Process(target=_serve, args=(root, log_file, ports), daemon=True)
        server.start()
        try:
            yield f"http://127.0.0.1:{ports.get(timeout=60)}", log
        finally:
            server.terminate()
            server.join()
            if log_file.exists():
                log.extend(log_file.read_text().splitlines())


def _serve(root: Path, log_file: Path, ports) -> None:
    """The server process: answer requests for files under `root`, one log line each."""

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = root / unquote(urlsplit(self.path).path).lstrip("/")
            with open(log_file, "a") as lines:
                lines.write(f"{self.command} {self.path} {self.headers.get('Range', '')}\n")
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
    ports.put(server.server_port)
    server.serve_forever()
