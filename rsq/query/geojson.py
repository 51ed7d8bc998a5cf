"""Search results as a GeoJSON FeatureCollection: footprints (or centres), scores and captions, for QGIS
and for maps. Tiles without coordinates are features without geometry, so the ranking stays whole. Features
carry tile ids, never the file paths of the machine that searched (a GeoJSON file is made to be passed on). The
collection's land-cover facet counts are a foreign member (`facets`, RFC 7946 §6.1), which GIS readers ignore."""

from __future__ import annotations

from typing import Any

from rsq.geo import polygon
from rsq.query.facets import land_cover_facets
from rsq.query.highlight import highlight_spans
from rsq.query.results import Hit


def feature_collection(hits: list[Hit], query: dict[str, Any] | None = None, explain: bool = False) -> dict[str, Any]:
    """The hits as features; with the query's text (`q`), each says which caption words it matched (`highlight`)."""
    query = query or {}
    features = [_feature(hit, str(query.get("q", "")), explain) for hit in hits]
    facets = {"land_cover": land_cover_facets(hits)}
    return {"type": "FeatureCollection", "query": query, "facets": facets, "features": features}


def _feature(hit: Hit, text: str, explain: bool) -> dict[str, Any]:
    properties = {k: v for k, v in hit.to_dict(explain).items() if k != "path"}  # shared files name no server path
    properties["highlight"] = highlight_spans(hit.caption, text)
    tile = hit.tile
    if tile is not None:
        properties |= {"time": tile.time, "lon": tile.lon, "lat": tile.lat}
    return {"type": "Feature", "id": hit.id, "geometry": geometry(hit), "properties": properties}


def geometry(hit: Hit) -> dict[str, Any] | None:
    """The hit's footprint (a MultiPolygon across 180°), else its centre, else None."""
    tile = hit.tile
    if tile is None:
        return None
    if tile.bounds and tile.bounds[0] != tile.bounds[2] and tile.bounds[1] != tile.bounds[3]:
        return polygon(tile.bounds)  # split at 180° into a MultiPolygon where the footprint crosses it
    if tile.lon is not None and tile.lat is not None:
        return {"type": "Point", "coordinates": [tile.lon, tile.lat]}
    return None
