"""Options and output helpers shared by the CLI command groups."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rsq.sources import Skipped

DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="RSQ_DATA", help="Shared data folder (default: ../shared/data beside the checkout)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")]


def check_range(flag: str, value: float | None, low: float | None = None, high: float | None = None) -> None:
    """Refuse an option value outside [low, high] before any work starts (None: the option was not given)."""
    from rsq.errors import check_range as check

    check(flag.removeprefix("--").replace("-", "_"), value, low, high)


def print_json_lines(records: Iterable[dict[str, Any]]) -> None:
    """One JSON object per line on stdout."""
    for record in records:
        sys.stdout.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")


def warn(message: str) -> None:
    """A line on stderr (a name that is not valid UTF-8 is shown with backslash escapes, never raised on)."""
    typer.echo(message.encode("utf-8", "backslashreplace").decode("utf-8"), err=True)


def skipped_line(skip: Skipped) -> str:
    """The line a command prints for a skipped tile: its id (a STAC Item's, not its first band file's), the file,
    and why."""
    return f"skipped {skip.describe()}"


class ProgressBar:
    """A rich progress bar on stderr with count, rate and ETA; silent when stderr is not a terminal."""

    def __init__(self, label: str, unit: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(f"{{task.fields[rate]}} {unit}/s"),
            TimeRemainingColumn(),
            disable=not sys.stderr.isatty(),
        )
        self._task = self._progress.add_task(label, total=None, rate="-")

    def set_total(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def add_total(self, change: int) -> None:
        """Correct the total as the work becomes known (tiles found done, scenes cut into chips)."""
        task = self._progress.tasks[0]
        self._progress.update(self._task, total=max((task.total or 0) + change, task.completed))

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)
        speed = self._progress.tasks[0].speed
        self._progress.update(self._task, rate=f"{speed:.2f}" if speed else "-")


@contextmanager
def progress_bar(label: str, unit: str) -> Iterator[ProgressBar]:
    bar = ProgressBar(label, unit)
    with bar._progress:
        yield bar
