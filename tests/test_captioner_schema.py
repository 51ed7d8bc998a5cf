import pytest

from rsq.captioner.schema import CaptionParseError, output_schema, parse_captions


def test_structured_schema_fixes_the_variant_count_and_bounds_every_string():
    schema = output_schema("structured", variants=3)
    variants = schema["properties"]["variants"]
    assert variants["minItems"] == variants["maxItems"] == 3
    assert variants["items"]["required"] == ["one_sentence"]
    assert "$defs" not in str(schema) and "$ref" not in str(schema)

    def strings(node):
        if isinstance(node, dict):
            if node.get("type") == "string":
                yield node
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    assert all("maxLength" in s for s in strings(schema))  # a grammar needs bounded strings to terminate


def test_brief_schema_is_one_sentence():
    assert output_schema("brief")["required"] == ["one_sentence"]
    assert list(output_schema("brief")["properties"]) == ["one_sentence"]


def test_only_one_sentence_is_required():
    captions = parse_captions('{"variants": [{"one_sentence": "A harbour with boats."}]}')
    assert captions.variants[0].caption == "" and captions.land_cover == [] and captions.events == []


def test_brief_output_becomes_one_variant_and_control_characters_are_tolerated():
    captions = parse_captions('{"one_sentence": "farm\tland\x01"}')
    assert captions.variants[0].one_sentence == "farm\tland\x01"


def test_full_structured_output():
    raw = (
        '{"variants":[{"one_sentence":"Flooded fields.","features":[{"name":"river","position":"centre"}],'
        '"caption":"Dark water covers fields."}],"land_cover":[{"name":"water","share":0.3}],'
        '"objects":[{"name":"building","count":12,"colour":"white","density":"sparse"}],'
        '"events":[{"kind":"flood","description":"standing water"}],"sensor_notes":"low VV","keywords":["flood"]}'
    )
    captions = parse_captions(raw)
    assert captions.objects[0].count == 12 and captions.events[0].kind == "flood"


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"variants": [{"one_sentence": "cut', "not JSON"),
        ('{"variants": []}', "schema mismatch at variants"),
        ('{"variants": [{"caption": "no sentence"}]}', "variants.0.one_sentence"),
        ('{"variants": [{"one_sentence": "x"}], "land_cover": [{"name": "w", "share": 3}]}', "land_cover.0.share"),
        ('["a list"]', "schema mismatch"),
    ],
)
def test_malformed_output_raises_a_parse_error(raw, message):
    with pytest.raises(CaptionParseError, match=message):
        parse_captions(raw)


def test_the_land_cover_path_is_a_path_of_the_nomenclature():
    from rsq.captioner.schema import output_schema, parse_captions

    choices = output_schema()["properties"]["land_cover_path"]["enum"]
    assert len(choices) == 64 and ["Water bodies", "Inland waters", "Water courses"] in choices
    ok = parse_captions('{"variants": [{"one_sentence": "x"}], "land_cover_path": ["Wetlands"]}')
    assert ok.land_cover_path == ["Wetlands"]
    with pytest.raises(CaptionParseError, match="not a CORINE Land Cover class under 'Wetlands'"):
        parse_captions('{"variants": [{"one_sentence": "x"}], "land_cover_path": ["Wetlands", "Forests"]}')
