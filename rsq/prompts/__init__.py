"""Prompt templates: Jinja files with YAML front matter, versioned by the hash of their content."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsq.errors import RsqError
from rsq.landcover import corine

PROMPTS_DIR = Path(__file__).parent
KINDS = ("vlm", "annotation")


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt ready for a backend, with the hash that identifies its exact text."""

    text: str
    hash: str


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template file: front matter fields plus the Jinja body."""

    name: str
    path: Path
    body: str
    version: str  # name@<12 hex of sha256 over the file and the partials it includes>
    description: str = ""
    kind: str = "vlm"
    schema: str = "structured"
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, **context: Any) -> RenderedPrompt:
        """Render with StrictUndefined: a variable the caller did not give is an error, not a blank."""
        import jinja2

        try:
            text = _compiled(self.body).render(**context).strip() + "\n"
        except jinja2.UndefinedError as error:
            raise RsqError(f"template {self.name}: {error.message}") from None
        except (
            jinja2.TemplateError,
            TypeError,
            ValueError,
            AttributeError,
        ) as error:  # a template or its data went wrong
            raise RsqError(f"template {self.name}: {type(error).__name__}: {error}") from None
        return RenderedPrompt(text, sha256_hex(text))


def sha256_hex(text: str, length: int = 12) -> str:
    """The first `length` hex digits of the sha256 of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def list_templates() -> list[PromptTemplate]:
    """The templates shipped with rsq (files starting with `_` are partials)."""
    return [load_template(p) for p in sorted(PROMPTS_DIR.glob("*.j2")) if not p.name.startswith("_")]


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """A shipped template by name, or any .j2 file by path."""
    path = Path(name_or_path)
    if path.suffix != ".j2":
        path = PROMPTS_DIR / f"{name_or_path}.j2"
    if not path.is_file():
        names = ", ".join(t.name for t in list_templates())
        raise RsqError(f"no prompt template {str(name_or_path)!r}; shipped templates: {names}")
    front, body = _split_front_matter(path)
    if not isinstance(front, dict) or not isinstance(front.get("params") or {}, dict):
        raise RsqError(f"{path}: front matter must be a YAML mapping (name, kind, schema, params: a mapping)")
    name = str(front.get("name", path.stem))
    kind = str(front.get("kind", "vlm"))
    if kind not in KINDS:
        raise RsqError(f"{path}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return PromptTemplate(
        name=name,
        path=path,
        body=body,
        version=f"{name}@{sha256_hex(_versioned_source(path, body))}",
        description=str(front.get("description", "")),
        kind=kind,
        schema=str(front.get("schema", "structured")),
        params=dict(front.get("params") or {}),
    )


def _split_front_matter(path: Path) -> tuple[dict[str, Any], str]:
    import yaml

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RsqError(f"{path}: cannot read the template ({error})") from None
    if not text.startswith("---\n"):
        return {}, text
    header, sep, body = text[4:].partition("\n---\n")
    if not sep:
        raise RsqError(f"{path}: front matter opened with --- but never closed")
    try:
        front = yaml.safe_load(header) or {}
    except yaml.YAMLError as error:
        raise RsqError(f"{path}: front matter is not valid YAML ({error})") from None
    return front, body


def _versioned_source(path: Path, body: str) -> str:
    """The file's text followed by every partial it includes, so editing a partial changes the version."""
    from jinja2 import TemplateSyntaxError, meta

    try:
        included = meta.find_referenced_templates(_environment().parse(body))
    except TemplateSyntaxError as error:
        raise RsqError(f"{path}: template syntax error on line {error.lineno} of the body: {error.message}") from None
    parts = [path.read_text()]
    for name in sorted(n for n in included if n):
        partial = PROMPTS_DIR / name
        parts.append(partial.read_text() if partial.is_file() else "")
    return "\n".join(parts)


@functools.cache
def _compiled(body: str):
    return _environment().from_string(body)


@functools.cache
def _environment():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPTS_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["land_cover_path"] = land_cover_path
    environment.globals["land_cover_paths"] = [" > ".join(path) for path in corine().paths() if len(path) == 3]
    return environment


def land_cover_path(labels: Any) -> list[str]:
    """Jinja filter: the CORINE path by name of the first of `labels` (a label or a list) that a source maps."""
    for label in [labels] if isinstance(labels, str) else list(labels or []):
        if (code := corine().label_code(str(label))) is not None:
            return corine().names(code)
    return []
