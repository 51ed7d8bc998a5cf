"""Lazy listing: sources stream tiles, ids are checked in bounded memory, jobs open tiles a chunk at a time."""

import json
import tracemalloc

import pytest
from typer.testing import CliRunner

from rsq.captioner import reading
from rsq.captioner.batch import run_job
from rsq.captioner.job import CaptionJob
from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.errors import SourceError
from rsq.prompts import load_template
from rsq.sources import Listing, list_tiles
from rsq.sources.listing import HashSet

from fakes import FakeBackend


def manifest(path, count, image, bad_line=None):
    lines = [json.dumps({"id": f"tile-{i:07d}", "path": str(image), "class": "farm"}) for i in range(count)]
    if bad_line:
        lines[bad_line - 1] = '{"id": "broken", "path": 5}'
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hash_set_remembers_across_its_flushes(monkeypatch):
    monkeypatch.setattr(HashSet, "RECENT", 8)
    seen = HashSet()
    assert all(seen.add(f"id-{i}") for i in range(100))
    assert not any(seen.add(f"id-{i}") for i in range(100))
    assert seen.add("id-100") and len(seen._sorted) >= 96


def test_a_listing_streams_and_checks_lines_as_it_reaches_them(tmp_path, ucm_tile_path):
    path = manifest(tmp_path / "m.jsonl", 5, ucm_tile_path, bad_line=4)
    listing = iter(Listing([str(path)]))
    assert [next(listing).id for _ in range(3)] == ["tile-0000000", "tile-0000001", "tile-0000002"]
    with pytest.raises(SourceError, match=r"m.jsonl:4: 'path' must be a file path"):
        next(listing)


def test_a_listing_holds_hashes_not_tiles(tmp_path, ucm_tile_path):
    """100,000 manifest lines: streaming them holds a fraction of what the list of them holds."""
    path = manifest(tmp_path / "big.jsonl", 100_000, ucm_tile_path)
    tracemalloc.start()
    count = sum(1 for _ in Listing([str(path)]))
    streamed = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    held = list_tiles(str(path))
    listed = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == len(held) == 100_000
    assert streamed < listed / 4, (streamed, listed)  # measured: 9.6 MB against 58 MB


def test_clashing_ids_across_sources_are_skipped_with_reasons(tmp_path, ucm_tile_path, data_dir):
    first = manifest(tmp_path / "a.jsonl", 3, ucm_tile_path)
    other = tmp_path / "b.jsonl"
    other.write_text(
        json.dumps({"id": "tile-0000001", "path": str(data_dir / "ucm-captions" / "images" / "2.jpg")}) + "\n"
    )
    listing = Listing([str(first), str(other), str(first)])
    assert [ref.id for ref in listing] == ["tile-0000000", "tile-0000001", "tile-0000002"]
    assert [s.id for s in listing.skipped] == ["tile-0000001"] and "already taken" in listing.skipped[0].reason
    assert listing.count() == 3 and len(listing.skipped) == 1  # a second pass starts afresh


def test_jobs_open_tiles_a_chunk_at_a_time_and_resume(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CHUNK", 4)
    refs = Listing(["data:ucm:test"], data_dir)
    job = CaptionJob(load_template("structured"), variants=2, batch_size=3)
    chunks = []
    first = run_job(
        refs,
        CaptionStore(tmp_path),
        FakeBackend(),
        job,
        limit=10,
        on_todo=lambda listed, todo: chunks.append((listed, todo)),
    )
    assert first.ok == 10 and chunks == [(4, 4), (4, 4), (2, 2)]
    chunks.clear()
    again = run_job(
        refs,
        CaptionStore(tmp_path),
        FakeBackend(),
        job,
        limit=14,
        on_todo=lambda listed, todo: chunks.append((listed, todo)),
    )
    assert (again.ok, again.already_done) == (4, 10) and chunks == [(4, 0), (4, 0), (4, 2), (2, 2)]


def test_a_bad_manifest_line_stops_the_job_before_any_caption(tmp_path, ucm_tile_path):
    path = manifest(tmp_path / "m.jsonl", 50, ucm_tile_path, bad_line=40)
    result = CliRunner().invoke(app, ["caption", str(path), "--model", "closp:nowhere", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "m.jsonl:40:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists() or list(CaptionStore(tmp_path / "run").records()) == []


def test_chunks_count_opened_tiles_not_listed_scenes(stac_scenes):
    """A scene cut into 60 chips fills a chunk by itself: chunks hold CHUNK tiles plus at most one scene's chips."""
    from rsq.sources.refs import open_chunks

    chunks = [
        (listed, len(tiles), len(skipped))
        for listed, tiles, skipped in open_chunks(list_tiles(str(stac_scenes)), (256, 0), 2, 8)
    ]
    assert chunks == [(2, 8, 0), (1, 60, 4)]  # S2 (4 chips) + S1 (4 chips); Landsat (60 chips, 4 empty windows)


def test_run_ahead_overlaps_keeps_order_and_hands_errors_over():
    import threading

    from rsq.parallel import run_ahead

    produced = []
    second_ready = threading.Event()

    def items():
        for i in range(4):
            produced.append(i)
            if i == 1:
                second_ready.set()
            yield i
        raise SourceError("line 5: broken")

    stream = run_ahead(items())
    assert next(stream) == 0
    assert second_ready.wait(5)  # the next item was produced while the consumer held the first
    rest = []
    with pytest.raises(SourceError, match="line 5"):
        for item in stream:
            rest.append(item)
    assert rest == [1, 2, 3]
    stopped = run_ahead(iter(range(1_000_000)), depth=2)
    assert next(stopped) == 0
    stopped.close()  # the producer stops instead of filling memory
