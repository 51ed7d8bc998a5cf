"""`rsq index`: caption records -> the index, streamed in chunks, resumable, with a throughput report.

Records are read, embedded and written CHUNK_RECORDS at a time, so memory stays bounded whatever the
input; a generation is published every COMMIT_ROWS rows (or COMMIT_SECONDS), so a killed build keeps
what it had published and its rerun skips those records without embedding them again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rsq.captioner.records import OK, CaptionRecord
from rsq.encoders import DEFAULT_BATCH, Embedder, canonical_spec, default_embedder, make_embedder
from rsq.errors import RsqError
from rsq.landcover import tile_class
from rsq.parallel import batched, prefetch
from rsq.textindex.manifest import Manifest
from rsq.textindex.merge import merge
from rsq.textindex.partition import PartitionHead
from rsq.textindex.writer import AddReport, CaptionPlan, Embed, IndexWriter, record_tile

CHUNK_RECORDS = 256
COMMIT_ROWS = 50_000
COMMIT_SECONDS = 300
THUMBNAIL_SIZE = 128

EncodeImages = Callable[
    [list[dict[str, Any]]], tuple[np.ndarray, list[bool]]
]  # tiles -> (vectors of the ok ones, ok flags)


class Progress(Protocol):
    def set_total(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


@dataclass(frozen=True)
class BuildOptions:
    embedder: str | None = None  # default: the index's own, else default_embedder()
    rebuild: bool = False
    faiss: str = "auto"
    thumbnails: bool = True
    batch_size: int = DEFAULT_BATCH
    device: str | None = None  # None: the GPU when there is one
    wait: bool = True  # wait for another writer instead of refusing
    compact: bool = False
    image_spec: str | None = None  # closp:<checkpoint> of the image vectors to add
    image_text_space: str | None = None  # the embedder that checkpoint's towers were trained against
    engine: str = "local"  # or ray: caption variants embedded by Ray actors (rsq.textindex.ray_embedder)
    address: str | None = None  # the Ray cluster (default: a local Ray)
    ray_workers: int | None = None
    ray_gpus_per_actor: float | None = None


@dataclass
class BuildReport:
    manifest: Manifest
    records: AddReport = field(default_factory=AddReport)
    images: int = 0
    merges: int = 0
    texts: int = 0  # caption variants embedded
    embed_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def throughput(self) -> str:
        """The embedder's own rate and the build's, as a ratio."""
        if not self.texts:
            return "nothing to embed"
        raw, overall = self.texts / max(self.embed_seconds, 1e-9), self.texts / max(self.seconds, 1e-9)
        return (
            f"embedder {raw:.0f} texts/s, build {overall:.0f} texts/s ({100 * overall / raw:.0f}% of the embedder's "
            "rate)"
        )


class _TimedEncoder:
    """Loads the text encoder on first use (a resumed build may need none), encodes each distinct text of a chunk
    once (templated captions repeat: the UCM captions are 10,500 sentences, 2,032 distinct), and times it."""

    def __init__(self, spec: str, options: BuildOptions, loaded: Embedder | None, report: BuildReport) -> None:
        self.spec, self.options, self._encoder, self.report = spec, options, loaded, report

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = _load_embedder(self.spec, self.options)
        distinct = list(dict.fromkeys(texts))
        started = time.perf_counter()
        vectors = self._encoder.encode(distinct)
        self.report.embed_seconds += time.perf_counter() - started
        self.report.texts += len(distinct)
        if len(distinct) == len(texts):
            return vectors
        position = {text: n for n, text in enumerate(distinct)}
        return vectors[[position[text] for text in texts]]


class LazyEmbedder:
    """A text encoder loaded on its first texts, so builds that share it (a sharded index's shards) load it once,
    and a build with nothing to embed loads none."""

    def __init__(self, spec: str, options: BuildOptions) -> None:
        self.spec, self.options, self._loaded = spec, options, None

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._loaded is None:
            self._loaded = _load_embedder(self.spec, self.options)
        return self._loaded.encode(texts)


def _load_embedder(spec: str, options: BuildOptions) -> Embedder:
    if options.engine == "ray":
        from rsq.textindex.ray_embedder import RayEmbedder

        return RayEmbedder(spec, options.batch_size, options.address, options.ray_workers, options.ray_gpus_per_actor)
    return make_embedder(spec, options.device, options.batch_size)


def build_index(
    caption_dirs: list[Path],
    out: Path,
    options: BuildOptions = BuildOptions(),
    image_encoder: Any = None,
    on_step: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """Add the ok records of the caption stores to the index at `out` (a changed record replaces its old version)."""
    from rsq.captioner.store import CaptionStore

    stores = [CaptionStore(folder, create=False) for folder in caption_dirs]
    total = sum(store.count(OK) for store in stores)
    if stores and not total:
        raise RsqError("no ok caption records in " + ", ".join(str(d) for d in caption_dirs))
    if progress:
        progress.set_total(total)
    encode_images = closp_images(image_encoder) if image_encoder else None
    records = chain.from_iterable(store.records(OK) for store in stores)
    return index_records(records, out, None, options, encode_images, on_step, progress)


def index_records(
    records: Iterable[CaptionRecord],
    out: Path,
    encoder: Embedder | None = None,
    options: BuildOptions = BuildOptions(),
    encode_images: EncodeImages | None = None,
    on_step: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> BuildReport:
    """The build itself, from any stream of caption records (and an already loaded encoder, if given)."""
    [report] = index_records_into(records, [out], lambda record: 0, encoder, options, encode_images, on_step, progress)
    return report


def index_records_into(
    records: Iterable[CaptionRecord],
    outs: list[Path],
    route: Callable[[CaptionRecord], int],
    encoder: Embedder | None = None,
    options: BuildOptions = BuildOptions(),
    encode_images: EncodeImages | None = None,
    on_step: Callable[[str], None] | None = None,
    progress: Progress | None = None,
) -> list[BuildReport]:
    """Records into several indexes at once (`route` names each record's), in one pass: each chunk's texts are
    embedded in one call, in the order of the records, so a text gets the vector one index of every record would
    give it (an encoder's last bits depend on the batch a text shares)."""
    try:
        return _index_records(records, outs, route, encoder, options, encode_images, on_step, progress)
    except (OSError, sqlite3.Error) as error:  # a full disk, read-only media, a lost file
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        where = outs[0] if len(outs) == 1 else outs[0].parent
        raise RsqError(
            f"cannot write the index at {where} ({reason}); its last published generation is unchanged"
        ) from None


def _index_records(records, outs, route, encoder, options, encode_images, on_step, progress) -> list[BuildReport]:
    started = time.perf_counter()
    step = on_step or (lambda message: None)
    requested = canonical_spec(options.embedder) if options.embedder else (encoder.spec if encoder else None)
    with ExitStack() as stack:
        writers = [
            stack.enter_context(IndexWriter(out, requested, options.rebuild, options.faiss, options.wait, on_wait=step))
            for out in outs
        ]
        spec = requested or writers[0].embedder or canonical_spec(default_embedder())
        for writer in writers:
            writer.use_embedder(spec)
        reports = [BuildReport(writer.manifest) for writer in writers]
        timing = BuildReport(writers[0].manifest)
        embed = _TimedEncoder(spec, options, encoder, timing)
        thumbnails = _thumbnails if options.thumbnails else None
        head = PartitionHead(writers)
        last_commit = time.monotonic()
        for chunk in batched(records, CHUNK_RECORDS):
            parts = _routed(chunk, route, len(writers))
            plans = [
                writer.plan_captions([chunk[n] for n in part]) for writer, part in zip(writers, parts, strict=True)
            ]
            for writer, report, plan, vectors in zip(
                writers, reports, plans, _embedded(plans, parts, embed, head), strict=True
            ):
                report.records += writer.apply_captions(plan, vectors, thumbnails)
            for writer, report, part in zip(writers, reports, parts, strict=True):
                if encode_images and part:
                    report.images += _add_images(writer, [chunk[n] for n in part], encode_images, options)
            if progress:
                progress.advance(len(chunk))
            if (
                any(w.uncommitted_rows >= COMMIT_ROWS for w in writers)
                or time.monotonic() - last_commit >= COMMIT_SECONDS
            ):
                for writer in writers:
                    writer.commit()
                last_commit = time.monotonic()
        for writer, report in zip(writers, reports, strict=True):
            writer.commit()
            report.merges = merge(writer, options.compact)
            report.manifest = writer.manifest
    for report in reports:  # the embedding is the build's, shared by its indexes
        report.texts, report.embed_seconds, report.seconds = (
            timing.texts,
            timing.embed_seconds,
            time.perf_counter() - started,
        )
    return reports


def _routed(chunk: list[CaptionRecord], route: Callable[[CaptionRecord], int], count: int) -> list[list[int]]:
    """The positions of the chunk's records that go to each index."""
    parts: list[list[int]] = [[] for _ in range(count)]
    for position, record in enumerate(chunk):
        parts[route(record)].append(position)
    return parts


def _embedded(
    plans: list[CaptionPlan], parts: list[list[int]], embed: Embed, head: PartitionHead
) -> list[np.ndarray | None]:
    """The vectors of every plan's texts, from one call over all of them in the order of the chunk's records (read
    by the build's partition `head` in that order too)."""
    groups = sorted(
        (part[position], number, n)
        for number, (plan, part) in enumerate(zip(plans, parts, strict=True))
        for n, position in enumerate(plan.positions)
    )
    texts = [doc.dense_text for _, number, n in groups for doc in plans[number].docs[n]]
    if not texts:
        return [None] * len(plans)
    vectors, start, found = embed(texts), 0, {}
    head.read(vectors)
    for _, number, n in groups:
        size = len(plans[number].docs[n])
        found[(number, n)], start = vectors[start : start + size], start + size
    return [
        np.concatenate([found[(number, n)] for n in range(len(plan.docs))]) if plan.todo else None
        for number, plan in enumerate(plans)
    ]


def _add_images(writer: IndexWriter, records: list[CaptionRecord], encode: EncodeImages, options: BuildOptions) -> int:
    """Image vectors for the chunk's tiles that lack an up-to-date one (tiles with pixel metadata only)."""
    spec = options.image_spec
    if not spec:
        raise RsqError("image vectors need the image encoder's spec")
    tiles = [record_tile(r) for r in records if r.status == OK and r.tile_path]
    needed = writer.images_needed(tiles, spec)
    if not needed:
        return 0
    vectors, readable = encode(needed)
    classes = {r.tile_id: tile_class(r.captions or {}) for r in records if r.status == OK}
    return writer.add_images(
        [t for t, ok in zip(needed, readable, strict=True) if ok], vectors, spec, options.image_text_space, classes
    )


def closp_images(encoder: Any) -> EncodeImages:
    """Tiles -> CLOSP image vectors; unreadable tiles are left out."""
    from rsq.imagery import Tile

    def encode(tiles: list[dict[str, Any]]) -> tuple[np.ndarray, list[bool]]:
        known = [t for t in tiles if t.get("band_names")]  # records that carry the tile's pixel metadata
        vectors, errors = (
            encoder.encode_tiles([Tile.from_dict(t) for t in known]) if known else (np.zeros((0, encoder.dim)), [])
        )
        ok = np.array([error is None for error in errors], dtype=bool)
        readable = {t["id"] for t, good in zip(known, ok, strict=True) if good}
        return np.asarray(vectors, dtype=np.float32)[ok], [t["id"] in readable for t in tiles]

    return encode


def _thumbnails(tiles: list[dict[str, Any]]) -> list[bytes | None]:
    from rsq.errors import TileError
    from rsq.imagery import Tile, render_image

    def make(record: dict[str, Any]) -> bytes | None:
        try:
            return render_image(Tile.from_dict(record), THUMBNAIL_SIZE, fmt="jpeg", read_side=2 * THUMBNAIL_SIZE)
        except (TileError, KeyError, TypeError, ValueError):  # moved, unreadable or partial tile metadata
            return None

    return [image for _, image in prefetch(make, tiles, workers=2)]
