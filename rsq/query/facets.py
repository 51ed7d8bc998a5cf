"""Facet counts of a query's hits: how many fall in each land-cover class, level by level (a class counts the hits
of every class below it), for the summary record of `rsq search --json`, the API and the page's facet tree."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rsq.landcover import corine
from rsq.query.results import Hit


def land_cover_facets(hits: list[Hit]) -> dict[str, Any]:
    """{"hits": n, "unclassified": m, "levels": [{"level": 1, "classes": [{"code", "name", "count"}, …]}, …]}, the
    classes of each level by count, most first."""
    clc = corine()
    counts: Counter[str] = Counter()
    for hit in hits:
        if hit.land_cover:
            code = clc.path_code(hit.land_cover)
            counts.update(code[:n] for n in range(1, len(code) + 1))
    levels = [
        {
            "level": level,
            "classes": [
                {"code": code, "name": clc.classes[code].name, "count": count}
                for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                if len(code) == level
            ],
        }
        for level in (1, 2, 3)
    ]
    return {"hits": len(hits), "unclassified": sum(1 for hit in hits if not hit.land_cover), "levels": levels}
