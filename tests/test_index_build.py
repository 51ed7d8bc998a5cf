"""Builds through the CLI on real data: kill -9 during a real build, and filters on georeferenced tiles."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_output import hit_records
from conftest import import_annotations
from typer.testing import CliRunner

from rsq.cli import app
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.sources import ucm_captions
from rsq.textindex.build import BuildOptions, build_index
from rsq.textindex.commit import latest


def _manifest_of(items, path):
    path.write_text("".join(json.dumps({"id": i.id, "path": str(i.path)}) + "\n" for i in items))
    return path


@pytest.fixture(scope="module")
def ucm_test(data_dir):
    return ucm_captions(data_dir, "test")


def test_kill_9_during_a_build_leaves_the_old_index_searchable(data_dir, ucm_test, tmp_path):
    captions = data_dir / "ucm-captions" / "captions.jsonl"
    small = import_annotations(
        str(_manifest_of(ucm_test[:30], tmp_path / "small.jsonl")), captions, tmp_path / "small", data_dir
    )
    larger = import_annotations(
        str(_manifest_of(ucm_captions(data_dir)[:400], tmp_path / "l.jsonl")), captions, tmp_path / "l", data_dir
    )
    out = tmp_path / "index"
    build_index([small], out, BuildOptions(thumbnails=False))
    before = Searcher(out).search(SearchQuery("baseball field", k=3))
    command = [sys.executable, "-m", "rsq", "index", str(larger), "--out", str(out)]
    for trigger in ("early", "while-writing"):
        process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        if trigger == "early":
            time.sleep(1.0)
        else:
            while latest(out).number == 1 and time.time() < deadline and process.poll() is None:
                time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        index = Searcher(out)
        if trigger == "early":
            assert index.manifest.counts["tiles"] == 30
            assert [h.id for h in index.search(SearchQuery("baseball field", k=3))] == [h.id for h in before]
        else:  # killed after its first commit: what it published stays, whole
            assert index.manifest.counts["tiles"] > 30 and index.search(SearchQuery("baseball field", k=3))
    result = CliRunner().invoke(app, ["index", str(larger), "--out", str(out), "--no-thumbnails"])
    assert result.exit_code == 0, result.output
    expected = len({i.id for i in ucm_test[:30]} | {i.id for i in ucm_captions(data_dir)[:400]})
    assert Searcher(out).manifest.counts["tiles"] == expected and not list((out / "pending").glob("*.json"))


def test_filters_on_georeferenced_tiles(data_dir, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "image,labels\nSpain_7370579_S1Hand.tif,flood;water;cropland\nSpain_7370579_S2Hand.tif,flood;cropland\n"
    )
    store = import_annotations("data:sen1floods11", labels, tmp_path / "flood", data_dir, template="labels")
    out = tmp_path / "index"
    result = CliRunner().invoke(app, ["index", str(store), "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = Searcher(out)
    assert index.thumbnail("Spain_7370579_S1Hand").startswith(b"\xff\xd8")

    def ids(**filters):
        return sorted(h.id for h in index.search(SearchQuery("flood", filters=parse_filters(**filters))))

    both = ["Spain_7370579_S1Hand", "Spain_7370579_S2Hand"]
    assert ids() == both and ids(near="-0.76,38.1,5") == both and ids(bbox="-1,38,-0.5,38.5") == both
    assert ids(near="2.35,48.86,50") == []
    assert ids(sensor="s1") == ["Spain_7370579_S1Hand"]
    assert ids(after="2019-09-18") == ["Spain_7370579_S2Hand"] and ids(before="2019-09-17") == ["Spain_7370579_S1Hand"]
    cli = CliRunner().invoke(
        app, ["search", "flood", "--index", str(out), "--near", "-0.76,38.1,5", "--sensor", "s2", "--json"]
    )
    assert [r["id"] for r in hit_records(cli.stdout)] == ["Spain_7370579_S2Hand"]


def test_a_text_only_archive_from_an_annotation_file(tmp_path):
    archive = tmp_path / "archive.jsonl"
    rows = [
        {
            "id": "scene-1/chip-3",
            "captions": ["A flooded river plain with submerged fields."],
            "time": "2021-07-15",
            "lon": 6.9,
            "lat": 50.9,
            "sensor": "s2",
        },
        {
            "id": "scene-2/chip-1",
            "captions": ["Dry farmland with a few farm buildings."],
            "bbox": [2.0, 48.0, 3.0, 49.0],
        },
    ]
    archive.write_text("".join(json.dumps(row) + "\n" for row in rows))
    store, out = tmp_path / "store", tmp_path / "index"
    result = CliRunner().invoke(app, ["caption", "--model", f"annotations:{archive}", "--out", str(store)])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(app, ["index", str(store), "--out", str(out)]).exit_code == 0
    index = Searcher(out)
    assert [h.id for h in index.search(SearchQuery("flooded fields", k=1))] == ["scene-1/chip-3"]
    assert index.tile("scene-1/chip-3").sensor == "s2" and index.thumbnail("scene-1/chip-3") is None
    july = parse_filters(after="2021-07-01", before="2021-07-31")
    assert [h.id for h in index.search(SearchQuery("river farmland", filters=july))] == ["scene-1/chip-3"]
    paris = parse_filters(bbox="2.2,48.5,2.5,48.9")
    assert [h.id for h in index.search(SearchQuery("river farmland", filters=paris))] == ["scene-2/chip-1"]
    nothing = CliRunner().invoke(app, ["caption", "--model", "hf:some/model", "--out", str(tmp_path / "x")])
    assert nothing.exit_code == 2 and "give the tiles" in nothing.stderr
