"""The one search code path: the CLI, the server and the evaluation all call `Index.search`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsq.config import rsq_home
from rsq.errors import RsqError
from rsq.query.filters import Filters
from rsq.query.fusion import FUSIONS, best_per_tile, ranks, reciprocal_rank_fusion, weighted_fusion
from rsq.textindex.bm25 import Bm25Index, query_terms
from rsq.textindex.catalog import Catalog
from rsq.textindex.dense import VectorIndex
from rsq.textindex.embedders import Embedder, make_embedder
from rsq.textindex.images import ImageVectors
from rsq.textindex.layout import live_version
from rsq.textindex.manifest import Manifest

MODES = ("hybrid", "bm25", "dense", "image")
DEFAULT_FUSION = "weighted"  # measured: see README, "Choosing the hybrid default"
DEFAULT_ALPHA = 0.7
DEFAULT_IMAGE_WEIGHT = 0.1  # share of image mode in hybrid with image vectors; measured on ucm-t2i (README)
GEO_WEIGHT = 0.5  # weight of GeoCLOSP location similarity in image mode when --near is given
MIN_FETCH = 200
NO_ROW = -1  # image-mode hits have no caption variant
PerMode = dict[str, dict[str, tuple[float, int]]]  # mode -> tile -> (score, row of the best variant)


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
    image_weight: float = DEFAULT_IMAGE_WEIGHT
    image: str | None = None  # a query tile for a composed image + text query
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

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        record = {"rank": self.rank, "id": self.id, "score": self.score, "path": self.path, "sensor": self.sensor,
                  "caption": self.caption, "scores": self.scores}
        if explain:
            record |= {"ranks": self.ranks, "matched": self.matched}
        return record


class Index:
    """An opened index version: BM25, vectors, tile and variant tables; the text encoder loads on first use."""

    def __init__(
        self, root: str | Path | None = None, embedder: str | None = None, encoder: Embedder | None = None, image_encoder: Any = None
    ) -> None:
        self.root = Path(root) if root else default_index_path()
        folder = live_version(self.root)
        if folder is None:
            raise RsqError(f"no index at {self.root}; build one with `rsq index` or `rsq demo`")
        self.folder = folder
        self.manifest = Manifest.read(folder)
        if embedder and embedder != self.manifest.embedder:
            raise RsqError(f"index {self.root} was built with {self.manifest.embedder}, not {embedder}; rebuild it or drop --embedder")
        self.catalog = Catalog(folder / "catalog.sqlite")
        self.bm25 = Bm25Index(folder / "bm25")
        self.vectors = VectorIndex.load(folder, self.manifest.faiss)
        self.tiles = self.catalog.tiles()
        self.row_tile = self.catalog.row_tiles()
        self.images = ImageVectors.load(folder)
        self._embedder: Embedder | None = encoder
        self._image_encoder = image_encoder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            encoder = make_embedder(self.manifest.embedder)
            if encoder.dim != self.manifest.dim:
                raise RsqError(f"{encoder.spec} gives {encoder.dim}-d vectors; the index holds {self.manifest.dim}-d")
            self._embedder = encoder
        return self._embedder

    @property
    def image_encoder(self):
        """The CLOSP encoder whose image vectors the index holds (its text tower serves image mode)."""
        if self._image_encoder is None:
            if self.images is None or not self.manifest.image_encoder:
                raise RsqError(f"index {self.root} holds no image vectors; build it with `rsq index --images --image-encoder closp:CKPT`")
            from rsq.closp.encoder import ClospEncoder

            self._image_encoder = ClospEncoder(self.manifest.image_encoder)
        return self._image_encoder

    def search(self, query: SearchQuery) -> list[Hit]:
        """The top-k tiles for a query; each mode scores a tile by its best caption variant."""
        _check(query)
        if query.image:
            per_mode = {"composed": self._composed(query)}
            return self._hits({t: s for t, (s, _) in per_mode["composed"].items()}, per_mode, query.k)
        [per_mode] = self.retrieve([query.text], query.mode, query.k, query.filters)
        return self._hits(fuse(per_mode, query.mode, query.fusion, query.alpha, query.image_weight), per_mode, query.k)

    def _composed(self, query: SearchQuery) -> dict[str, tuple[float, int]]:
        from rsq.imagery import read_tile
        from rsq.query.composed import composed_scores

        encoder = self.image_encoder
        vectors, errors = encoder.encode_tiles([read_tile(query.image)])
        if errors[0]:
            raise RsqError(f"{query.image}: {errors[0]}")
        text_vector = encoder.encode_texts([query.text])[0]
        matrix = self.images.matrix
        scores = composed_scores((matrix @ vectors[0])[None], (matrix @ text_vector)[None], query.lam)[0]
        allowed = self._allowed(query.filters)
        return {t: (float(s), NO_ROW) for t, s in zip(self.images.ids, scores, strict=True) if allowed is None or t in allowed}

    def _allowed(self, filters: Filters) -> set[str] | None:
        return {t for t, row in self.tiles.items() if filters.accepts(row)} if filters.active else None

    def retrieve(self, texts: list[str], mode: str, k: int, filters: Filters | None = None) -> list[PerMode]:
        """Per query, per retrieval mode: tile -> (best variant score, its row). Batched over queries."""
        filters = filters or Filters()
        allowed = self._allowed(filters)
        fetch = len(self.row_tile) if allowed is not None else max(MIN_FETCH, k * 20)
        results: list[PerMode] = [{} for _ in texts]
        if mode in ("bm25", "hybrid"):
            for result, text in zip(results, texts, strict=True):
                result["bm25"] = best_per_tile(self.bm25.search(text, fetch), self.row_tile)
        if mode in ("dense", "hybrid"):
            vectors = self.embedder.encode(texts)
            for result, vector in zip(results, vectors, strict=True):
                result["dense"] = best_per_tile(self.vectors.search(vector, fetch), self.row_tile)
        if mode == "image" or (mode == "hybrid" and self.images is not None):
            for result, scores in zip(results, self._image_scores(texts, filters), strict=True):
                result["image"] = {t: (s, NO_ROW) for t, s in scores.items()}
        if allowed is not None:
            results = [{m: {t: v for t, v in hits.items() if t in allowed} for m, hits in r.items()} for r in results]
        return results

    def _image_scores(self, texts: list[str], filters: Filters) -> list[dict[str, float]]:
        """Image-mode scores: CLOSP text tower against the tiles' image vectors (+ GeoCLOSP place term)."""
        encoder = self.image_encoder
        query_vectors = encoder.encode_texts(texts)
        if filters.near and encoder.has_location:
            query_vectors = query_vectors + GEO_WEIGHT * encoder.encode_location(*filters.near[:2])
        return [self.images.scores(vector) for vector in query_vectors]

    def _hits(self, final: dict[str, float], per_mode: PerMode, k: int) -> list[Hit]:
        top = sorted(final, key=lambda tile: (-final[tile], tile))[:k]
        mode_ranks = {mode: ranks({t: s for t, (s, _) in hits.items()}) for mode, hits in per_mode.items()}
        rows = {hits[t][1] for hits in per_mode.values() for t in top if t in hits} - {NO_ROW}
        variants = self.catalog.variants(rows)
        uncaptioned = [t for t in top if not any(t in hits and hits[t][1] in variants for hits in per_mode.values())]
        fallback = self.catalog.first_snippets(uncaptioned) if uncaptioned else {}
        results = []
        for position, tile_id in enumerate(top, start=1):
            matched = {m: variants.get(hits[tile_id][1], _IMAGE_MATCH) for m, hits in per_mode.items() if tile_id in hits}
            tile_ranks = {m: mode_ranks[m].get(tile_id) for m in per_mode}
            captioned = [m for m in matched if matched[m]["snippet"]] or list(matched)
            best_mode = min(captioned, key=lambda m: tile_ranks[m] or 1 << 30)
            tile = self.tiles[tile_id]
            results.append(
                Hit(
                    rank=position, id=tile_id, score=final[tile_id], path=tile.path, sensor=tile.sensor,
                    caption=matched[best_mode]["snippet"] or fallback.get(tile_id, ""),
                    scores={m: (per_mode[m][tile_id][0] if tile_id in per_mode[m] else None) for m in per_mode} | {"fused": final[tile_id]},
                    ranks=tile_ranks, matched=matched,
                )
            )
        return results


