import re

import pytest

from rsq.errors import RsqError
from rsq.prompts import list_templates, load_template, sha256_hex

TILE = dict(sensor="rgb", width=256, height=256, gsd_m=0.3, place=None, date=None, lat=None, lon=None)


def test_shipped_templates_and_versions():
    names = {t.name: t for t in list_templates()}
    assert {"structured", "brief", "human-captions", "labels"} <= set(names)
    for template in names.values():
        assert re.fullmatch(rf"{template.name}@[0-9a-f]{{12}}", template.version)
    assert names["structured"].schema == "structured" and names["brief"].schema == "brief"
    assert names["structured"].params["max_new_tokens"] > 0


def test_rendering_is_sensor_aware_and_hashed():
    template = load_template("structured")
    optical = template.render(tile=TILE, view="true", variants=5)
    sar = template.render(tile={**TILE, "sensor": "s1", "place": "Spain", "date": "2019-09-17"}, view="sar", variants=5)
    false_colour = template.render(tile={**TILE, "sensor": "s2"}, view="false", variants=3)
    assert "synthetic aperture radar" in sar.text and "backscatter" in sar.text and "Spain" in sar.text
    assert "natural colour" in optical.text and "radar" not in optical.text
    assert "near-infrared as red" in false_colour.text and "exactly 3" in false_colour.text
    assert optical.hash == sha256_hex(optical.text) and optical.hash != sar.hash


def test_strict_undefined_names_the_missing_variable():
    with pytest.raises(RsqError, match="variants"):
        load_template("structured").render(tile=TILE, view="true")


def test_version_follows_content(tmp_path):
    original = load_template("brief").path.read_text()
    (tmp_path / "brief.j2").write_text(original)
    (tmp_path / "edited.j2").write_text(original.replace("one sentence", "a single sentence"))
    same = load_template(tmp_path / "brief.j2")
    edited = load_template(tmp_path / "edited.j2")
    assert same.version == load_template("brief").version
    assert edited.name == "brief" and edited.version != same.version


def test_bad_templates(tmp_path):
    with pytest.raises(RsqError, match="no prompt template 'nope'"):
        load_template("nope")
    unclosed = tmp_path / "x.j2"
    unclosed.write_text("---\nname: x\nno end")
    with pytest.raises(RsqError, match="never closed"):
        load_template(unclosed)
    bad_kind = tmp_path / "y.j2"
    bad_kind.write_text("---\nkind: poem\n---\nhi")
    with pytest.raises(RsqError, match="kind must be"):
        load_template(bad_kind)


def test_annotation_templates_render_schema_json():
    from rsq.captioner.schema import parse_captions

    human = load_template("human-captions").render(record={"captions": ["A farm .", "  ", "Fields."]})
    assert [v.one_sentence for v in parse_captions(human.text).variants] == ["A farm .", "Fields."]
    labels = parse_captions(load_template("labels").render(record={"labels": ["water", "cropland"]}).text)
    assert labels.variants[0].one_sentence == "water. cropland" and [c.name for c in labels.land_cover] == [
        "water",
        "cropland",
    ]
