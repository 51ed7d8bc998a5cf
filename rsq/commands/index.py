"""`rsq index`: add caption stores to the hybrid index (BM25 + dense, optional image vectors)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import check_range, progress_bar, warn
from rsq.errors import RsqError
from rsq.shards.layout import MAX_SHARDS, is_sharded

_CaptionsOption = Annotated[list[Path] | None, typer.Argument(help="Caption store folders written by `rsq caption`.")]
_OutOption = Annotated[Path | None, typer.Option("--out", help="Index folder (default $RSQ_HOME/indexes/default).")]
_EmbedderOption = Annotated[
    str | None,
    typer.Option(
        help=(
            "Text encoder of a new index: st:<hub id or folder> (default $RSQ_EMBEDDER, else "
            "st:sentence-transformers/all-mpnet-base-v2; st:sentence-transformers/all-MiniLM-L6-v2 for small "
            "machines; an `rsq tune` folder) or onnx-int8:all-MiniLM-L6-v2."
        )
    ),
]
_RebuildOption = Annotated[bool, typer.Option("--rebuild", help="Start afresh instead of adding to the index.")]
_CompactOption = Annotated[bool, typer.Option("--compact", help="Merge all segments and drop replaced rows for good.")]
_FaissOption = Annotated[
    str,
    typer.Option(
        "--vectors",
        "--faiss",
        help=(
            "exact (float16: flat below 50,000 rows, then IVF cut from the index's partition), compressed (RaBitQ "
            "codes in memory, re-ranked from float16 on disk), auto (exact until one kind's float16 rows reach 3 GiB, "
            "compressed from there), or flat / ivf."
        ),
    ),
]
_ThumbnailsOption = Annotated[bool, typer.Option(help="Store a thumbnail per tile.")]
_ImagesOption = Annotated[bool, typer.Option("--images", help="Also store an image embedding per tile.")]
_ImageEncoderOption = Annotated[str | None, typer.Option(help="closp:<checkpoint folder> for --images.")]
_BatchSizeOption = Annotated[int, typer.Option(help="Texts per embedder batch.")]
_DeviceOption = Annotated[
    str | None, typer.Option(help="Embedder device, e.g. cpu or cuda:0 (default: the GPU when there is one).")
]
_WaitOption = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for another writer of the index, or refuse at once.")
]
_EngineOption = Annotated[str, typer.Option(help="local, or ray to embed caption variants on a Ray cluster's actors.")]
_AddressOption = Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray).")]
_RayWorkersOption = Annotated[
    int | None, typer.Option(help="Ray embedding actors (default: one per GPU, else half the CPUs).")
]
_ShardsOption = Annotated[
    int | None,
    typer.Option(
        "--shards",
        help=(
            "Split a new index into N shards (separate indexes, a tile in the shard its id hashes to), to serve with "
            "`rsq serve --shards N`; an index already split keeps its shards without this option."
        ),
    ),
]
_RayGpusPerActorOption = Annotated[
    float | None, typer.Option(help="GPUs per embedding actor (default 1 when the cluster has GPUs).")
]


def index(
    captions: _CaptionsOption = None,
    out: _OutOption = None,
    embedder: _EmbedderOption = None,
    rebuild: _RebuildOption = False,
    compact: _CompactOption = False,
    faiss: _FaissOption = "auto",
    thumbnails: _ThumbnailsOption = True,
    images: _ImagesOption = False,
    image_encoder: _ImageEncoderOption = None,
    batch_size: _BatchSizeOption = 64,
    device: _DeviceOption = None,
    wait: _WaitOption = True,
    engine: _EngineOption = "local",
    address: _AddressOption = None,
    ray_workers: _RayWorkersOption = None,
    ray_gpus_per_actor: _RayGpusPerActorOption = None,
    shards: _ShardsOption = None,
) -> None:
    """Add caption records to the hybrid index (BM25 + dense); a changed record replaces its older version."""
    from rsq.config import default_index_path
    from rsq.devices import check_device
    from rsq.textindex.build import BuildOptions
    from rsq.textindex.vectors import choose_kind

    choose_kind(faiss, 0)
    if not captions and not compact:
        raise RsqError("give caption store folders to index, or --compact to merge an index's segments")
    if images != bool(image_encoder):
        raise RsqError("--images and --image-encoder closp:CKPT go together")
    if batch_size < 1:
        raise RsqError(f"--batch-size must be at least 1, got {batch_size}")
    if engine not in ("local", "ray"):
        raise RsqError(f"--engine must be local or ray, not {engine!r}")
    check_range("--ray-workers", ray_workers, 1)
    check_range("--ray-gpus-per-actor", ray_gpus_per_actor, 0, 64)
    check_range("--shards", shards, 1, MAX_SHARDS)
    check_device(device)
    encoder = None
    if image_encoder:
        from rsq.closp.encoder import ClospEncoder

        encoder = ClospEncoder(image_encoder)
    options = BuildOptions(
        embedder,
        rebuild,
        faiss,
        thumbnails,
        batch_size,
        device,
        wait,
        compact,
        image_encoder,
        encoder.text_space if encoder else None,
        engine,
        address,
        ray_workers,
        ray_gpus_per_actor,
    )
    target = out or default_index_path()
    if shards is not None or is_sharded(target):
        build_shards_with_progress(captions or [], target, shards, options, encoder)
    else:
        build_with_progress(captions or [], target, options, encoder)


def build_shards_with_progress(captions: list[Path], root: Path, count: int | None, options, image_encoder) -> None:
    """Build (or add to) a sharded index with a progress bar, and report each shard."""
    from rsq.shards.build import build_shards

    with progress_bar("indexing", "records") as bar:
        reports = build_shards(captions, root, count, options, image_encoder, on_step=warn, progress=bar)
    for number, report in enumerate(reports):
        counts = report.manifest.counts
        warn(
            f"shard {number}: {counts['tiles']} tiles, {counts['variants']} caption variants; "
            f"{report.records.added} records added ({report.records.replaced} replacing older ones)"
        )
    tiles = sum(r.manifest.counts["tiles"] for r in reports)
    warn(f"index {root}: {len(reports)} shards, {tiles} tiles ({reports[0].manifest.embedder})")


def build_with_progress(captions: list[Path], target: Path, options, image_encoder=None) -> None:
    """Run a build with a progress bar and report what it did."""
    from rsq.textindex.build import build_index

    with progress_bar("indexing", "records") as bar:
        report = build_index(captions, target, options, image_encoder, on_step=warn, progress=bar)
    counts, manifest = report.manifest.counts, report.manifest
    added = report.records
    warn(
        f"index {target}: {counts['tiles']} tiles, {counts['variants']} caption variants ({manifest.embedder}); "
        f"{added.added} records added ({added.replaced} replacing older ones), {added.skipped} already indexed"
        + (f", {report.images} image vectors" if report.images else "")
        + (f", {report.merges} merges" if report.merges else "")
    )
    warn(f"{report.texts} texts embedded in {report.seconds:.1f} s: {report.throughput}")
