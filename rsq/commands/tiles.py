"""`rsq tiles`: inspect, render and chip tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import DataOption, JsonOption, print_json_lines, warn

app = typer.Typer(help="Inspect, render and chip tiles.", no_args_is_help=True)


@app.command("info")
def info(
    sources: Annotated[list[str], typer.Argument(help="Files, folders, globs, .jsonl manifests, STAC .json or data:NAME[:SPLIT].")],
    json_lines: JsonOption = False,
    data: DataOption = None,
) -> None:
    """Show what each tile is: sensor, bands, shape, georeference, time."""
    from rsq.sources import list_many, open_tiles

    refs, clashes = list_many(sources, data)
    tiles, skipped = open_tiles(refs)
    skipped = clashes + skipped
    if json_lines:
        print_json_lines(tile.to_dict() for tile in tiles)
    else:
        _print_tile_table(tiles)
    _report_skipped(skipped)


@app.command("render")
def render(
    sources: Annotated[list[str], typer.Argument(help="Tiles to render (files, folders, globs, manifests, data:NAME).")],
    out: Annotated[Path, typer.Option("--out", help="Output image (.png/.jpg) for one tile, else a folder.")],
    view: Annotated[str, typer.Option(help="auto, true (colour), false (colour, NIR-R-G) or sar.")] = "auto",
    bands: Annotated[str | None, typer.Option(help="Three band names or 1-based indices, e.g. B12,B8,B4.")] = None,
    size: Annotated[int | None, typer.Option(help="Shrink to fit this many pixels on the longer side.")] = None,
    data: DataOption = None,
) -> None:
    """Render tiles of any sensor as 8-bit RGB images."""
    from rsq.errors import TileError
    from rsq.imagery import read_pixels, render_rgb, thumbnail
    from rsq.imagery.render import resolve_view
    from rsq.sources import Skipped, list_many, open_tiles

    refs, clashes = list_many(sources, data)
    tiles, skipped = open_tiles(refs)
    skipped = clashes + skipped
    to_file = len(tiles) == 1 and not skipped and out.suffix.lower() in (".png", ".jpg", ".jpeg")
    for tile in tiles:
        try:
            rgb = render_rgb(tile, read_pixels(tile), view=view, bands=bands.split(",") if bands else None)
        except TileError as error:
            skipped.append(Skipped(tile.id, error.path, error.reason))
            continue
        target = out if to_file else out / f"{tile.id}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(thumbnail(rgb, size or max(rgb.shape[:2]), fmt=target.suffix.lstrip(".")))
        warn(f"wrote {target} ({tile.sensor.value} tile, view {resolve_view(tile, view)})")
    _report_skipped(skipped)


@app.command("chip")
def chip(
    scene: Annotated[Path, typer.Argument(help="A large raster to cut.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the chips.")],
    size: Annotated[int, typer.Option(help="Chip size in pixels.")] = 256,
    overlap: Annotated[int, typer.Option(help="Overlap between neighbouring chips in pixels.")] = 0,
) -> None:
    """Cut a scene into georeferenced GeoTIFF chips; prints their paths."""
    from rsq.errors import RsqError
    from rsq.imagery import chip_scene

    if size <= 0 or not 0 <= overlap < size:
        raise RsqError(f"need --size > 0 and 0 <= --overlap < --size (got {size}, {overlap})")
    for path in chip_scene(scene, size, out, overlap):
        typer.echo(str(path))


def _report_skipped(skipped) -> None:
    """One stderr line per unreadable tile; exit code 1 when there were any."""
    for skip in skipped:
        warn(f"skipped {skip.path}: {skip.reason}")
    if skipped:
        raise typer.Exit(1)


def _print_tile_table(tiles) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "sensor", "bands", "size", "dtype", "crs", "centre lon/lat", "gsd m", "time")
    for tile in tiles:
        centre = f"{tile.center[0]:.4f}, {tile.center[1]:.4f}" if tile.center else "-"
        table.add_row(
            tile.id,
            tile.sensor.value,
            ",".join(tile.band_names),
            f"{tile.width}x{tile.height}",
            tile.dtype,
            tile.crs or "-",
            centre,
            f"{tile.gsd_m:.1f}" if tile.gsd_m else "-",
            tile.time.date().isoformat() if tile.time else "-",
        )
    Console(width=200).print(table)
