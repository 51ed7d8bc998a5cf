import json

import pytest
from typer.testing import CliRunner

from rsq.captioner.backends import make_backend
from rsq.captioner.batch import run_job
from rsq.captioner.job import CaptionJob
from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.errors import RsqError
from rsq.prompts import load_template
from rsq.sources import list_tiles, ucm_captions


def test_cli_imports_all_2100_ucm_human_captions(data_dir, tmp_path):
    out = tmp_path / "ucm-human"
    args = ["caption", "data:ucm", "--model", f"annotations:{data_dir}/ucm-captions/captions.jsonl", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    records = list(CaptionStore(out).records())
    assert len(records) == 2100 and all(r.status == "ok" for r in records)
    truth = {item.id: item.captions for item in ucm_captions(data_dir)}
    for record in records[::97]:
        assert [v["one_sentence"] for v in record.captions["variants"]] == list(truth[record.tile_id])
        assert record.template.startswith("human-captions@") and record.model_revision
    again = CliRunner().invoke(app, [*args, "--data", str(data_dir)])
    assert "0 ok, 0 failed, 2100 already done" in again.stderr


def _import(tmp_path, annotation_file, template="human-captions", refs=None):
    template = load_template(template)
    backend = make_backend(f"annotations:{annotation_file}", template=template)
    store = CaptionStore(tmp_path / "store")
    run_job(refs, store, backend, CaptionJob(template, variants=1))
    return {r.tile_id: r for r in store.records()}


def test_coco_captions_json(data_dir, tmp_path):
    refs = list_tiles("data:ucm:test", data_dir)[:3]
    coco = {
        "images": [{"id": 100 + i, "file_name": f"{ref.id}.tif"} for i, ref in enumerate(refs)],
        "annotations": [
            {"image_id": 100, "caption": "A beach."},
            {"image_id": 100, "caption": "Sand and sea."},
            {"image_id": 101, "caption": "A forest."},
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    records = _import(tmp_path, path, refs=refs)
    assert [v["one_sentence"] for v in records[refs[0].id].captions["variants"]] == ["A beach.", "Sand and sea."]
    assert records[refs[2].id].status == "failed"  # an image with no captions


def test_csv_labels_crisislandmark_style(data_dir, tmp_path):
    refs = list_tiles("data:sen1floods11", data_dir)
    path = tmp_path / "labels.csv"
    path.write_text("image,labels\nSpain_7370579_S1Hand.tif,flood;cropland;river\nSpain_7370579_S2Hand.tif,cropland\n")
    records = _import(tmp_path, path, template="labels", refs=refs)
    s1 = records["Spain_7370579_S1Hand"].captions
    assert s1["variants"][0]["one_sentence"] == "flood. cropland. river"
    assert [c["name"] for c in s1["land_cover"]] == ["flood", "cropland", "river"]


def test_csv_rows_with_one_caption_each_merge(data_dir, tmp_path):
    refs = list_tiles("data:ucm:test", data_dir)[:1]
    path = tmp_path / "caps.csv"
    path.write_text(f"id,caption\n{refs[0].id},First.\n{refs[0].id},Second.\n")
    records = _import(tmp_path, path, refs=refs)
    assert [v["one_sentence"] for v in records[refs[0].id].captions["variants"]] == ["First.", "Second."]


def test_tiles_without_annotations_are_failed_records(data_dir, tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text('{"id": "nothing-here", "captions": ["x"]}\n')
    records = _import(tmp_path, path, refs=list_tiles("data:sen1floods11", data_dir))
    assert all(r.status == "failed" and "no annotation" in r.error for r in records.values())


def test_wrong_template_kind_and_bad_files(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("{}\n")
    with pytest.raises(RsqError, match="annotations need an annotation template"):
        make_backend(f"annotations:{path}", template=load_template("brief"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    with pytest.raises(RsqError, match="bad.jsonl:1: not valid JSON"):
        make_backend(f"annotations:{bad}")
    with pytest.raises(RsqError, match="not found"):
        make_backend(f"annotations:{tmp_path}/none.jsonl")


def _spreadsheet_csv(path, rows, delimiter=";", sep_line=False):
    """A CSV as Excel saves 'CSV UTF-8' in a locale whose list separator is ';' (de, fr, ...): a byte-order mark,
    CRLF line ends, quoted cells where needed, and trailing blank rows (cells of a formatted range)."""
    import csv
    import io

    text = io.StringIO(newline="")
    if sep_line:
        text.write(f"sep={delimiter}\r\n")
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([*rows, [""] * len(rows[0])])
    path.write_bytes(b"\xef\xbb\xbf" + text.getvalue().encode("utf-8"))


@pytest.mark.parametrize("delimiter,sep_line", [(";", False), (";", True), ("\t", False), (",", False)])
def test_csv_as_spreadsheets_save_it(data_dir, tmp_path, delimiter, sep_line):
    refs = list_tiles("data:ucm:test", data_dir)[:2]
    path = tmp_path / "caps.csv"
    rows = [
        [" ID ", "Caption", "Lon", "LAT", "Labels"],
        [refs[0].id, "A harbour; boats\nand piers.", "12,5" if delimiter != "," else "12.5", "41.9", "harbor|boats"],
        [refs[1].id, "Ein Wald: Bäume.", "-3", "40", "forest"],
    ]
    _spreadsheet_csv(path, rows, delimiter, sep_line)
    records = _import(tmp_path, path, refs=refs)
    assert [v["one_sentence"] for v in records[refs[0].id].captions["variants"]] == ["A harbour; boats\nand piers."]
    assert records[refs[1].id].captions["variants"][0]["one_sentence"] == "Ein Wald: Bäume."
    from rsq.sources.annotations import annotation_refs

    placed = {ref.id: ref.meta for ref in annotation_refs(path)}
    assert placed[refs[0].id]["lon"] == "12.5" and placed[refs[1].id]["lat"] == "40"


def test_csv_not_utf8_is_one_clear_line(tmp_path):
    path = tmp_path / "ansi.csv"
    path.write_bytes("id;caption\r\nx;Straße am Fluß\r\n".encode("cp1252"))
    result = CliRunner().invoke(app, ["caption", "--model", f"annotations:{path}", "--out", str(tmp_path / "s")])
    assert result.exit_code != 0 and "not UTF-8 text" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
