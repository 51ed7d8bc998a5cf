"""Choosing how a segment evaluates a filter: gathering an indexed range's rows, or one pass over the columns.

A filter's mask is made either from the rows of its narrowest sorted-index range (cost per row kept) or by one
vectorised pass over the columns (cost per row of the segment, by which conditions it tests). This measures both on
one segment's columns of stand-in tiles (bench/corpus.py: places, times and sensors as the index benchmark's),
saved and memory-mapped as a segment's are: the gather's cost per kept row, over time ranges keeping 1-20 % of the
rows, and each condition's pass cost per row with the index benchmark's filters (bench/index_scale.py). The ratios
are `rsq.textindex.columns.PASS_COSTS`.

Run: .venv/bin/python bench/filter_masks.py --rows 2000000   (writes bench/results/filter-masks.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from index_scale import FILTERS  # noqa: E402

from rsq.query import parse_filters  # noqa: E402
from rsq.textindex import columns as column_module  # noqa: E402
from rsq.textindex.columns import Columns, TileAttrs  # noqa: E402
from rsq.textindex.filters import Filters  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CONDITIONS = {  # PASS_COSTS key -> the filter that tests it alone
    "sensor": FILTERS["sensor"],
    "land_cover": {"land_cover": "3"},
    "time": FILTERS["time"],
    "bbox": FILTERS["bbox"],
    "near": FILTERS["near"],
}


def segment_columns(rows: int, folder: Path) -> Columns:
    """Stand-in tiles' columns, saved and opened memory-mapped as a segment's."""
    tiles = list(corpus.records(rows, ["stand-in."]))
    built = Columns.build([t.tile_id for t in tiles], [TileAttrs.of(t.tile, "311") for t in tiles])
    built.save(folder)
    return Columns.load(folder, built.extent)


def seconds(function, repeats: int = 20) -> float:
    """The median time of a call, after one untimed call."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def gather_ns(columns: Columns) -> dict[str, float]:
    """ns per kept row of a mask made from a time range's rows, for ranges keeping about 1, 5, 10 and 20 %."""
    keys = np.asarray(columns.index["time"].keys)
    found = {}
    column_module.PASS_COSTS["time"] = float("inf")  # always the range
    for share in (0.01, 0.05, 0.1, 0.2):
        low, high = int(keys[len(keys) // 3]), int(keys[len(keys) // 3 + int(share * len(keys))])
        filters = Filters(after=_moment(low), before=_moment(high))
        kept = int(np.count_nonzero(columns.mask(filters)))
        found[f"{share:.0%}"] = round(seconds(lambda f=filters: columns.mask(f)) * 1e9 / kept, 2)
    return found


def pass_ns(columns: Columns) -> dict[str, float]:
    """ns per row of one pass over the columns testing each condition alone."""
    return {
        name: round(seconds(lambda f=parse_filters(**values): columns._exact(f)) * 1e9 / len(columns), 3)
        for name, values in CONDITIONS.items()
    }


def _moment(epoch: int):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        columns = segment_columns(args.rows, Path(folder))
        passes, gathers = pass_ns(columns), gather_ns(columns)
    gather = float(np.median(list(gathers.values())))
    result = {
        "rows": args.rows,
        "gather_ns_per_kept_row": gathers,
        "pass_ns_per_row": passes,
        "pass_costs": {name: round(ns / gather, 3) for name, ns in passes.items()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "filter-masks.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
