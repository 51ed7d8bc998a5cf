"""Query images uploaded to POST /api/search/composed: saved under a name the server chooses and bounded twice,
by bytes while they arrive and by pixels from the image's header before any pixel is decoded (a small PNG can
stand for 13,000 x 13,000 pixels: seconds and a gigabyte to decode)."""

import warnings
from pathlib import Path
from typing import BinaryIO, Protocol

from rsq.errors import TileError
from rsq.imagery.reader import MAX_VALUES, open_raster
from rsq.serve.errors import ApiError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
UPLOAD_BYTES = 50 * 2**20
UPLOAD_PIXELS = MAX_VALUES // 3  # an RGB image rsq's reader reads whole (about 33 Mpx)


class Upload(Protocol):
    filename: str | None
    file: BinaryIO


def save_upload(upload: Upload, folder: Path) -> str:
    """The uploaded image saved in `folder`; refused (400) when not an image type, (413) when too large."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ApiError(400, f"upload a {', '.join(IMAGE_SUFFIXES)} file")
    target, written = folder / f"query{suffix}", 0
    with open(target, "wb") as handle:
        while chunk := upload.file.read(2**20):
            written += len(chunk)
            if written > UPLOAD_BYTES:
                raise ApiError(413, f"the image is larger than {UPLOAD_BYTES // 2**20} MB")
            handle.write(chunk)
    pixels = header_pixels(target)
    if pixels > UPLOAD_PIXELS:
        raise ApiError(413, f"the image has more than {UPLOAD_PIXELS:,} pixels; send a smaller one")
    return str(target)


def header_pixels(path: Path) -> float:
    """Width x height as the file's header states it (PIL opens lazily); a raster PIL cannot open (a multi-band
    GeoTIFF) by its GDAL header; what neither reads counts 0, left for the reader to refuse."""
    from PIL import Image

    try:
        with warnings.catch_warnings():  # a size over PIL's bound is refused here, not warned of
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.width * image.height
    except Image.DecompressionBombError:  # more than twice PIL's own bound
        return float("inf")
    except (OSError, ValueError):
        pass
    try:
        with open_raster(str(path), "the uploaded image") as raster:
            return raster.width * raster.height
    except TileError:  # unreadable: the reader names the reason
        return 0
