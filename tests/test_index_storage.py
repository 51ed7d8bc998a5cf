"""The index's storage guarantees: incremental commits that copy nothing, resume without re-embedding,
tombstones and merges, one writer at a time, readers across updates, damage detection, and never
touching files rsq did not create."""

import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rsq.cli import app
from rsq.errors import RsqError
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.textindex.build import BuildOptions, index_records
from rsq.textindex.commit import Journal, latest
from rsq.textindex.merge import MAX_SEGMENT_ROWS, plan_merges
from rsq.textindex.reader import Snapshot
from rsq.textindex.recovery import undo_killed_writer
from rsq.textindex.segments import SegmentInfo
from rsq.textindex.vectors import EXACT

from fakes import HashEmbedder, caption_record, index_writer

runner = CliRunner()
WORDS = "river forest harbour airport farmland desert beach bridge road field tank ship plane snow lake".split()


def _records(count, start=0, model="fake:model", words=WORDS, tile=None):
    rng = random.Random(start)
    return [
        caption_record(
            f"t{n}",
            [" ".join(rng.sample(words, 4)), " ".join(rng.sample(words, 3))],
            model=model,
            tile=tile(n) if tile else None,
        )
        for n in range(start, start + count)
    ]


def _build(records, out, encoder=None, **options):
    return index_records(records, out, encoder or HashEmbedder(), BuildOptions(thumbnails=False, **options))


def _index(out):
    return Searcher(out, encoder=HashEmbedder())


def _ids(index, text, k=10, **kwargs):
    return [h.id for h in index.search(SearchQuery(text, k=k, **kwargs))]


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_adding_commits_new_segments_and_copies_nothing(tmp_path):
    out = tmp_path / "index"
    _build(_records(300), out)
    before = {path: stamp for path, stamp in _files(out).items() if "/segments/" in path}
    report = _build([caption_record(f"v{n}", [f"volcano number {n}"]) for n in range(10)], out)
    after = _files(out)
    assert all(after[path] == stamp for path, stamp in before.items())  # old segment files untouched
    assert report.records.added == 10 and report.manifest.counts == {"tiles": 310, "variants": 610, "dead_variants": 0}
    assert len(latest(out).segments) == 2 and sorted(_ids(_index(out), "volcano", k=20, mode="bm25")) == sorted(
        f"v{n}" for n in range(10)
    )


def test_rerun_skips_what_is_indexed_without_embedding_it_again(tmp_path):
    out, encoder = tmp_path / "index", HashEmbedder()
    _build(_records(200), out, encoder)
    embedded = sum(encoder.calls)
    report = _build(_records(200), out, encoder)
    assert sum(encoder.calls) == embedded and report.records.skipped == 200 and report.records.added == 0
    assert latest(out).number == 1  # nothing changed: no new generation


def test_changed_records_replace_theirs_and_other_sources_stay(tmp_path):
    out = tmp_path / "index"
    _build(_records(50), out)
    _build([caption_record("t1", ["a second opinion about a volcano"], model="other:model")], out)
    report = _build([caption_record(f"t{n}", ["a zebra crossing with striped paint"]) for n in range(5)], out)
    assert report.records.replaced == 5
    assert report.manifest.counts == {"tiles": 50, "variants": 100 - 10 + 5 + 1, "dead_variants": 10}
    index = _index(out)
    for mode in ("bm25", "dense", "hybrid"):
        assert set(_ids(index, "zebra crossing", k=5, mode=mode)) == {f"t{n}" for n in range(5)}
    assert _ids(index, "volcano", k=1, mode="bm25") == ["t1"]
    assert len(index.snapshot.caption_records("t1")) == 2
    assert all("zebra" in h.caption for h in index.search(SearchQuery("zebra", k=5, mode="bm25")))


def test_compact_merges_segments_and_drops_replaced_rows_for_good(tmp_path):
    out = tmp_path / "index"
    for start in range(0, 60, 10):
        _build(_records(10, start=start), out)
    _build([caption_record(f"t{n}", ["a zebra crossing"]) for n in range(0, 60, 7)], out)
    expected = _ids(_index(out), "zebra crossing harbour", k=20)
    report = index_records([], out, HashEmbedder(), BuildOptions(compact=True, thumbnails=False))
    generation = latest(out)
    assert report.merges >= 1 and len(generation.segments) == 1 and generation.manifest.counts["dead_variants"] == 0
    assert generation.segments[0].count == generation.manifest.counts["variants"]
    assert _ids(_index(out), "zebra crossing harbour", k=20) == expected
    assert Snapshot.open(out).bm25.documents == generation.manifest.counts["variants"]
    on_disk = {p.name for p in (out / generation.epoch / "segments").iterdir()}
    assert on_disk == {s.name for s in generation.segments}, "merged-away segment folders stay on disk"


