"""The rsq command line: parse arguments, call one function, print. Command groups live in rsq/commands/."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from rsq import __version__
from rsq.commands import caption, captions, evaluate, models, prompts, search, tiles, train
from rsq.errors import RsqError


class _UserErrorGroup(TyperGroup):
    """Turns an RsqError anywhere below into one line on stderr and exit code 2."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except RsqError as error:
            typer.echo(f"rsq: error: {error}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_UserErrorGroup,
    help="Text-first retrieval for remote-sensing archives.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("caption")(caption.caption)
app.command("index")(search.index)
app.command("search")(search.search)
app.command("demo")(search.demo)
app.add_typer(tiles.app, name="tiles")
app.add_typer(prompts.app, name="prompts")
app.add_typer(captions.app, name="captions")
app.add_typer(models.app, name="models")
app.add_typer(evaluate.app, name="eval")
app.add_typer(train.app, name="train")


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def main() -> None:
    """Console-script entry point."""
    app()
