"""Options and output helpers shared by the CLI command groups."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="RSQ_DATA", help="Shared data folder (default: ../shared/data beside the checkout)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")]


def print_json_lines(records: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line on stdout."""
    for record in records:
        sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


def warn(message: str) -> None:
    """A line on stderr."""
    typer.echo(message, err=True)
