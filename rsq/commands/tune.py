"""`rsq tune`: contrastive tuning of the index's text embedder on the archive's own captions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import progress_bar, warn
from rsq.errors import RsqError

_CaptionsOption = Annotated[list[Path], typer.Argument(help="Caption store folders written by `rsq caption`.")]
_OutOption = Annotated[
    Path, typer.Option("--out", help="Folder for the tuned embedder (new, empty, or a stopped run to resume).")
]
_EmbedderOption = Annotated[
    str | None, typer.Option(help="The st: embedder to tune (default: the --index's, else rsq's default).")
]
_IndexDirOption = Annotated[Path | None, typer.Option("--index", help="Tune the embedder this index was built with.")]
_EpochsOption = Annotated[int, typer.Option(help="Passes over the captions.")]
_BatchSizeOption = Annotated[
    int, typer.Option(help="Caption pairs per step (the other pairs of a batch are its negatives).")
]
_LrOption = Annotated[
    float, typer.Option(help="Peak learning rate (warm-up over 10 % of the steps, then linear decay).")
]
_DuplicateThresholdOption = Annotated[
    float,
    typer.Option(
        help=(
            "Captions of other tiles whose word sets overlap a pair's by at least this (Jaccard) are not used as "
            "its negatives."
        )
    ),
]
_SaveEveryOption = Annotated[
    int, typer.Option(help="Steps between saved states (a stopped run resumes from the last).")
]
_SeedOption = Annotated[int, typer.Option(help="Random seed (pair order, pair choice, dropout).")]
_DeviceOption = Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when present).")]


def tune(
    captions: _CaptionsOption,
    out: _OutOption,
    embedder: _EmbedderOption = None,
    index_dir: _IndexDirOption = None,
    epochs: _EpochsOption = 1,
    batch_size: _BatchSizeOption = 64,
    lr: _LrOption = 2e-5,
    duplicate_threshold: _DuplicateThresholdOption = 0.8,
    save_every: _SaveEveryOption = 50,
    seed: _SeedOption = 0,
    device: _DeviceOption = None,
) -> None:
    """Tune a text embedder on the archive's own captions: variants of one tile are positives, other tiles negatives."""
    from rsq.captioner.store import CaptionStore
    from rsq.devices import check_device, default_device
    from rsq.encoders import canonical_spec, default_embedder, model_folder
    from rsq.tune.train import TuneOptions, tune_embedder

    options = TuneOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        duplicate_threshold=duplicate_threshold,
        seed=seed,
        save_every=save_every,
        device=device or "cpu",
    )
    check_device(device)
    _check_out(out)
    for folder in captions:
        CaptionStore(folder, create=False).close()
    base = canonical_spec(embedder or _index_embedder(index_dir) or default_embedder())
    if not base.startswith("st:"):
        raise RsqError(f"rsq tune trains st: (sentence-transformers) embedders, not {base}")
    options = replace(options, device=default_device(device))
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
