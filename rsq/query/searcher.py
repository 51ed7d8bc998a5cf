"""The one search code path: the CLI, the server and the evaluation all call `Searcher.search`.

A `Searcher` holds an open index (the newest published generation, picked up without reopening by hand) and
its query encoders, loaded once; it retrieves per mode (`retrieve`), fuses (`fuse`), and leaves composed
queries to `rsq.query.composed` and the assembly of hits to `rsq.query.results`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rsq.config import default_index_path
from rsq.encoders import Embedder, canonical_spec, query_encoder
from rsq.errors import RsqError
from rsq.query.expansion import expansion_terms
from rsq.query.fusion import best_per_tile, ranks, reciprocal_rank_fusion, weighted_fusion
from rsq.query.request import DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_IMAGE_WEIGHT, TAGGER_IMAGE_WEIGHT, SearchQuery
from rsq.query.results import Answer, Hit, PerMode, TileDetails, assemble_hits
from rsq.query.windows import MIN_FETCH, rank_window
from rsq.textindex.bm25global import Bm25Statistics
from rsq.textindex.catalog import TileRow
from rsq.textindex.filters import Filters
from rsq.textindex.manifest import Manifest
from rsq.textindex.reader import Snapshot
from rsq.textindex.segments import CAPTIONS, IMAGES, Hits
from rsq.textindex.statistics import PartitionTotals, SearchStatistics

_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rsq-bm25")
MODES = ("bm25", "dense", "image")  # the order of each result's modes
GEO_WEIGHT = 0.5  # weight of GeoCLOSP location similarity in image mode when --near is given


class Searcher:
    """Searches one index; each search uses the newest published generation."""

    def __init__(
        self,
        root: str | Path | None = None,
        embedder: str | None = None,
        encoder: Embedder | None = None,
        image_encoder: Any = None,
        query_encoder: str | None = None,
    ) -> None:
        self.root = Path(root) if root else default_index_path()
        self._snapshot = Snapshot.open(self.root)
        if embedder and canonical_spec(embedder) != canonical_spec(self.manifest.embedder):
            raise RsqError(
                f"index {self.root} was built with {self.manifest.embedder}, not {embedder}; rebuild it or drop "
                "--embedder"
            )
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
                    raise RsqError(
                        f"{encoder.spec} gives {encoder.dim}-d vectors; the index holds {self.manifest.dim}-d"
                    )
                self._embedder = encoder
        return self._embedder

    @property
    def image_encoder(self):
        """The CLOSP encoder whose image vectors the index holds (its text tower serves image mode)."""
        with self._lock:
            if self._image_encoder is None:
                if not self.manifest.image_encoder:
                    raise self._no_image_vectors()
                from rsq.closp.encoder import ClospEncoder

                self._image_encoder = ClospEncoder(self.manifest.image_encoder)
        return self._image_encoder

    def _no_image_vectors(self) -> RsqError:
        return RsqError(
            f"index {self.root} holds no image vectors; build it with `rsq index --images --image-encoder closp:CKPT`"
        )

    def warm(self) -> None:
        """Load the query encoders now rather than on the first search (a server's start-up)."""
        _ = self.embedder
        if self.manifest.image_encoder:
            _ = self.image_encoder

    def tile(self, tile_id: str) -> TileRow | None:
        return self.snapshot.tile(tile_id)

    def thumbnail(self, tile_id: str) -> bytes | None:
        return self.snapshot.thumbnail(tile_id)

    def tile_record(self, tile_id: str) -> dict | None:
        """The newest tile record (`Tile.to_dict()`, to read its pixels)."""
        return self.snapshot.tile_record(tile_id)

    def tile_details(self, tile_id: str) -> TileDetails | None:
        """A tile's metadata, its live caption records (with provenance) and what else the index holds of it."""
        snapshot = self.snapshot
        row = snapshot.tile(tile_id)
        if row is None:
            return None
        return TileDetails(
            row,
            snapshot.caption_records(tile_id),
            snapshot.image_vector(tile_id) is not None,
            snapshot.thumbnail(tile_id) is not None,
        )

    def status(self) -> dict[str, Any]:
        """The generation read and the tiles it holds."""
        snapshot = self.snapshot
        return {"generation": snapshot.generation.number, "tiles": snapshot.manifest.counts.get("tiles", 0)}

    def answer(self, query: SearchQuery) -> Answer:
        """`search`, as the record a sharded index also answers with."""
        return Answer(self.search(query))

    def search(self, query: SearchQuery) -> list[Hit]:
        """The top-k tiles for a query; each mode scores a tile by its best caption variant."""
        snapshot = self.snapshot
        if query.composed:
            from rsq.query.composed import composed_search

            per_mode = {"composed": composed_search(self, snapshot, query)}
            return assemble_hits(snapshot, {t: s for t, (s, _) in per_mode["composed"].items()}, per_mode, query.k)
        [per_mode] = self.retrieve([query.text], query.mode, query.k, query.filters, snapshot)
        image_weight = self.default_image_weight if query.image_weight is None else query.image_weight
        return assemble_hits(
            snapshot, fuse(per_mode, query.mode, query.fusion, query.alpha, image_weight), per_mode, query.k
        )

    def retrieve(
        self,
        texts: list[str],
        mode: str,
        k: int,
        filters: Filters | None = None,
        snapshot: Snapshot | None = None,
        expand: bool = True,
    ) -> list[PerMode]:
        """Per query, per retrieval mode: tile -> (best variant score, its row). Batched over queries; `expand` False
        leaves out BM25's nomenclature synonyms (for measuring them)."""
        found = self.retrieve_rows(texts, mode, k, filters, snapshot, expand)
        return [{mode: best_per_tile(h.rows, h.tiles, h.scores) for mode, h in result.items()} for result in found]

    def retrieve_rows(
        self,
        texts: list[str],
        mode: str,
        k: int,
        filters: Filters | None = None,
        snapshot: Snapshot | None = None,
        expand: bool = True,
        statistics: list[Bm25Statistics] | None = None,
        vectors: np.ndarray | None = None,
        partitions: dict[str, PartitionTotals] | None = None,
    ) -> list[dict[str, Hits]]:
        """Per query, per retrieval mode, the best rows (`mode_limits(k)` of them). A sharded search's sums over
        its shards replace this index's own: `statistics`, per query, the BM25 statistics to score with;
        `partitions`, per vector kind, the rows of its partitions and those the filters allow (how many IVF lists
        to probe). `vectors`: the queries already encoded by this index's query encoder (a sharded search's router
        encodes once for every shard)."""
        snapshot = snapshot or self.snapshot
        if mode == "image" and not snapshot.manifest.image_encoder:  # this generation's: a rebuild may drop them
            raise self._no_image_vectors()
        filters = filters or Filters()
        limits = mode_limits(k)
        partitions = partitions or {}
        with_images = IMAGES in vector_kinds(mode, snapshot.manifest)
        found: list[dict[str, Hits]] = [{} for _ in texts]
        lexical = None
        if mode in ("bm25", "hybrid"):  # beside the vector work: tantivy, FAISS and NumPy let go of the GIL
            lexical = _BACKGROUND.submit(self._bm25_rows, snapshot, texts, limits["bm25"], filters, expand, statistics)
        if vectors is None and (mode in ("dense", "hybrid") or (with_images and self.shared_text_space)):
            vectors = self.embedder.encode(texts)
        if mode in ("dense", "hybrid"):
            for result, hits in zip(
                found,
                snapshot.vector_hits(CAPTIONS, vectors, limits["dense"], filters, partitions.get(CAPTIONS)),
                strict=True,
            ):
                result["dense"] = hits
        if with_images:
            queries = self.image_queries(texts, vectors, filters)
            for result, hits in zip(
                found,
                snapshot.vector_hits(IMAGES, queries, limits["image"], filters, partitions.get(IMAGES)),
                strict=True,
            ):
                result["image"] = hits
        if lexical is not None:
            for result, hits in zip(found, lexical.result(), strict=True):
                result["bm25"] = hits
        return [{mode: result[mode] for mode in MODES if mode in result} for result in found]

    def statistics(self, query: SearchQuery) -> SearchStatistics:
        """What this index contributes to a sharded search's sums for `query` (rsq.textindex.statistics)."""
        snapshot, filters = self.snapshot, query.filters or Filters()
        bm25 = None
        if query.mode in ("bm25", "hybrid"):
            bm25 = snapshot.bm25.statistics(query.text, self.bm25_extra(query.text))
        kinds = vector_kinds(query.mode, snapshot.manifest)
        return SearchStatistics(bm25, {kind: snapshot.vector_totals(kind, filters) for kind in kinds})

    def _bm25_rows(
        self,
        snapshot: Snapshot,
        texts: list[str],
        limit: int,
        filters: Filters,
        expand: bool,
        statistics: list[Bm25Statistics] | None,
    ) -> list[Hits]:
        return [
            snapshot.bm25_hits(
                text, limit, filters, self.bm25_extra(text, expand), statistics[n] if statistics else None
            )
            for n, text in enumerate(texts)
        ]

    @staticmethod
    def bm25_extra(text: str, expand: bool = True) -> dict[str, float]:
        """BM25's extra words for a query (nomenclature synonyms, with their weights)."""
        return expansion_terms(text) if expand else {}

    @property
    def default_image_weight(self) -> float:
        """Image mode's share in hybrid: larger when every caption came from the closp: tagger (tags derived
        from the image vectors add little beside them), smaller beside captions written by people or a VLM."""
        runs = self.manifest.caption_runs
        tagged = bool(runs) and all(run["model"].startswith(("closp:", "cisen:")) for run in runs)
        return TAGGER_IMAGE_WEIGHT if tagged else DEFAULT_IMAGE_WEIGHT

    @property
    def shared_text_space(self) -> bool:
        """Whether the image towers were trained against this index's caption embedder: then one query
        vector searches captions and images alike, and no second text model loads."""
        return self.manifest.image_text_space == self.manifest.embedder

    def image_queries(self, texts: list[str], caption_vectors: np.ndarray | None, filters: Filters) -> np.ndarray:
        """Image-mode query vectors in the towers' text space (+ the GeoCLOSP place term with --near)."""
        vectors = (
            caption_vectors
            if self.shared_text_space and caption_vectors is not None
            else self.image_encoder.encode_texts(texts)
        )
        if filters.near and self.image_encoder.has_location:
            vectors = vectors + GEO_WEIGHT * self.image_encoder.encode_location(*filters.near[:2])
        return vectors


def vector_kinds(mode: str, manifest: Manifest) -> list[str]:
    """The kinds of vectors a search in `mode` reads: captions for dense and hybrid, images for image mode and, when
    the index holds image vectors, for hybrid."""
    kinds = [CAPTIONS] if mode in ("dense", "hybrid") else []
    return kinds + ([IMAGES] if mode == "image" or (mode == "hybrid" and manifest.image_encoder) else [])


def mode_limits(k: int) -> dict[str, int]:
    """How many rows each retrieval mode reads for a request of k results."""
    window = rank_window(k)
    return {
        "bm25": max(MIN_FETCH, window * 20),
        "dense": max(MIN_FETCH, window * 20),
        "image": max(MIN_FETCH, window * 4),
    }


def fuse(
    per_mode: PerMode,
    mode: str,
    fusion: str = DEFAULT_FUSION,
    alpha: float = DEFAULT_ALPHA,
    image_weight: float = DEFAULT_IMAGE_WEIGHT,
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
