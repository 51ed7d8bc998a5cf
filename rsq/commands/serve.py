"""`rsq serve`: the HTTP API and the search page over one open index."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import check_range, warn
from rsq.errors import RsqError


def serve(
    index_dir: Annotated[
        Path | None, typer.Option("--index", help="Index folder (default $RSQ_HOME/indexes/default).")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback must be given explicitly.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    token: Annotated[
        str | None, typer.Option(envvar="RSQ_TOKEN", help="Require Authorization: Bearer TOKEN on every API call.")
    ] = None,
    basemap: Annotated[
        str,
        typer.Option(
            envvar="RSQ_BASEMAP",
            help=(
                "Map tile URL for the page, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (default: none, a "
                "plain background)."
            ),
        ),
    ] = "",
    query_encoder: Annotated[
        str | None, typer.Option(envvar="RSQ_QUERY_ENCODER", help="auto, torch or onnx-int8.")
    ] = None,
) -> None:
    """Serve the search API (/api, OpenAPI at /docs) and the search page (/) over an index."""
    from rsq.extras import require
    from rsq.query import Searcher

    check_range("--port", port, 1, 65535)
    if basemap and (not basemap.startswith(("http://", "https://")) or "{z}" not in basemap):
        raise RsqError(
            "--basemap wants a tile URL with {z}, {x} and {y}, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        )
    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from rsq.serve.app import create_app
    from rsq.serve.routing import UVICORN_OPTIONS

    index = Searcher(index_dir, query_encoder=query_encoder)
    index.warm()
    if not _loopback(host) and not token:
        warn(f"serving on {host} without --token: anyone who reaches this address can search the index")
    warn(f"rsq serve: {index.root} ({index.manifest.counts.get('tiles', 0)} tiles) on http://{host}:{port}/")
    uvicorn.run(create_app(index, token, basemap), host=host, port=port, **UVICORN_OPTIONS)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
