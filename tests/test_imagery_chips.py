import pytest

from rsq.imagery import chip_scene, read_pixels, read_tile
from rsq.imagery.chips import chip_offsets


def test_chip_offsets_cover_the_scene_with_the_last_chip_flush():
    assert chip_offsets(512, 256, 0) == [0, 256]
    assert chip_offsets(512, 200, 20) == [0, 180, 312]
    assert chip_offsets(100, 256, 0) == [0]
    with pytest.raises(ValueError):
        chip_offsets(512, 256, 256)


def test_chips_keep_georeference_and_pixels(s1_path, tmp_path):
    chips = chip_scene(s1_path, 256, tmp_path)
    assert [c.name for c in chips] == [f"Spain_7370579_S1Hand_r{r}_c{c}.tif" for r in (0, 256) for c in (0, 256)]
    scene = read_tile(s1_path)
    scene_pixels = read_pixels(scene)
    chip = read_tile(chips[3])  # bottom-right
    assert chip.sensor == scene.sensor and chip.band_names == scene.band_names
    assert chip.shape == (2, 256, 256) and chip.crs == scene.crs
    west, south, east, north = scene.bounds
    assert chip.bounds == pytest.approx(((west + east) / 2, south, east, (south + north) / 2), abs=1e-9)
    assert (read_pixels(chip) == scene_pixels[:, 256:, 256:]).all()


def test_overlapping_chips(s2_path, tmp_path):
    chips = chip_scene(s2_path, 300, tmp_path, overlap=100)
    assert len(chips) == 9  # offsets 0, 200 and 212 (flush with the edge) on each axis
    assert read_tile(chips[-1]).band_names[8] == "B8A"


def test_chip_tiles_read_windows_in_place(s2_path, tmp_path):
    """Windows of a scene: ids by position, footprints that tile the scene's, pixels equal to the scene's slices;
    nothing is written."""
    import numpy as np

    from rsq.imagery import read_pixels, read_tile
    from rsq.imagery.chips import chip_tiles

    scene = read_tile(s2_path)
    chips, empty = chip_tiles(scene, 200, overlap=8)
    whole = read_pixels(scene)
    assert empty == []
    assert [c.id for c in chips][:2] == [f"{scene.id}@r0c0", f"{scene.id}@r0c192"] and len(chips) == 9
    for chip in chips:
        col, row, width, height = chip.window
        assert np.array_equal(read_pixels(chip), whole[:, row : row + height, col : col + width], equal_nan=True)
        west, south, east, north = chip.bounds
        assert (
            scene.bounds[0] - 1e-9 <= west < east <= scene.bounds[2] + 1e-9
            and scene.bounds[1] - 1e-9 <= south < north <= scene.bounds[3] + 1e-9
        )
    assert chip_tiles(chips[0], 64) == ([chips[0]], [])  # a window is not cut again
    assert list(tmp_path.iterdir()) == []


def no_data_scene(path, size: int = 128):
    """A georeferenced 3-band scene whose top-left quarter is no-data (0)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    data = np.random.default_rng(0).integers(1, 255, (3, size, size), dtype=np.uint8)
    data[:, : size // 2, : size // 2] = 0
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 3,
        "dtype": "uint8",
        "nodata": 0,
        "crs": "EPSG:32630",
        "transform": from_origin(500000, 4200000, 10, 10),
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def test_chips_without_a_valid_pixel_are_skipped(tmp_path):
    from rsq.imagery import read_tile
    from rsq.imagery.chips import chip_tiles

    scene = read_tile(no_data_scene(tmp_path / "scene.tif"))
    chips, empty = chip_tiles(scene, 64)
    assert empty == [f"{scene.id}@r0c0"] and [c.id.split("@")[1] for c in chips] == ["r0c64", "r64c0", "r64c64"]


@pytest.mark.parametrize(("row", "col"), [(0, 0), (63, 63), (70, 5), (127, 127), (64, 63)])
def test_one_valid_pixel_keeps_its_window(tmp_path, row, col):
    """The decimated scene mask still sees a single valid pixel, wherever it falls in its block."""
    import numpy as np
    import rasterio

    from rsq.imagery import read_tile
    from rsq.imagery.chips import chip_tiles

    path = no_data_scene(tmp_path / "scene.tif")
    with rasterio.open(path, "r+") as ds:
        data = np.zeros((3, 128, 128), dtype=np.uint8)
        data[:, row, col] = 200
        ds.write(data)
    scene = read_tile(path)
    chips, empty = chip_tiles(scene, 64)
    assert [c.id.split("@")[1] for c in chips] == [f"r{row // 64 * 64}c{col // 64 * 64}"], (chips, empty)
