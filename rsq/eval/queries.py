"""Class-level queries for `ucm-class`: each UC Merced class by name and by paraphrase, written for rsq.

The 63 queries are split by a fixed seed into a tuning half (what rsq's defaults are chosen on) and a test half
(what they are reported on), class by class so that every class is in both; `unseen` is a third set, written
before any measurement with it (`rsq/eval/unseen_queries.py`) and tuned on by nothing.
"""

from __future__ import annotations

import random

from rsq.eval.unseen_queries import UNSEEN_CLASS_QUERIES

CLASS_QUERIES: dict[str, tuple[str, ...]] = {
    "agricultural": ("agricultural land", "farmland with crop fields", "rows of cultivated fields"),
    "airplane": ("airplanes", "planes parked at an airport", "aircraft on an apron"),
    "baseballdiamond": ("baseball diamond", "a baseball field", "sports field with a sand infield"),
    "beach": ("beach", "sandy shore with waves", "coastline where the sea meets sand"),
    "buildings": ("buildings", "large buildings with roofs", "commercial buildings and parking"),
    "chaparral": ("chaparral", "dry shrubland", "sparse bushes on bare soil"),
    "denseresidential": ("dense residential area", "tightly packed houses", "crowded neighbourhood of homes"),
    "forest": ("forest", "dense trees", "woodland canopy"),
    "freeway": ("freeway", "a highway with several lanes", "motorway with cars"),
    "golfcourse": ("golf course", "golf course with green fairways", "fairways, sand bunkers and a lake"),
    "harbor": ("harbor", "boats moored in a harbour", "marina with docked yachts"),
    "intersection": ("intersection", "a crossroads of two streets", "roads crossing each other"),
    "mediumresidential": ("medium residential area", "houses with gardens and trees", "suburban homes along streets"),
    "mobilehomepark": ("mobile home park", "rows of trailer homes", "mobile homes packed together"),
    "overpass": ("overpass", "a bridge over a highway", "road passing over another road"),
    "parkinglot": ("parking lot", "many cars parked", "car park full of vehicles"),
    "river": ("river", "a river flowing through land", "a winding stream with banks"),
    "runway": ("runway", "an airport runway", "long straight strip for aircraft"),
    "sparseresidential": ("sparse residential area", "scattered houses", "a few homes among trees and lawns"),
    "storagetanks": ("storage tanks", "round oil tanks", "cylindrical tanks at an industrial site"),
    "tenniscourt": ("tennis court", "tennis courts", "sports courts with nets"),
}

QUERY_SETS = ("test", "tune", "unseen", "all")
SPLIT_SEED = 19


def class_queries(which: str = "test") -> list[tuple[str, str]]:
    """(query, class) pairs of one query set: `tune` or `test` (the halves of CLASS_QUERIES), `unseen`, or `all` 63."""
    if which == "unseen":
        return [(text, label) for label, texts in UNSEEN_CLASS_QUERIES.items() for text in texts]
    rng = random.Random(SPLIT_SEED)
    halves: dict[str, list[tuple[str, str]]] = {"tune": [], "test": []}
    for n, (label, texts) in enumerate(sorted(CLASS_QUERIES.items())):
        shuffled = rng.sample(texts, len(texts))
        cut = 1 + n % 2  # classes alternate between 1 and 2 queries in the tuning half
        halves["tune"] += [(text, label) for text in shuffled[:cut]]
        halves["test"] += [(text, label) for text in shuffled[cut:]]
    if which == "all":
        return [(text, label) for label, texts in CLASS_QUERIES.items() for text in texts]
    return halves[which]


RESIDENTIAL = ("denseresidential", "mediumresidential", "sparseresidential")

# A two-level hierarchy for WAP: tiles sharing the group but not the class are one level relevant.
GROUPS: dict[str, str] = {
    **{c: "residential" for c in (*RESIDENTIAL, "mobilehomepark")},
    **{c: "transport" for c in ("airplane", "runway", "freeway", "overpass", "intersection", "parkinglot")},
    **{c: "sports" for c in ("baseballdiamond", "golfcourse", "tenniscourt")},
    **{c: "water" for c in ("beach", "river", "harbor")},
    **{c: "vegetation" for c in ("chaparral", "forest", "agricultural")},
    **{c: "built" for c in ("buildings", "storagetanks")},
}


def graded_relevance(query_class: str, tile_class: str) -> float:
    """nDCG gain: 2 for the query's class, 1 for another residential density, else 0."""
    if tile_class == query_class:
        return 2.0
    return 1.0 if query_class in RESIDENTIAL and tile_class in RESIDENTIAL else 0.0


def shared_levels(query_class: str, tile_class: str) -> float:
    """WAP relevance: how many hierarchy levels (group, class) the tile shares with the query."""
    if GROUPS[query_class] != GROUPS[tile_class]:
        return 0.0
    return 2.0 if query_class == tile_class else 1.0
