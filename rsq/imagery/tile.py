"""The Tile record: what a tile is and where it lies, without its pixels."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Sensor(StrEnum):
    """The kinds of imagery rsq tells apart."""

    RGB = "rgb"  # optical RGB / aerial photo, display-ready
    S2 = "s2"  # Sentinel-2 multispectral, reflectance x 10000
    S1 = "s1"  # Sentinel-1 SAR, VV + VH, linear power or dB
    OTHER = "other"  # any other N-band raster


@dataclass(frozen=True)
class Tile:
    """Metadata of one image tile; `bounds` and `center` are WGS84 lon/lat where georeferenced."""

    id: str
    path: str
    sensor: Sensor
    band_names: tuple[str, ...]
    shape: tuple[int, int, int]  # bands, height, width
    dtype: str
    crs: str | None = None
    bounds: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    center: tuple[float, float] | None = None  # lon, lat
    gsd_m: float | None = None  # ground sample distance in metres
    time: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # extra fields from a manifest or dataset
    window: tuple[int, int, int, int] | None = None  # column, row, width, height in the file: a chip read in place
    band_files: tuple[str, ...] = ()  # one single-band file per band, stacked in band_names order (else all in `path`)
    nodata: float | None = None  # no-data value for band files that declare none (from the STAC item)

    @property
    def height(self) -> int:
        return self.shape[1]

    @property
    def width(self) -> int:
        return self.shape[2]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        record = asdict(self)
        record["sensor"] = self.sensor.value
        record["time"] = self.time.isoformat() if self.time else None
        return record

    @classmethod
    def described(cls, tile_id: str, meta: dict[str, Any]) -> Tile:
        """A tile known only by metadata (no file): sensor, time, and place from `lon`/`lat` or `bbox` (RFC 7946: west >
        east crosses 180°; 0..360 longitudes are wrapped). A place that is not on the Earth raises TileError."""
        from rsq.errors import TileError
        from rsq.geo import PlaceError, centre, checked_box, checked_point
        from rsq.imagery.timeparse import parse_time

        extra = dict(meta)
        sensor = str(extra.pop("sensor", "other"))
        moment = parse_time(_first_present(extra, ("time", "datetime", "date")))
        bbox, lon, lat = extra.pop("bbox", None), extra.pop("lon", None), extra.pop("lat", None)
        try:
            bounds = checked_box(bbox) if bbox is not None else None
            point = checked_point(lon, lat) if lon is not None or lat is not None else None
        except PlaceError as error:
            raise TileError(tile_id, str(error)) from None
        return cls(
            tile_id,
            "",
            Sensor(sensor) if sensor in Sensor._value2member_map_ else Sensor.OTHER,
            (),
            (0, 0, 0),
            "",
            bounds=bounds,
            center=point or (centre(bounds) if bounds else None),
            time=moment,
            meta=extra,
        )

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Tile:
        """Inverse of `to_dict`."""
        values = dict(record)
        values["sensor"] = Sensor(values["sensor"])
        values["band_names"] = tuple(values["band_names"])
        values["shape"] = tuple(values["shape"])
        for key in ("bounds", "center", "window", "band_files"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        if values.get("time"):
            values["time"] = datetime.fromisoformat(values["time"])
        return cls(**values)


def _first_present(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of `keys` the record holds (0 counts: a Unix time of 0 is a time), removed with those
    before it."""
    for key in keys:
        value = record.pop(key, None)
        if value is not None and value != "":
            return value
    return None
