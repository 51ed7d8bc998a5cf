"""Query expansion for BM25: words a user may write that captions say otherwise.

Groups of interchangeable single words drawn from open land-cover and land-use nomenclatures: the class
names of CORINE Land Cover (EEA, free reuse with attribution), ESA WorldCover and Google Dynamic World
(both CC BY 4.0) and common OpenStreetMap landuse/natural/amenity values (ODbL); plus British and
American spellings. Only the words are used, as a thesaurus; no data of those products is included.
Dense retrieval needs none of this: the sentence encoder already places synonyms together.
"""

from __future__ import annotations

from rsq.textindex.bm25 import query_terms

EXPANSION_WEIGHT = 0.3  # a synonym counts this much of a word the user wrote (README, "Query-side defaults")

SYNONYMS: tuple[tuple[str, ...], ...] = (
    # CORINE 2.1/2.4, WorldCover "cropland", Dynamic World "crops", OSM landuse=farmland
    ("farmland", "cropland", "crops", "agricultural", "arable", "cultivated"),
    # CORINE 3.1, WorldCover "tree cover", Dynamic World "trees", OSM natural=wood / landuse=forest
    ("forest", "woodland", "wood", "woods", "trees"),
    # CORINE 3.2.1/2.3, WorldCover "grassland", OSM landuse=meadow
    ("grassland", "meadow", "pasture", "grass"),
    # CORINE 3.2.3 sclerophyllous vegetation, WorldCover "shrubland", Dynamic World "shrub and scrub", OSM natural=scrub
    ("shrubland", "scrub", "shrubs", "bushes", "chaparral"),
    # CORINE 3.3, WorldCover "bare / sparse vegetation", Dynamic World "bare"
    ("bare", "barren"),
    # CORINE 4, WorldCover "herbaceous wetland", Dynamic World "flooded vegetation", OSM natural=wetland
    ("wetland", "marsh", "swamp", "bog"),
    # CORINE 5.1, OSM natural=water water=lake|reservoir|river
    ("lake", "reservoir", "pond"),
    ("river", "stream", "creek"),
    ("sea", "ocean"),
    # CORINE 3.3.1 beaches, dunes, sands; OSM natural=beach|coastline
    ("beach", "shore", "seashore", "coast"),
    # CORINE 1.1, WorldCover / Dynamic World "built-up" / "built area", OSM landuse=residential
    ("houses", "homes", "dwellings", "residences"),
    ("urban", "built"),
    # CORINE 1.2.1 industrial or commercial units, OSM landuse=industrial|commercial|retail
    ("industrial", "factory", "factories", "warehouses"),
    # CORINE 1.2.2 road networks, OSM highway=motorway|trunk
    ("highway", "freeway", "motorway", "expressway"),
    ("intersection", "crossroads", "junction"),
    ("overpass", "flyover"),
    # CORINE 1.2.3 port areas, OSM harbour=* / leisure=marina
    ("harbor", "harbour", "port", "marina"),
    # CORINE 1.2.4 airports, OSM aeroway=aerodrome
    ("airport", "airfield", "aerodrome"),
    ("airplanes", "aeroplanes", "aircraft", "planes"),
    # OSM amenity=parking
    ("parking", "carpark"),
    ("cars", "vehicles"),
    # OSM landuse=residential + residential=trailer_park
    ("trailer", "caravan"),
    # WorldCover / Dynamic World "snow and ice", CORINE 3.3.5 glaciers and perpetual snow
    ("snow", "ice", "glacier"),
    # flood mapping (Sen1Floods11, Copernicus EMS)
    ("flooded", "inundated", "submerged"),
    ("flood", "inundation", "flooding"),
    # British and American spellings
    ("neighborhood", "neighbourhood"),
    ("color", "colour"),
    ("colored", "coloured"),
    ("gray", "grey"),
    ("center", "centre"),
)

_GROUP_OF = {word: group for group in SYNONYMS for word in group}


def expansion_terms(text: str) -> dict[str, float]:
    """Words to add to the BM25 query with their weights: the synonyms of the query's words it does not hold."""
    words = query_terms(text)
    extra: dict[str, float] = {}
    for word in words:
        for synonym in _GROUP_OF.get(word, ()):
            if synonym not in words:
                extra.setdefault(synonym, EXPANSION_WEIGHT)
    return extra
