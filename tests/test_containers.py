"""Container files with subdatasets (NetCDF, HDF5): read as one tile stacking their 2-D variables.

The NetCDF fixture follows the layout of a CF-1.8 data cube as xarray/rioxarray write one (the CF conventions,
cfconventions.org, §4 and §5.6): 1-D `lat`/`lon` coordinate variables, a `spatial_ref` grid-mapping variable, one
2-D variable per band with `_FillValue` and `grid_mapping`, the acquisition time in the global attribute
`time_coverage_start` (ACDD), plus a scene-classification variable on a coarser grid of its own. It is written
with scipy's NetCDF-3 writer, not by GDAL, from the real Sentinel-2 chip of Sen1Floods11.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rsq.cli import app
from rsq.imagery import read_pixels, read_tile

BANDS = {"B02": 1, "B03": 2, "B04": 3, "B08": 7}  # variable: 0-based band of the Sen1Floods11 S2 chip


def _cf_cube(s2_path, out, side=256):
    import rasterio
    from scipy.io import netcdf_file

    with rasterio.open(s2_path) as ds:
        pixels, t = ds.read()[:, :side, :side], ds.transform
    lons, lats = t.c + t.a * (np.arange(side) + 0.5), t.f + t.e * (np.arange(side) + 0.5)
    with netcdf_file(out, "w") as nc:
        nc.Conventions, nc.time_coverage_start = "CF-1.8", "2019-09-18T10:50:31Z"
        for dim, values, name in (("lat", lats, "latitude"), ("lon", lons, "longitude")):
            nc.createDimension(dim, side)
            variable = nc.createVariable(dim, "f8", (dim,))
            variable[:], variable.standard_name, variable.units = (
                values,
                name,
                f"degrees_{'north' if dim == 'lat' else 'east'}",
            )
        for dim in ("lat20", "lon20"):
            nc.createDimension(dim, side // 2)
        ref = nc.createVariable("spatial_ref", "i4", ())
        ref.grid_mapping_name, ref.crs_wkt = (
            "latitude_longitude",
            'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
            'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]',
        )
        for name, band in BANDS.items():
            variable = nc.createVariable(name, "i2", ("lat", "lon"))
            variable[:], variable._FillValue, variable.grid_mapping = pixels[band], np.int16(0), "spatial_ref"
        nc.createVariable("SCL", "i2", ("lat20", "lon20"))[:] = np.ones((side // 2, side // 2), np.int16)
    return out


@pytest.fixture
def cube(s2_path, tmp_path):
    return _cf_cube(s2_path, tmp_path / "S2B_20190918_cube.nc")


def test_netcdf_cube_is_one_sentinel2_tile_of_its_band_variables(cube, s2_path):
    tile = read_tile(cube)
    assert tile.band_names == ("B2", "B3", "B4", "B8") and tile.sensor.value == "s2"
    assert (tile.width, tile.height) == (256, 256) and tile.crs in ("EPSG:4326", "OGC:CRS84")
    assert tile.time.isoformat() == "2019-09-18T10:50:31+00:00"
    reference = read_tile(s2_path)
    assert abs(tile.bounds[0] - reference.bounds[0]) < 1e-9 and abs(tile.bounds[3] - reference.bounds[3]) < 1e-9
    import rasterio

    with rasterio.open(s2_path) as ds:
        truth = ds.read()[[1, 2, 3, 7], :256, :256].astype(np.float32)
    pixels = read_pixels(tile)
    assert np.array_equal(np.nan_to_num(pixels), np.where(truth == 0, 0, truth))


def test_cli_lists_and_renders_containers_and_skips_an_empty_one(cube, tmp_path):
    from scipy.io import netcdf_file

    with netcdf_file(tmp_path / "table.nc", "w") as nc:  # a NetCDF without any 2-D variable: a station table
        nc.createDimension("station", 3)
        nc.createVariable("height", "f4", ("station",))[:] = [1, 2, 3]
    result = CliRunner().invoke(app, ["tiles", "info", str(tmp_path), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["S2B_20190918_cube.nc"]
    assert "skipped table.nc" in result.stderr and "not a readable raster" in result.stderr
    rendered = CliRunner().invoke(
        app, ["tiles", "render", str(cube), "--out", str(tmp_path / "png"), "--bands", "B8,B4,B3"]
    )
    assert rendered.exit_code == 0, rendered.output
    assert (tmp_path / "png" / "S2B_20190918_cube.nc.png").stat().st_size > 1000
