"""Work out what kind of imagery a raster holds, and name its bands."""

from __future__ import annotations

from collections.abc import Sequence

from rsq.imagery.tile import Sensor

S2_BANDS_L1C = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
S2_BANDS_L2A = tuple(band for band in S2_BANDS_L1C if band != "B10")
SAR_POLARISATIONS = {"VV", "VH", "HH", "HV"}
RGB_NAMES = ("red", "green", "blue")

# Band names each rendered view needs, per sensor, in R, G, B order.
VIEW_BANDS: dict[str, dict[Sensor, tuple[str, str, str]]] = {
    "true": {Sensor.S2: ("B4", "B3", "B2"), Sensor.RGB: RGB_NAMES},
    "false": {Sensor.S2: ("B8", "B4", "B3"), Sensor.RGB: ("nir", "red", "green")},
    "sar": {Sensor.S1: ("VV", "VH", "VV")},
}


def detect_sensor(
    count: int,
    dtype: str,
    descriptions: Sequence[str | None] = (),
    colors: Sequence[str] = (),
) -> tuple[Sensor, tuple[str, ...]]:
    """Guess the sensor from band count, dtype, band descriptions and colour interpretation."""
    names = [(d or "").strip() for d in descriptions]
    upper = {n.upper() for n in names if n}
    if upper and upper <= SAR_POLARISATIONS:
        return Sensor.S1, tuple(n.upper() for n in names)
    if count == 2 and dtype.startswith("float"):
        return Sensor.S1, ("VV", "VH")
    s2_names = tuple(s2_band(n) for n in names)
    if len(names) == count and all(s2_names) and {"B2", "B3", "B4"} <= set(s2_names):
        return Sensor.S2, s2_names
    if count in (12, 13):
        return Sensor.S2, S2_BANDS_L1C if count == 13 else S2_BANDS_L2A
    if dtype == "uint8" and _is_rgb(count, colors):
        extra = ("nir",) if count == 4 and colors[3] != "alpha" else ("alpha",) * (count - 3)
        return Sensor.RGB, RGB_NAMES + extra
    return Sensor.OTHER, tuple(n or f"b{i + 1}" for i, n in enumerate(names or [""] * count))


def s2_band(name: str) -> str | None:
    """The Sentinel-2 band a name means, as rsq names it: `B02`, `b2`, `B8a` → B2, B2, B8A; None if none."""
    upper = name.strip().upper()
    canonical = f"B{upper[1:].lstrip('0')}" if upper.startswith("B") else ""
    return canonical if canonical in S2_BANDS_L1C else None


def _is_rgb(count: int, colors: Sequence[str]) -> bool:
    if count == 3:
        return True
    return count == 4 and tuple(colors[:3]) == ("red", "green", "blue")


# Sentinel-2 bands by the names catalogues give their assets: eo common names, and Earth Search's rededge1…3 for the
# three red-edge bands that share the common name 'rededge'.
S2_COMMON_NAMES = {
    "coastal": "B1",
    "blue": "B2",
    "green": "B3",
    "red": "B4",
    "rededge1": "B5",
    "rededge2": "B6",
    "rededge3": "B7",
    "nir": "B8",
    "nir08": "B8A",
    "nir09": "B9",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
}
# Landsat 8/9 OLI surface-reflectance bands by band number, as eo common names.
LANDSAT_OLI_BANDS = {
    "B1": "coastal",
    "B2": "blue",
    "B3": "green",
    "B4": "red",
    "B5": "nir08",
    "B6": "swir16",
    "B7": "swir22",
}
