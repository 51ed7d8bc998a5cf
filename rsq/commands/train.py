"""`rsq train closp`: train CLOSP image towers into the text space on the shared data; `rsq train cisen`: a CISEN
head over a CLOSP checkpoint's optical tower."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import DataOption, check_range, progress_bar, warn
from rsq.errors import RsqError

app = typer.Typer(help="Train rsq's own encoders.", no_args_is_help=True)


_OutOption = Annotated[Path, typer.Option("--out", help="Checkpoint folder (model.safetensors + config.json).")]
_SplitsOption = Annotated[str, typer.Option(help="UCM splits for the optical tower, comma-separated.")]
_FloodOption = Annotated[bool, typer.Option(help="Also train the S1 and S2 towers on Sen1Floods11 sub-chips.")]
_GeoOption = Annotated[bool, typer.Option("--geo", help="GeoCLOSP: add the location tower and its contrastive term.")]
_LrOption = Annotated[float, typer.Option(help="Peak learning rate (linear warm-up, cosine decay).")]
_SizeOption = Annotated[int, typer.Option(help="Tiles are resized to this many pixels.")]
_CropOption = Annotated[
    int, typer.Option(help="Training crops are resampled to this many pixels, and tiles encoded at it.")
]
_CropScaleOption = Annotated[float, typer.Option(help="Random-resized crops cover this to 1.0 of the tile's side.")]
_JitterOption = Annotated[float, typer.Option(help="Brightness and contrast factors are drawn from 1 +- this.")]
_BackboneOption = Annotated[str, typer.Option(help="cnn (rsq's, from scratch) or timm:<name>.")]
_LimitOption = Annotated[int | None, typer.Option(help="Only the first N UCM tiles (quick runs).")]
_DeviceOption = Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when present).")]


@app.command("closp")
def closp(
    out: _OutOption,
    data: DataOption = None,
    splits: _SplitsOption = "train",
    flood: _FloodOption = True,
    geo: _GeoOption = False,
    epochs: Annotated[int, typer.Option(help="Passes over the data.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 128,
    lr: _LrOption = 2e-3,
    size: _SizeOption = 128,
    crop: _CropOption = 96,
    crop_scale: _CropScaleOption = 0.6,
    jitter: _JitterOption = 0.2,
    backbone: _BackboneOption = "cnn",
    limit: _LimitOption = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: _DeviceOption = None,
) -> None:
    """Train CLOSP: the optical tower on UCM captions, S1/S2 towers on flood sub-chips with label captions."""
    from rsq.closp.train import TrainOptions
    from rsq.devices import default_device

    options = TrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        crop_scale=crop_scale,
        jitter=jitter,
        seed=seed,
        device=default_device(device),
    )
    _check(out, backbone, size, crop, limit, device)
    from rsq.closp.checkpoint import save_checkpoint
    from rsq.closp.config import ClospConfig
    from rsq.closp.data import flood_sets, ucm_set
    from rsq.closp.train import caption_vectors, train_closp

    started = time.perf_counter()
    optical = ucm_set(data, tuple(splits.split(",")), size, limit)
    sets = [optical] + (flood_sets(data, 64, size) if flood else [])
    trained_on = [f"ucm:{split}" for split in splits.split(",")] + (["sen1floods11"] if flood else [])
    config = ClospConfig(
        sensors=[s.sensor for s in sets],
        backbone=backbone,
        image_size=size,
        crop_size=crop,
        encode_size=crop,
        geo=geo,
        trained_on=trained_on,
    )
    warn(f"training on {', '.join(f'{len(s)} {s.sensor}' for s in sets)} images, {epochs} epochs, {options.device}")
    captions = caption_vectors(sets, config.text_space, options.device)
    with progress_bar("training", "steps") as bar:
        model = train_closp(
            sets, captions, config, options, on_step=lambda step, total, loss: (bar.set_total(total), bar.advance(1))
        )
    save_checkpoint(model, out, bank=(optical.texts, captions[0]))
    warn(f"wrote {out} in {time.perf_counter() - started:.0f} s")


@app.command("cisen")
def cisen(
    out: _OutOption,
    closp: Annotated[Path, typer.Option("--closp", help="The CLOSP checkpoint to transfer from (rsq train closp).")],
    data: DataOption = None,
    splits: _SplitsOption = "train",
    epochs: Annotated[int, typer.Option(help="Passes over the cached views.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Views per step.")] = 256,
    lr: _LrOption = 1e-3,
    views: Annotated[int, typer.Option(help="Views per tile encoded by the frozen tower (the tile + crops).")] = 8,
    hidden: Annotated[int, typer.Option(help="Width of the HFE levels.")] = 512,
    transfer_weight: Annotated[float, typer.Option(help="Weight of the CLOSP-tower transfer path.")] = 0.3,
    hierarchy_weight: Annotated[float, typer.Option(help="Weight of the per-level class losses (HFE).")] = 3.0,
    graded: Annotated[
        float, typer.Option(help="Another tile's caption as a partial positive, per share of CORINE levels in common.")
    ] = 2.0,
    limit: _LimitOption = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: _DeviceOption = None,
) -> None:
    """Train a CISEN head (HFE + V2TMap, dual-path transfer) over a CLOSP checkpoint's optical tower, on UCM."""
    from rsq.closp.cisen_train import CisenOptions
    from rsq.devices import default_device

    options = CisenOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        views=views,
        hidden=hidden,
        transfer_weight=transfer_weight,
        hierarchy_weight=hierarchy_weight,
        graded=graded,
        seed=seed,
        device=default_device(device),
    )
    _check(out, "cnn", 16, 8, limit, device)
    if out.resolve() == closp.resolve() or closp.resolve() in out.resolve().parents:
        raise RsqError(f"--out {out} is inside --closp {closp}; the head's folder holds a copy of the checkpoint")
    from rsq.closp.checkpoint import load_checkpoint
    from rsq.closp.cisen import save_cisen
    from rsq.closp.cisen_train import train_cisen
    from rsq.closp.data import ucm_set
    from rsq.closp.train import caption_vectors

    started = time.perf_counter()
    base = load_checkpoint(closp, options.device)
    if "rgb" not in base.towers:
        raise RsqError(f"--closp {closp} has no optical (rgb) tower for CISEN")
    optical = ucm_set(data, tuple(splits.split(",")), base.config.image_size, limit)
    trained_on = sorted({*base.config.trained_on, *(f"ucm:{split}" for split in splits.split(","))})
    warn(f"CISEN head over {closp}: {len(optical)} rgb tiles x {views} views, {epochs} epochs, {options.device}")
    [captions] = caption_vectors([optical], base.config.text_space, options.device)
    with progress_bar("training", "steps") as bar:
        model = train_cisen(
            base,
            optical,
            captions,
            options,
            trained_on,
            on_step=lambda step, total, loss: (bar.set_total(total), bar.advance(1)),
        )
    save_cisen(model.heads, model.cisen, closp, out)
    warn(f"wrote {out} in {time.perf_counter() - started:.0f} s")


def _check(out: Path, backbone: str, size: int, crop: int, limit: int | None, device: str | None) -> None:
    """The options TrainOptions does not hold, checked before any data is read."""
    from rsq.devices import check_device

    for flag, value, low, high in (("--size", size, 16, 1024), ("--crop", crop, 8, size), ("--limit", limit, 1, None)):
        check_range(flag, value, low, high)
    if out.exists() and not out.is_dir():
        raise RsqError(f"--out {out} is a file; it wants a folder for model.safetensors and config.json")
    if not backbone == "cnn" and not backbone.startswith("timm:"):
        raise RsqError(f"--backbone must be cnn or timm:<name>, not {backbone!r}")
    check_device(device)
