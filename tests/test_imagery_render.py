import io

import numpy as np
import pytest
from PIL import Image

from rsq.errors import TileError
from rsq.imagery import Sensor, Tile, read_pixels, read_tile, render_rgb, thumbnail


def _rendered(path, **kwargs):
    tile = read_tile(path)
    return render_rgb(tile, read_pixels(tile), **kwargs)


def test_ucm_tile_renders_unchanged(ucm_tile_path):
    rgb = _rendered(ucm_tile_path)
    original = np.asarray(Image.open(ucm_tile_path).convert("RGB"))
    assert rgb.dtype == np.uint8 and rgb.shape == (256, 256, 3)
    assert np.array_equal(rgb, original)


def test_s2_true_and_false_colour_are_stretched(s2_path):
    true = _rendered(s2_path, view="true")
    false = _rendered(s2_path, view="false")
    assert true.shape == false.shape == (512, 512, 3)
    for rgb in (true, false):
        low, high = np.percentile(rgb, [1, 99])
        assert low < 20 and high > 235  # the percentile stretch uses the full range
    # vegetation is bright in NIR: the false-colour red channel is brighter than true-colour red
    assert false[..., 0].mean() > true[..., 0].mean() + 20


def test_sar_composite_shows_flood_water_dark(s1_path, data_dir):
    rgb = _rendered(s1_path)
    label_tile = read_tile(data_dir / "sen1floods11" / "Spain_7370579_LabelHand.tif")
    water = read_pixels(label_tile)[0] == 1
    assert rgb.shape == (512, 512, 3)
    vv = rgb[..., 0].astype(float)
    assert vv[water].mean() < vv[~water].mean() - 30  # open water backscatters little


def test_linear_sar_gets_converted_to_db():
    tile = Tile("t", "t.tif", Sensor.S1, ("VV", "VH"), (2, 2, 2), "float32")
    db = np.array([[[-10.0, -20.0], [-5.0, -25.0]], [[-15.0, -25.0], [-10.0, -30.0]]], dtype=np.float32)
    linear = (10 ** (db / 10)).astype(np.float32)
    assert np.array_equal(render_rgb(tile, linear), render_rgb(tile, db))


def test_nan_and_nodata_render_black_and_stretch_ignores_them():
    tile = Tile("t", "t.tif", Sensor.S2, ("B2", "B3", "B4", "B8"), (4, 3, 3), "int16")
    pixels = np.tile(np.arange(9, dtype=np.float32).reshape(3, 3) * 100 + 100, (4, 1, 1))
    pixels[:, 0, 0] = np.nan
    pixels[:, 2, 2] = 1e9  # a hot pixel beyond the 98th percentile clips to white
    rgb = render_rgb(tile, pixels, view="true")
    assert rgb[0, 0].tolist() == [0, 0, 0]
    assert rgb[2, 2].tolist() == [255, 255, 255]
    all_nan = np.full((4, 3, 3), np.nan, dtype=np.float32)
    assert render_rgb(tile, all_nan).max() == 0


def test_explicit_bands_by_name_or_index(s2_path):
    by_name = _rendered(s2_path, bands=["B12", "B8", "B4"])
    by_index = _rendered(s2_path, bands=["13", "8", "4"])
    assert np.array_equal(by_name, by_index)


@pytest.mark.parametrize("view", ["false", "sar"])
def test_views_a_tile_lacks_raise_clear_errors(ucm_tile_path, view):
    with pytest.raises(TileError, match=f"the '{view}' view needs bands"):
        _rendered(ucm_tile_path, view=view)


def test_unknown_view_and_band(s2_path):
    with pytest.raises(TileError, match="unknown view"):
        _rendered(s2_path, view="infrared")
    with pytest.raises(TileError, match="no band 'B99'"):
        _rendered(s2_path, bands=["B99", "B8", "B4"])


@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("jpeg", b"\xff\xd8")])
def test_thumbnail_bytes(s2_path, fmt, magic):
    data = thumbnail(_rendered(s2_path), max_size=128, fmt=fmt)
    assert data.startswith(magic)
    assert Image.open(io.BytesIO(data)).size == (128, 128)
