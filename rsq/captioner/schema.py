"""The caption schema: N free-text variants per tile plus structured fields, and its JSON Schema."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rsq.errors import RsqError
from rsq.landcover import corine

SENTENCE_CHARS = 300
PARAGRAPH_CHARS = 1200
WORD_CHARS = 40
LIST_ITEMS = 12
MAX_VARIANTS = 10
Word = Annotated[str, Field(max_length=WORD_CHARS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Feature(_Strict):
    """A visible feature and where it lies in the image (top = north)."""

    name: str = Field(max_length=WORD_CHARS * 2)
    position: str = Field("", max_length=WORD_CHARS)


class Variant(_Strict):
    """One caption variant: the scene in a sentence, features with positions, a paragraph."""

    one_sentence: str = Field(min_length=1, max_length=SENTENCE_CHARS)
    features: list[Feature] = Field(default_factory=list, max_length=LIST_ITEMS)
    caption: str = Field("", max_length=PARAGRAPH_CHARS)


class LandCover(_Strict):
    """A land-cover class and its rough share of the tile (0-1)."""

    name: str = Field(max_length=WORD_CHARS)
    share: float = Field(0.0, ge=0.0, le=1.0)


class ObjectNote(_Strict):
    """Countable objects with their appearance."""

    name: str = Field(max_length=WORD_CHARS)
    count: int | None = Field(None, ge=0)
    colour: str = Field("", max_length=WORD_CHARS)
    shape: str = Field("", max_length=WORD_CHARS)
    size: str = Field("", max_length=WORD_CHARS)
    density: str = Field("", max_length=WORD_CHARS)


class Event(_Strict):
    """An event visible in the tile: flood, fire, damage..."""

    kind: str = Field(max_length=WORD_CHARS)
    description: str = Field("", max_length=SENTENCE_CHARS)


class Captions(_Strict):
    """Everything a captioner says about one tile; only a variant's `one_sentence` is required."""

    variants: list[Variant] = Field(min_length=1, max_length=MAX_VARIANTS)
    land_cover_path: list[str] = Field(default_factory=list, max_length=3)  # CORINE names, level 1 down
    land_cover: list[LandCover] = Field(default_factory=list, max_length=LIST_ITEMS)
    objects: list[ObjectNote] = Field(default_factory=list, max_length=LIST_ITEMS)
    events: list[Event] = Field(default_factory=list, max_length=LIST_ITEMS)
    sensor_notes: str = Field("", max_length=SENTENCE_CHARS)
    keywords: list[Word] = Field(default_factory=list, max_length=LIST_ITEMS)

    @field_validator("land_cover_path")
    @classmethod
    def _a_path_of_the_nomenclature(cls, names: list[str]) -> list[str]:
        try:
            corine().path_code(names)
        except RsqError as error:
            raise ValueError(str(error)) from None
        return names


class CaptionParseError(RsqError):
    """Model output that is not valid JSON or does not fit the schema."""


SCHEMAS = ("structured", "brief")


def output_schema(kind: str = "structured", variants: int = 5) -> dict[str, Any]:
    """JSON Schema a model's output must satisfy: `structured` (all fields) or `brief` (one sentence)."""
    if kind == "brief":
        sentence = _inline_refs(Variant.model_json_schema())["properties"]["one_sentence"]
        return {
            "type": "object",
            "properties": {"one_sentence": sentence},
            "required": ["one_sentence"],
            "additionalProperties": False,
        }
    if kind != "structured":
        raise RsqError(f"unknown output schema {kind!r}; choose one of {', '.join(SCHEMAS)}")
    schema = _inline_refs(Captions.model_json_schema())
    schema["properties"]["variants"] |= {"minItems": variants, "maxItems": variants}
    schema["properties"]["land_cover_path"] = {"enum": corine().paths()}  # the grammar writes only real paths
    schema["required"] = ["variants", "land_cover_path"]
    return schema


def parse_captions(raw: str) -> Captions:
    """Validate model output: a `structured` object, or a `brief` object with `one_sentence` at the top."""
    try:
        data = json.loads(raw, strict=False)  # grammar-constrained strings may still hold control characters
    except json.JSONDecodeError as error:
        raise CaptionParseError(f"not JSON: {error.msg} at char {error.pos}") from None
    if isinstance(data, dict) and "variants" not in data and "one_sentence" in data:
        data = {"variants": [data]}
    try:
        return Captions.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise CaptionParseError(f"schema mismatch at {where}: {first['msg']}") from None


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace $ref/$defs with inline copies and drop titles; grammar compilers want plain schemas."""
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)
