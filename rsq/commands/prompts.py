"""`rsq prompts`: list, show, render and diff prompt templates."""

from __future__ import annotations

from typing import Annotated

import typer

from rsq.commands.common import DataOption

app = typer.Typer(help="Prompt templates (rsq/prompts/*.j2).", no_args_is_help=True)
NameArgument = Annotated[str, typer.Argument(help="Template name or .j2 path.")]


@app.command("list")
def list_() -> None:
    """Shipped templates with version, kind, output schema and description."""
    from rich.console import Console
    from rich.table import Table

    from rsq.prompts import list_templates

    table = Table("version", "kind", "schema", "description")
    for template in list_templates():
        table.add_row(template.version, template.kind, template.schema, template.description)
    Console(width=200).print(table)


@app.command("show")
def show(name: NameArgument) -> None:
    """The template file as written."""
    from rsq.prompts import load_template

    template = load_template(name)
    typer.echo(f"# {template.version}  ({template.path})", err=True)
    typer.echo(template.path.read_text())


@app.command("render")
def render(
    name: NameArgument,
    tile: Annotated[str, typer.Argument(help="A tile (file or data:NAME spec; the first tile is used).")],
    variants: Annotated[int, typer.Option(help="Variants to ask for.")] = 5,
    data: DataOption = None,
) -> None:
    """The prompt a VLM would get for TILE, with its hash."""
    from rsq.captioner.job import CaptionJob
    from rsq.captioner.reading import prepare_request
    from rsq.errors import RsqError
    from rsq.prompts import load_template
    from rsq.sources import list_tiles, open_tiles

    template = load_template(name)
    if template.kind != "vlm":
        raise RsqError(f"{template.name} is an annotation template; it renders annotation records, not tiles")
    tiles, skipped = open_tiles(list_tiles(tile, data)[:1])
    if not tiles:
        raise RsqError(f"cannot read {tile}: {skipped[0].reason if skipped else 'no tiles'}")
    prompt = prepare_request(tiles[0], CaptionJob(template, variants=variants), needs_image=False).prompt
    typer.echo(f"# {template.version} prompt {prompt.hash}", err=True)
    typer.echo(prompt.text, nl=False)


@app.command("diff")
def diff(a: NameArgument, b: NameArgument) -> None:
    """A unified diff of two templates."""
    import difflib

    from rsq.prompts import load_template

    first, second = load_template(a), load_template(b)
    lines = difflib.unified_diff(
        first.path.read_text().splitlines(keepends=True),
        second.path.read_text().splitlines(keepends=True),
        fromfile=first.version,
        tofile=second.version,
    )
    typer.echo("".join(lines), nl=False)
