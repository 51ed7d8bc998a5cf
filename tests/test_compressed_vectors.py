"""Compressed vectors (`--vectors compressed`, FAISS IVF-RaBitQ codes + float16 rows on disk for re-ranking): recall
near exact on vectors with real neighbourhood structure, filters and tombstones honoured, the codes a fraction of
the float16 bytes, and a merge's vectors read back from the float16 rows."""

import numpy as np
import pytest

from rsq.textindex.vectors import EXACT, IVF_ABOVE, RERANK_MIN, VectorFile, choose_kind, rerank_depth, resolve_kind


@pytest.fixture(scope="module")
def clustered():
    """60,000 unit vectors of 64 dimensions around 300 centres (topics), and 100 queries near them."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(300, 64))
    rows = centres[rng.integers(0, 300, 60_000)] + 0.6 * rng.normal(size=(60_000, 64))
    queries = centres[rng.integers(0, 300, 100)] + 0.6 * rng.normal(size=(100, 64))
    unit = lambda m: (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return unit(rows), unit(queries)


def _recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True)]))


def test_compressed_search_recalls_what_exact_search_finds(clustered, tmp_path):
    rows, queries = clustered
    VectorFile.build(rows, "compressed").save(tmp_path / "vectors.faiss")
    compressed = VectorFile.open(tmp_path / "vectors.faiss")
    assert compressed.kind == "codes" and (tmp_path / EXACT).is_file()
    # codes, not floats: at 64-d a row is 8 bytes of bits, two floats and its id (at 768-d, 112 bytes against 1,536)
    assert (tmp_path / "vectors.faiss").stat().st_size < (tmp_path / EXACT).stat().st_size / 3
    exact = np.argsort(-(queries @ rows.T), axis=1)[:, :10]
    scores, found = compressed.search(queries, 10)
    assert _recall(found, exact) >= 0.95
    expected = np.take_along_axis(queries @ rows.T, found, axis=1)
    assert np.allclose(scores, expected, atol=2e-3)  # scores come from the float16 rows, not the codes


def test_filters_and_merges_read_the_float16_rows(clustered, tmp_path):
    rows, queries = clustered
    VectorFile.build(rows, "compressed").save(tmp_path / "vectors.faiss")
    compressed = VectorFile.open(tmp_path / "vectors.faiss")
    allowed = np.zeros(len(rows), dtype=bool)
    allowed[::3] = True
    _, found = compressed.search(queries, 10, allowed)
    assert (found >= 0).all() and allowed[found].all()
    few = np.zeros(len(rows), dtype=bool)
    few[[5, 50, 500]] = True  # a narrow filter is scored exactly
    _, found = compressed.search(queries[:1], 10, few)
    assert sorted(found[0][found[0] >= 0]) == [5, 50, 500]
    assert np.allclose(compressed.take(np.arange(len(rows))), rows, atol=1e-3) and np.allclose(
        compressed.vector(7), rows[7], atol=1e-3
    )


def test_the_kind_follows_the_choice_and_the_size():
    assert choose_kind("compressed", IVF_ABOVE - 1) == "flat" and choose_kind("compressed", IVF_ABOVE) == "codes"
    assert choose_kind("exact", 5_000_000) == "ivf"
    # auto: by the index's float16 bytes, so the same rows compress at 768-d before 384-d
    assert resolve_kind("auto", 2_000_000, 768) == "exact" and resolve_kind("auto", 2_200_000, 768) == "compressed"
    assert resolve_kind("auto", 4_000_000, 384) == "exact" and resolve_kind("auto", 4_400_000, 384) == "compressed"
    assert resolve_kind("exact", 10**9, 768) == "exact"


def test_the_rerank_depth_grows_with_the_rows_of_the_partition():
    """At least RERANK_MIN and k, and one candidate per 50,000 rows: 400 at 2 x 10^7 rows, where 200 recalled 0.922
    and 400 0.972 of the exact top 10 on tuning queries (bench/rerank_depth.py)."""
    assert rerank_depth(10) == RERANK_MIN and rerank_depth(500) == 500
    assert rerank_depth(200, 1_400_000) == 200 and rerank_depth(10, 20_000_000) == 400


def test_an_index_trains_its_quantizer_once(tmp_path, monkeypatch):
    """Every compressed segment a build flushes takes the first one's IVF centroids, so the segments share one
    quantizer key (a query's nearest lists are found once), and a search pools their candidates: the same dense
    scores as one exact index, with and without a filter."""
    from test_index_storage import _build, _index, _records

    from rsq.query import SearchQuery, parse_filters
    from rsq.textindex import merge, segmentset, vectors
    from rsq.textindex.reader import Snapshot

    monkeypatch.setattr(vectors, "IVF_ABOVE", 1_000)
    monkeypatch.setattr(segmentset, "SEGMENT_ROWS", 2_000)
    monkeypatch.setattr(merge, "MAX_SEGMENT_ROWS", 2_000)  # no merges: the flushed segments stay as written
    records = _records(3000, tile=lambda n: {"sensor": "s1" if n % 3 else "rgb"})
    _build(records, tmp_path / "idx", faiss="compressed")
    segments = Snapshot.open(tmp_path / "idx").segments["captions"]
    assert len(segments) == 3 and all(s.vectors.kind == "codes" for s in segments)
    assert len({s.vectors.quantizer_key for s in segments}) == 1
    first, *others = [s.vectors.index for s in segments]
    for index in others:
        assert np.array_equal(
            index.quantizer.reconstruct_n(0, index.nlist), first.quantizer.reconstruct_n(0, first.nlist)
        )
    _build(records, tmp_path / "exact", faiss="exact")
    pooled, exact = _index(tmp_path / "idx"), _index(tmp_path / "exact")
    for text in ("airport", "harbour river", "forest beside a road"):
        for filters in (parse_filters(), parse_filters(sensor="s1")):
            found = [
                [h.score for h in index.search(SearchQuery(text, k=10, mode="dense", filters=filters))]
                for index in (pooled, exact)
            ]
            assert len(found[0]) == 10 and found[0] == pytest.approx(found[1], abs=1e-3)


def test_an_index_of_compressed_segments_searches_filters_and_merges(tmp_path, monkeypatch):
    """`rsq index --vectors compressed` end to end (IVF_ABOVE lowered so 3,000 tiles make compressed segments):
    the same dense scores as an exact index (its hashed captions tie often, so scores, not ids, are compared),
    filters inside, and a merge keeps the segment compressed."""
    from test_index_storage import _build, _ids, _index, _records

    from rsq.query import SearchQuery, parse_filters
    from rsq.textindex import vectors
    from rsq.textindex.reader import Snapshot

    monkeypatch.setattr(vectors, "IVF_ABOVE", 1_000)
    rare = {7, 1500, 2999}
    records = _records(3000, tile=lambda n: {"sensor": "s1" if n in rare else "rgb"})
    _build(records, tmp_path / "exact", faiss="exact")
    _build(records, tmp_path / "small", faiss="compressed")
    [segment] = Snapshot.open(tmp_path / "small").segments["captions"]
    assert segment.vectors.kind == "codes" and (segment.folder / vectors.EXACT).is_file()
    exact, small = _index(tmp_path / "exact"), _index(tmp_path / "small")
    for text in ("airport", "harbour river", "forest beside a road"):
        scores = [[h.score for h in index.search(SearchQuery(text, k=10, mode="dense"))] for index in (small, exact)]
        assert scores[0] == pytest.approx(scores[1], abs=1e-3)
    assert sorted(_ids(small, "airport", k=10, mode="dense", filters=parse_filters(sensor="s1"))) == [
        "t1500",
        "t2999",
        "t7",
    ]
    centroids = segment.vectors.index.quantizer.reconstruct_n(0, segment.vectors.index.nlist)
    _build(_records(1500, start=3000), tmp_path / "small", faiss="compressed", compact=True)
    [merged] = Snapshot.open(tmp_path / "small").segments["captions"]
    assert merged.vectors.kind == "codes" and len(merged.vectors) == 9000
    reused = merged.vectors.index.quantizer.reconstruct_n(0, merged.vectors.index.nlist)
    assert np.array_equal(reused, centroids)  # the index's quantizer, not a new training
    merged_index = _index(tmp_path / "small")
    assert sorted(_ids(merged_index, "airport", k=10, mode="dense", filters=parse_filters(sensor="s1"))) == [
        "t1500",
        "t2999",
        "t7",
    ]
