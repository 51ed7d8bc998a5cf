"""The phrase vocabulary the CLOSP tagger scores tiles against (land cover, objects, density, events)."""

from __future__ import annotations

LAND_COVER = (
    "farmland",
    "cropland",
    "grassland",
    "forest",
    "shrubland",
    "bare soil",
    "desert",
    "sand beach",
    "water",
    "river",
    "lake",
    "sea",
    "wetland",
    "residential area",
    "dense residential area",
    "industrial area",
    "commercial buildings",
    "roads",
    "airport",
    "golf course",
    "sports field",
    "parking lot",
    "harbour",
    "snow",
)
OBJECTS = (
    "airplanes",
    "cars",
    "boats",
    "buildings",
    "houses",
    "storage tanks",
    "tennis courts",
    "baseball diamond",
    "swimming pools",
    "trees",
    "bridges",
    "runway",
    "freeway",
    "intersection",
    "overpass",
    "mobile homes",
)
DENSITY = ("sparse", "medium density", "dense")
EVENTS = ("flood", "flooded farmland", "fire", "burn scar", "damaged buildings", "construction site")
