"""Shared by the server and browser tests: a small real index (UCM test tiles with thumbnails, the two
georeferenced Sen1Floods11 chips, one text-only tile with a slash in its id) and a live server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from rsq.cli import app
from rsq.sources import sen1floods11

FLOOD = {"Spain_7370579_S1Hand", "Spain_7370579_S2Hand"}


def build_serving_index(data: Path, root: Path) -> Path:
    from conftest import import_annotations

    ucm = import_annotations("data:ucm:test", data / "ucm-captions" / "captions.jsonl", root / "ucm", data)
    labels = root / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps({"id": ref.id, "labels": sen1floods11(data).labels()}) + "\n"
            for ref in sen1floods11(data).tile_refs()
        )
    )
    flood = import_annotations("data:sen1floods11", labels, root / "flood", data, template="labels")
    notes = root / "text-only.jsonl"
    notes.write_text(
        json.dumps({"id": "scene-9/chip-1", "captions": ["A harbour with container cranes."], "lon": 4.4, "lat": 51.9})
        + "\n"
    )
    result = CliRunner().invoke(app, ["caption", "--model", f"annotations:{notes}", "--out", str(root / "text")])
    assert result.exit_code == 0, result.output
    out = root / "index"
    result = CliRunner().invoke(app, ["index", str(ucm), str(flood), str(root / "text"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(app_instance):
    """uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    from rsq.serve.routing import UVICORN_OPTIONS

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app_instance, host="127.0.0.1", port=port, **UVICORN_OPTIONS))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
