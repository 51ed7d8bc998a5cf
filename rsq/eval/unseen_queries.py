"""Class-level queries written for issue 19 before anything was measured with them, phrased as a user of an
image archive would type them (not taken from the class names' thesaurus or from the UCM captions).
No default of rsq is tuned on these: they are reported as their own column (`rsq eval ucm-class --queries unseen`).
"""

from __future__ import annotations

UNSEEN_CLASS_QUERIES: dict[str, tuple[str, ...]] = {
    "agricultural": ("crop fields seen from above", "green and brown farm plots", "ploughed fields in the countryside"),
    "airplane": ("jets at the airport", "a passenger aircraft on the tarmac", "commercial airliners near a terminal"),
    "baseballdiamond": ("ball park with a dirt infield", "little league field", "a diamond shaped sports ground"),
    "beach": ("waves breaking on the sand", "the seaside with white sand", "ocean shoreline"),
    "buildings": (
        "big flat-roofed buildings downtown",
        "office blocks in a city centre",
        "rooftops of large city buildings",
    ),
    "chaparral": ("scrubland with bushes", "dry hills covered in brush", "desert-like land with small shrubs"),
    "denseresidential": (
        "houses packed close together",
        "a crowded housing area with narrow streets",
        "rows of houses with almost no space between them",
    ),
    "forest": ("thick tree cover", "a wooded area with no buildings", "dark green treetops"),
    "freeway": ("a multi-lane highway", "interstate with traffic", "a divided road with lanes in both directions"),
    "golfcourse": ("golf greens and sand traps", "a place to play golf", "manicured grass with a pond and bunkers"),
    "harbor": ("sailboats at a pier", "a port with boats tied up", "docks full of small boats"),
    "intersection": ("two roads meeting at a junction", "a four-way junction in town", "where streets cross"),
    "mediumresidential": (
        "a suburb with detached houses and yards",
        "a neighbourhood of single-family homes",
        "houses with lawns and some trees between them",
    ),
    "mobilehomepark": ("a trailer park", "manufactured homes in tight rows", "caravan park with many small units"),
    "overpass": (
        "a highway interchange with a flyover",
        "one road crossing over another on a bridge",
        "elevated roadway over a freeway",
    ),
    "parkinglot": ("cars in rows in a parking area", "a lot full of parked vehicles", "a big car park next to a mall"),
    "river": ("a stream winding through the landscape", "water flowing between banks with trees", "a meandering river"),
    "runway": ("airstrip", "a long paved strip at an airfield", "runway markings at an airport"),
    "sparseresidential": (
        "a few houses spread far apart",
        "rural homes surrounded by land",
        "scattered houses with big yards",
    ),
    "storagetanks": ("oil storage tanks", "white circular tanks at a refinery", "fuel depot with round containers"),
    "tenniscourt": ("tennis courts next to each other", "a court for playing tennis", "hard courts with white lines"),
}
