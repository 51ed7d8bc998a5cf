"""Ranked results: `Hit` records assembled from the per-mode scores of a search, with the caption variant that
matched, each mode's rank and score, and where and when each tile is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rsq.landcover import corine
from rsq.query.fusion import ranks
from rsq.textindex.catalog import TileRow
from rsq.textindex.reader import Snapshot
from rsq.textindex.segments import CAPTIONS, IMAGES

CAPTION_MODES = ("bm25", "dense")
PerMode = dict[str, dict[str, tuple[float, int]]]  # mode -> tile id -> (score, row of the best variant or image)
_IMAGE_MATCH = {"source": "image embedding", "variant": None, "snippet": ""}


@dataclass
class Hit:
    rank: int
    id: str
    score: float
    path: str
    sensor: str
    caption: str
    scores: dict[str, float | None]
    ranks: dict[str, int | None]
    matched: dict[str, dict[str, Any]]  # mode -> the variant that matched (source, variant, snippet)
    land_cover: list[str] = field(default_factory=list)  # the CORINE path by name, level 1 down ([] unknown)
    tile: TileRow | None = None  # where and when the tile is (for maps), not part of the record

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        record = {
            "rank": self.rank,
            "id": self.id,
            "score": self.score,
            "path": self.path,
            "sensor": self.sensor,
            "caption": self.caption,
            "land_cover": self.land_cover,
            "scores": self.scores,
        }
        if explain:
            record |= {"ranks": self.ranks, "matched": self.matched}
        return record


@dataclass(frozen=True)
class TileDetails:
    """What the index holds of one tile: its metadata row, its live caption records (provenance and structured
    captions), and whether it has an image vector and a thumbnail."""

    row: TileRow
    captions: list[dict[str, Any]]
    image_vector: bool
    thumbnail: bool


@dataclass(frozen=True)
class Answer:
    """A search's hits, and the shards that did not answer (a sharded index's; their tiles are absent, never
    silently)."""

    hits: list[Hit]
    missing: list[int] = field(default_factory=list)


def assemble_hits(
    snapshot: Snapshot,
    final: dict[str, float],
    per_mode: PerMode,
    k: int,
    mode_ranks: dict[str, dict[str, int]] | None = None,
) -> list[Hit]:
    """The top k of `final` as hits: each explained by the mode that ranked it best among those with a caption.
    `mode_ranks`: each mode's ranks when `per_mode` is a part of a larger search (a shard's)."""
    top = sorted(final, key=lambda tile: (-final[tile], tile))[:k]
    mode_ranks = mode_ranks or {mode: ranks({t: s for t, (s, _) in hits.items()}) for mode, hits in per_mode.items()}
    variants = snapshot.catalog.caption_rows(_matched_rows(per_mode, top, captions=True))
    image_versions = snapshot.catalog.image_rows(_matched_rows(per_mode, top, captions=False))
    hits, versions, best_rows = [], [], []
    for position, tile_id in enumerate(top, start=1):
        matched = {
            m: (variants.get(found[tile_id][1]) if m in CAPTION_MODES else None) or _IMAGE_MATCH
            for m, found in per_mode.items()
            if tile_id in found
        }
        tile_ranks = {m: mode_ranks[m].get(tile_id) for m in per_mode}
        captioned = [m for m in matched if matched[m]["snippet"]] or list(matched)
        best_mode = min(captioned, key=lambda m: (tile_ranks[m] or 1 << 30, m))  # a tie: by name, not by order
        versions.append(matched[best_mode].get("tver") or image_versions.get(per_mode[best_mode][tile_id][1]))
        best_rows.append((CAPTIONS if best_mode in CAPTION_MODES else IMAGES, per_mode[best_mode][tile_id][1]))
        hits.append(
            Hit(
                rank=position,
                id=tile_id,
                score=final[tile_id],
                path="",
                sensor="",
                caption=matched[best_mode]["snippet"],
                scores={m: (per_mode[m][tile_id][0] if tile_id in per_mode[m] else None) for m in per_mode}
                | {"fused": final[tile_id]},
                ranks=tile_ranks,
                matched={m: {key: v for key, v in match.items() if key != "tver"} for m, match in matched.items()},
            )
        )
    _describe(snapshot, hits, versions)
    _classify(snapshot, hits, best_rows)
    return hits


def _matched_rows(per_mode: PerMode, top: list[str], captions: bool):
    """The rows (caption variants, or image rows) that scored the top tiles."""
    return (hits[t][1] for m, hits in per_mode.items() if (m in CAPTION_MODES) == captions for t in top if t in hits)


def _classify(snapshot: Snapshot, hits: list[Hit], rows: list[tuple[str, int]]) -> None:
    """Each hit's land-cover path, from the class its matched row was indexed with."""
    codes: dict[tuple[str, int], str] = {}
    for kind in (CAPTIONS, IMAGES):
        mine = [row for k, row in rows if k == kind]
        codes |= {(kind, row): code for row, code in zip(mine, snapshot.row_classes(kind, mine), strict=True)}
    for hit, key in zip(hits, rows, strict=True):
        hit.land_cover = corine().names(codes[key])


def _describe(snapshot: Snapshot, hits: list[Hit], versions: list[int | None]) -> None:
    """Fill each hit's path and sensor from the tile version that matched, and a caption where image mode found it."""
    tiles = snapshot.catalog.versions(v for v in versions if v)
    missing = {h.id: snapshot.catalog.tkey(h.id) for h in hits if not h.caption}
    snippets = snapshot.catalog.first_snippets(
        [k for k in missing.values() if k is not None], snapshot.generation.next_row[CAPTIONS]
    )
    for hit, version in zip(hits, versions, strict=True):
        hit.caption = hit.caption or snippets.get(missing.get(hit.id), "")
        hit.tile = tiles.get(version) or snapshot.tile(hit.id)
        if hit.tile is not None:
            hit.path, hit.sensor = hit.tile.path, hit.tile.sensor
