"""Building a sharded index: each shard an ordinary index of the records of its tiles."""

from __future__ import annotations

from itertools import chain
from pathlib import Path

from rsq.captioner.records import OK
from rsq.shards.layout import records_of_shard, write_layout
from rsq.textindex.build import BuildOptions, BuildReport, index_records


def build_shards(caption_dirs: list[Path], root: Path, count: int, options: BuildOptions) -> list[BuildReport]:
    """Add the ok records of the caption stores to the `count` shards of `root`, one shard after another (each
    with its own writer lock; a shard's build reads the stores again and keeps its own tiles)."""
    from rsq.captioner.store import CaptionStore

    folders = write_layout(root, count)
    reports = []
    for number, folder in enumerate(folders):
        stores = [CaptionStore(d, create=False) for d in caption_dirs]
        records = chain.from_iterable(store.records(OK) for store in stores)
        reports.append(index_records(records_of_shard(records, number, count), folder, None, options))
    return reports
