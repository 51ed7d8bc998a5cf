"""Building a sharded index: each shard an ordinary index of the records of its tiles."""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

from rsq.captioner.records import OK
from rsq.shards.layout import shard_of, shard_roots, write_layout
from rsq.textindex.build import BuildOptions, BuildReport, LazyEmbedder, Progress, closp_images, index_records_into
from rsq.textindex.commit import latest


def build_shards(
    caption_dirs: list[Path],
    root: Path,
    count: int | None,
    options: BuildOptions,
    image_encoder: Any = None,
    on_step: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> list[BuildReport]:
    """Add the ok records of the caption stores to the shards of `root` (`count` of them, made if needed; None:
    the shards it has), each with its own writer lock and generations, in one pass over the stores: each record to
    the shard its tile's id hashes to, each chunk's texts embedded once, as one index of them all would embed them."""
    from rsq.captioner.store import CaptionStore

    folders = write_layout(root, count) if count is not None else shard_roots(root)
    stores = [CaptionStore(d, create=False) for d in caption_dirs]
    if progress:
        progress.set_total(sum(store.count(OK) for store in stores))
    if on_step:
        on_step(f"{len(folders)} shards in {root}")
    records = chain.from_iterable(store.records(OK) for store in stores)
    return index_records_into(
        records,
        folders,
        lambda record: shard_of(record.tile_id, len(folders)),
        LazyEmbedder(_embedder_spec(folders, options), options),
        options,
        closp_images(image_encoder) if image_encoder else None,
        on_step,
        progress,
    )


def _embedder_spec(folders: list[Path], options: BuildOptions) -> str:
    """The text encoder of the shards: the one asked for, else the one the shards were built with, else the
    default."""
    from rsq.encoders import canonical_spec, default_embedder

    if options.embedder:
        return canonical_spec(options.embedder)
    built = [generation.manifest.embedder for folder in folders if (generation := latest(folder)) is not None]
    return built[0] if built else canonical_spec(default_embedder())
