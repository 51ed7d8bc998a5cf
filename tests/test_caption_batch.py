import sqlite3

import pytest

from rsq.captioner.batch import run_job
from rsq.captioner.job import CaptionJob
from rsq.captioner.store import CaptionStore
from rsq.prompts import load_template
from rsq.sources import TileRef, list_tiles

from fakes import FakeBackend


@pytest.fixture()
def job():
    return CaptionJob(load_template("structured"), variants=3, batch_size=4)


@pytest.fixture()
def ucm_refs(data_dir):
    return list_tiles("data:ucm:test", data_dir)[:10]


def test_records_carry_full_provenance(tmp_path, job, ucm_refs, s1_path):
    store = CaptionStore(tmp_path)
    refs = ucm_refs + [TileRef("flood-s1", s1_path, {"place": "Spain"})]
    summary = run_job(refs, store, FakeBackend(), job)
    assert (summary.ok, summary.failed) == (11, 0)
    records = list(store.records())
    assert len(records) == 11
    sar = next(r for r in records if r.tile_id == "flood-s1")
    assert sar.sensor == "s1" and sar.tile_path == str(s1_path)
    assert sar.model == "fake:test" and sar.model_revision == "rev-1"
    assert sar.template == job.template.version and len(sar.prompt_hash) == 12
    assert sar.params["variants"] == 3 and sar.params["max_new_tokens"] == job.template.params["max_new_tokens"]
    assert sar.status == "ok" and sar.error is None and sar.raw.startswith("{")
    assert len(sar.captions["variants"]) == 3 and sar.tile["meta"]["place"] == "Spain"
    assert sar.run_id == summary.run_id and sar.created_at
    assert store.runs()[0]["finished_at"] is not None


def test_each_record_carries_its_share_of_the_batch_time(tmp_path, ucm_refs):
    import time

    class SlowBackend(FakeBackend):
        def caption_batch(self, requests):
            time.sleep(0.2)  # a model call of 0.2 s for the whole batch
            return super().caption_batch(requests)

    job = CaptionJob(load_template("structured"), variants=1, batch_size=4)
    run_job(ucm_refs[:8], CaptionStore(tmp_path), SlowBackend(), job)
    shares = [r.duration_s for r in CaptionStore(tmp_path).records()]
    assert len(shares) == 8 and all(0.05 <= share < 0.2 for share in shares)  # 0.2 s over 4 tiles each


def test_malformed_output_is_retried_once_then_recorded_as_failed(tmp_path, job, ucm_refs):
    first, second = ucm_refs[0].id, ucm_refs[1].id
    backend = FakeBackend(script={first: ["malformed", "ok"], second: ["malformed", "malformed"]})
    summary = run_job(ucm_refs[:4], CaptionStore(tmp_path), backend, job)
    assert (summary.ok, summary.failed) == (3, 1)
    records = {r.tile_id: r for r in CaptionStore(tmp_path).records()}
    assert records[first].status == "ok" and records[first].attempts == 2
    assert records[second].status == "failed" and "not JSON" in records[second].error
    assert records[second].raw.startswith('{"variants"')  # the bad output is kept for inspection
    assert backend.calls == [[r.id for r in ucm_refs[:4]], [first, second]]


def test_backend_errors_and_crashes_never_stop_the_job(tmp_path, job, ucm_refs):
    backend = FakeBackend(script={ucm_refs[0].id: ["error"], ucm_refs[5].id: ["raise", "raise"]})
    summary = run_job(ucm_refs, CaptionStore(tmp_path), backend, job)
    records = {r.tile_id: r for r in CaptionStore(tmp_path).records()}
    assert records[ucm_refs[0].id].error == "HTTP 500" and records[ucm_refs[0].id].attempts == 1
    crashed = [r.tile_id for r in records.values() if r.error and "device fell over" in r.error]
    assert crashed == [ucm_refs[5].id]  # the batch was retried tile by tile: only the bad tile failed
    assert summary.ok + summary.failed == 10 and summary.failed == 2


def test_unreadable_tiles_are_recorded_not_fatal(tmp_path, job, ucm_refs):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"junk")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(ucm_refs[0].path.read_bytes()[:1500])
    refs = [TileRef("broken", broken), TileRef("cut", truncated)] + ucm_refs[:2]
    summary = run_job(refs, CaptionStore(tmp_path / "store"), FakeBackend(), job)
    records = {r.tile_id: r for r in CaptionStore(tmp_path / "store").records()}
    assert (summary.ok, summary.failed) == (2, 2)
    assert records["broken"].error.startswith("unreadable tile: not a readable raster")
    assert records["cut"].error.startswith("unreadable tile: image data is corrupt") and records["cut"].sensor == "rgb"


def test_resume_skips_done_tiles_and_retries_failed_ones(tmp_path, job, ucm_refs):
    store = CaptionStore(tmp_path)
    run_job(ucm_refs, store, FakeBackend(script={ucm_refs[2].id: ["error"]}), job, limit=6)
    assert len(list(store.records())) == 6
    backend = FakeBackend()
    summary = run_job(ucm_refs, store, backend, job)
    assert summary.already_done == 5 and summary.ok == 5  # 4 new tiles + the failed one again
    assert sorted(sum(backend.calls, [])) == sorted([r.id for r in ucm_refs[6:]] + [ucm_refs[2].id])
    records = list(store.records())
    assert len(records) == 10 and all(r.status == "ok" for r in records)
    # another template version or model is a different caption set
    other = CaptionJob(load_template("brief"), variants=1, batch_size=4)
    assert run_job(ucm_refs, store, FakeBackend(), other).ok == 10
    assert len(list(store.records())) == 20


def test_store_never_duplicates_and_keeps_ok_records(tmp_path, job, ucm_refs):
    store = CaptionStore(tmp_path)
    run_job(ucm_refs[:2], store, FakeBackend(), job)
    original = list(store.records())
    store.write([r.__class__(**{**r.to_dict(), "status": "failed", "captions": None}) for r in original])
    assert [r.status for r in store.records()] == ["ok", "ok"]
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM captions").fetchone()[0] == 2
