"""The one search code path: the CLI, the server and the evaluation all call `Index.search`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsq.config import rsq_home
from rsq.errors import RsqError
from rsq.query.expansion import expansion_terms
from rsq.query.fusion import FUSIONS, best_per_tile, ranks, reciprocal_rank_fusion, weighted_fusion
from rsq.textindex.bm25 import query_terms
from rsq.textindex.catalog import TileRow
from rsq.encoders import Embedder, canonical_spec, query_encoder
from rsq.textindex.filters import Filters
from rsq.textindex.manifest import Manifest
from rsq.textindex.reader import Snapshot
from rsq.textindex.segments import CAPTIONS, IMAGES, Hits

MODES = ("hybrid", "bm25", "dense", "image")
# Fusion and image mode's share by caption source: README, "Query-side defaults" and "The caption-free archive"
# (chosen on tuning splits: the ucm-class tuning half, RSITMD/RSICD/UCM train, UCM val).
DEFAULT_FUSION = "weighted"
DEFAULT_ALPHA = 0.8  # dense's share in weighted fusion
DEFAULT_IMAGE_WEIGHT = 0.0  # captions written by people or a VLM (UCM val: 0 best with all-mpnet-base-v2 captions)
TAGGER_IMAGE_WEIGHT = 0.8  # captions the closp: tagger derived from the image vectors themselves
GEO_WEIGHT = 0.5  # weight of GeoCLOSP location similarity in image mode when --near is given
MIN_FETCH = 200
MAX_K = 1000
RANK_WINDOWS = (10, 100, MAX_K)  # results are ranked within the window that holds k: pages of one window agree
NO_ROW = -1  # image-mode hits have no caption variant
PerMode = dict[str, dict[str, tuple[float, int]]]  # mode -> tile id -> (score, row of the best variant or image)

CAPTION_MODES = ("bm25", "dense")
_IMAGE_MATCH = {"source": "image embedding", "variant": None, "snippet": ""}


def default_index_path() -> Path:
    return rsq_home() / "indexes" / "default"


@dataclass(frozen=True)
class SearchQuery:
    text: str
    k: int = 10
    mode: str = "hybrid"
    fusion: str = DEFAULT_FUSION
    alpha: float = DEFAULT_ALPHA
    filters: Filters = field(default_factory=Filters)
    image_weight: float | None = None  # None: by the index's caption sources (`Index.default_image_weight`)
    image: str | None = None  # a composed query from an image file ...
    like: str | None = None  # ... or from a tile of the index, by id (its stored image vector)
    lam: float = 0.5  # weight of the text in a composed query


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
    tile: TileRow | None = None  # where and when the tile is (for maps), not part of the record

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        record = {"rank": self.rank, "id": self.id, "score": self.score, "path": self.path, "sensor": self.sensor,
                  "caption": self.caption, "scores": self.scores}
        if explain:
            record |= {"ranks": self.ranks, "matched": self.matched}
        return record


class Index:
    """An open index; each search uses the newest published generation (picked up without reopening by hand)."""

    def __init__(
        self, root: str | Path | None = None, embedder: str | None = None, encoder: Embedder | None = None,
        image_encoder: Any = None, query_encoder: str | None = None,
    ) -> None:
        self.root = Path(root) if root else default_index_path()
        self._snapshot = Snapshot.open(self.root)
        if embedder and canonical_spec(embedder) != canonical_spec(self.manifest.embedder):
            raise RsqError(f"index {self.root} was built with {self.manifest.embedder}, not {embedder}; rebuild it or drop --embedder")
        self._embedder, self._query_choice, self._image_encoder = encoder, query_encoder, image_encoder
        self._lock = threading.RLock()

    @property
    def snapshot(self) -> Snapshot:
        """The newest generation: a cheap check per call, a new snapshot only after a writer committed."""
        if not self._snapshot.is_current():
            with self._lock:
                if not self._snapshot.is_current():
                    self._snapshot = Snapshot.open(self.root)
        return self._snapshot

    @property
    def manifest(self) -> Manifest:
        return self._snapshot.manifest

    @property
    def embedder(self) -> Embedder:
        with self._lock:  # concurrent first searches load the model once
            if self._embedder is None:
                encoder = query_encoder(self.manifest.embedder, self._query_choice)
                if encoder.dim != self.manifest.dim:
                    raise RsqError(f"{encoder.spec} gives {encoder.dim}-d vectors; the index holds {self.manifest.dim}-d")
                self._embedder = encoder
        return self._embedder

    @property
    def image_encoder(self):
        """The CLOSP encoder whose image vectors the index holds (its text tower serves image mode)."""
        with self._lock:
            if self._image_encoder is None:
                if not self.manifest.image_encoder:
                    raise RsqError(f"index {self.root} holds no image vectors; build it with `rsq index --images --image-encoder closp:CKPT`")
                from rsq.closp.encoder import ClospEncoder

                self._image_encoder = ClospEncoder(self.manifest.image_encoder)
        return self._image_encoder

    def warm(self) -> None:
        """Load the query encoders now rather than on the first search (a server's start-up)."""
        _ = self.embedder
        if self.manifest.image_encoder:
            _ = self.image_encoder

    def tile(self, tile_id: str) -> TileRow | None:
        return self.snapshot.tile(tile_id)

    def thumbnail(self, tile_id: str) -> bytes | None:
        return self.snapshot.thumbnail(tile_id)

    def search(self, query: SearchQuery) -> list[Hit]:
        """The top-k tiles for a query; each mode scores a tile by its best caption variant."""
        check_query(query)
        snapshot = self.snapshot
        if query.image or query.like:
            per_mode = {"composed": self._composed(snapshot, query)}
            return self._hits(snapshot, {t: s for t, (s, _) in per_mode["composed"].items()}, per_mode, query.k)
        [per_mode] = self.retrieve([query.text], query.mode, query.k, query.filters, snapshot)
        image_weight = self.default_image_weight if query.image_weight is None else query.image_weight
        return self._hits(snapshot, fuse(per_mode, query.mode, query.fusion, query.alpha, image_weight), per_mode, query.k)

    def retrieve(
        self, texts: list[str], mode: str, k: int, filters: Filters | None = None, snapshot: Snapshot | None = None, expand: bool = True,
    ) -> list[PerMode]:
        """Per query, per retrieval mode: tile -> (best variant score, its row). Batched over queries; `expand` False
        leaves out BM25's nomenclature synonyms (for measuring them)."""
        snapshot = snapshot or self.snapshot
        filters = filters or Filters()
        window = rank_window(k)
        fetch = max(MIN_FETCH, window * 20)
        with_images = mode == "image" or (mode == "hybrid" and bool(self.manifest.image_encoder))
        vectors = self.embedder.encode(texts) if mode in ("dense", "hybrid") or (with_images and self.shared_text_space) else None
        found: list[dict[str, Hits]] = [{} for _ in texts]
        if mode in ("bm25", "hybrid"):
            for result, text in zip(found, texts, strict=True):
                result["bm25"] = snapshot.bm25_hits(text, fetch, filters, expansion_terms(text) if expand else {})
        if mode in ("dense", "hybrid"):
            for result, hits in zip(found, snapshot.vector_hits(CAPTIONS, vectors, fetch, filters), strict=True):
                result["dense"] = hits
        if with_images:
            queries = self._image_queries(texts, vectors, filters)
            for result, hits in zip(found, snapshot.vector_hits(IMAGES, queries, max(MIN_FETCH, window * 4), filters), strict=True):
                result["image"] = hits
        return [{mode: best_per_tile(h.rows, h.tiles, h.scores) for mode, h in result.items()} for result in found]

    @property
    def default_image_weight(self) -> float:
        """Image mode's share in hybrid: larger when every caption came from the closp: tagger (tags derived
        from the image vectors add little beside them), smaller beside captions written by people or a VLM."""
        runs = self.manifest.caption_runs
        tagged = bool(runs) and all(run["model"].startswith("closp:") for run in runs)
        return TAGGER_IMAGE_WEIGHT if tagged else DEFAULT_IMAGE_WEIGHT

    @property
    def shared_text_space(self) -> bool:
        """Whether the image towers were trained against this index's caption embedder: then one query
        vector searches captions and images alike, and no second text model loads."""
        return self.manifest.image_text_space == self.manifest.embedder

    def _image_queries(self, texts: list[str], caption_vectors: np.ndarray | None, filters: Filters) -> np.ndarray:
        """Image-mode query vectors in the towers' text space (+ the GeoCLOSP place term with --near)."""
        vectors = caption_vectors if self.shared_text_space and caption_vectors is not None else self.image_encoder.encode_texts(texts)
        if filters.near and self.image_encoder.has_location:
            vectors = vectors + GEO_WEIGHT * self.image_encoder.encode_location(*filters.near[:2])
        return vectors

    def _composed(self, snapshot: Snapshot, query: SearchQuery) -> dict[str, tuple[float, int]]:
        """WEICOM over the candidates of both ranked lists, exact by the threshold test of `composed_bound`."""
        from rsq.query.composed import composed_scores, score_spread

        moments = snapshot.image_moments()
        if moments is None:
            raise RsqError(f"index {self.root} holds no image vectors for a composed query")
        caption_vector = self.embedder.encode([query.text]) if self.shared_text_space else None
        image_vector, text_vector = self._query_image(snapshot, query), self._image_queries([query.text], caption_vector, Filters())[0]
        spreads = (score_spread(image_vector, *moments), score_spread(text_vector, *moments))
        fetch = max(MIN_FETCH, rank_window(query.k) * 4)
        while True:
            by_image, by_text = snapshot.vector_hits(IMAGES, np.stack([image_vector, text_vector]), fetch, query.filters)
            rows = np.unique(np.concatenate([by_image.rows, by_text.rows]))
            vectors, tiles = snapshot.image_rows(rows)
            scores = composed_scores(vectors @ image_vector, vectors @ text_vector, query.lam, spreads)[0]
            exhausted = len(by_image.rows) < fetch and len(by_text.rows) < fetch
            bound = composed_scores(by_image.scores[-1:], by_text.scores[-1:], query.lam, spreads)[0, 0] if len(by_image.rows) and len(by_text.rows) else -1.0
            if exhausted or np.sort(scores)[::-1][min(query.k, len(scores)) - 1] >= bound:
                return {tile: (float(s), int(r)) for tile, s, r in zip(tiles, scores, rows, strict=True)}
            fetch *= 4

    def _query_image(self, snapshot: Snapshot, query: SearchQuery) -> np.ndarray:
        """The image vector of a composed query: from an image file, or stored for a tile of the index."""
        if query.image:
            from rsq.imagery import read_tile

            vectors, errors = self.image_encoder.encode_tiles([read_tile(query.image)])
            if errors[0]:
                raise RsqError(f"{query.image}: {errors[0]}")
            return vectors[0]
        stored = snapshot.image_vector(query.like)
        if stored is None:
            raise RsqError(f"tile {query.like!r} is not in the index or has no image vector")
        return stored

    def _hits(self, snapshot: Snapshot, final: dict[str, float], per_mode: PerMode, k: int) -> list[Hit]:
        top = sorted(final, key=lambda tile: (-final[tile], tile))[:k]
        mode_ranks = {mode: ranks({t: s for t, (s, _) in hits.items()}) for mode, hits in per_mode.items()}
        variants = snapshot.catalog.caption_rows(hits[t][1] for m, hits in per_mode.items() if m in CAPTION_MODES for t in top if t in hits)
        image_versions = snapshot.catalog.image_rows(hits[t][1] for m, hits in per_mode.items() if m not in CAPTION_MODES for t in top if t in hits)
        hits, versions = [], []
        for position, tile_id in enumerate(top, start=1):
            matched = {m: (variants.get(found[tile_id][1]) if m in CAPTION_MODES else None) or _IMAGE_MATCH
                       for m, found in per_mode.items() if tile_id in found}
            tile_ranks = {m: mode_ranks[m].get(tile_id) for m in per_mode}
            captioned = [m for m in matched if matched[m]["snippet"]] or list(matched)
            best_mode = min(captioned, key=lambda m: tile_ranks[m] or 1 << 30)
            versions.append(matched[best_mode].get("tver") or image_versions.get(per_mode[best_mode][tile_id][1]))
            hits.append(Hit(
                rank=position, id=tile_id, score=final[tile_id], path="", sensor="", caption=matched[best_mode]["snippet"],
                scores={m: (per_mode[m][tile_id][0] if tile_id in per_mode[m] else None) for m in per_mode} | {"fused": final[tile_id]},
                ranks=tile_ranks, matched={m: {key: v for key, v in match.items() if key != "tver"} for m, match in matched.items()},
            ))
        _describe(snapshot, hits, versions)
        return hits


def _describe(snapshot: Snapshot, hits: list[Hit], versions: list[int | None]) -> None:
    """Fill each hit's path and sensor from the tile version that matched, and a caption where image mode found it."""
    tiles = snapshot.catalog.versions(v for v in versions if v)
    missing = {h.id: snapshot.catalog.tkey(h.id) for h in hits if not h.caption}
    snippets = snapshot.catalog.first_snippets([k for k in missing.values() if k is not None], snapshot.generation.next_row[CAPTIONS])
    for hit, version in zip(hits, versions, strict=True):
        hit.caption = hit.caption or snippets.get(missing.get(hit.id), "")
        hit.tile = tiles.get(version) or snapshot.tile(hit.id)
        if hit.tile is not None:
            hit.path, hit.sensor = hit.tile.path, hit.tile.sensor


def rank_window(k: int) -> int:
    """How deep each mode is read for a request of k results: the smallest window that holds k. Fusion
    normalises over what was read, so asking for 20 or for 60 results gives the same first 20."""
    return next((window for window in RANK_WINDOWS if k <= window), k)


def fuse(
    per_mode: PerMode, mode: str, fusion: str = DEFAULT_FUSION, alpha: float = DEFAULT_ALPHA, image_weight: float = DEFAULT_IMAGE_WEIGHT
) -> dict[str, float]:
    """Final tile scores: one mode as it is, or the hybrid of BM25 and dense (by rank or weighted), then image
    mode with its share when present."""
    scores = {m: {t: s for t, (s, _) in hits.items()} for m, hits in per_mode.items()}
    if mode != "hybrid":
        return scores[mode]
    if fusion == "rrf":
        text = reciprocal_rank_fusion([ranks(scores["bm25"]), ranks(scores["dense"])])
    else:
        text = weighted_fusion(scores["bm25"], scores["dense"], alpha)
    return weighted_fusion(text, scores["image"], image_weight) if "image" in scores else text


def check_query(query: SearchQuery) -> None:
    """Every option of a query checked before any work, each with a clear message."""
    if query.image and query.like:
        raise RsqError("a composed query takes an image file or a tile of the index, not both")
    if not query_terms(query.text) and not ((query.image or query.like) and query.lam == 0):
        raise RsqError("empty query: describe what to find, e.g. rsq search \"flooded farmland\"")
    if query.mode not in MODES:
        raise RsqError(f"--mode must be one of {', '.join(MODES)}, not {query.mode!r}")
    if query.fusion not in FUSIONS:
        raise RsqError(f"--fusion must be one of {', '.join(FUSIONS)}, not {query.fusion!r}")
    for name, value in (("--alpha", query.alpha), ("--image-weight", query.image_weight), ("--lam", query.lam)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise RsqError(f"{name} must lie in 0..1, got {value}")
    if not 1 <= query.k <= MAX_K:
        raise RsqError(f"--k must lie in 1..{MAX_K}, got {query.k}")
