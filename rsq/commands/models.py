"""`rsq models`: the backend registry."""

from __future__ import annotations

import typer

app = typer.Typer(help="Model backends.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """Every backend scheme, the extra it needs and what it does."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rsq.captioner.backends import DEFAULT_MODEL, REGISTRY

    table = Table("scheme", "extra", "backend", title=f"default model: {DEFAULT_MODEL}")
    for info in REGISTRY.values():
        table.add_row(f"{info.scheme}:", escape(f"rsq[{info.extra}]") if info.extra else "-", info.summary)
    Console(width=200).print(table)