def test_merge_policy_keeps_few_segments_and_leaves_the_big_one_alone():
    def segment(lo, count, dead=0):
        return SegmentInfo(f"s{lo}", "captions", lo, lo + count, count, dead)

    big = segment(0, 1_000_000)
    assert plan_merges([big, segment(10**6, 20)]) == []
    small = [segment(10**6 + 20 * n, 20) for n in range(2)]
    assert plan_merges([big, *small]) == [small]
    assert plan_merges([segment(0, 10), segment(10, 100)]) == [[segment(0, 10), segment(10, 100)]]
    assert plan_merges([segment(0, 90, dead=40)]) == [[segment(0, 90, dead=40)]]
    flushed = [segment(50_000 * n, 50_000) for n in range(400)]  # one big write: 400 flushed segments
    groups = plan_merges(flushed)
    assert sum(map(len, groups)) >= 390 and len(groups) + 400 - sum(map(len, groups)) <= 15
    assert all(sum(s.count for s in group) <= MAX_SEGMENT_ROWS for group in groups)
    huge = [segment(0, MAX_SEGMENT_ROWS), segment(MAX_SEGMENT_ROWS, MAX_SEGMENT_ROWS)]
    assert plan_merges(huge) == [] and plan_merges(huge, compact=True) == []


def test_filtered_search_scores_the_few_matching_tiles_exactly(tmp_path):
    """An IVF segment with a filter that keeps 3 of 3,000 tiles still returns all 3, in every mode."""
    out = tmp_path / "index"
    rare = {7, 1500, 2999}
    _build(_records(3000, tile=lambda n: {"sensor": "s1" if n in rare else "rgb"}), out, faiss="ivf")
    index = _index(out)
    assert Snapshot.open(out).segments["captions"][0].vectors.kind == "ivf"
    for mode in ("dense", "hybrid"):
        assert sorted(_ids(index, "airport", k=10, mode=mode, filters=parse_filters(sensor="s1"))) == [
            "t1500",
            "t2999",
            "t7",
        ]
    assert len(_ids(index, "airport", k=50, mode="dense")) == 50


def test_readers_keep_working_across_updates_and_see_new_tiles(tmp_path):
    out = tmp_path / "index"
    _build(_records(20), out)
    index = _index(out)
    pinned = Snapshot.open(out)
    pinned_hits = pinned.bm25_hits("river", 50, parse_filters())
    for round_ in range(4):
        _build([caption_record(f"new{round_}", [f"volcano number {round_}"])], out)
        assert f"new{round_}" in _ids(index, "volcano", k=10, mode="bm25")
    _build(_records(20), out, rebuild=True)  # a new epoch: the old files are deleted once two generations old
    assert np.array_equal(pinned.bm25_hits("river", 50, parse_filters()).rows, pinned_hits.rows)  # still readable
    assert "new0" not in _ids(index, "volcano", k=10, mode="bm25")


def test_search_writes_nothing_into_the_index(tmp_path):
    out = tmp_path / "index"
    _build(_records(30), out)
    before = _files(out)
    index = _index(out)
    for mode in ("bm25", "dense", "hybrid"):
        index.search(SearchQuery("river forest", mode=mode, filters=parse_filters(sensor="rgb")))
    assert _files(out) == before


def test_a_second_writer_waits_or_is_refused(tmp_path):
    out = tmp_path / "index"
    _build(_records(5), out)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import fcntl, os, time
        fd = os.open({str(out / "writer.lock")!r}, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, b"rsq pid 1234 on test", 0)
        print("locked", flush=True)
        time.sleep(3)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RsqError, match="being written by rsq pid 1234"):
        _build(_records(5, start=5), out, wait=False)
    started = time.monotonic()
    report = _build(_records(5, start=5), out)
    assert time.monotonic() - started > 1 and report.manifest.counts["tiles"] == 10
    holder.wait()


def test_two_writers_at_once_both_land(tmp_path):
    out = tmp_path / "index"
    _build(_records(1), out)
    first, second = index_writer(out, 300, prefix="a"), index_writer(out, 300, prefix="b")
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0 and "done" in stdout, stderr
    assert latest(out).manifest.counts["tiles"] == 601


@pytest.mark.parametrize(
    "damage", ["missing segment file", "truncated vectors", "truncated catalog", "bad generation", "missing bm25"]
)
def test_a_damaged_index_is_refused_with_the_part_named(tmp_path, damage):
    out = tmp_path / "index"
    _build(_records(30), out)
    generation = latest(out)
    epoch = out / generation.epoch
    segment = epoch / "segments" / generation.segments[0].name
    if damage == "missing segment file":
        (segment / "tiles.bin").unlink()
        part = "tiles.bin"
    elif damage == "truncated vectors":
        with open(segment / "vectors.faiss", "r+b") as handle:
            handle.truncate(100)
        part = "vectors.faiss"
    elif damage == "truncated catalog":
        with open(epoch / "catalog.sqlite", "r+b") as handle:
            handle.truncate(5000)
        part = "catalog.sqlite"
    elif damage == "bad generation":
        (out / f"gen-{generation.number:09d}.json").write_text('{"format": "rsq-index 2", "numb')
        part = "gen-"
    else:
        for path in (epoch / "bm25").glob("*.idx"):
            path.unlink()
        part = "bm25"
    with pytest.raises(RsqError, match=f"index damaged: .*{part}"):
        Searcher(out, encoder=HashEmbedder())
    result = runner.invoke(app, ["search", "river", "--index", str(out)])
    assert result.exit_code == 2 and "index damaged" in result.stderr and "Traceback" not in result.output


