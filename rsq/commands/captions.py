"""`rsq captions`: read a caption store (export, stats)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import JsonOption, print_json_lines

app = typer.Typer(help="Inspect caption stores.", no_args_is_help=True)
StoreArgument = Annotated[Path, typer.Argument(help="A folder written by `rsq caption`.")]


@app.command("export")
def export(
    directory: StoreArgument,
    status: Annotated[str | None, typer.Option(help="Only records with this status (ok or failed).")] = None,
) -> None:
    """Every record as one JSON object per line, provenance fields included."""
    from rsq.captioner.store import CaptionStore

    store = CaptionStore(directory, create=False)
    print_json_lines(record.to_dict() for record in store.records(status))


@app.command("stats")
def stats(directory: StoreArgument, json_lines: JsonOption = False) -> None:
    """Count records by status, model and template."""
    from rich.console import Console
    from rich.table import Table

    from rsq.captioner.store import CaptionStore

    rows = CaptionStore(directory, create=False).stats()
    if json_lines:
        print_json_lines(rows)
        return
    table = Table("status", "model", "template", "count")
    for row in rows:
        table.add_row(row["status"], row["model"], row["template"], str(row["count"]))
    Console(width=200).print(table)
