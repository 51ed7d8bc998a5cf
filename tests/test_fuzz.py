"""Property-based fuzzing of everything that parses user or data input: queries, caption JSON, manifests,
STAC files, annotation files and records, filters. Each parser either returns a value or raises rsq's own
error; nothing else escapes. `make reliability` runs many more examples (HYPOTHESIS_PROFILE=reliability)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsq.captioner.schema import CaptionParseError, parse_captions
from rsq.errors import RsqError
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.sources.annotations import checked_record, read_annotations
from rsq.sources.listing import list_tiles, read_manifest
from rsq.textindex.build import BuildOptions, index_records
from rsq.textindex.columns import Columns, TileAttrs
from rsq.textindex.filterterms import range_dates, reach_cells

from fakes import HashEmbedder, caption_record

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "path",
        "image",
        "href",
        "id",
        "time",
        "captions",
        "caption",
        "labels",
        "label",
        "file_name",
        "images",
        "annotations",
        "image_id",
        "features",
        "type",
        "assets",
        "properties",
        "x",
    ]
)
RECORD = st.dictionaries(KEYS, JSON, max_size=6)
ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> Searcher:
    out = tmp_path_factory.mktemp("fuzz-index")
    tiles = [
        {"sensor": s, "center": [lon, 40.0], "time": f"2020-0{m}-01"}
        for s, lon, m in (("rgb", 1.0, 1), ("s1", 2.0, 2), ("s2", 3.0, 3))
    ]
    records = [
        caption_record(f"t{n}", [f"a river and a forest number {n}", "green fields"], tile=tiles[n % 3])
        for n in range(30)
    ]
    index_records(records, out, HashEmbedder(), BuildOptions(thumbnails=False))
    return Searcher(out, encoder=HashEmbedder())


@FUZZ
@given(text=ANY_TEXT, mode=st.sampled_from(["hybrid", "bm25", "dense"]))
def test_any_query_text_is_answered_or_refused_clearly(small_index, text, mode):
    try:
        hits = small_index.search(SearchQuery(text, k=5, mode=mode))
    except RsqError as error:
        assert str(error).startswith("empty query")
        return
    assert len(hits) <= 5 and all(h.id.startswith("t") for h in hits)


@FUZZ
@given(raw=st.one_of(ANY_TEXT, JSON.map(json.dumps), st.builds(lambda v: json.dumps({"variants": v}), JSON)))
def test_caption_json_parses_or_reports_a_parse_error(raw):
    try:
        captions = parse_captions(raw)
    except CaptionParseError:
        return
    assert captions.variants and all(v.one_sentence for v in captions.variants)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(RECORD.map(json.dumps), JSON.map(json.dumps), ANY_TEXT.filter(lambda t: "\n" not in t)), max_size=5
    )
)
def test_manifests_list_tiles_or_name_the_bad_line(tmp_path, lines):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    try:
        refs = read_manifest(manifest)
    except RsqError as error:
        assert str(error).startswith(str(manifest))
        return
    assert all(isinstance(r.id, str) and r.id for r in refs)


@FUZZ
@given(
    document=st.one_of(
        JSON, st.fixed_dictionaries({"type": st.just("FeatureCollection"), "features": st.lists(RECORD, max_size=3)})
    )
)
def test_stac_files_list_tiles_or_say_what_is_wrong(tmp_path, document):
    stac = tmp_path / "s.json"
    stac.write_text(json.dumps(document))
    try:
        list_tiles(str(stac))
    except RsqError as error:
        assert str(error).startswith(str(stac))


@FUZZ
@given(
    suffix=st.sampled_from([".jsonl", ".json", ".csv"]),
    content=st.one_of(JSON.map(json.dumps), ANY_TEXT, st.lists(RECORD.map(json.dumps), max_size=4).map("\n".join)),
)
def test_annotation_files_read_or_fail_clearly(tmp_path, suffix, content):
    path = tmp_path / f"a{suffix}"
    path.write_text(content)
    try:
        records = read_annotations(path)
    except RsqError as error:
        assert str(error).startswith(f"{path}:"), error  # the error names the file
        return
    assert all(isinstance(record, dict) for record in records)
    for record in records:
        try:
            clean = checked_record(record)
        except RsqError as error:
            assert any(name in str(error) for name in ("caption", "label")), error  # ... or the field
            continue
        assert {"captions", "caption", "labels", "label"} & set(clean)


@FUZZ
@given(record=RECORD)
def test_annotation_records_are_cleaned_or_refused(record):
    try:
        clean = checked_record(record)
    except RsqError:
        return
    for name in ("captions", "labels"):
        if name in clean:
            assert isinstance(clean[name], list) and all(isinstance(v, str) for v in clean[name])


NUMBERS = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1000, 1000)), max_size=5).map(
    lambda v: ",".join(map(str, v))
)


@FUZZ
@given(
    sensor=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["rgb", "s1", "s2", "other"])),
    bbox=st.one_of(st.none(), NUMBERS, st.text(max_size=20)),
    near=st.one_of(st.none(), NUMBERS, st.text(max_size=20)),
    after=st.one_of(st.none(), st.dates().map(str), st.text(max_size=12)),
    before=st.one_of(st.none(), st.dates().map(str), st.text(max_size=12)),
)
def test_filters_parse_or_say_which_flag_is_wrong(sensor, bbox, near, after, before):
    try:
        filters = parse_filters(sensor, bbox, near, after, before)
    except RsqError as error:
        assert str(error).startswith("--")
        return
    columns = Columns.build(
        ["a", "b"],
        [TileAttrs.of({"sensor": "s1", "center": [1.0, 2.0], "time": "2020-01-01"}), TileAttrs.of({"sensor": "rgb"})],
    )
    mask = columns.mask(filters)
    assert mask is None or mask.dtype == np.bool_
    if filters.bbox:
        reach_cells(filters.bbox, columns.extent)
    if filters.near:
        reach_cells(filters.near_box(), 0.0)
    after_s, before_s = filters.time_range()
    if after_s is not None or before_s is not None:
        assert (
            range_dates(after_s, before_s, (after_s or 0, before_s or 0)) != [] or after_s is None or before_s is None
        )
