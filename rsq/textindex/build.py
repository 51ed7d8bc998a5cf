"""`rsq index`: caption records -> BM25 + dense vectors + tile table + manifest, incrementally and atomically."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rsq.captioner.records import OK, CaptionRecord
from rsq.captioner.store import CaptionStore
from rsq.errors import RsqError
from rsq.parallel import prefetch
from rsq.textindex.bm25 import Bm25Index
from rsq.textindex.catalog import Catalog
from rsq.textindex.dense import VectorIndex, choose_kind
from rsq.textindex.documents import variant_docs
from rsq.textindex.images import ImageVectors
from rsq.textindex.embedders import DEFAULT_EMBEDDER, Embedder, make_embedder
from rsq.textindex.layout import live_version, publish, start_build
from rsq.textindex.manifest import Manifest

THUMBNAIL_SIZE = 128


def build_index(
    caption_dirs: list[Path],
    out: Path,
    embedder: str | None = None,
    rebuild: bool = False,
    faiss_kind: str = "auto",
    thumbnails: bool = True,
    on_step: Callable[[str], None] | None = None,
    image_encoder: Any = None,
) -> Manifest:
    """Add the ok records of the caption stores to the index at `out` (a tile already there is replaced).

    With an `image_encoder` (a `ClospEncoder`), each tile also gets an image embedding.
    """
    records = [r for folder in caption_dirs for r in CaptionStore(folder, create=False).records(OK)]
    if not records:
        raise RsqError("no ok caption records in " + ", ".join(str(d) for d in caption_dirs))
    base = None if rebuild else live_version(out)
    previous = Manifest.read(base) if base else None
    if previous and embedder and embedder != previous.embedder:
        raise RsqError(f"{out} was built with {previous.embedder}; use --rebuild to switch to {embedder}")
    if previous and previous.image_encoder and image_encoder and image_encoder.spec != previous.image_encoder:
        raise RsqError(f"{out} holds image vectors from {previous.image_encoder}; use --rebuild to switch to {image_encoder.spec}")
    encoder = make_embedder(embedder or (previous.embedder if previous else DEFAULT_EMBEDDER))
    images = _image_vectors(records, image_encoder, on_step) if image_encoder else None
    return index_records(records, out, encoder, rebuild, faiss_kind, thumbnails, on_step, images, image_encoder and image_encoder.spec)


def index_records(
    records: list[CaptionRecord],
    out: Path,
    encoder: Embedder,
    rebuild: bool = False,
    faiss_kind: str = "auto",
    thumbnails: bool = True,
    on_step: Callable[[str], None] | None = None,
    images: ImageVectors | None = None,
    image_encoder: str | None = None,
) -> Manifest:
    """The build itself, from caption records, a loaded text encoder and precomputed image vectors."""
    step = on_step or (lambda message: None)
    base = None if rebuild else live_version(out)
    previous = Manifest.read(base) if base else None
    docs = variant_docs(records)
    step(f"embedding {len(docs)} caption variants of {len({d.tile_id for d in docs})} tiles with {encoder.spec}")
    vectors = encoder.encode([d.dense_text for d in docs])
    work = start_build(out, base)
    catalog = Catalog(work / "catalog.sqlite")
    bm25 = Bm25Index(work / "bm25")
    kind = previous.faiss if previous else choose_kind(faiss_kind, len(docs))
    dense = VectorIndex.load(work, kind) if base else VectorIndex.create(encoder.dim, kind, vectors)
    replaced = sorted(catalog.tile_ids() & {d.tile_id for d in docs})
    if replaced:
        old_rows = catalog.live_rows_of(replaced)
        bm25.delete_tiles(replaced)
        dense.remove(old_rows)
        catalog.kill_rows(old_rows)
    rows = dense.add(vectors)
    bm25.add(rows, docs)
    catalog.add_variants(rows, docs)
    tiles = _latest_tiles(records)
    step(f"writing the tile table ({len(tiles)} tiles{', with thumbnails' if thumbnails else ''})")
    catalog.upsert_tiles(tiles, _thumbnails(tiles) if thumbnails else {})
    catalog.add_runs({(r.run_id, r.model, r.template) for r in records})
    manifest = _manifest(catalog, encoder.spec, encoder.dim, kind)
    manifest.image_encoder = _save_images(work, images, image_encoder or (previous and previous.image_encoder), base is not None)
    catalog.close()
    dense.save(work)
    manifest.write(work)
    publish(out, work)
    return manifest


def _image_vectors(records: list[CaptionRecord], encoder: Any, on_step: Callable[[str], None] | None) -> ImageVectors:
    from rsq.imagery import Tile

    tiles = [Tile.from_dict(t) for t in _latest_tiles(records) if t.get("band_names")]
    if on_step:
        on_step(f"encoding {len(tiles)} tiles with {encoder.spec}")
    vectors, errors = encoder.encode_tiles(tiles)
    readable = [n for n, error in enumerate(errors) if error is None]
    return ImageVectors([tiles[n].id for n in readable], vectors[readable])


def _save_images(work: Path, images: ImageVectors | None, spec: str | None, incremental: bool) -> str | None:
    """Merge new image vectors into the version being built; returns the encoder spec the index now holds."""
    existing = ImageVectors.load(work) if incremental else None
    if images is None:
        return spec if existing else None
    (existing.merged(images) if existing else images).save(work)
    return spec


def _latest_tiles(records: list[CaptionRecord]) -> list[dict[str, Any]]:
    tiles: dict[str, dict[str, Any]] = {}
    for record in records:
        tiles[record.tile_id] = record.tile or {"id": record.tile_id, "path": record.tile_path, "sensor": record.sensor}
    return list(tiles.values())


def _thumbnails(tiles: list[dict[str, Any]]) -> dict[str, bytes | None]:
    from rsq.errors import TileError
    from rsq.imagery import Tile, read_pixels, render_rgb, thumbnail

    def make(record: dict[str, Any]) -> bytes | None:
        try:
            tile = Tile.from_dict(record)
            return thumbnail(render_rgb(tile, read_pixels(tile)), THUMBNAIL_SIZE, fmt="jpeg")
        except (TileError, KeyError, TypeError, ValueError):  # moved, unreadable or partial tile metadata
            return None

    return {record["id"]: image for record, image in prefetch(make, tiles, workers=2)}


def _manifest(catalog: Catalog, embedder: str, dim: int, kind: str) -> Manifest:
    from rsq import __version__

    runs = catalog.runs()
    return Manifest(
        rsq_version=__version__,
        embedder=embedder,
        dim=dim,
        faiss=kind,
        caption_runs=runs,
        templates=sorted({r["template"] for r in runs}),
        counts=catalog.counts(),
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