def fuse(
    per_mode: PerMode, mode: str, fusion: str = DEFAULT_FUSION, alpha: float = DEFAULT_ALPHA, image_weight: float = DEFAULT_IMAGE_WEIGHT
) -> dict[str, float]:
    """Final tile scores: one mode as it is, or the hybrid of BM25 and dense (and image mode when present)."""
    scores = {m: {t: s for t, (s, _) in hits.items()} for m, hits in per_mode.items()}
    if mode != "hybrid":
        return scores[mode]
    if fusion == "rrf":
        return reciprocal_rank_fusion([ranks(s) for s in scores.values()])
    text = weighted_fusion(scores["bm25"], scores["dense"], alpha)
    return weighted_fusion(text, scores["image"], image_weight) if "image" in scores else text


def _check(query: SearchQuery) -> None:
    if not query_terms(query.text):
        raise RsqError("empty query: describe what to find, e.g. rsq search \"flooded farmland\"")
    if query.mode not in MODES:
        raise RsqError(f"--mode must be one of {', '.join(MODES)}, not {query.mode!r}")
    if query.fusion not in FUSIONS:
        raise RsqError(f"--fusion must be one of {', '.join(FUSIONS)}, not {query.fusion!r}")
    for name, value in (("--alpha", query.alpha), ("--image-weight", query.image_weight), ("--lam", query.lam)):
        if not 0.0 <= value <= 1.0:
            raise RsqError(f"{name} must lie in 0..1, got {value}")
    if query.k < 1:
        raise RsqError(f"--k must be at least 1, got {query.k}")
