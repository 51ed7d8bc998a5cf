"""The rsq command line: parse arguments, call one function, print. Command groups live in rsq/commands/."""

from __future__ import annotations

import errno
import os
import sys

import typer
from typer._click import exceptions as click_errors  # typer bundles its own click
from typer.core import TyperGroup

from rsq import __version__
from rsq.commands import caption, captions, evaluate, index, models, prompts, search, serve, tiles, train, tune
from rsq.errors import RsqError


class _UserErrorGroup(TyperGroup):
    """Every failure a user can cause ends as one line on stderr and a non-zero exit, never a traceback:
    rsq's own errors and OS errors (exit 2), and bad command lines (Click's usage errors, exit 2)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except RsqError as error:
            _fail(str(error))
        except OSError as error:
            if error.errno == errno.EPIPE:  # the reader of our output went away (`| head`)
                sys.stderr = open(os.devnull, "w")
                raise typer.Exit(1) from None
            _fail(f"{error.filename or 'rsq'}: {error.strerror or error}")

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as error:
            error.show()
            sys.exit(error.exit_code)
        except click_errors.ClickException as error:
            command = error.ctx.command_path if getattr(error, "ctx", None) else "rsq"
            typer.echo(f"rsq: error: {_one_line(error.format_message())} (see {command} --help)", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("rsq: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str) -> None:
    typer.echo(f"rsq: error: {_one_line(message)}", err=True)
    raise typer.Exit(2) from None


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


app = typer.Typer(
    cls=_UserErrorGroup,
    help="Text-first retrieval for remote-sensing archives.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("caption")(caption.caption)
app.command("index")(index.index)
app.command("search")(search.search)
app.command("demo")(search.demo)
app.command("serve")(serve.serve)
app.command("tune")(tune.tune)
app.add_typer(tiles.app, name="tiles")
app.add_typer(prompts.app, name="prompts")
app.add_typer(captions.app, name="captions")
app.add_typer(models.app, name="models")
app.add_typer(evaluate.app, name="eval")
app.add_typer(train.app, name="train")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """Text-first retrieval for remote-sensing archives."""


def main() -> None:
    """Console-script entry point."""
    app()
