"""`rsq tune`: contrastive tuning of the index's text embedder on the archive's own captions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import check_range, progress_bar, warn
from rsq.errors import RsqError


def tune(
    captions: Annotated[list[Path], typer.Argument(help="Caption store folders written by `rsq caption`.")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the tuned embedder (new, empty, or a stopped run to resume).")
    ],
    embedder: Annotated[
        str | None, typer.Option(help="The st: embedder to tune (default: the --index's, else rsq's default).")
    ] = None,
    index_dir: Annotated[
        Path | None, typer.Option("--index", help="Tune the embedder this index was built with.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Passes over the captions.")] = 1,
    batch_size: Annotated[
        int, typer.Option(help="Caption pairs per step (the other pairs of a batch are its negatives).")
    ] = 64,
    lr: Annotated[
        float, typer.Option(help="Peak learning rate (warm-up over 10 % of the steps, then linear decay).")
    ] = 2e-5,
    duplicate_threshold: Annotated[
        float,
        typer.Option(
            help=(
                "Captions of other tiles whose word sets overlap a pair's by at least this (Jaccard) are not used as "
                "its negatives."
            )
        ),
    ] = 0.8,
    save_every: Annotated[
        int, typer.Option(help="Steps between saved states (a stopped run resumes from the last).")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Random seed (pair order, pair choice, dropout).")] = 0,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when present).")] = None,
) -> None:
    """Tune a text embedder on the archive's own captions: variants of one tile are positives, other tiles negatives."""
    from rsq.captioner.store import CaptionStore
    from rsq.devices import check_device
    from rsq.encoders import canonical_spec, default_embedder, model_folder

    for flag, value, low, high in (
        ("--epochs", epochs, 1, 1000),
        ("--batch-size", batch_size, 2, 65536),
        ("--lr", lr, 1e-8, 1.0),
        ("--duplicate-threshold", duplicate_threshold, 0.0, 1.0),
        ("--save-every", save_every, 1, None),
    ):
        check_range(flag, value, low, high)
    check_device(device)
    _check_out(out)
    for folder in captions:
        CaptionStore(folder, create=False).close()
    base = canonical_spec(embedder or _index_embedder(index_dir) or default_embedder())
    if not base.startswith("st:"):
        raise RsqError(f"rsq tune trains st: (sentence-transformers) embedders, not {base}")
    import torch

    from rsq.tune.train import TuneOptions, tune_embedder

    options = TuneOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        duplicate_threshold=duplicate_threshold,
        seed=seed,
        save_every=save_every,
        device=device or ("cuda" if torch.cuda.is_available() else "cpu"),
    )
    with progress_bar("tuning", "steps") as bar:
        report = tune_embedder(
            captions,
            base,
            model_folder(base) or base.removeprefix("st:"),
            out,
            options,
            on_step=lambda step, total, loss: (bar.set_total(total), bar.advance(1)),
        )
    resumed = f", resumed at step {report.resumed_at}" if report.resumed_at else ""
    warn(
        f"tuned {base} on {report.pairs} caption pairs per epoch: {report.steps} steps{resumed}, {report.masked} "
        "near-duplicate "
        f"negatives masked, loss {report.losses[0]:.3f} -> {report.losses[-1]:.3f}, {report.seconds:.0f} s on "
        f"{options.device}"
        if report.losses
        else f"nothing left to tune: {report.steps} steps were done"
    )
    warn(f"wrote {out}; re-embed an index with it: rsq index STORES --out IDX --rebuild --embedder st:{out.resolve()}")


def _check_out(out: Path) -> None:
    """--out must be new, empty, or a stopped `rsq tune` run (which resumes); a finished one is never overwritten."""
    from rsq.tune.train import PROVENANCE, STATE

    if out.exists() and not out.is_dir():
        raise RsqError(f"--out {out} is a file; it wants a folder for the tuned embedder")
    if (out / PROVENANCE).exists():
        raise RsqError(f"--out {out} already holds a tuned embedder; give another folder")
    if out.is_dir() and any(out.iterdir()) and not (out / STATE).is_dir():
        raise RsqError(f"--out {out} is not empty and holds no stopped tuning run; give a new or empty folder")


def _index_embedder(index_dir: Path | None) -> str | None:
    if index_dir is None:
        return None
    from rsq.textindex.reader import Snapshot

    return Snapshot.open(index_dir).manifest.embedder
