"""Container files (NetCDF, HDF5, HDF4-EOS) whose rasters are subdatasets, one variable each: a tile stacks the
2-D variables that share the container's main grid, in file order, named by variable, as band files are stacked.

Coordinate variables (lat, lon, time, crs ...) are left out; variables on another grid (a 500 m band beside
250 m ones) are left out too, since a tile is one grid. The acquisition time comes from the container's own
CF attributes (`time_coverage_start`), which the stacked bands do not carry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rsq.errors import TileError
from rsq.imagery.gdal import open_raster
from rsq.imagery.timeparse import parse_time

CONTAINER_SUFFIXES = {".nc", ".nc4", ".h5", ".hdf", ".hdf5", ".he5"}
COORDINATES = {"lat", "lon", "latitude", "longitude", "x", "y", "time", "crs", "spatial_ref", "time_bnds"}
TIME_ATTRIBUTES = ("time_coverage_start", "start_time", "rangebeginningdate", "acquisition_time")


def container_bands(ds: Any, label: str) -> tuple[tuple[tuple[str, str], ...], datetime | None]:
    """((variable, subdataset), ...) of an open container without bands of its own, and its time; raises a
    TileError naming `label` when no variable is a 2-D raster."""
    grids: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for subdataset in ds.subdatasets:
        name = variable_name(subdataset)
        if name.lower() in COORDINATES:
            continue
        with open_raster(subdataset, label) as variable:
            if variable.count == 1:
                grids.setdefault((variable.height, variable.width), []).append((name, subdataset))
    if not grids:
        raise TileError(label, f"holds no 2-D raster variable among its {len(ds.subdatasets)} subdatasets")
    main = max(grids.values(), key=lambda members: (len(members), -ds.subdatasets.index(members[0][1])))
    return tuple(main), container_time(ds.tags())


def variable_name(subdataset: str) -> str:
    """The variable of a GDAL subdataset name: `NETCDF:"f.nc":B02` → B02, `HDF5:"f.h5"://grp/B02` → B02."""
    return subdataset.rsplit(":", 1)[-1].rsplit("/", 1)[-1].strip('"')


def container_time(tags: dict[str, str]) -> datetime | None:
    """The time a container's global attributes give (GDAL names them `NC_GLOBAL#name` for NetCDF)."""
    plain = {key.rsplit("#", 1)[-1].lower(): value for key, value in tags.items()}
    return next((parse_time(plain[name]) for name in TIME_ATTRIBUTES if plain.get(name)), None)
