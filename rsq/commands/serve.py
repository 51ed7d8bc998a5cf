"""`rsq serve`: the HTTP API and the search page over one open index."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import check_range, warn
from rsq.errors import RsqError
from rsq.shards.layout import MAX_SHARDS, is_sharded, shard_roots


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
    shards: Annotated[
        int | None,
        typer.Option(
            help=(
                "Serve a sharded index (`rsq index --shards N`) on Ray Serve: each of its N shards a deployment, this "
                "server the router."
            )
        ),
    ] = None,
    replicas: Annotated[int, typer.Option(help="Ray Serve replicas per shard (with --shards).")] = 1,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address for --shards (default: a local Ray).")
    ] = None,
) -> None:
    """Serve the search API (/api, OpenAPI at /docs) and the search page (/) over an index."""
    from rsq.extras import require

    check_range("--port", port, 1, 65535)
    check_range("--shards", shards, 1, MAX_SHARDS)
    check_range("--replicas", replicas, 1, 1024)
    if basemap and (not basemap.startswith(("http://", "https://")) or "{z}" not in basemap):
        raise RsqError(
            "--basemap wants a tile URL with {z}, {x} and {y}, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        )
    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    from rsq.serve.app import create_app
    from rsq.serve.routing import UVICORN_OPTIONS

    index = _open(index_dir, query_encoder, shards, replicas, address)
    if not _loopback(host) and not token:
        warn(f"serving on {host} without --token: anyone who reaches this address can search the index")
    shown = f", {shards} shards on Ray Serve" if shards else ""
    warn(f"rsq serve: {index.root} ({index.manifest.counts.get('tiles', 0)} tiles{shown}) on http://{host}:{port}/")
    uvicorn.run(create_app(index, token, basemap), host=host, port=port, **UVICORN_OPTIONS)


def _open(index_dir: Path | None, query_encoder: str | None, shards: int | None, replicas: int, address: str | None):
    """The index to serve: one Searcher, a sharded index searched in this process, or (--shards) its shards
    deployed on Ray Serve with this process as the router."""
    from rsq.config import default_index_path
    from rsq.shards.router import open_index

    root = index_dir or default_index_path()
    if shards is None:
        index = open_index(root, query_encoder=query_encoder)
        index.warm()
        return index
    if not is_sharded(root):
        raise RsqError(
            f"--shards {shards}: {root} is not a sharded index; build one with `rsq index --shards {shards}`"
        )
    if len(shard_roots(root)) != shards:
        raise RsqError(f"--shards {shards}: {root} holds {len(shard_roots(root))} shards")
    from rsq.serve.sharded import deploy_shards

    return deploy_shards(root, replicas, address, query_encoder)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
