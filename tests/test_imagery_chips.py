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
    assert [c.name for c in chips] == [
        f"Spain_7370579_S1Hand_r{r}_c{c}.tif" for r in (0, 256) for c in (0, 256)
    ]
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
