"""A filter's mask through the sorted indexes (sensor, time, longitude slab, grid cells) is the mask of the plain
vectorised test over every row, whichever range it narrows by: places across 180°, near the poles and unknown, times
unknown, every filter alone and combined."""

from datetime import UTC, datetime

import numpy as np
import pytest

from rsq.textindex import columns as column_module
from rsq.textindex.columns import Columns, TileAttrs, _gathered
from rsq.textindex.filters import SENSORS, Filters


def _attrs(rng: np.random.Generator, count: int) -> list[TileAttrs]:
    attrs = []
    for _ in range(count):
        if rng.random() < 0.05:  # no place
            geo = (float("nan"),) * 6
        else:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-89, 89)
            half = rng.choice([0.01, 0.5, 3.0])
            west, east = lon - half, lon + half
            west, east = (west + 360 if west < -180 else west), (east - 360 if east > 180 else east)  # across 180°
            geo = (lon, lat, west, max(-90, lat - half), east, min(90, lat + half))
        time = None if rng.random() < 0.05 else int(rng.uniform(1.4e9, 1.75e9))
        attrs.append(
            TileAttrs(str(rng.choice(SENSORS[:3])), time, tuple(float(v) for v in geo), "1" * rng.integers(0, 3))
        )
    return attrs


def _filters(rng: np.random.Generator) -> Filters:
    options: dict = {}
    if rng.random() < 0.4:
        options["sensor"] = str(rng.choice(SENSORS[:3]))
    if rng.random() < 0.4:
        start = rng.uniform(1.3e9, 1.8e9)
        options["after"] = datetime.fromtimestamp(start, UTC) if rng.random() < 0.8 else None
        options["before"] = datetime.fromtimestamp(start + rng.uniform(1e5, 3e8), UTC) if rng.random() < 0.8 else None
    if rng.random() < 0.5:
        west, south = rng.uniform(-180, 180), rng.uniform(-90, 80)
        east = west + rng.choice([0.5, 5, 40, 200])
        options["bbox"] = (west, south, east - 360 if east > 180 else east, min(90.0, south + rng.choice([1, 10, 60])))
    elif rng.random() < 0.3:
        options["near"] = (rng.uniform(-180, 180), rng.uniform(-89, 89), float(rng.choice([10, 300, 3000])))
    if rng.random() < 0.2:
        options["land_cover"] = "1"
    return Filters(**options)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ranges", ["by cost", "always"])
def test_indexed_masks_equal_the_full_pass(tmp_path, seed, ranges, monkeypatch):
    if ranges == "always":  # every filter through its narrowest range, however wide
        monkeypatch.setattr(column_module, "PASS_COSTS", dict.fromkeys(column_module.PASS_COSTS, float("inf")))
    rng = np.random.default_rng(seed)
    attrs = _attrs(rng, 20_000)
    Columns.build([f"t{n}" for n in range(len(attrs))], attrs).save(tmp_path)
    columns = Columns.load(tmp_path, Columns.build(["x"] * len(attrs), attrs).extent)
    assert "cell" in columns.index
    for _ in range(150):
        filters = _filters(rng)
        if filters.active:
            assert np.array_equal(columns.mask(filters), columns._exact(filters)), filters


def test_a_common_sensor_is_one_pass_and_a_rare_one_its_range(tmp_path, monkeypatch):
    """Gathering a fifth of the rows costs more than passing over a one-byte column; gathering 1 % costs less."""
    count = 20_000
    attrs = [
        TileAttrs("s1" if n % 100 == 0 else ("s2" if n % 5 == 0 else "rgb"), None, (float("nan"),) * 6)
        for n in range(count)
    ]
    Columns.build([f"t{n}" for n in range(count)], attrs).save(tmp_path)
    columns = Columns.load(tmp_path, 0.0)
    gathered = []
    monkeypatch.setattr(column_module, "_gathered", lambda *a: gathered.append(1) or _gathered(*a))
    for sensor, by_range in (("s2", False), ("s1", True)):
        gathered.clear()
        assert np.array_equal(columns.mask(Filters(sensor=sensor)), columns._exact(Filters(sensor=sensor)))
        assert bool(gathered) == by_range, sensor
