import json

import pytest

from rsq.errors import SourceError
from rsq.sources import caption_corpus, list_many, list_tiles, open_tiles, sen1floods11, ucm_captions


def test_ucm_captions_splits_and_classes(data_dir):
    items = ucm_captions(data_dir)
    assert len(items) == 2100
    assert {s: sum(i.split == s for i in items) for s in ("train", "val", "test")} == {
        "train": 1680,
        "val": 210,
        "test": 210,
    }
    assert len({i.label for i in items}) == 21
    assert all(len(i.captions) == 5 and i.path.is_file() for i in items[:50])
    assert len(ucm_captions(data_dir, "test")) == 210
    with pytest.raises(SourceError, match="unknown UCM split"):
        ucm_captions(data_dir, "dev")


@pytest.mark.parametrize("name, count, first_label", [("rsitmd", 452, "boat"), ("rsicd", 1093, "airport")])
def test_caption_corpora(data_dir, name, count, first_label):
    items = caption_corpus(name, "test", data_dir)
    assert len(items) == count
    assert items[0].label == first_label and items[0].path is None
    assert all(len(i.captions) == 5 for i in items)


def test_sen1floods11_tiles_carry_dates_and_place(data_dir):
    chip = sen1floods11(data_dir)
    tiles, skipped = open_tiles(chip.tile_refs())
    assert not skipped
    s1, s2 = tiles
    assert (s1.sensor.value, s2.sensor.value) == ("s1", "s2")
    assert s1.time.date().isoformat() == "2019-09-17" and s2.time.date().isoformat() == "2019-09-18"
    assert s1.meta["place"] == "Spain"


def test_dataset_specs(data_dir):
    refs = list_tiles("data:ucm:test", data_dir)
    assert len(refs) == 210 and refs[0].meta["split"] == "test"
    assert len(list_tiles("data:sen1floods11", data_dir)) == 2
    assert [r.id for r in list_tiles("data:sen1floods11:s2", data_dir)] == ["Spain_7370579_S2Hand"]
    with pytest.raises(SourceError, match="unknown dataset"):
        list_tiles("data:imagenet", data_dir)


def test_folder_and_glob(data_dir):
    folder = data_dir / "sen1floods11"
    assert [r.id for r in list_tiles(str(folder))] == [
        "Spain_7370579_LabelHand.tif",
        "Spain_7370579_S1Hand.tif",
        "Spain_7370579_S2Hand.tif",
    ]
    assert [r.id for r in list_tiles(str(folder / "*S?Hand.tif"))] == [
        "Spain_7370579_S1Hand.tif",
        "Spain_7370579_S2Hand.tif",
    ]
    with pytest.raises(SourceError, match="no such file"):
        list_tiles(str(folder / "*.nothing"))


def test_jsonl_manifest_resolves_relative_paths(data_dir, tmp_path):
    manifest = tmp_path / "tiles.jsonl"
    s1 = data_dir / "sen1floods11" / "Spain_7370579_S1Hand.tif"
    (tmp_path / "a.jpg").write_bytes((data_dir / "ucm-captions/images/7.jpg").read_bytes())
    lines = [{"path": str(s1), "id": "flood-s1", "time": "2019-09-17T06:00:00Z", "place": "Murcia"}, {"image": "a.jpg"}]
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    tiles, skipped = open_tiles(list_tiles(str(manifest)))
    assert not skipped
    assert [t.id for t in tiles] == ["flood-s1", "a.jpg"]
    assert tiles[0].time.hour == 6 and tiles[0].meta == {"place": "Murcia"}


def test_bad_manifest_line_names_file_and_line(tmp_path):
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text('{"path": "x.tif"}\n{oops\n')
    with pytest.raises(SourceError, match="bad.jsonl:2: not valid JSON"):
        list_tiles(str(manifest))


def test_stac_item_collection(data_dir, tmp_path):
    def item(item_id, href, when):
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": item_id,
            "properties": {"datetime": when, "platform": "sentinel-1a"},
            "geometry": {"type": "Point", "coordinates": [-0.76, 38.1]},
            "bbox": [-0.78, 38.08, -0.74, 38.13],
            "assets": {
                "thumb": {"href": "thumb.png", "roles": ["thumbnail"]},
                "data": {"href": href, "roles": ["data"]},
            },
            "links": [],
        }

    s1 = data_dir / "sen1floods11" / "Spain_7370579_S1Hand.tif"
    stac = tmp_path / "items.json"
    stac.write_text(
        json.dumps({"type": "FeatureCollection", "features": [item("s1-spain", str(s1), "2019-09-17T18:00:00Z")]})
    )
    tiles, skipped = open_tiles(list_tiles(str(stac)))
    assert not skipped
    assert tiles[0].id == "s1-spain" and tiles[0].time.hour == 18
    assert tiles[0].meta["platform"] == "sentinel-1a" and tiles[0].meta["bbox"] == [-0.78, 38.08, -0.74, 38.13]


def test_unreadable_tiles_are_skipped_and_recorded(data_dir, tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"nope")
    (tmp_path / "good.jpg").write_bytes((data_dir / "ucm-captions/images/7.jpg").read_bytes())
    tiles, skipped = open_tiles(list_tiles(str(tmp_path)))
    assert [t.id for t in tiles] == ["good.jpg"]
    assert skipped[0].id == "broken.tif" and "not a readable raster" in skipped[0].reason


def test_same_named_files_in_nested_folders_get_unique_ids(data_dir, tmp_path):
    jpeg = (data_dir / "ucm-captions/images/7.jpg").read_bytes()
    for name in ("a/1.jpg", "b/1.jpg", "a/1.png", "a/deeper/B04.tif", "b/deeper/B04.tif"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(jpeg)
    ids = [r.id for r in list_tiles(str(tmp_path))]
    assert ids == ["a/1.jpg", "a/1.png", "a/deeper/B04.tif", "b/1.jpg", "b/deeper/B04.tif"]
    assert [r.id for r in list_tiles(str(tmp_path / "*" / "deeper" / "B04.tif"))] == [
        "a/deeper/B04.tif",
        "b/deeper/B04.tif",
    ]
    assert [r.id for r in list_tiles(str(tmp_path / "a" / "1.jpg"))] == ["1.jpg"]


def test_clashing_ids_across_sources_are_skipped_with_the_reason(data_dir, tmp_path):
    jpeg = (data_dir / "ucm-captions/images/7.jpg").read_bytes()
    for name in ("x/1.jpg", "y/1.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(jpeg)
    refs, clashes = list_many([str(tmp_path / "x"), str(tmp_path / "y"), str(tmp_path / "x")])
    assert [r.path for r in refs] == [tmp_path / "x" / "1.jpg"]
    assert (
        len(clashes) == 1 and clashes[0].path == str(tmp_path / "y" / "1.jpg") and "already taken" in clashes[0].reason
    )
