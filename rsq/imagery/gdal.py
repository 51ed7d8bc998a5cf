"""Opening rasters with GDAL (through rasterio): local files, virtual paths to remote files (/vsicurl/, /vsis3/),
and VRT XML; the settings remote reads need. Every imagery module that opens a raster opens it here."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from rsq.errors import TileError

REMOTE_GDAL_DEFAULTS = {  # a server that accepts and never answers costs 10 s to connect or 30 s without a byte
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_CONNECT_TIMEOUT": "10",
    "GDAL_HTTP_LOW_SPEED_TIME": "30",
    "GDAL_HTTP_LOW_SPEED_LIMIT": "1",
}


def load_readers() -> None:
    """Import the raster libraries now, on this thread: rasterio imported by several threads at once can fail
    (`cannot import name guard_transform`), so the stages call this before reading on worker threads."""
    import PIL.Image  # noqa: F401
    import rasterio  # noqa: F401
    import rasterio.enums  # noqa: F401
    import rasterio.errors  # noqa: F401
    import rasterio.vrt  # noqa: F401
    import rasterio.warp  # noqa: F401
    import rasterio.windows  # noqa: F401


def is_remote(path: str) -> bool:
    """Whether `path` names a file GDAL reads through a virtual file system (/vsicurl/, /vsis3/, ...)."""
    return path.startswith("/vsi")


def open_raster(source: str | Path, label: str | Path | None = None):
    """A rasterio dataset of `source` (a path, a GDAL virtual path or VRT XML); errors name `label` (else `source`)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    if is_remote(str(source)) or str(source).startswith("<VRTDataset"):
        remote_defaults()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(source)
    except RasterioError as error:
        raise TileError(label or source, f"not a readable raster ({error})") from None


def remote_defaults() -> None:
    """GDAL settings for cloud-optimised files, unless the user set them: no directory listing per open, retries,
    and timeouts on connecting and on a transfer that stalls (not on total time, which a large read may need)."""
    for key, value in REMOTE_GDAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
