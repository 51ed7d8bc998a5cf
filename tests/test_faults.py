"""Fault injection: `rsq caption` and the index writer killed with SIGKILL at seeded random moments.

After every kill, what was committed is still there exactly once, and the index answers with one whole
generation, the old or a newer one, never a mix; a final resume completes the work without duplicates.
The default run kills each a few times; `make reliability` (pytest -m reliability) kills each 25 times.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rsq.query import Searcher, SearchQuery
from rsq.textindex.commit import latest
from rsq.textindex.reader import Snapshot

from chat_server import chat_server, echo_captions
from fakes import HashEmbedder, index_writer

FEW, MANY = 3, 25
TILES = 1000  # records per index write: about 5 s each, so most kills land mid-build
KILLS = [FEW, pytest.param(MANY, marks=pytest.mark.reliability)]


def _store_rows(store: Path) -> list[tuple[str, str]]:
    path = store / "captions.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return db.execute("SELECT tile_id, status FROM captions").fetchall()
        except sqlite3.OperationalError:
            return []  # killed before its first transaction


def _slow_captions(delay: float):
    """A chat-server handler answering with valid captions after `delay` seconds."""

    def slow(request, call):
        status, body, _ = echo_captions(request, call)
        return status, body, delay

    return slow


def _caption_command(server, data_dir: Path, store: Path, tiles: int, *extra: str) -> list[str]:
    """`rsq caption` of the first `tiles` UCM tiles through the test chat server, as a subprocess command."""
    return [
        sys.executable,
        "-m",
        "rsq",
        "caption",
        "data:ucm",
        "--limit",
        str(tiles),
        "--batch-size",
        "8",
        "--model",
        f"openai:{server['url']}#tiny",
        "--backend-opt",
        "concurrency=1",
        "--prompt",
        "brief",
        *extra,
        "--data",
        str(data_dir),
        "--out",
        str(store),
    ]


@pytest.mark.parametrize("kills", KILLS)
def test_caption_killed_at_random_moments_loses_and_duplicates_nothing(data_dir, tmp_path, kills):
    store, tiles_total = (
        tmp_path / "store",
        300 if kills == FEW else 2100,
    )  # enough work that every kill interrupts some
    with chat_server(_slow_captions(0.01)) as server:
        command = _caption_command(server, data_dir, store, tiles_total)
        rng, committed, interrupted = random.Random(11), set(), 0
        for _ in range(kills):
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.5, 2.5))
            process.send_signal(signal.SIGKILL)
            interrupted += process.wait() == -signal.SIGKILL
            tiles = [tile for tile, _ in _store_rows(store)]
            assert len(tiles) == len(set(tiles)), "a tile was stored twice"
            assert committed <= set(tiles), "a committed record was lost"
            assert len(tiles) % 8 == 0 or len(tiles) == tiles_total, "a batch was half written"
            committed = set(tiles)
        assert interrupted >= kills // 2, "most kills should land mid-run"
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert len(server["requests"]) <= tiles_total + 8 * kills, "a kill costs at most the batch in flight"
    rows = _store_rows(store)
    assert (
        len(rows) == tiles_total
        and len({tile for tile, _ in rows}) == tiles_total
        and all(status == "ok" for _, status in rows)
    )


def _check_whole(out: Path) -> dict:
    """One generation, consistent across its parts: segments, BM25, catalog and manifest agree."""
    snapshot = Snapshot.open(out)
    counts, live_tiles, live_rows = snapshot.manifest.counts, [], 0
    for segment in snapshot.segments["captions"]:
        live = np.flatnonzero(segment.is_live(np.arange(segment.info.count)))
        live_rows += len(live)
        live_tiles += segment.columns.tiles.get(live).tolist()
        sample = np.asarray(segment.rows[live[:: max(1, len(live) // 20)]])
        assert len(snapshot.catalog.caption_rows(sample)) == len(sample), "a live row has no catalog entry"
    assert live_rows == counts["variants"] and len(set(live_tiles)) == counts["tiles"]
    assert snapshot.bm25.documents >= live_rows
    index = Searcher(out, encoder=HashEmbedder())
    for tile in random.Random(0).sample(sorted(set(live_tiles)), min(5, len(set(live_tiles)))):
        assert tile in [h.id for h in index.search(SearchQuery(f"tile{tile}", k=3, mode="bm25"))], (
            "a live tile is not searchable"
        )
    return {"number": snapshot.generation.number, "tiles": set(live_tiles), "variants": live_rows}


@pytest.mark.parametrize("kills", KILLS)
def test_index_writer_killed_at_random_moments_keeps_one_whole_generation(tmp_path, kills):
    out = tmp_path / "index"
    finished = index_writer(out, 40, delay=0.1)
    assert "done" in finished.communicate(timeout=120)[0]
    rng, state, interrupted = random.Random(5), _check_whole(out), 0
    for attempt in range(kills):
        variant = "first" if attempt % 2 else "changed"  # alternate: some records are replaced, not just added
        process = index_writer(out, TILES, variant=variant, delay=0.1)
        time.sleep(rng.uniform(0.5, 4.5))
        process.send_signal(signal.SIGKILL)
        interrupted += process.wait() == -signal.SIGKILL
        now = _check_whole(out)
        assert now["number"] >= state["number"] and state["tiles"] <= now["tiles"], "committed tiles were lost"
        state = now
    assert interrupted >= kills // 2, "most kills should land mid-build"
    finished = index_writer(out, TILES, variant="final", delay=0.1)
    assert "done" in finished.communicate(timeout=300)[0]
    final = _check_whole(out)
    assert final["tiles"] == {str(n) for n in range(TILES)} and final["variants"] == 2 * TILES
    generation = latest(out)
    assert not list((out / "pending").glob("*.json")) and generation.manifest.counts["tiles"] == TILES
    on_disk = {p.name for epoch in out.glob("data-*") for p in (epoch / "segments").iterdir()}
    assert on_disk == {s.name for s in generation.segments}, "a killed write left segment folders behind"


def _file_size_limit(limit: int):
    """A preexec hook that makes writes past `limit` bytes fail (EFBIG), like a disk that filled up."""
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_is_one_line_and_keeps_what_was_committed(data_dir, tmp_path):
    notes = data_dir / "ucm-captions" / "captions.jsonl"
    store = tmp_path / "store"
    caption = [
        sys.executable,
        "-m",
        "rsq",
        "caption",
        "data:ucm",
        "--model",
        f"annotations:{notes}",
        "--data",
        str(data_dir),
        "--out",
        str(store),
    ]
    filled = subprocess.run(caption, preexec_fn=_file_size_limit(400_000), capture_output=True, text=True)
    assert (
        filled.returncode == 2
        and filled.stderr.strip().splitlines()[-1].startswith("rsq: error:")
        and "Traceback" not in filled.stderr
    )
    kept = _store_rows(store)
    assert 0 < len(kept) < 2100 and len({tile for tile, _ in kept}) == len(kept)
    subprocess.run(caption, check=True, capture_output=True)
    assert len(_store_rows(store)) == 2100
    small, out = tmp_path / "small", tmp_path / "index"
    subprocess.run([*caption[:4], "data:ucm:test", *caption[5:-1], str(small)], check=True, capture_output=True)
    index = [sys.executable, "-m", "rsq", "index", str(small), "--out", str(out), "--no-thumbnails"]
    filled = subprocess.run(index, preexec_fn=_file_size_limit(300_000), capture_output=True, text=True)
    assert filled.returncode == 2 and "Traceback" not in filled.stderr
    assert "its last published generation is unchanged" in filled.stderr.strip().splitlines()[-1]
    assert latest(out) is None


def test_ray_caption_killed_resumes_without_loss_or_duplicates(data_dir, tmp_path):
    """`--engine ray` killed with SIGKILL mid-run (driver and its local Ray): the store keeps every committed
    batch once, and the rerun finishes the rest without duplicates."""
    pytest.importorskip("ray")
    store, tiles_total = tmp_path / "store", 400
    with chat_server(_slow_captions(0.02)) as server:
        command = _caption_command(server, data_dir, store, tiles_total, "--engine", "ray", "--ray-workers", "1")
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while len(_store_rows(store)) < 40 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        assert process.wait() == -signal.SIGKILL
        committed = [tile for tile, _ in _store_rows(store)]
        assert 40 <= len(committed) < tiles_total and len(committed) == len(set(committed))
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = _store_rows(store)
    assert (
        len(rows) == tiles_total
        and len({tile for tile, _ in rows}) == tiles_total
        and all(status == "ok" for _, status in rows)
    )
    assert set(committed) <= {tile for tile, _ in rows}


def test_a_server_that_never_answers_skips_its_tile_within_the_stall_timeout(data_dir, tmp_path):
    """A server that accepts connections and sends nothing: the tile is skipped after the stall timeout (here the
    user's own GDAL_HTTP_LOW_SPEED_TIME, which rsq keeps), the good tile beside it is listed."""
    import json
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "silent", "path": f"http://127.0.0.1:{server.getsockname()[1]}/a.tif"})
        + "\n"
        + json.dumps({"id": "good", "path": str(data_dir / "ucm-captions" / "images" / "1.jpg")})
        + "\n"
    )
    env = {**os.environ, "GDAL_HTTP_LOW_SPEED_TIME": "2"}
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "rsq"), "tiles", "info", str(manifest), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.close()
    assert result.returncode == 1 and [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["good"]
    assert "skipped silent" in result.stderr and "the last 2 seconds" in result.stderr


def test_remote_timeouts_are_set_unless_the_user_set_them(monkeypatch):
    from rsq.imagery.gdal import remote_defaults

    monkeypatch.delenv("GDAL_HTTP_CONNECT_TIMEOUT", raising=False)
    monkeypatch.setenv("GDAL_HTTP_LOW_SPEED_TIME", "7")
    remote_defaults()
    assert os.environ["GDAL_HTTP_CONNECT_TIMEOUT"] == "10" and os.environ["GDAL_HTTP_LOW_SPEED_TIME"] == "7"
