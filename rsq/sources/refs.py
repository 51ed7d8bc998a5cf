"""TileRef: a tile named by a source (path, id, extra metadata) before its file is opened."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsq.errors import TileError
from rsq.imagery import Tile, read_tile
from rsq.imagery.chips import chip_tiles
from rsq.imagery.gdal import load_readers
from rsq.parallel import prefetch


@dataclass(frozen=True)
class TileRef:
    """A tile as a source lists it; `meta` may carry time, place, class, split."""

    id: str
    path: Path | str  # a local path, or a GDAL virtual path to a remote file (/vsicurl/…, /vsis3/…)
    meta: dict[str, Any] = field(default_factory=dict)
    pixels: bool = True  # False: a tile known only by its metadata (captions imported without the image)
    bands: tuple[tuple[str, str], ...] = ()  # (band name, file) per band when the tile is stacked from band files
    nodata: float | None = None  # no-data value for band files that declare none


@dataclass(frozen=True)
class Skipped:
    """A tile that could not be read, and why."""

    id: str
    path: str
    reason: str

    def describe(self) -> str:
        """`ID (PATH): reason`, the file left out when it is the id."""
        where = f" ({self.path})" if self.path and self.path != self.id else ""
        return f"{self.id}{where}: {self.reason}"


NO_DATA = "all no-data"  # the reason of a skipped chip without a valid pixel (counted, not a failure)


def open_tiles(refs: Iterable[TileRef], chip: tuple[int, int] | None = None) -> tuple[list[Tile], list[Skipped]]:
    """Read each ref's metadata (with `chip` = (size, overlap), a scene becomes its windows); unreadable tiles are
    skipped and recorded, never raised."""
    tiles, skipped = [], []
    for _, opened, missed in open_chunks(refs, chip):
        tiles += opened
        skipped += missed
    return tiles, skipped


def open_chunks(
    refs: Iterable[TileRef],
    chip: tuple[int, int] | None = None,
    workers: int = 1,
    size: int | None = None,
    claim: Callable[[str, str], bool] | None = None,
) -> Iterator[tuple[int, list[Tile], list[Skipped]]]:
    """(refs read, tiles, skipped) per chunk of at least `size` tiles (the last may be smaller; no `size`: one
    chunk), however many windows a scene makes; refs are read on `workers` threads (GDAL waits on disks and
    networks without the GIL). A window is kept only if `claim(id, path)` takes its id (`Listing.claim`), so
    a chip never replaces a listed tile of the same id."""
    load_readers()  # before the threads: rasterio imported by several at once fails
    listed, tiles, skipped = 0, [], []
    for ref, (opened, missed) in prefetch(lambda ref: open_ref(ref, chip), refs, workers):
        listed += 1
        tiles += [t for t in opened if not claim or t.id == ref.id or claim(t.id, str(ref.path))]
        skipped += missed
        if size and len(tiles) >= size:
            yield listed, tiles, skipped
            listed, tiles, skipped = 0, [], []
    if listed:
        yield listed, tiles, skipped


def open_ref(ref: TileRef, chip: tuple[int, int] | None = None) -> tuple[list[Tile], list[Skipped]]:
    """One ref's tiles (its windows with `chip`) and what was skipped of it (unreadable, or empty windows)."""
    try:
        if not ref.pixels:
            return [Tile.described(ref.id, ref.meta)], []
        tile = read_tile(ref.path, ref.id, ref.meta, ref.bands, ref.nodata)
        if not chip:
            return [tile], []
        windows, empty = chip_tiles(tile, *chip)
        return windows, [Skipped(chip_id, str(ref.path), NO_DATA) for chip_id in empty]
    except TileError as error:
        return [], [Skipped(ref.id, error.path, error.reason)]