def test_a_killed_writers_segment_is_removed_whole(tmp_path):
    out = tmp_path / "index"
    _build(_records(10), out)
    live = latest(out)
    segments = out / live.epoch / "segments"
    journal = Journal(out)
    journal.record(f"{live.epoch}/segments/s999999999-killed")  # as a writer does before writing a segment
    shutil.copytree(segments / live.segments[0].name, segments / "s999999999-killed")  # every file a segment has
    np.save(segments / "s999999999-killed" / EXACT, np.zeros((20, 8), np.float16))  # what a compressed one adds
    undo_killed_writer(out, live)
    assert {p.name for p in segments.iterdir()} == {live.segments[0].name}
    assert _ids(_index(out), "harbour", mode="bm25")


def test_rsq_never_deletes_what_it_did_not_create(tmp_path):
    out = tmp_path / "index"
    _build(_records(10), out)
    epoch = out / latest(out).epoch
    foreign = [
        out / "v-anything" / "notes.txt",
        out / "gen-notes.txt",
        epoch / "mine.txt",
        epoch / "segments" / "keep" / "a.txt",
    ]
    for path in foreign:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    _build(_records(10, start=10), out)
    _build(_records(5), out, rebuild=True)
    _build(_records(5, start=5), out)
    index_records([], out, HashEmbedder(), BuildOptions(compact=True, thumbnails=False))
    assert all(path.read_text() == "mine" for path in foreign)
    assert (
        not (out / latest(out).epoch / "mine.txt").exists() and epoch.is_dir()
    )  # the old epoch kept only what is not rsq's


def test_out_must_be_an_index_or_empty(tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "photo.jpg").write_text("x")
    with pytest.raises(RsqError, match="not empty and is not an rsq index"):
        _build(_records(3), busy)
    assert sorted(p.name for p in busy.iterdir()) == ["photo.jpg"]
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(RsqError, match="is a file"):
        _build(_records(3), file)
    for rebuild in (False, True):  # not even --rebuild adopts a folder rsq did not create
        with pytest.raises(RsqError, match="not empty and is not an rsq index"):
            _build(_records(3), busy, rebuild=rebuild)
    assert sorted(p.name for p in busy.iterdir()) == ["photo.jpg"]


def test_index_command_checks_its_options_first(tmp_path, ucm_human_store):
    out = tmp_path / "index"
    cases = [
        ([], "give caption store folders"),
        ([str(ucm_human_store), "--faiss", "hnsw"], "--vectors must be one of auto, exact, compressed, flat, ivf"),
        ([str(ucm_human_store), "--batch-size", "0"], "--batch-size must be at least 1"),
        ([str(ucm_human_store), "--images"], "--images and --image-encoder"),
        ([str(ucm_human_store), "--device", "toaster"], "is not a device name"),
        ([str(ucm_human_store), "--device", "cuda:7"], "no such CUDA device"),
        ([str(tmp_path / "nowhere")], "no caption store"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["index", *args, "--out", str(out)])
        assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output, (
            args,
            result.output,
        )
    assert not out.exists() or not latest(out)


def test_compact_from_the_command_line(tmp_path):
    out = tmp_path / "index"
    for start in (0, 10):
        _build(_records(10, start=start), out)
    _build([caption_record("t3", ["a zebra crossing"])], out)
    result = runner.invoke(app, ["index", "--compact", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(latest(out).segments) == 1 and latest(out).manifest.counts["dead_variants"] == 0


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_vectors_are_stored_as_float16_with_float32_recall(tmp_path, kind):
    """Half the bytes of float32, and the top 10 by inner product as exact float32 search finds them."""
    from rsq.textindex.vectors import NPROBE, VectorFile

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 64))  # clustered, as caption vectors are
    vectors = centres[rng.integers(40, size=6000)] + 0.6 * rng.normal(size=(6000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[rng.choice(6000, 50, replace=False)] + 0.1 * rng.normal(size=(50, 64)).astype(np.float32)
    path = tmp_path / "vectors.faiss"
    VectorFile.build(vectors, kind).save(path)
    opened = VectorFile.open(path)
    assert opened.kind == kind and type(opened.index).__name__.endswith("ScalarQuantizer")
    assert path.stat().st_size < 0.6 * 6000 * 64 * 4  # float16 codes (+ the ids and centroids of an inverted file)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    _, found = opened.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)])
    assert recall >= (0.99 if kind == "flat" else 0.9), (recall, NPROBE)
    assert np.allclose(opened.vector(5), vectors[5], atol=2e-3)
